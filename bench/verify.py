"""How long `accord verify` takes on a store of a few thousand notices.

Builds a deployment (kept in --dir, reused when it is already there) through the writer as the
service runs it: three parties file --notices notices (circles of 2-15 km over a 4° x 4° area,
windows over three days, so a filing meets a few others and some are late), in batches; then
times `verify_store` on it, which folds and checks every signature, recomputes the tree,
compares the projection and (since issue 7) re-runs the strategic check of every filing.

    python bench/verify.py                       # 3,000 notices
    python bench/verify.py --notices 300 --quick
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

from accord import commands
from accord.keys import PARTY_KEY, KeyFile
from accord.service.deployment import Deployment
from accord.service.writer import Writer
from accord.store.sqlite import SqliteStore
from accord.timefmt import ManualClock, format_time
from accord.verify import verify_store

T0 = datetime(2030, 6, 1, tzinfo=UTC)
PARTIES = ("A", "B", "C")


def agreement(keys: dict[str, KeyFile]) -> dict[str, Any]:
    return {"id": "bench", "title": "verify bench",
            "parties": [{"id": p, "name": p, "key": k.public_b64} for p, k in keys.items()],
            "separation": {"horizontal_m": 9260, "vertical_m": 300},
            "kinds": {"transit": {}, "strike": {"hazard": True, "lead_time_minutes": 60,
                                                 "late": "finding"}},
            "limits": {"max_window_hours": 24, "horizon_days": 30}}


def notice(rnd: random.Random, now: datetime) -> dict[str, Any]:
    start = now + timedelta(minutes=rnd.uniform(10, 3 * 24 * 60))
    lower = rnd.uniform(0, 10_000)
    return {"kind": rnd.choice(("transit", "transit", "strike")), "volumes": [{
        "footprint": {"type": "Circle", "center": [rnd.uniform(33, 37), rnd.uniform(33, 37)],
                      "radius": {"value": rnd.uniform(2, 15), "units": "km"}},
        "altitude": {"lower": round(lower), "upper": round(lower + rnd.uniform(300, 3000)),
                     "units": "m", "reference": "W84"},
        "start": format_time(start),
        "end": format_time(start + timedelta(minutes=rnd.uniform(30, 240)))}]}


def build(dir: Path, n: int) -> None:
    clock = ManualClock(T0)
    d = Deployment.init(dir, "bench.example/verify", clock)
    keys = {p: KeyFile.generate(PARTY_KEY, p) for p in PARTIES}
    writer = Writer(SqliteStore(d.db_path), d.signer(), clock)
    writer.submit(commands.signed_by_all(agreement(keys), keys.values(), clock.now(), d.origin))
    rnd = random.Random(7)
    seqs = dict.fromkeys(PARTIES, 0)
    done = 0
    while done < n:
        batch = []
        for _ in range(min(200, n - done)):
            party = rnd.choice(PARTIES)
            seqs[party] += 1
            clock.advance(timedelta(seconds=1))
            body, _ = commands.notice_body(notice(rnd, clock.now()), party)
            batch.append(commands.signed(keys[party], "notice.file",
                                         writer.context(party).at(seqs[party]), clock.now(),
                                         body))
            done += 1
        for r in writer.submit_batch(batch):
            if isinstance(r, Exception):
                raise r
    writer.store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notices", type=int, default=3000)
    ap.add_argument("--dir", type=Path, default=None, help="keep (or reuse) the store here")
    ap.add_argument("--quick", action="store_true", help="300 notices")
    args = ap.parse_args()
    n = 300 if args.quick else args.notices
    dir = args.dir or Path(mkdtemp(prefix="accord-verify-bench-")) / "dep"
    if not (dir / "accord.toml").exists():
        t = time.perf_counter()
        build(dir, n)
        print(f"built {dir} ({n} notices) in {time.perf_counter() - t:.1f} s")
    d = Deployment.open(dir)
    store = d.store(readonly=True)
    t, cpu = time.perf_counter(), time.process_time()
    report = verify_store(store, d.verifier_key)
    elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
    store.close()
    if not report.ok:
        raise SystemExit(f"verify failed: {report.problems[:3]}")
    print(f"verify: {report.entries} entries ({report.notices} notices, {report.findings} "
          f"findings) in {elapsed:.2f} s ({cpu:.2f} s CPU), {report.entries / elapsed:,.0f} "
          f"entries/s")


if __name__ == "__main__":
    main()
