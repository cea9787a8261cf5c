"""The writer's throughput as the service runs it, the log appender's own ceiling, and proofs.

1. Headline, the path every write takes in `accord serve`: party-signed `notice.file` commands
   submitted from several client threads to the `Sequencer` (whose `submit` verifies each
   signature in the caller's thread, as the API's executor threads do), then on the writer's
   thread: admitted against the agreement, checked against the 4D index and the exact rules,
   appended with its receive time, projected into the picture and receipted, durably (SQLite
   WAL, synchronous=FULL). Group commit (`max_batch` 512, the service's default) against
   `max_batch = 1` (one transaction, fsync and checkpoint signature per command) with the same
   threads, on copies of the same deployment and the same signed commands; both must log the
   same entries and raise the same findings.
2. The log appender alone, its own ceiling (no path of the service appends this way): the same
   signed entries given to `LogAppender.append_many` in batches of --batch, against one entry
   per commit, without verification, checks or projection.
3. Inclusion proofs at --tree entries, from the stored perfect-subtree nodes, against what a
   store without tree hashes must do for the same proof (read every leaf and hash the tree).

    python bench/log.py
    python bench/log.py --quick          # seconds: small sizes, for a smoke test
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import deque
from concurrent.futures import Future
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import track
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from accord import commands
from accord.keys import LOG_KEY, KeyFile
from accord.log.event import Entry, Event
from accord.log.merkle import (
    Frontier,
    MemoryTree,
    inclusion_proof,
    leaf_hash,
    verify_inclusion,
)
from accord.log.note import NoteSigner
from accord.service.appender import LogAppender
from accord.service.deployment import Deployment
from accord.service.writer import Outcome, Sequencer, Submission, Writer
from accord.store.sqlite import SqliteStore
from accord.timefmt import ManualClock, SystemClock, format_time
from support import World, make_world

console = Console(width=140)


def filings(world: World, n: int, parties: list[str], rnd: random.Random) -> list[Submission]:
    """Signed filings (signing is the party's cost, not the writer's), spread out in space,
    each party's in its own seq order."""
    subs = []
    seqs = {p: world.writer.picture.next_seq(p) for p in parties}
    t0 = world.clock.now()
    for i in track(range(n), description="signing filings", console=console):
        party = parties[i % len(parties)]
        lon, lat = rnd.uniform(-60, 60), rnd.uniform(-60, 60)
        start = t0 + timedelta(hours=1, minutes=rnd.uniform(0, 600))
        doc = {"kind": "transit", "volumes": [{
            "footprint": {"type": "Circle", "center": [round(lon, 5), round(lat, 5)],
                          "radius": {"value": 2, "units": "km"}},
            "altitude": {"lower": 0, "upper": 1000, "units": "m", "reference": "W84"},
            "start": format_time(start), "end": format_time(start + timedelta(hours=1))}]}
        body, _ = commands.notice_body(doc, party, notice=f"{party}-{i}")
        subs.append(world.sub(party, "notice.file", body, seq=seqs[party]))
        seqs[party] += 1
    return subs


def writer_run(dir: Path, subs: list[Submission], parties: list[str], max_batch: int,
               window: int, start: datetime) -> dict[str, Any]:
    """The commands through Sequencer + Writer: one client thread per party, each with up to
    `window` commands in flight (a client that does not wait for each answer)."""
    dep = Deployment.open(dir)
    store = dep.store()
    writer = Writer(store, dep.signer(), ManualClock(start))
    size0 = store.size()
    cps0 = sum(1 for _ in store.checkpoints())
    sequencer = Sequencer(writer, max_batch)
    per_party = [[s for s in subs if s.event["party"] == p] for p in parties]
    outcomes: list[Outcome] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def client(chunk: list[Submission]) -> None:
        inflight: deque[Future[Outcome]] = deque()
        done: list[Outcome] = []
        try:
            for s in chunk:
                inflight.append(sequencer.submit(s))
                if len(inflight) >= window:
                    done.append(inflight.popleft().result())
            while inflight:
                done.append(inflight.popleft().result())
        except BaseException as exc:  # reported below; the run is then invalid
            with lock:
                errors.append(exc)
        with lock:
            outcomes.extend(done)

    threads = [threading.Thread(target=client, args=(c,)) for c in per_party]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - t
    sequencer.close()
    if errors:
        raise SystemExit(f"max_batch={max_batch}: {len(errors)} command(s) failed, first: "
                         f"{errors[0]!r}")
    appended = store.size() - size0
    commits = sum(1 for _ in store.checkpoints()) - cps0
    findings = sum(len(o.findings) for o in outcomes)
    if any(o.receipt is None for o in outcomes):
        raise SystemExit(f"max_batch={max_batch}: a command came back without its receipt")
    store.close()
    return {"n": appended, "commands": len(outcomes), "findings": findings, "s": elapsed,
            "rate": appended / elapsed, "commits": commits}


def appender_run(dir: Path, subs: list[Submission], batch: int) -> dict[str, Any]:
    """Signed entries through the LogAppender alone, `batch` entries per durable commit."""
    store = SqliteStore(dir / f"log-{batch}.db", create=True)
    key = KeyFile.generate(LOG_KEY, "bench.example/log")
    log = LogAppender(store, NoteSigner(key.name, key.private_key))
    events = [(Event.from_json(s.event), s.sig) for s in subs]
    clock = SystemClock()
    receipts = 0
    t = time.perf_counter()
    for i in range(0, len(events), batch):
        with store.transaction():
            log.begin()
            chunk = [Entry(event=ev, received_at=clock.now(), sig=sig).encode()
                     for ev, sig in events[i:i + batch]]
            span = log.append_many(chunk)
            note = log.seal()
        assert note is not None
        receipts += len(log.receipts(list(span), note))
    elapsed = time.perf_counter() - t
    store.close()
    return {"n": receipts, "s": elapsed, "rate": receipts / elapsed,
            "commits": -(-len(events) // batch)}


def proofs(dir: Path, n: int, samples: int, baseline_samples: int) -> dict[str, Any]:
    store = SqliteStore(dir / "tree.db", create=True)
    frontier = Frontier()
    rows, nodes = [], []
    with store.transaction():
        for i in track(range(n), description=f"building a {n:,}-entry tree", console=console):
            data = os.urandom(200)
            rows.append((i, data))
            nodes.extend(frontier.append(leaf_hash(data)))
            if len(rows) == 50_000:
                store.add_entries(rows)
                store.add_nodes(nodes)
                rows, nodes = [], []
        store.add_entries(rows)
        store.add_nodes(nodes)
    root = frontier.root()
    rnd = random.Random(3)
    indices = [rnd.randrange(n) for _ in range(samples)]
    make, check, ours = [], [], []
    for i in indices:
        t = time.perf_counter()
        proof = inclusion_proof(store, i, n)
        make.append(time.perf_counter() - t)
        ours.append(proof)
        leaf = store.node(0, i)
        t = time.perf_counter()
        verify_inclusion(leaf, i, n, proof, root)
        check.append(time.perf_counter() - t)
    # The baseline on the first `baseline_samples` of the same indices, once each, as ours.
    rebuild = []
    for i, want in zip(indices[:baseline_samples], ours, strict=False):
        t = time.perf_counter()
        tree = MemoryTree()
        for _, data in store.entries():
            tree.append(data)
        proof = inclusion_proof(tree, i, n)
        rebuild.append(time.perf_counter() - t)
        if proof != want:
            raise SystemExit(f"MISMATCH: the rebuilt tree gives another proof for leaf {i}")
    store.close()
    same = make[:baseline_samples]
    return {"n": n, "samples": samples, "make_us": statistics.median(make) * 1e6,
            "make_p99_us": sorted(make)[int(0.99 * (len(make) - 1))] * 1e6,
            "verify_us": statistics.median(check) * 1e6, "baseline_samples": len(rebuild),
            "same_us": statistics.median(same) * 1e6,
            "rebuild_s": statistics.median(rebuild)}


def throughput(title: str, rows: list[tuple[str, dict[str, Any]]], extra: bool) -> None:
    cols = ["mode", "entries", "seconds", "entries/s", "commits", "entries/commit"]
    t = Table(*cols, *(["commands", "findings"] if extra else []), title=title)
    for name, r in rows:
        t.add_row(name, f"{r['n']:,}", f"{r['s']:.2f}", f"{r['rate']:,.0f}",
                  f"{r['commits']:,}", f"{r['n'] / max(1, r['commits']):.0f}",
                  *([f"{r['commands']:,}", f"{r['findings']:,}"] if extra else []))
    console.print(t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=10_000,
                    help="signed filings through the writer, in each mode")
    ap.add_argument("--parties", type=int, default=4, help="client threads, one party each")
    ap.add_argument("--window", type=int, default=128, help="commands in flight per client")
    ap.add_argument("--max-batch", type=int, default=512, help="group commit's batch limit")
    ap.add_argument("--log-entries", type=int, default=20_000,
                    help="entries through the appender alone, in each mode")
    ap.add_argument("--batch", type=int, default=1000, help="entries per commit, appender")
    ap.add_argument("--tree", type=int, default=1_000_000)
    ap.add_argument("--proofs", type=int, default=2000)
    ap.add_argument("--rebuilds", type=int, default=3,
                    help="proofs made the baseline way (reading and hashing every leaf)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.entries, args.log_entries, args.batch = 200, 300, 100
        args.tree, args.proofs, args.rebuilds = 3000, 50, 2
    parties = [chr(ord("A") + i) for i in range(args.parties)]
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        world = make_world(d / "world", parties=tuple(parties), zones=[])
        subs = filings(world, max(args.entries, args.log_entries), parties, random.Random(2))
        start = world.clock.now()
        world.writer.store.close()
        for mode in ("group", "single"):  # the same deployment (keys, log, agreement) twice
            shutil.copytree(d / "world", d / mode)
        g = writer_run(d / "group", subs[:args.entries], parties, args.max_batch, args.window,
                       start)
        s = writer_run(d / "single", subs[:args.entries], parties, 1, args.window, start)
        if (g["n"], g["findings"]) != (s["n"], s["findings"]):
            raise SystemExit(f"the two modes did different work: {g} against {s}")
        lg = appender_run(d, subs[:args.log_entries], args.batch)
        ls = appender_run(d, subs[:args.log_entries], 1)
        p = proofs(d, args.tree, args.proofs, args.rebuilds)
    when = (f"{platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}, "
            f"load average {os.getloadavg()[0]:.2f}")
    throughput(f"The writer as the service runs it: signed filings verified, checked, logged, "
               f"projected, receipted; {args.parties} client threads ({when})",
               [(f"group commit (max_batch {args.max_batch})", g),
                ("one commit per command (max_batch 1)", s)], True)
    console.print(f"ratio group commit / max_batch=1, same threads and commands: "
                  f"{g['rate'] / s['rate']:.1f}x")
    throughput("The log appender alone: its own ceiling, not a path the service takes "
               "(no verification, check or projection)",
               [(f"{args.batch} entries per commit", lg), ("one entry per commit", ls)], False)
    console.print(f"ratio appender {args.batch} per commit / one per commit, same entries: "
                  f"{lg['rate'] / ls['rate']:.1f}x")
    t = Table("tree size", "proofs", "proof (median)", "proof (p99)", "verify (median)",
              "same leaves: stored nodes", "same leaves: rebuilding from the leaves",
              title="Inclusion proofs from stored tree nodes")
    t.add_row(f"{p['n']:,}", f"{p['samples']:,}", f"{p['make_us']:.0f} us",
              f"{p['make_p99_us']:.0f} us", f"{p['verify_us']:.0f} us",
              f"{p['same_us']:.0f} us", f"{p['rebuild_s']:.2f} s")
    console.print(t)
    console.print(f"ratio proof by rebuilding / from stored nodes, the same "
                  f"{p['baseline_samples']} leaves, medians: "
                  f"{p['rebuild_s'] * 1e6 / p['same_us']:,.0f}x")


if __name__ == "__main__":
    main()
