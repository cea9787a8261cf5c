"""Tactical scan time for 1,000, 5,000 and 10,000 aircraft, against BlueSky's detectors.

Random traffic over a region (48-54 N, 2-12 E, about 660 x 680 km; 0-12 km altitude,
0-300 m/s, any track, +-20 m/s vertical), 5 NM / 1000 ft, 300 s look-ahead, every pair
(no party filter, as BlueSky has none). Per size, in the same run: Accord's pruned engine,
BlueSky's C detector (`CStateBased`) and, where memory allows (its N x N float matrices),
BlueSky's numpy detector (`StateBased`). The pair sets must be identical or the run fails.

    python bench/tactical.py
    python bench/tactical.py --sizes 1000 5000 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "tactical"))

from bluesky_ref import load, pairs

from accord.tactical.engine import Fleet, detect

console = Console(width=150)
NM, FT = 1852.0, 0.3048


def traffic(n: int, seed: int) -> Fleet:
    rnd = np.random.default_rng(seed)
    return Fleet(lat=rnd.uniform(48, 54, n), lon=rnd.uniform(2, 12, n),
                 alt=rnd.uniform(0, 12000, n), gs=rnd.uniform(0, 300, n),
                 trk=rnd.uniform(0, 360, n), vs=rnd.uniform(-20, 20, n),
                 party=np.arange(n, dtype=np.int64))


def best(fn: Any, repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 10000])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--numpy-max", type=int, default=5000,
                    help="largest size to run BlueSky's numpy detector at (memory)")
    args = ap.parse_args()
    c_detect, np_detect = load()
    rows = []
    for n in args.sizes:
        f = traffic(n, seed=n)
        ours_s, ours = best(lambda f=f: detect(f, 5 * NM, 1000 * FT, 300.0, all_pairs=True),
                            args.repeat)
        c_s, c_pairs = best(lambda f=f: pairs(c_detect, f, 5 * NM, 1000 * FT, 300.0),
                            max(1, args.repeat // 2))
        if ours.pairs() != c_pairs:
            raise SystemExit(f"MISMATCH at {n}: {len(ours.pairs() ^ c_pairs)} pairs differ")
        np_s = None
        if n <= args.numpy_max:
            np_s, np_pairs = best(lambda f=f: pairs(np_detect, f, 5 * NM, 1000 * FT, 300.0), 1)
            if np_pairs != c_pairs:
                raise SystemExit(f"BlueSky's two detectors disagree at {n}")
        rows.append((n, len(c_pairs), ours.candidates, ours_s, c_s, np_s))
    when = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, " \
           f"{datetime.now(UTC):%Y-%m-%d}"
    t = Table("aircraft", "conflict pairs", "pairs tested", "Accord", "BlueSky C", "x C",
              "BlueSky numpy", "x numpy", "same pairs",
              title=f"Tactical scan, 5 NM / 1000 ft / 300 s ({when})")
    for n, p, cand, ours_s, c_s, np_s in rows:
        t.add_row(f"{n:,}", f"{p:,}", f"{cand:,} ({cand / (n * (n - 1) / 2):.2%})",
                  f"{ours_s * 1e3:.1f} ms", f"{c_s * 1e3:.0f} ms", f"{c_s / ours_s:.0f}x",
                  f"{np_s * 1e3:.0f} ms" if np_s else "(memory)",
                  f"{np_s / ours_s:.0f}x" if np_s else "", "yes")
    console.print(t)
    console.print(f"Times are the best of {args.repeat} runs (BlueSky C: of "
                  f"{max(1, args.repeat // 2)}, numpy: one).")
    cycles(args.sizes)


def cycles(sizes: list[int]) -> None:
    """The service's whole detection cycle (tracks extrapolated, separation, hazard entry,
    nonconformance, the alert book), against the same cycle with the brute-force engine."""
    import random
    from datetime import UTC, datetime, timedelta

    import accord.tactical.alerts as alerts_mod
    from accord.geo.volume import AltitudeBand, Circle, Volume
    from accord.picture.fold import Picture
    from accord.rules.agreement import Agreement
    from accord.rules.notice import Notice
    from accord.service.tactical import TacticalMonitor
    from accord.tactical.engine import detect_brute
    from accord.timefmt import ManualClock, format_time

    now = datetime(2030, 1, 1, tzinfo=UTC)
    pic = Picture(b"")
    pic.agreement = Agreement.from_json({
        "id": "b", "parties": [{"id": "A", "key": "A" * 43 + "="},
                               {"id": "B", "key": "B" * 43 + "="}],
        "separation": {"horizontal_m": 5 * NM, "vertical_m": 1000 * FT},
        "kinds": {"transit": {}, "strike": {"hazard": True}}})
    for i in range(10):  # ten notices: five hazards of B, five transits of A
        vol = Volume(Circle(3 + i * 0.8, 51.0, 60000), AltitudeBand(0, 12000, "AMSL"),
                     now - timedelta(hours=1), now + timedelta(hours=2))
        party, kind = ("B", "strike") if i % 2 else ("A", "transit")
        pic.notices[f"N{i}"] = Notice(f"N{i}", party, 1, kind, (vol,), now, now, 0)
    t = Table("tracks", "alerts raised", "cycle (pruned engine)", "cycle (brute force)",
              "x", title="The tactical monitor's whole cycle (10 notices, 5 hazards)")
    for n in sizes:
        rnd = random.Random(n)
        rows: dict[str, list[dict[str, object]]] = {"A": [], "B": []}
        for i in range(n):
            rows["A" if i % 2 else "B"].append({
                "aircraft": f"X{i}", "time": format_time(now), "lat": rnd.uniform(48, 54),
                "lon": rnd.uniform(2, 12), "alt_m": rnd.uniform(0, 12000),
                "gs_mps": rnd.uniform(0, 300), "trk_deg": rnd.uniform(0, 360), "vs_mps": 0})
        timings = []
        for brute in (False, True):
            if brute and n > 5000:
                timings.append(None)
                continue
            monitor = TacticalMonitor(ManualClock(now))
            for party, r in rows.items():
                monitor.ingest(party, r)
            original = alerts_mod.detect
            if brute:
                alerts_mod.detect = lambda f, h, v, la, **kw: detect_brute(f, h, v, la)
            try:
                start = time.perf_counter()
                bodies = monitor.cycle(pic)
                timings.append(time.perf_counter() - start)
            finally:
                alerts_mod.detect = original
        fast, slow = timings
        t.add_row(f"{n:,}", f"{len(bodies):,}", f"{fast * 1e3:.0f} ms",
                  f"{slow * 1e3:.0f} ms" if slow else "(skipped)",
                  f"{slow / fast:.1f}x" if slow else "")
    console.print(t)


if __name__ == "__main__":
    main()
