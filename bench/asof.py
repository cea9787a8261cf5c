"""The picture as of a past time T: from the nearest snapshot plus the tail, against the fold
from entry 0, on a long history; and the service's start until ready.

Builds (once, in-process through the writer, as the service would; kept with --store) a
deployment whose history spans many simulated days: four parties file one-circle notices over
Switzerland's box, each flying 30 minutes within the next six hours, at an even pace (so
about a day's worth of notices is live at any moment and everything older has ended); one
filing in twenty is later amended, one in forty cancelled, one in a hundred is followed by
a message. The writer writes its snapshots as it goes (`snapshot_every` entries).

Then, on --samples random times T over the history (the same T for both), times in-process:

    as of T (snapshot + tail)   `asof.picture_at`: the nearest snapshot at or before the
                                entries received before T, the tail folded onto it
    fold from entry 0           the path ?at= took before: `rebuild_picture(before=T)`

each for the whole picture and for a 100 km x 100 km area, as one party sees it (the view's
JSON made and encoded, as the API does), and checks that both give the same bytes. Then it
starts `accord serve` on the store and reports the time until /readyz answers, and times
GET /v1/picture?at=T over HTTP for the same T.

    python bench/asof.py --store /tmp/asof-1m --entries 1000000
    python bench/asof.py --quick            # 1,500 entries: a smoke test
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from accord import commands
from accord.log.event import Entry
from accord.log.note import NoteVerifier
from accord.picture.view import Area, picture_for
from accord.service.asof import boundary, picture_at
from accord.service.runtime import issue_token
from accord.service.writer import rebuild_picture
from accord.store.sqlite import SqliteStore
from accord.timefmt import format_time
from reads import serve
from support import make_world

PARTIES = ("A", "B", "C", "D")
COUNTRY = (5.96, 45.82, 10.49, 47.81)  # lon_min, lat_min, lon_max, lat_max
AREA = (7.0, 46.5, 8.3, 47.4)  # about 100 km x 100 km inside it
START = datetime(2030, 1, 1, tzinfo=UTC)
PER_DAY = 20_000  # filings a simulated day
BATCH = 200


def _doc(rnd: random.Random, now: datetime) -> dict[str, object]:
    start = now + timedelta(minutes=rnd.randrange(10, 6 * 60))
    return {"kind": "uas", "volumes": [{
        "footprint": {"type": "Circle",
                      "center": [round(rnd.uniform(COUNTRY[0], COUNTRY[2]), 6),
                                 round(rnd.uniform(COUNTRY[1], COUNTRY[3]), 6)],
                      "radius": {"value": 200, "units": "m"}},
        "altitude": {"lower": 0, "upper": 120, "units": "m", "reference": "W84"},
        "start": format_time(start), "end": format_time(start + timedelta(minutes=30))}]}


def build(dir: Path, entries: int, every: int, seed: int = 9) -> None:
    """The deployment: the agreement, a token per party (tokens.txt), about `entries`
    entries of history; `every` is the writer's snapshot interval in entries."""
    world = make_world(dir, parties=PARTIES, start=START, id="country", title="Country",
                       separation={"horizontal_m": 500, "vertical_m": 150},
                       kinds={"uas": {}}, zones=[],
                       limits={"max_window_hours": 2, "horizon_days": 30})
    world.writer.snapshot_every = every
    tokens = [f"{p} {issue_token(world.store, p, 'bench', world.clock)}" for p in PARTIES]
    (dir / "tokens.txt").write_text("\n".join(tokens) + "\n")
    rnd = random.Random(seed)
    seqs = dict.fromkeys(PARTIES, 1)
    recent: dict[str, list[tuple[str, int]]] = {p: [] for p in PARTIES}
    step = timedelta(days=1) / PER_DAY
    now = START + timedelta(minutes=1)
    i = 0
    started = time.perf_counter()
    last_report = started
    while world.writer.picture.size < entries:
        world.clock.set(now)
        subs = []
        for _ in range(BATCH):
            party = PARTIES[i % len(PARTIES)]
            roll = rnd.random()
            mine = recent[party]
            if roll < 0.05 and mine:
                nid, version = mine.pop(rnd.randrange(len(mine)))
                body, _ = commands.notice_body(_doc(rnd, now), party, notice=nid,
                                               replaces=version)
                subs.append(world.sub(party, "notice.amend", body, seq=seqs[party]))
                mine.append((nid, version + 1))
            elif roll < 0.075 and mine:
                nid, version = mine.pop(rnd.randrange(len(mine)))
                subs.append(world.sub(party, "notice.cancel",
                                      {"notice": nid, "version": version}, seq=seqs[party]))
            elif roll < 0.085:
                subs.append(world.sub(party, "message", {"message": f"{party}:m{i}",
                                                         "text": "hello"}, seq=seqs[party]))
            else:
                nid = f"{party}-{i}"
                body, _ = commands.notice_body(_doc(rnd, now), party, notice=nid)
                subs.append(world.sub(party, "notice.file", body, seq=seqs[party]))
                mine.append((nid, 1))
                del mine[:-50]  # amend and cancel only recent ones (still live)
            seqs[party] += 1
            i += 1
        results = world.writer.submit_batch(subs)
        bad = [r for r in results if isinstance(r, Exception)]
        if bad:
            raise SystemExit(f"building the deployment failed: {bad[0]}")
        now += step * BATCH
        if time.perf_counter() - last_report > 30:
            last_report = time.perf_counter()
            size = world.writer.picture.size
            print(f"  {size:,} entries, {size / (last_report - started):,.0f}/s", flush=True)
    size = world.writer.picture.size
    world.writer.store.close()
    took = time.perf_counter() - started
    (dir / "built.txt").write_text(f"{size} entries in {took:.0f} s\n")
    print(f"built {size:,} entries in {took:.0f} s ({size / took:,.0f}/s)")


def _timed(fn: Callable[[], bytes]) -> tuple[float, bytes]:
    t = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t) * 1e3, out


def _view(p: Any, at: datetime, area: Area | None) -> bytes:
    return json.dumps(picture_for(p, "A", at, area), separators=(",", ":")).encode()


def _p99(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, math.ceil(0.99 * len(xs)) - 1)]


def _row(label: str, xs: list[float]) -> str:
    return (f"{label:44} n={len(xs):3} median {statistics.median(xs):9.1f}  p99 {_p99(xs):9.1f}"
            f"  max {max(xs):9.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--every", type=int, default=1000, help="entries between snapshots")
    ap.add_argument("--samples", type=int, default=100, help="times T for the snapshot path")
    ap.add_argument("--baseline-samples", type=int, default=5,
                    help="of those, how many the fold from entry 0 also answers (minutes "
                         "each at a million entries)")
    ap.add_argument("--http-samples", type=int, default=20)
    ap.add_argument("--store", type=Path, help="keep (and reuse) the built deployment here")
    ap.add_argument("--quick", action="store_true", help="1,500 entries: a smoke test")
    args = ap.parse_args()
    if args.quick:
        args.entries, args.every, args.samples = 1_500, 100, 10
        args.baseline_samples, args.http_samples = 3, 3
    tmp = Path(tempfile.mkdtemp(prefix="accord-asof-"))
    try:
        base = args.store or tmp / "built"
        if not (base / "built.txt").exists():
            shutil.rmtree(base, ignore_errors=True)
            build(base, args.entries, args.every)
        built = (base / "built.txt").read_text().strip()
        store = SqliteStore(base / "accord.db", readonly=True)
        key = NoteVerifier.parse(store.meta("log_key") or "").public_key.public_bytes_raw()
        size = store.size()
        first = Entry.decode(store.entry(1)).received_at
        last = Entry.decode(store.entry(size - 1)).received_at
        rnd = random.Random(7)
        times = sorted(first + (last - first) * rnd.random() for _ in range(args.samples))
        area = Area(*AREA)
        rows: dict[str, list[float]] = {k: [] for k in (
            "whole, snapshot + tail", "area, snapshot + tail", "whole, fold from 0",
            "area, fold from 0")}
        tails: list[int] = []
        answers: dict[tuple[int, str], bytes] = {}
        for i, at in enumerate(times):
            end = boundary(store, at)
            snap = store.snapshot_at_or_before(end)
            tails.append(end - (snap[0] if snap else 0))
            for what, a in (("whole", None), ("area", area)):
                ms, out = _timed(lambda at=at, a=a: _view(picture_at(store, key, at, area=a),
                                                          at, a))
                rows[f"{what}, snapshot + tail"].append(ms)
                answers[(i, what)] = out
        picked = rnd.sample(range(len(times)), min(args.baseline_samples, len(times)))
        for i in sorted(picked):
            at = times[i]
            t = time.perf_counter()
            p = rebuild_picture(store, key, before=at)
            ms = (time.perf_counter() - t) * 1e3
            for what, a in (("whole", None), ("area", area)):
                t = time.perf_counter()
                out = _view(p, at, a)
                view_ms = (time.perf_counter() - t) * 1e3
                rows[f"{what}, fold from 0"].append(ms + view_ms)
                if json.loads(out) != json.loads(answers[(i, what)]):
                    raise SystemExit(f"the two paths disagree at T = {format_time(at)} "
                                     f"({what}): not printing figures")
        store.close()

        tokens = dict(line.split() for line in (base / "tokens.txt").read_text().splitlines())
        run = tmp / "run"
        copy_started = time.perf_counter()
        shutil.copytree(base, run)
        copy_s = time.perf_counter() - copy_started
        proc, url, ready_s = serve(run, None)
        http: list[float] = []
        try:
            with httpx.Client(base_url=url, timeout=600) as c:
                for at in times[:args.http_samples]:
                    t = time.perf_counter()
                    r = c.get("/v1/picture", params={"at": format_time(at, micro=True)},
                              headers={"Authorization": f"Bearer {tokens['A']}"})
                    http.append((time.perf_counter() - t) * 1e3)
                    if r.status_code != 200:
                        raise SystemExit(f"GET /v1/picture?at=: {r.status_code} {r.text[:200]}")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=120)

        print(f"{platform.node()} {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load "
              f"{os.getloadavg()[0]:.2f}; log size {size:,} ({built}); a snapshot every "
              f"{args.every:,} entries; T over {format_time(first)} .. {format_time(last)}; "
              f"ms, in-process, as party A sees it (view made and JSON-encoded)")
        print(f"tail folded after the snapshot: median {statistics.median(tails):,.0f}, max "
              f"{max(tails):,} entries")
        for label, xs in rows.items():
            print(_row(label, xs))
        print(_row("GET /v1/picture?at= (HTTP, whole)", http))
        print(f"start until ready (s): {ready_s:.2f} (after copying the store: {copy_s:.1f} s)")
        print("ratio median over the same T, fold from 0 / snapshot + tail: "
              + ", ".join(
                  f"{w} {statistics.median(rows[f'{w}, fold from 0']) / statistics.median([rows[f'{w}, snapshot + tail'][i] for i in sorted(picked)]):.1f}x"  # noqa: E501
                  for w in ("whole", "area")))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
