"""A party mirror keeping up with the log: its lag at a fixed offered load, and its headroom.

A real `accord serve` (its own process) takes party-signed filings in one congested area
(bench/ingest.py's filings and open-loop load generator, in another process) at --rate
filings/s for --duration s. A mirror of party P0 (`accord.mirror`, a third process, over
HTTP, polling every --interval s when nothing is new) follows it live: every entry pulled,
every signature P0 may read checked (every notice: notices are shown to all parties), the
tree rebuilt and each checkpoint held to the last. Its lag for entry i is the wall time the
mirror committed it minus the operator's receive time of entry i (one machine, one clock).

Headroom, on the same entries after the load: a fresh mirror catches up with the whole log
from nothing (entries/s, everything verified), against the baseline of fetching the same
pages and doing nothing with them; the ratio is what verification costs.

    python bench/mirror.py
    python bench/mirror.py --quick          # seconds: a smoke test
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from accord.client import Client
from accord.log.event import Entry
from accord.log.note import NoteVerifier
from accord.mirror.folder import MirrorFolder, follow
from accord.mirror.http import HttpSource
from accord.store.sqlite import SqliteStore
from accord.timefmt import SystemClock
from ingest import Filings, console, deployment, pct, phase, serving


def mirror_process(url: str, token: str, vkey: str, dir: str, interval: float,
                   stop: Any, out: Any) -> None:
    """Follow the log until `stop`; report (wall time after commit, size) for each round that
    took in entries, and the rounds' count."""
    marks: list[tuple[float, int]] = []
    with Client(url, token) as c:
        folder = MirrorFolder.prepare(Path(dir), "P0", NoteVerifier.parse(vkey), url,
                                      SystemClock())
        replica = folder.replica()
        follow(replica, HttpSource(c), interval_s=interval, stall_s=0, once=False,
               on_round=lambda r: marks.append((time.time(), r.size)) if r.new else None,
               stop=stop.is_set)
        replica.store.close()
    out.put(marks)


def catch_up(url: str, token: str, vkey: str, dir: Path) -> tuple[int, float]:
    """A fresh mirror takes in the whole log: (entries, seconds)."""
    with Client(url, token) as c:
        replica = MirrorFolder.prepare(dir, "P0", NoteVerifier.parse(vkey), url,
                                       SystemClock()).replica()
        t = time.perf_counter()
        r = follow(replica, HttpSource(c), interval_s=1, stall_s=0, once=True)
        s = time.perf_counter() - t
        replica.store.close()
    return r.size, s


def fetch_only(url: str, token: str, size: int) -> float:
    """The baseline: the same pages fetched and parsed, nothing verified: seconds."""
    with Client(url, token) as c:
        t = time.perf_counter()
        at = 0
        while at < size:
            rows = c.entries(at, min(size, at + 1000), 1000)
            at = rows[-1]["index"] + 1
        return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=1000.0, help="offered filings/s")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of load")
    ap.add_argument("--parties", type=int, default=200, help="filing parties")
    ap.add_argument("--interval", type=float, default=0.2,
                    help="the mirror's wait between rounds when nothing is new (s)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.rate, args.duration, args.parties = 50.0, 1.0, 8
    parties = [f"P{i}" for i in range(args.parties)]
    ctx = mp.get_context("fork")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        world, tokens = deployment(d / "world", parties)
        vkey = (d / "world" / "log.pub").read_text().strip()
        filings = Filings(world, seed=11)
        work = filings.make(parties, round(args.rate * args.duration))
        world.writer.store.close()
        with serving(d / "world") as urls:
            url = urls[0]
            time.sleep(1.0)
            stop, marks_q = ctx.Event(), ctx.Queue()
            m = ctx.Process(target=mirror_process, args=(url, tokens["P0"], vkey,
                                                         str(d / "mirror"), args.interval,
                                                         stop, marks_q))
            m.start()
            time.sleep(1.0)
            load = phase(urls, tokens, work, args.rate, 60.0)
            with Client(url, tokens["P0"]) as c:
                final = int(c.checkpoint()["size"])
            deadline = time.monotonic() + 60
            marks: list[tuple[float, int]] = []
            while time.monotonic() < deadline:  # until the mirror holds the final size
                time.sleep(0.2)
                store = SqliteStore(d / "mirror" / "mirror.db", readonly=True)
                held = store.db.execute("SELECT MAX(size) FROM checkpoints").fetchone()[0]
                store.close()
                if held == final:
                    break
            stop.set()
            marks = marks_q.get(timeout=60)
            m.join(timeout=60)
            n, cold_s = catch_up(url, tokens["P0"], vkey, d / "cold")
            base_s = fetch_only(url, tokens["P0"], n)
        store = SqliteStore(d / "world" / "accord.db", readonly=True)
        received = [Entry.decode(data).received_at.timestamp() for _, data in store.entries()]
        store.close()
    lags: list[float] = []
    start = marks[0][1] if marks else 0  # the first round took in what preceded the load
    for t, size in marks[1:]:
        lags.extend(t - received[i] for i in range(start, size))
        start = size
    behind = final - start
    when = (f"{platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}, "
            f"load average {os.getloadavg()[0]:.2f}")
    console.print(f"Offered {args.rate:,.0f} filings/s for {args.duration:g} s ({when}): "
                  f"{load['ok']:,} of {load['n']:,} filed, {load['rate']:,.0f}/s achieved, "
                  f"filing p99 {load['p99']:.1f} ms; the log holds {final:,} entries.")
    console.print(f"Mirror of P0 (interval {args.interval:g} s): {len(marks):,} rounds took in "
                  f"{start:,} entries; for the {len(lags):,} logged under load, lag from the "
                  f"operator's receive time to the mirror's commit: p50 "
                  f"{pct(lags, 50) * 1e3:,.0f} ms, p99 {pct(lags, 99) * 1e3:,.0f} ms,"
                  f" max {max(lags, default=float('nan')) * 1e3:,.0f} ms; "
                  f"{'kept up' if behind == 0 else f'{behind:,} entries behind at the end'}.")
    console.print(f"Catch-up of a fresh mirror: {n:,} entries in {cold_s:.2f} s "
                  f"({n / cold_s:,.0f} entries/s, all verified); fetching the same pages "
                  f"only: {base_s:.2f} s ({n / base_s:,.0f} entries/s)")
    console.print(f"ratio catch-up, fetch only / verified mirror, the same {n:,} entries: "
                  f"{(n / base_s) / (n / cold_s):.1f}x entries/s")
    console.print(json.dumps({"lag_p50_ms": round(pct(lags, 50) * 1e3, 1),
                              "lag_p99_ms": round(pct(lags, 99) * 1e3, 1), "behind": behind,
                              "catch_up_per_s": round(n / cold_s)}))
    if behind or load["errors"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
