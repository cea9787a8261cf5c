"""Tactical scan time against BlueSky's detectors, over three kinds of traffic.

Random traffic, 0-12 km altitude, 0-300 m/s, any track, +-20 m/s vertical, 5 NM / 1000 ft,
300 s look-ahead, every pair (no party filter, as BlueSky has none):

- region: 48-54 N, 2-12 E (about 660 x 680 km), 1,000 / 5,000 / 10,000 aircraft;
- dense: three times that density (49.27-52.73 N, 4.11-9.89 E), 10,000 aircraft;
- continent: 35-70 N, 10 W-40 E (about 3,900 x 3,700 km), 100,000 aircraft.

Per case, in the same run: Accord's pruned engine on two threads and on one, BlueSky's C
detector (`CStateBased`) and, where memory allows (its N x N float matrices), BlueSky's numpy
detector (`StateBased`). Every engine runs the same number of times (--repeat, best of 5 by
default) on the same traffic, and each timed call produces the same output: the set of
conflict pairs. The run fails unless Accord's pruned engine finds exactly its brute force's
pairs (checked up to --brute-max aircraft) and both thread counts agree. Accord's pairs are
not BlueSky's at these latitudes, by design: BlueSky leaves out the convergence of meridians
and measures on a sphere (docs/design.md, "Tactical alerts"); the table counts the pairs on
which they differ.

The service's whole tactical cycle is timed the same way against the same cycle with the
brute-force engine (a fresh monitor each time, so every track is new and every detection
raises an alert: the worst case).

    python bench/tactical.py
    python bench/tactical.py --quick     # seconds: a smoke test
    python bench/tactical.py --only-flood   # the stacked floods and hazard entry only

A stacked flood: two parties of 1,000 to 10,000 tracks each on one spot (every pair of the
two parties a loss of separation), the monitor's whole cycle, each run in a fresh process
reporting its peak resident memory (getrusage).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "tactical"))

from bluesky_ref import load, pairs

from accord.tactical.engine import (
    Fleet,
    Kinematics,
    Stretch,
    Urgency,
    Urgent,
    _Reduce,
    detect,
    detect_brute,
    kinematics,
)

console = Console(width=160)
NM, FT = 1852.0, 0.3048
H, V, T = 5 * NM, 1000 * FT, 300.0
AREAS = {"region": ((48.0, 54.0), (2.0, 12.0)),
         "dense": ((49.27, 52.73), (4.11, 9.89)),  # the region's centre, 1/sqrt(3) each way
         "continent": ((35.0, 70.0), (-10.0, 40.0))}


def traffic(n: int, seed: int, area: str = "region") -> Fleet:
    (lat0, lat1), (lon0, lon1) = AREAS[area]
    rnd = np.random.default_rng(seed)
    return Fleet(lat=rnd.uniform(lat0, lat1, n), lon=rnd.uniform(lon0, lon1, n),
                 alt=rnd.uniform(0, 12000, n), gs=rnd.uniform(0, 300, n),
                 trk=rnd.uniform(0, 360, n), vs=rnd.uniform(-20, 20, n),
                 party=np.arange(n, dtype=np.int64))


def best(fn: Any, repeat: int) -> tuple[float, float, Any]:
    """(best wall time, best process CPU time, output) of `repeat` calls. On a machine
    shared with other work the wall clock counts their time too; CPU time does not (for
    two threads it adds both)."""
    times, cpu, out = [], [], None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return min(times), min(cpu), out


def ours(f: Fleet, workers: int) -> tuple[set[tuple[int, int]], int]:
    """Accord's engine, up to the same output as BlueSky's wrapper: the set of pairs."""
    result = detect(f, H, V, T, all_pairs=True, workers=workers)
    return result.pairs(), result.candidates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 10000],
                    help="aircraft in the region")
    ap.add_argument("--dense", type=int, default=10000, help="aircraft in the dense area (0: none)")
    ap.add_argument("--continent", type=int, default=100000,
                    help="aircraft over the continent (0: none)")
    ap.add_argument("--repeat", type=int, default=5, help="runs of every engine (best of)")
    ap.add_argument("--numpy-max", type=int, default=5000,
                    help="largest size to run BlueSky's numpy detector at (memory)")
    ap.add_argument("--c-max", type=int, default=10000,
                    help="largest size to run BlueSky's C detector at (it is O(N^2))")
    ap.add_argument("--brute-max", type=int, default=10000,
                    help="largest size to check against the brute force, and to run the whole "
                         "cycle with it")
    ap.add_argument("--flood", type=int, nargs="*", default=[1000, 2000, 4096, 10000],
                    help="tracks a party in the stacked-flood cycles")
    ap.add_argument("--hazards", type=int, default=10000,
                    help="tracks around 5 hazards in the hazard-entry timing")
    ap.add_argument("--only-flood", action="store_true", help="only the stacked-flood cycles")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.dense, args.continent, args.repeat = [200, 400], 400, 2000, 2
        args.flood, args.hazards = [300], 300
    if args.only_flood:
        floods(args.flood, args.repeat)
        hazard_entries(args.hazards, args.repeat)
        return
    c_detect, np_detect = load()
    cases = [("region", n) for n in args.sizes]
    cases += [("dense", args.dense)] if args.dense else []
    cases += [("continent", args.continent)] if args.continent else []
    rows = []
    for area, n in cases:
        f = traffic(n, seed=n, area=area)
        two_s, _, (our_pairs, candidates) = best(lambda f=f: ours(f, 2), args.repeat)
        one_s, one_cpu, (one_pairs, _) = best(lambda f=f: ours(f, 1), args.repeat)
        if one_pairs != our_pairs:
            raise SystemExit(f"MISMATCH at {area} {n}: one and two threads differ")
        if n <= args.brute_max and detect_brute(f, H, V, T, all_pairs=True).pairs() != our_pairs:
            raise SystemExit(f"MISMATCH at {area} {n}: pruned and brute force differ")
        c_s = c_cpu = np_s = None
        differ = None
        if n <= args.c_max:
            c_s, c_cpu, c_pairs = best(lambda f=f: pairs(c_detect, f, H, V, T), args.repeat)
            differ = len(our_pairs ^ c_pairs)
            if n <= args.numpy_max:
                np_s, _, np_pairs = best(lambda f=f: pairs(np_detect, f, H, V, T), args.repeat)
                if np_pairs != c_pairs:
                    raise SystemExit(f"BlueSky's two detectors disagree at {area} {n}")
        rows.append((area, n, len(our_pairs), candidates, two_s, one_s, one_cpu, c_s, c_cpu,
                     np_s, differ))
    when = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, " \
           f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()[0]:.2f}"
    t = Table("traffic", "aircraft", "conflict pairs", "pairs tested", "Accord 2 threads",
              "Accord 1 thread (CPU)", "BlueSky C (CPU)", "x C: 2 thr / 1 thr / CPU",
              "BlueSky numpy", "x numpy", "pairs differing from BlueSky",
              title=f"Tactical scan, 5 NM / 1000 ft / 300 s ({when})")
    for area, n, p, cand, two_s, one_s, one_cpu, c_s, c_cpu, np_s, differ in rows:
        t.add_row(area, f"{n:,}", f"{p:,}", f"{cand:,} ({cand / (n * (n - 1) / 2):.2%})",
                  f"{two_s * 1e3:.1f} ms", f"{one_s * 1e3:.1f} ms ({one_cpu * 1e3:.1f})",
                  f"{c_s * 1e3:.0f} ms ({c_cpu * 1e3:.0f})" if c_s and c_cpu else "(skipped)",
                  f"{c_s / two_s:.0f}x / {c_s / one_s:.0f}x / {c_cpu / one_cpu:.0f}x"
                  if c_s and c_cpu else "",
                  f"{np_s * 1e3:.0f} ms" if np_s else "(skipped)",
                  f"{np_s / two_s:.0f}x" if np_s else "",
                  f"{differ:,} ({differ / max(p, 1):.1%})" if differ is not None else "")
    console.print(t)
    console.print(f"Every engine: the best of {args.repeat} runs on the same traffic, each "
                  f"timed up to the same output (the set of conflict pairs); CPU: process "
                  f"time, which other work on the machine does not inflate.")
    for area, n, _, _, two_s, one_s, one_cpu, c_s, c_cpu, np_s, _ in rows:
        if c_s and c_cpu:
            console.print(f"ratio at {n:,} aircraft ({area}), best of {args.repeat} each: "
                          f"BlueSky C / Accord {c_s / two_s:.1f}x, one thread "
                          f"{c_s / one_s:.1f}x, CPU time {c_cpu / one_cpu:.1f}x"
                          + (f", BlueSky numpy / Accord {np_s / two_s:.1f}x" if np_s else ""))
        else:
            console.print(f"time at {n:,} aircraft ({area}), best of {args.repeat}: "
                          f"Accord {two_s * 1e3:.0f} ms, one thread {one_s * 1e3:.0f} ms "
                          f"(CPU {one_cpu * 1e3:.0f} ms)")
    cycles(args.sizes, args.repeat, min(args.brute_max, 5000))
    floods(args.flood, args.repeat)
    hazard_entries(args.hazards, args.repeat)


def urgent_brute(stretches: list[Stretch], h: float, v: float, u: Urgency,
                 **_: Any) -> Urgent:
    """`detect_urgent` with the brute-force engine: every pair of each stretch tested, then
    folded by the same reduction (the engine's `_Reduce`) as the pruned engine's batches."""
    f = stretches[0].fleet
    parties = int(f.party.max()) + 1
    u = replace(u, keep=np.unique(u.keep))
    total = _Reduce(f, parties, u, h, v, stretches[0], [])
    earlier: list[tuple[Kinematics, Stretch]] = []
    for st in stretches:
        part = _Reduce(f, parties, u, h, v, st, list(earlier))
        part.add(detect_brute(st.fleet, h, v, st.span))
        total.merge(part)
        earlier.append((kinematics(st.fleet), st))
    by = np.argsort(total.code)
    return Urgent(total.code[by], total.t_in[by], total.t_cpa[by], total.d_cpa[by],
                  total.level[by], total.count, total.candidates,
                  np.zeros(len(f), dtype=np.bool_))


FLOOD_ONE = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[2])
from tactical import flood_monitor
n = int(sys.argv[1])
monitor, pic = flood_monitor(n)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
bodies = monitor.cycle(pic)
took = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": took, "before_kb": before, "peak_kb": peak,
                  "bodies": len(bodies)}))
"""


def two_party_picture(kinds: dict[str, Any]) -> Any:
    """An empty picture under a two-party agreement (A, B) with 5 NM / 1000 ft and `kinds`."""
    from accord.picture.fold import Picture
    from accord.rules.agreement import Agreement

    pic = Picture(b"")
    pic.agreement = Agreement.from_json({
        "id": "b", "parties": [{"id": "A", "key": "A" * 43 + "="},
                               {"id": "B", "key": "B" * 43 + "="}],
        "separation": {"horizontal_m": 5 * NM, "vertical_m": 1000 * FT},
        "kinds": kinds})
    return pic


def flood_monitor(n: int) -> tuple[Any, Any]:
    """A monitor holding two parties of `n` tracks each stacked on one spot, 100 m apart
    vertically (every pair of A's and B's aircraft a loss of separation), and a picture."""
    from datetime import UTC, datetime

    from accord.service.tactical import TacticalMonitor
    from accord.timefmt import ManualClock, format_time

    now = datetime(2030, 1, 1, tzinfo=UTC)
    pic = two_party_picture({"transit": {}})
    monitor = TacticalMonitor(ManualClock(now))
    for party, alt in (("A", 5000.0), ("B", 5100.0)):
        rows = [{"aircraft": f"{party}{k}", "time": format_time(now), "lat": 35.0, "lon": 35.0,
                 "alt_m": alt, "gs_mps": 100.0, "trk_deg": 90.0} for k in range(n)]
        for k in range(0, n, 4096):
            monitor.ingest(party, rows[k:k + 4096])
    return monitor, pic


def floods(sizes: list[int], repeat: int) -> None:
    """The whole cycle with two parties' tracks stacked on one spot: each run in a fresh
    process, so that its peak resident memory is the cycle's own."""
    import json
    import subprocess

    t = Table("tracks a party", "A x B losses", "alerts logged", "cycle", "peak RSS",
              "RSS before the cycle",
              title=f"A stacked flood: the monitor's whole cycle, best of {repeat}, each in a "
                    f"fresh process (load average {os.getloadavg()[0]:.2f})")
    for n in sizes:
        runs = []
        for _ in range(repeat):
            out = subprocess.run([sys.executable, "-c", FLOOD_ONE, str(n),
                                  str(Path(__file__).resolve().parent)],
                                 capture_output=True, text=True, check=True)
            runs.append(json.loads(out.stdout))
        fast = min(runs, key=lambda r: r["seconds"])
        t.add_row(f"{n:,}", f"{n * n:,}", f"{fast['bodies']:,}", f"{fast['seconds']:.2f} s",
                  f"{max(r['peak_kb'] for r in runs) / 1024:.0f} MB",
                  f"{max(r['before_kb'] for r in runs) / 1024:.0f} MB")
    console.print(t)


def hazard_entries(n: int, repeat: int) -> None:
    """Hazard entry alone: `n` tracks of A inside and around 5 hazard volumes of B (circles
    of 60 km, or squares of 0.8 x 0.8 degrees), every track near a hazard."""
    import random
    from datetime import timedelta

    from accord.geo.volume import AltitudeBand, Circle, Polygon, Volume
    from accord.tactical.alerts import Hazard, Levels, Report, hazards

    now = datetime(2030, 1, 1, tzinfo=UTC)
    rnd = random.Random(1)
    reports = [Report("A", f"X{k}", now, 51.0 + rnd.uniform(-0.3, 0.3),
                      3 + (k % 5) * 0.8 + rnd.uniform(-0.3, 0.3), rnd.uniform(0, 11000),
                      rnd.uniform(0, 300), rnd.uniform(0, 360), rnd.uniform(-10, 10))
               for k in range(n)]
    t = Table("footprints", "tracks", "hazard alerts", "hazard entry, one cycle",
              title=f"Hazard entry: {n:,} tracks around 5 hazards, best of {repeat} "
                    f"(load average {os.getloadavg()[0]:.2f})")
    for shape in ("circle", "polygon"):
        active = []
        for i in range(5):
            lon = 3 + i * 0.8
            fp = (Circle(lon, 51.0, 60000) if shape == "circle" else
                  Polygon(((lon - 0.4, 50.6), (lon + 0.4, 50.6), (lon + 0.4, 51.4),
                           (lon - 0.4, 51.4))))
            active.append(Hazard(f"N{i}", 1, "B", Volume(
                fp, AltitudeBand(0, 12000, "AMSL"), now - timedelta(hours=1),
                now + timedelta(hours=2))))
        took, _, found = best(lambda a=active: hazards(reports, now, a, 300.0, Levels()),
                              repeat)
        t.add_row(shape, f"{n:,}", f"{len(found):,}", f"{took * 1e3:.0f} ms")
    console.print(t)


def cycles(sizes: list[int], repeat: int, brute_max: int) -> None:
    """The service's whole detection cycle (tracks extrapolated, separation, hazard entry,
    nonconformance, the alert book), against the same cycle with the brute-force engine."""
    import random
    from datetime import UTC, datetime, timedelta

    import accord.tactical.alerts as alerts_mod
    from accord.geo.volume import AltitudeBand, Circle, Volume
    from accord.rules.notice import Notice
    from accord.service.tactical import TacticalMonitor
    from accord.timefmt import ManualClock, format_time

    now = datetime(2030, 1, 1, tzinfo=UTC)
    pic = two_party_picture({"transit": {}, "strike": {"hazard": True}})
    for i in range(10):  # ten notices: five hazards of B, five transits of A
        vol = Volume(Circle(3 + i * 0.8, 51.0, 60000), AltitudeBand(0, 12000, "AMSL"),
                     now - timedelta(hours=1), now + timedelta(hours=2))
        party, kind = ("B", "strike") if i % 2 else ("A", "transit")
        pic.notices[f"N{i}"] = Notice(f"N{i}", party, 1, kind, (vol,), now, now, 0)
    t = Table("tracks", "alerts raised", "cycle (pruned engine)", "cycle (brute force)",
              "x", title=f"The tactical monitor's whole cycle (10 notices, 5 hazards), best of "
                         f"{repeat} each")
    ratios: list[tuple[int, float | None]] = []
    for n in sizes:
        rnd = random.Random(n)
        rows: dict[str, list[dict[str, object]]] = {"A": [], "B": []}
        for i in range(n):
            rows["A" if i % 2 else "B"].append({
                "aircraft": f"X{i}", "time": format_time(now), "lat": rnd.uniform(48, 54),
                "lon": rnd.uniform(2, 12), "alt_m": rnd.uniform(0, 12000),
                "gs_mps": rnd.uniform(0, 300), "trk_deg": rnd.uniform(0, 360), "vs_mps": 0})
        timings: list[float | None] = []
        raised: list[int] = []
        for brute in (False, True):
            if brute and n > brute_max:
                timings.append(None)
                continue
            runs = []
            for _ in range(repeat):
                monitor = TacticalMonitor(ManualClock(now))  # every track new: worst case
                for party, r in rows.items():  # in batches the service accepts
                    for k in range(0, len(r), 4096):
                        monitor.ingest(party, r[k:k + 4096])
                original = alerts_mod.detect_urgent
                if brute:
                    alerts_mod.detect_urgent = urgent_brute
                try:
                    start = time.perf_counter()
                    bodies = monitor.cycle(pic)
                    runs.append(time.perf_counter() - start)
                finally:
                    alerts_mod.detect_urgent = original
                raised.append(len(bodies))
            timings.append(min(runs))
        if len(set(raised)) != 1:
            raise SystemExit(f"the two engines raised different alerts at {n}: {set(raised)}")
        fast, slow = timings
        assert fast is not None
        ratios.append((n, slow / fast if slow else None))
        t.add_row(f"{n:,}", f"{len(bodies):,}", f"{fast * 1e3:.0f} ms",
                  f"{slow * 1e3:.0f} ms" if slow else "(skipped)",
                  f"{slow / fast:.1f}x" if slow else "")
    console.print(t)
    for n, r in ratios:
        if r is not None:
            console.print(f"ratio at {n:,} tracks, best of {repeat} cycles each: brute force / "
                          f"pruned {r:.1f}x")


if __name__ == "__main__":
    main()
