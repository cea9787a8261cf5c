"""The WAL under sustained filings: its size and the latency of writes while it is bounded.

In-process: the service's own writer thread (`Service`, group commit, the WAL helper), three
parties filing notices at a fixed offered rate each (open loop: a late answer never slows the
next filing), and readers loading the picture all the while. Every 0.1 s the WAL file's size is
sampled. Reported: the largest WAL seen, the WAL after the load (2 s idle, readers still
reading), write latency p50/p99/max (from the time each filing was due to its durable answer,
so a stalled sender cannot hide a delay), and the longest WAL restart stall.

    python bench/wal.py                              # 40 s, 3 parties x 150 filings/s
    python bench/wal.py --seconds 20 --rate 100 --wal-limit-mib 8
    python bench/wal.py --quick                      # seconds: a smoke test
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from accord import commands
from accord.keys import PARTY_KEY, KeyFile
from accord.log.event import Context
from accord.service.deployment import Deployment
from accord.service.runtime import Service, ServiceConfig
from accord.service.writer import Writer
from accord.store.sqlite import SqliteStore
from accord.timefmt import SystemClock, format_time

PARTIES = ("A", "B", "C")


def deployment(dir: Path) -> dict[str, KeyFile]:
    clock = SystemClock()
    d = Deployment.init(dir, "bench.example/wal", clock)
    keys = {p: KeyFile.generate(PARTY_KEY, p) for p in PARTIES}
    doc = {"id": "wal", "parties": [{"id": p, "key": k.public_b64} for p, k in keys.items()],
           "separation": {"horizontal_m": 500, "vertical_m": 300},
           "kinds": {"uas": {}}, "limits": {"max_window_hours": 2, "horizon_days": 30}}
    store = SqliteStore(d.db_path)
    Writer(store, d.signer(), clock).submit(commands.signed_by_all(doc, keys.values(),
                                                                   clock.now(), d.origin))
    store.close()
    return keys


def filing(key: KeyFile, party: str, context: Context, i: int) -> Any:
    """A small notice, placed so that notices rarely meet (a check with few candidates)."""
    now = SystemClock().now()
    start = now.replace(microsecond=0) + timedelta(hours=1, minutes=(i * 7) % 40_000)
    lon, lat = -170.0 + (i % 3400) * 0.1, {"A": -50.0, "B": 0.0, "C": 50.0}[party]
    doc = {"kind": "uas", "volumes": [{
        "footprint": {"type": "Circle", "center": [lon, lat],
                      "radius": {"value": 200, "units": "m"}},
        "altitude": {"lower": 0, "upper": 120, "units": "m", "reference": "W84"},
        "start": format_time(start), "end": format_time(start + timedelta(minutes=30))}]}
    body, reveal = commands.notice_body(doc, party)
    return commands.signed(key, "notice.file", context, now, body, reveal)


def run(seconds: float, rate: float, wal_limit: int | None, readers: int) -> dict[str, Any]:
    dir = Path(tempfile.mkdtemp(prefix="accord-wal-")) / "dep"
    keys = deployment(dir)
    over: dict[str, Any] = {"tactical_interval_s": 3600.0}
    if wal_limit is not None and "wal_limit_bytes" in ServiceConfig.__dataclass_fields__:
        over["wal_limit_bytes"] = wal_limit
    svc = Service(dir, config=ServiceConfig(**over))
    wal = dir / "accord.db-wal"
    latencies: list[float] = []
    errors = [0]
    sizes: list[int] = []
    stop = threading.Event()
    lock = threading.Lock()

    def sample() -> None:
        while not stop.is_set():
            sizes.append(wal.stat().st_size if wal.exists() else 0)
            time.sleep(0.1)

    def reader() -> None:
        while not stop.is_set():
            svc.picture()
            time.sleep(0.01)

    def party(p: str) -> None:
        start = time.perf_counter()
        n = int(seconds * rate)
        for i in range(n):
            due = start + i / rate
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            fut = svc.submit(filing(keys[p], p, svc.writer.context(p).at(i + 1), i))

            def done(f: Any, due: float = due) -> None:
                with lock:
                    if f.exception() is None:
                        latencies.append(time.perf_counter() - due)
                    else:
                        errors[0] += 1

            fut.add_done_callback(done)

    helpers = [threading.Thread(target=sample)] + [threading.Thread(target=reader)
                                                   for _ in range(readers)]
    for t in helpers:
        t.start()
    parties = [threading.Thread(target=party, args=(p,)) for p in PARTIES]
    for t in parties:
        t.start()
    for t in parties:
        t.join()
    deadline = time.monotonic() + 30
    while len(latencies) + errors[0] < len(PARTIES) * int(seconds * rate) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    loaded = max(sizes)
    time.sleep(2.0)
    after = wal.stat().st_size if wal.exists() else 0
    stop.set()
    for t in helpers:
        t.join()
    stall = getattr(svc, "wal_stall_ms", None)
    svc.close()
    lat = sorted(latencies)
    return {"filings": len(lat), "errors": errors[0], "max_wal_mib": loaded / 2**20,
            "wal_after_mib": after / 2**20, "p50_ms": statistics.median(lat) * 1e3,
            "p99_ms": lat[int(len(lat) * 0.99) - 1] * 1e3, "max_ms": lat[-1] * 1e3,
            "longest_restart_ms": stall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--rate", type=float, default=150.0, help="filings/s per party")
    ap.add_argument("--wal-limit-mib", type=float, default=None,
                    help="the service's wal_limit_bytes (default: its own default)")
    ap.add_argument("--readers", type=int, default=2, help="threads loading the picture")
    ap.add_argument("--quick", action="store_true", help="2 s at 20 filings/s (a smoke test)")
    a = ap.parse_args()
    if a.quick:
        a.seconds, a.rate = 2.0, 20.0
    limit = int(a.wal_limit_mib * 2**20) if a.wal_limit_mib else None
    r = run(a.seconds, a.rate, limit, a.readers)
    print(f"{r['filings']} filings ({r['errors']} errors) at {a.rate:g}/s x {len(PARTIES)} "
          f"for {a.seconds:g} s")
    print(f"WAL: largest {r['max_wal_mib']:.1f} MiB, after the load {r['wal_after_mib']:.1f} MiB")
    print(f"write latency: p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, "
          f"max {r['max_ms']:.1f} ms; longest WAL restart stall {r['longest_restart_ms']} ms")


if __name__ == "__main__":
    main()
