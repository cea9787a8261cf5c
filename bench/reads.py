"""Reads against a real `accord serve` on a deployment holding many one-circle notices.

Builds (once, in-process through the writer, as the service would) a deployment of --notices
one-circle notices filed over ten days on a manual clock: nine in ten have ended by the end of
the build (their 30-minute windows lie in the past), the last tenth is live (2-hour windows
starting 1-3 h after the build began). The area grows with the count (Switzerland's box at
20,000 notices, scaled in both directions by the square root of count / 20,000), so the
density, the findings per notice and the notices in a 100 km x 100 km area stay alike.
Four parties. Then it starts `accord serve` on a copy and times, over HTTP/1.1 keep-alive,
one request every --interval ms (open loop: latency from when each was due):

    GET /v1/picture?bbox=...            a 100 km x 100 km area
    GET /v1/notices/{id}                one notice (a live one)
    GET /v1/findings?open=true          one party's open findings
    GET /v1/picture                     the whole live picture (--whole-repeat times)

reporting p50, p99 and the slowest, the time from starting the server until it answered
/readyz, and the server's memory (VmRSS and VmHWM from /proc) once ready and at the end.

Baseline, in the same run and on copies of the same store: the server of commit --baseline
(default 4e15f9d, the last before the read model: each read rebuilt the picture from the
projection tables), taken with `git archive`, --baseline-repeat requests each (it takes
seconds to minutes a request at the larger sizes).

    python bench/reads.py                   # 20,000 notices
    python bench/reads.py --notices 1000000 --store /tmp/reads-1m --baseline-repeat 3
    python bench/reads.py --quick           # 1,000 notices: a smoke test

`--store DIR` keeps the built deployment there and reuses it on the next run.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from accord import commands
from accord.service.runtime import issue_token
from accord.store.sqlite import SqliteStore
from accord.timefmt import SystemClock, format_time
from support import make_world

ROOT = Path(__file__).resolve().parents[1]
PARTIES = ("A", "B", "C", "D")
COUNTRY = (5.96, 45.82, 10.49, 47.81)  # lon_min, lat_min, lon_max, lat_max (at 20,000)
AREA_KM = 100.0
BATCH = 500
HISTORY_DAYS = 10


def region(n: int) -> tuple[float, float, float, float]:
    """Switzerland's box at 20,000 notices, scaled by sqrt(n / 20,000) about its centre."""
    k = math.sqrt(max(n, 1) / 20_000)
    cx, cy = (COUNTRY[0] + COUNTRY[2]) / 2, (COUNTRY[1] + COUNTRY[3]) / 2
    hx, hy = (COUNTRY[2] - COUNTRY[0]) / 2 * k, (COUNTRY[3] - COUNTRY[1]) / 2 * k
    return cx - hx, max(-80.0, cy - hy), cx + hx, min(80.0, cy + hy)


def area(n: int) -> str:
    """A 100 km x 100 km box at the region's centre (bbox=lon_min,lat_min,lon_max,lat_max)."""
    r = region(n)
    cx, cy = (r[0] + r[2]) / 2, (r[1] + r[3]) / 2
    dlat = AREA_KM / 2 / 111.32
    dlon = dlat / math.cos(math.radians(cy))
    return f"{cx - dlon:.4f},{cy - dlat:.4f},{cx + dlon:.4f},{cy + dlat:.4f}"


def build(dir: Path, n: int, seed: int = 9) -> None:
    """The deployment: the agreement, a token per party (in tokens.txt), n notices, the
    first nine tenths filed over ten days of a manual clock and ended, the last tenth live."""
    real = SystemClock()
    begin = real.now()
    t0 = begin - timedelta(days=HISTORY_DAYS)
    world = make_world(dir, parties=PARTIES, start=t0 - timedelta(minutes=1), id="country",
                       title="Country", separation={"horizontal_m": 500, "vertical_m": 150},
                       kinds={"uas": {}}, zones=[],
                       limits={"max_window_hours": 2, "horizon_days": 30})
    tokens = [f"{p} {issue_token(world.store, p, 'bench', real)}" for p in PARTIES]
    (dir / "tokens.txt").write_text("\n".join(tokens) + "\n")
    box = region(n)
    history = n - n // 10
    rnd = random.Random(seed)
    seqs = dict.fromkeys(PARTIES, 1)
    done = 0
    started = time.perf_counter()
    while done < n:
        if done < history:  # filed across ten days, each over half an hour later
            filed = t0 + (begin - t0 - timedelta(hours=2)) * (done / history)
        else:  # filed in the hour before the build began, live for hours after it
            filed = begin - timedelta(hours=1) + timedelta(hours=1) * ((done - history)
                                                                       / max(1, n - history))
        world.clock.set(filed)
        subs = []
        for i in range(done, min(n, done + BATCH, history if done < history else n)):
            party = PARTIES[i % len(PARTIES)]
            if i < history:
                start = filed + timedelta(minutes=rnd.uniform(5, 60))
                length = timedelta(minutes=30)
            else:
                start = begin + timedelta(minutes=rnd.uniform(60, 180))
                length = timedelta(hours=2)
            doc = {"kind": "uas", "volumes": [{
                "footprint": {"type": "Circle",
                              "center": [round(rnd.uniform(box[0], box[2]), 6),
                                         round(rnd.uniform(box[1], box[3]), 6)],
                              "radius": {"value": 200, "units": "m"}},
                "altitude": {"lower": 0, "upper": 120, "units": "m", "reference": "W84"},
                "start": format_time(start), "end": format_time(start + length)}]}
            body, _ = commands.notice_body(doc, party, notice=f"{party}-{i}")
            subs.append(world.sub(party, "notice.file", body, seq=seqs[party]))
            seqs[party] += 1
        results = world.writer.submit_batch(subs)
        bad = [r for r in results if isinstance(r, Exception)]
        if bad:
            raise SystemExit(f"building the deployment failed: {bad[0]}")
        done += len(subs)
        if done % 100_000 < BATCH:
            print(f"  {done:,} filed, {time.perf_counter() - started:.0f} s", flush=True)
    size = world.store.size()
    world.store.close()
    print(f"built {n:,} notices ({size:,} entries) in {time.perf_counter() - started:.1f} s")


def memory(pid: int) -> tuple[int, int]:
    """VmRSS and VmHWM of a process, in MB."""
    got = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            got[line.split(":")[0]] = int(line.split()[1]) // 1024
    return got["VmRSS"], got["VmHWM"]


def serve(dir: Path, src: Path | None) -> tuple[subprocess.Popen[str], str, float]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "accord", "serve", str(dir), "--port", "0",
                             "--log-level", "warning"], stdout=subprocess.PIPE, text=True,
                            env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line:
        raise SystemExit(f"accord serve {dir} did not start")
    url = line.rsplit(" ", 1)[-1]
    with httpx.Client(base_url=url) as c:
        while c.get("/readyz").status_code != 200:
            time.sleep(0.05)
    return proc, url, time.perf_counter() - t


def timed(client: httpx.Client, path: str, token: str, repeat: int,
          interval_s: float) -> list[float]:
    """`repeat` requests, one due every `interval_s` (open loop on one connection: a late
    answer delays the next request, and its wait counts in that request's latency)."""
    out = []
    headers = {"Authorization": f"Bearer {token}"}
    client.get(path, headers=headers)  # warm-up
    t0 = time.perf_counter()
    for k in range(repeat):
        due = t0 + k * interval_s
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        r = client.get(path, headers=headers)
        out.append((time.perf_counter() - due) * 1e3)
        if r.status_code != 200:
            raise SystemExit(f"GET {path}: {r.status_code} {r.text[:200]}")
    return out


Row = tuple[str, list[float], int]


def measure(base: Path, run: Path, src: Path | None, tokens: dict[str, str], repeat: int,
            whole: int, interval_s: float, n: int
            ) -> tuple[float, list[Row], tuple[int, int], tuple[int, int], int]:
    """Serve a fresh copy of the store from `src` (None: this tree); time the reads. Returns
    the start time, the rows, the memory once ready and at the end, and the live notices."""
    shutil.copytree(base, run)
    proc, url, ready_s = serve(run, src)
    rows: list[Row] = []
    try:
        ready_mem = memory(proc.pid)
        with httpx.Client(base_url=url, timeout=3600) as c:
            a = tokens["A"]
            whole_picture = c.get("/v1/picture", headers={"Authorization": f"Bearer {a}"})
            live = [x["id"] for x in whole_picture.json()["notices"]]
            one = next((x for x in live if x.startswith("B-")), live[0] if live else "B-1")
            for label, path, times in (
                    ("GET /v1/picture?bbox (100 km)", f"/v1/picture?bbox={area(n)}", repeat),
                    ("GET /v1/notices/{id}", f"/v1/notices/{one}", repeat),
                    ("GET /v1/findings?open=true", "/v1/findings?open=true", repeat),
                    ("GET /v1/picture", "/v1/picture", whole)):
                got = c.get(path, headers={"Authorization": f"Bearer {a}"})
                rows.append((label, timed(c, path, a, times, interval_s), len(got.content)))
        end_mem = memory(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    return ready_s, rows, ready_mem, end_mem, len(live)


def pct(xs: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    ys = sorted(xs)
    return ys[min(len(ys) - 1, max(0, math.ceil(q / 100 * len(ys)) - 1))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--notices", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=200, help="requests per read (this tree)")
    ap.add_argument("--whole-repeat", type=int, default=20,
                    help="requests of the whole picture (this tree)")
    ap.add_argument("--baseline-repeat", type=int, default=5,
                    help="requests per read for the baseline")
    ap.add_argument("--interval", type=float, default=50.0, help="ms between requests")
    ap.add_argument("--store", type=Path, help="keep (and reuse) the built deployment here")
    ap.add_argument("--baseline", default="4e15f9d", help="the commit to compare with")
    ap.add_argument("--no-baseline", action="store_true", help="this tree only")
    ap.add_argument("--quick", action="store_true", help="1,000 notices, few requests")
    args = ap.parse_args()
    if args.quick:
        args.notices, args.repeat, args.whole_repeat, args.baseline_repeat = 1_000, 5, 2, 2
    tmp = Path(tempfile.mkdtemp(prefix="accord-reads-"))
    try:
        base = args.store or tmp / "built"
        if not (base / "tokens.txt").exists():
            build(base, args.notices)
        tokens = dict(line.split() for line in (base / "tokens.txt").read_text().splitlines())
        store = SqliteStore(base / "accord.db", readonly=True)
        size = store.size()
        n = sum(1 for _ in store.db.execute("SELECT 1 FROM p_notices"))
        store.close()
        print(f"{platform.node()} {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
              f"load {os.getloadavg()[0]:.2f}; {n:,} notices filed, log size {size:,}; "
              f"one request every {args.interval:g} ms after one warm-up", flush=True)
        runs = {"read model (this tree)": measure(
            base, tmp / "new", None, tokens, args.repeat, args.whole_repeat,
            args.interval / 1e3, n)}
        if not args.no_baseline:
            old = tmp / "baseline"
            old.mkdir()
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.baseline, "src"],
                                     capture_output=True, check=True).stdout
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                tar.extractall(old, filter="data")
            runs[f"baseline ({args.baseline})"] = measure(
                base, tmp / "old", old / "src", tokens, args.baseline_repeat,
                args.baseline_repeat, args.interval / 1e3, n)
        print(f"load at the end {os.getloadavg()[0]:.2f}")
        names = list(runs)
        for name in names:
            ready_s, rows, ready_mem, end_mem, live = runs[name]
            print(f"{name}: {live:,} live notices; ready in {ready_s:.2f} s; memory once ready "
                  f"{ready_mem[0]:,} MB (peak {ready_mem[1]:,}), at the end {end_mem[0]:,} MB "
                  f"(peak {end_mem[1]:,})")
            for label, ms, nbytes in rows:
                print(f"  {label:32} n {len(ms):4} p50 {pct(ms, 50):9.1f} p99 {pct(ms, 99):9.1f}"
                      f" max {max(ms):9.1f} ms  {nbytes:12,} bytes")
        if len(names) == 2:
            new, old_rows = runs[names[0]][1], runs[names[1]][1]
            print("ratio p99, baseline / read model: " + ", ".join(
                f"{a[0].removeprefix('GET ')} {pct(b[1], 99) / pct(a[1], 99):.1f}x"
                for a, b in zip(new, old_rows, strict=True)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
