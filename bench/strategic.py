"""Strategic check latency with 100,000 and 1,000,000 live volumes, against a linear scan.

The live volumes are spread over a region and a week: circles and small polygons of 1-20 km,
altitude bands in 0-15 km, windows of 30 min to 4 h. Regions: `europe` (35-60 N, 10 W-30 E,
about 12 million km2: at 1M volumes a new notice meets ~2 others, busy but workable airspace)
and `levant` (30-40 N, 30-40 E, about 1 million km2: at 1M volumes ~20 conflicts per notice,
a stress case far denser than any real airspace). Each query is a new notice checked exactly
as the writer checks it (the SQLite R*Tree prefilter, then `rules.check`). The baselines, in
the same run on the same queries:

- linear scan: every live volume's 4D box tested in a Python loop, then the exact test on the
  box hits: what the check costs without an index;
- numpy scan: the same box test vectorised over arrays (a much stronger baseline).

Both must return the same findings as the indexed check; the run fails if they do not. The
ratios divide means over the same checks, each run once by every engine (the first
--linear-queries of the --queries checks; the indexed check's p50 and p99 are over all of
them). Twenty other checks warm the caches first (pyproj transformers, SQLite pages).

    python bench/strategic.py                # 100k and 1M volumes
    python bench/strategic.py --quick        # seconds: a smoke test
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table

from accord.geo.box import Box4, volume_box
from accord.geo.volume import AltitudeBand, Circle, Polygon, Volume
from accord.picture.fold import Picture
from accord.rules.agreement import Agreement
from accord.rules.check import check
from accord.rules.notice import Notice
from accord.service.writer import strategic_check
from accord.store.sqlite import SqliteStore

T0 = datetime(2030, 1, 1, tzinfo=UTC)
console = Console(width=150)


def agreement() -> Agreement:
    return Agreement.from_json({
        "id": "bench", "parties": [{"id": "A", "key": "A" * 43 + "="},
                                   {"id": "B", "key": "B" * 43 + "="}],
        "separation": {"horizontal_m": 9260, "vertical_m": 300},
        "kinds": {"transit": {}}, "limits": {"max_window_hours": 24, "horizon_days": 30}})


REGIONS = {"europe": (-10.0, 30.0, 35.0, 60.0), "levant": (30.0, 40.0, 30.0, 40.0)}
REGION = REGIONS["europe"]


def random_volume(rnd: random.Random) -> Volume:
    lon0, lon1, lat0, lat1 = REGION
    lon, lat = rnd.uniform(lon0, lon1), rnd.uniform(lat0, lat1)
    size_m = rnd.uniform(1000, 20000)
    if rnd.random() < 0.5:
        fp: Circle | Polygon = Circle(lon, lat, size_m)
    else:
        n = rnd.randint(4, 8)
        dlat = size_m / 111_320
        dlon = dlat / math.cos(math.radians(lat))
        ring = tuple((round(lon + dlon * math.cos(2 * math.pi * k / n), 6),
                      round(lat + dlat * math.sin(2 * math.pi * k / n), 6)) for k in range(n))
        fp = Polygon(exterior=ring)
    lower = rnd.uniform(0, 12000)
    start = T0 + timedelta(minutes=rnd.uniform(0, 7 * 24 * 60))
    return Volume(fp, AltitudeBand(lower, lower + rnd.uniform(300, 3000), "W84"), start,
                  start + timedelta(minutes=rnd.uniform(30, 240)))


def notice_of(i: int, vol: Volume) -> Notice:
    return Notice(id=f"N{i}", party="B", version=1, kind="transit", volumes=(vol,),
                  filed_at=T0 - timedelta(days=1), updated_at=T0 - timedelta(days=1), entry=i)


def build(n: int, dir: Path, rnd: random.Random) -> tuple[SqliteStore, Picture, list[Box4]]:
    store = SqliteStore(dir / f"bench-{n}.db", create=True)
    picture = Picture(bytes(32))
    picture.agreement = agreement()
    boxes = []
    batch: list[Notice] = []
    with store.transaction():
        for i in track(range(n), description=f"building {n:,} volumes", console=console):
            notice = notice_of(i, random_volume(rnd))
            picture.notices[notice.id] = notice
            boxes.append(volume_box(notice.volumes[0]))
            batch.append(notice)
            if len(batch) == 10_000:
                for b in batch:
                    store.index(b)
                batch.clear()
        for b in batch:
            store.index(b)
    return store, picture, boxes


def linear(picture: Picture, boxes: list[Box4], notices: list[Notice], q: Notice) -> list:
    a = picture.agreement
    assert a is not None
    qb = volume_box(q.volumes[0]).expand(a.separation.horizontal_m, a.separation.vertical_m)
    hits = [notices[i] for i, b in enumerate(boxes) if b.intersects(qb)]
    return check(q, a, T0, hits)


def numpy_scan(picture: Picture, arr: np.ndarray, notices: list[Notice], q: Notice) -> list:
    a = picture.agreement
    assert a is not None
    b = volume_box(q.volumes[0]).expand(a.separation.horizontal_m, a.separation.vertical_m)
    m = ((arr[:, 0] <= b.lon_max) & (arr[:, 1] >= b.lon_min) & (arr[:, 2] <= b.lat_max)
         & (arr[:, 3] >= b.lat_min) & (arr[:, 4] <= b.alt_max) & (arr[:, 5] >= b.alt_min)
         & (arr[:, 6] <= b.t_max) & (arr[:, 7] >= b.t_min))
    return check(q, a, T0, [notices[i] for i in np.flatnonzero(m)])


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def run(n: int, queries: int, linear_queries: int, rnd: random.Random, dir: Path) -> dict:
    store, picture, boxes = build(n, dir, rnd)
    notices = list(picture.notices.values())
    arr = np.array([(b.lon_min, b.lon_max, b.lat_min, b.lat_max, b.alt_min, b.alt_max,
                     b.t_min, b.t_max) for b in boxes])
    qs = []
    for j in range(queries + 20):
        v = random_volume(rnd)
        qs.append(Notice(id=f"Q{j}", party="A", version=1, kind="transit", volumes=(v,),
                         filed_at=T0, updated_at=T0, entry=n + j))
    warm, qs = qs[:20], qs[20:]
    for q in warm:  # warm caches (pyproj transformers, SQLite pages), not measured
        strategic_check(store, picture, q, T0)
        linear(picture, boxes, notices, q)
        numpy_scan(picture, arr, notices, q)
    idx_t, found = [], 0
    results = []
    for q in qs:
        t = time.perf_counter()
        f = strategic_check(store, picture, q, T0)
        idx_t.append(time.perf_counter() - t)
        found += len(f)
        results.append(f)
    lin_t, np_t = [], []
    same = min(linear_queries, len(qs))
    for q, want in zip(qs[:same], results, strict=False):
        t = time.perf_counter()
        got = linear(picture, boxes, notices, q)
        lin_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        got_np = numpy_scan(picture, arr, notices, q)
        np_t.append(time.perf_counter() - t)
        if [x.to_body() for x in got] != [x.to_body() for x in want] or \
                [x.to_body() for x in got_np] != [x.to_body() for x in want]:
            raise SystemExit(f"MISMATCH on {q.id}: index and scan disagree")
    store.close()
    return {"n": n, "queries": queries, "findings": found, "p50": pct(idx_t, 50) * 1e3,
            "p99": pct(idx_t, 99) * 1e3, "mean": statistics.mean(idx_t) * 1e3, "same": same,
            "same_mean": statistics.mean(idx_t[:same]) * 1e3,
            "lin_mean": statistics.mean(lin_t) * 1e3, "np_mean": statistics.mean(np_t) * 1e3}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--linear-queries", type=int, default=100,
                    help="checks run by all three engines (the first of --queries)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--region", choices=sorted(REGIONS), default="europe")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.queries, args.linear_queries = [2000], 100, 20
    global REGION
    REGION = REGIONS[args.region]
    rnd = random.Random(args.seed)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for n in args.sizes:
            rows.append(run(n, args.queries, args.linear_queries, rnd, Path(d)))
    t = Table("live volumes", "checks", "findings", "p50 ms", "p99 ms", "mean ms",
              "same checks", "indexed mean ms", "linear scan ms", "x linear", "numpy scan ms",
              "x numpy",
              title=f"Strategic check, region {args.region} "
                    f"({platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                    f"{datetime.now(UTC):%Y-%m-%d}, load average {os.getloadavg()[0]:.2f})")
    for r in rows:
        t.add_row(f"{r['n']:,}", str(r["queries"]), str(r["findings"]), f"{r['p50']:.2f}",
                  f"{r['p99']:.2f}", f"{r['mean']:.2f}", str(r["same"]),
                  f"{r['same_mean']:.2f}", f"{r['lin_mean']:.1f}",
                  f"{r['lin_mean'] / r['same_mean']:.0f}x", f"{r['np_mean']:.1f}",
                  f"{r['np_mean'] / r['same_mean']:.1f}x")
    console.print(t)
    for r in rows:
        console.print(f"ratio at {r['n']:,} volumes, means over the same {r['same']} checks: "
                      f"linear scan / indexed {r['lin_mean'] / r['same_mean']:.1f}x, "
                      f"numpy scan / indexed {r['np_mean'] / r['same_mean']:.1f}x")


if __name__ == "__main__":
    main()
