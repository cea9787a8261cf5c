"""Log throughput and proof cost.

1. The log: party-signed entries appended per second, durably (SQLite WAL, synchronous=FULL):
   each gets the operator's receive time, its canonical bytes, its leaf and tree nodes, a
   checkpoint signed for its batch, and its receipt with an inclusion proof. Signatures are
   checked at the edge (see 2), as in Tessera the log itself does not interpret entries.
   Group commit (batches of --batch) against one commit per entry, in the same run.
2. The whole writer: party-signed `notice.file` commands, signature-checked in the submitters'
   threads, then admitted, checked against the 4D index, appended, projected and receipted,
   through the `Sequencer` (group commit as batches form) against one commit per command.
3. At 1,000,000 entries: the time to produce an inclusion proof from the stored tree nodes and
   to verify it, against rebuilding the tree from the leaves (what a store without tree hashes
   must do).

    python bench/log.py
    python bench/log.py --entries 5000 --tree 100000   # a quick run
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import track
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from accord import commands
from accord.log.merkle import Frontier, inclusion_proof, leaf_hash, verify_inclusion
from accord.service.writer import Sequencer, Submission
from accord.store.sqlite import SqliteStore
from accord.timefmt import format_time
from support import make_world

console = Console(width=140)
T0 = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


def submissions(world, n: int, rnd: random.Random) -> list[Submission]:
    """Pre-signed filings (signing is the party's cost, not the log's), spread out in space."""
    subs = []
    seqs = {"A": world.writer.picture.next_seq("A"), "B": world.writer.picture.next_seq("B")}
    for i in track(range(n), description="signing filings", console=console):
        party = "A" if i % 2 else "B"
        lon, lat = rnd.uniform(-60, 60), rnd.uniform(-60, 60)
        start = T0 + timedelta(hours=1, minutes=rnd.uniform(0, 600))
        doc = {"kind": "transit", "volumes": [{
            "footprint": {"type": "Circle", "center": [round(lon, 5), round(lat, 5)],
                          "radius": {"value": 2, "units": "km"}},
            "altitude": {"lower": 0, "upper": 1000, "units": "m", "reference": "W84"},
            "start": format_time(start), "end": format_time(start + timedelta(hours=1))}]}
        body, _ = commands.notice_body(doc, party, notice=f"{party}-{i}")
        subs.append(commands.signed(world.keys[party], "notice.file", seqs[party], T0, body))
        seqs[party] += 1
    return subs


def appends(dir: Path, n: int, group: bool) -> dict:
    world = make_world(dir, parties=("A", "B"))
    subs = submissions(world, n, random.Random(1))
    writer = world.writer
    size0 = writer.store.size()
    cps0 = len(list(writer.store.checkpoints()))
    t = time.perf_counter()
    if group:
        seq = Sequencer(writer)
        # One submitter thread per party keeps each party's seq order.
        chunks = [[s for s in subs if s.event["party"] == p] for p in ("A", "B")]
        lat: list[float] = []
        lock = threading.Lock()

        def worker(chunk: list[Submission]) -> None:
            window = []
            for s in chunk:
                window.append((time.perf_counter(), seq.submit(s)))
                if len(window) >= 256:  # bounded in-flight requests per client
                    t0, f = window.pop(0)
                    f.result()
                    with lock:
                        lat.append(time.perf_counter() - t0)
            for t0, f in window:
                f.result()
                with lock:
                    lat.append(time.perf_counter() - t0)

        ths = [threading.Thread(target=worker, args=(c,)) for c in chunks]
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        seq.close()
    else:
        for s in subs:
            writer.submit(s)
    elapsed = time.perf_counter() - t
    appended = writer.store.size() - size0
    batches = len(list(writer.store.checkpoints())) - cps0
    writer.store.close()
    return {"n": appended, "s": elapsed, "rate": appended / elapsed, "batches": batches}


def log_appends(dir: Path, subs: list[Submission], batch: int) -> dict:
    """Signed entries through the LogAppender alone, `batch` entries per durable commit."""
    from accord.keys import LOG_KEY, KeyFile
    from accord.log.event import Entry, Event
    from accord.log.note import NoteSigner
    from accord.service.appender import LogAppender
    from accord.timefmt import SystemClock

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
            "batches": -(-len(events) // batch)}


def proofs(dir: Path, n: int, samples: int) -> dict:
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
    make, check = [], []
    for _ in range(samples):
        i = rnd.randrange(n)
        t = time.perf_counter()
        proof = inclusion_proof(store, i, n)
        make.append(time.perf_counter() - t)
        leaf = store.node(0, i)
        t = time.perf_counter()
        verify_inclusion(leaf, i, n, proof, root)
        check.append(time.perf_counter() - t)
    t = time.perf_counter()
    rebuilt = Frontier()
    for _, data in store.entries():
        rebuilt.append(leaf_hash(data))
    rebuild = time.perf_counter() - t
    assert rebuilt.root() == root
    store.close()
    return {"n": n, "make_us": statistics.median(make) * 1e6,
            "make_p99_us": sorted(make)[int(0.99 * (len(make) - 1))] * 1e6,
            "verify_us": statistics.median(check) * 1e6, "rebuild_s": rebuild}


def throughput(title: str, group: dict, single: dict) -> None:
    t = Table("mode", "entries", "seconds", "entries/s", "commits", "entries/commit", title=title)
    for name, r in (("group commit", group), ("one commit per entry", single)):
        t.add_row(name, f"{r['n']:,}", f"{r['s']:.2f}", f"{r['rate']:,.0f}", f"{r['batches']:,}",
                  f"{r['n'] / max(1, r['batches']):.0f}")
    console.print(t)
    console.print(f"group commit / one commit per entry: {group['rate'] / single['rate']:.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--log-entries", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000, help="entries per commit for the log")
    ap.add_argument("--entries", type=int, default=20_000)
    ap.add_argument("--single", type=int, default=1_000, help="entries without group commit")
    ap.add_argument("--tree", type=int, default=1_000_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        world = make_world(Path(d) / "keys")
        signed_subs = submissions(world, args.log_entries, random.Random(2))
        world.writer.store.close()
        lg = log_appends(Path(d), signed_subs, args.batch)
        ls = log_appends(Path(d), signed_subs[:args.single], 1)
        g = appends(Path(d) / "group", args.entries, True)
        s = appends(Path(d) / "single", args.single, False)
        p = proofs(Path(d), args.tree, 2000)
    when = f"{platform.machine()}, {os.cpu_count()} cores, {datetime.now(UTC):%Y-%m-%d}"
    throughput(f"The log: durable appends of signed entries, with receipts ({when})", lg, ls)
    throughput(f"The writer: signed notice filings, checked, logged, projected ({when})", g, s)
    t = Table("tree size", "proof (median)", "proof (p99)", "verify (median)", "rebuild root",
              "x rebuild", title="Inclusion proofs from stored tree nodes")
    t.add_row(f"{p['n']:,}", f"{p['make_us']:.0f} us", f"{p['make_p99_us']:.0f} us",
              f"{p['verify_us']:.0f} us", f"{p['rebuild_s']:.2f} s",
              f"{p['rebuild_s'] * 1e6 / p['make_us']:,.0f}x")
    console.print(t)


if __name__ == "__main__":
    main()
