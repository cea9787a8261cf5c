"""Reads against a real `accord serve` on a deployment holding many one-circle notices.

Builds (once, through the writer, as the service would) a deployment of --notices one-circle
notices spread over a country-sized area (Switzerland's box) and one day, four parties, then
starts `accord serve` on a copy of it and times, over plain HTTP/1.1 keep-alive:

    GET /v1/picture                     the whole live picture
    GET /v1/picture?bbox=...            a 100 km x 100 km area
    GET /v1/notices/{id}                one notice
    GET /v1/findings?open=true          one party's open findings

each --repeat times (after one warm-up request), reporting the median and the slowest, and the
time from starting the server until it answered /readyz.

Baseline, in the same run and on copies of the same store: the server of commit --baseline
(default 4e15f9d, the last before the read model: each read rebuilt the picture from the
projection tables), taken with `git archive` into a temporary folder.

    python bench/reads.py                   # 20,000 notices
    python bench/reads.py --quick           # 1,000 notices: a smoke test

`--store DIR` keeps the built deployment there and reuses it on the next run.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import random
import shutil
import signal
import statistics
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
COUNTRY = (5.96, 45.82, 10.49, 47.81)  # lon_min, lat_min, lon_max, lat_max
AREA = "7.0,46.5,8.3,47.4"  # about 100 km x 100 km inside it
BATCH = 500


def build(dir: Path, n: int, seed: int = 9) -> None:
    """The deployment: the agreement, a token per party (in tokens.txt), n notices."""
    clock = SystemClock()
    world = make_world(dir, parties=PARTIES, start=clock.now(), id="country",
                       title="Country", separation={"horizontal_m": 500, "vertical_m": 150},
                       kinds={"uas": {}}, zones=[],
                       limits={"max_window_hours": 2, "horizon_days": 30})
    tokens = [f"{p} {issue_token(world.store, p, 'bench', clock)}" for p in PARTIES]
    (dir / "tokens.txt").write_text("\n".join(tokens) + "\n")
    rnd = random.Random(seed)
    t0 = clock.now().replace(second=0, microsecond=0) + timedelta(hours=1)
    seqs = dict.fromkeys(PARTIES, 1)
    done = 0
    started = time.perf_counter()
    while done < n:
        world.clock.set(clock.now())
        subs = []
        for i in range(done, min(n, done + BATCH)):
            party = PARTIES[i % len(PARTIES)]
            start = t0 + timedelta(minutes=rnd.randrange(0, 24 * 60))
            doc = {"kind": "uas", "volumes": [{
                "footprint": {"type": "Circle",
                              "center": [round(rnd.uniform(COUNTRY[0], COUNTRY[2]), 6),
                                         round(rnd.uniform(COUNTRY[1], COUNTRY[3]), 6)],
                              "radius": {"value": 200, "units": "m"}},
                "altitude": {"lower": 0, "upper": 120, "units": "m", "reference": "W84"},
                "start": format_time(start), "end": format_time(start + timedelta(minutes=30))}]}
            body, _ = commands.notice_body(doc, party, notice=f"{party}-{i}")
            subs.append(world.sub(party, "notice.file", body, seq=seqs[party]))
            seqs[party] += 1
        results = world.writer.submit_batch(subs)
        bad = [r for r in results if isinstance(r, Exception)]
        if bad:
            raise SystemExit(f"building the deployment failed: {bad[0]}")
        done += len(subs)
    world.store.close()
    print(f"built {n:,} notices in {time.perf_counter() - started:.1f} s")


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


def timed(client: httpx.Client, path: str, token: str, repeat: int) -> list[float]:
    out = []
    client.get(path, headers={"Authorization": f"Bearer {token}"})  # warm-up
    for _ in range(repeat):
        t = time.perf_counter()
        r = client.get(path, headers={"Authorization": f"Bearer {token}"})
        out.append((time.perf_counter() - t) * 1e3)
        if r.status_code != 200:
            raise SystemExit(f"GET {path}: {r.status_code} {r.text[:200]}")
    return out


Row = tuple[str, list[float], int]


def measure(base: Path, run: Path, src: Path | None, tokens: dict[str, str],
            repeat: int) -> tuple[float, list[Row]]:
    """Serve a fresh copy of the store from `src` (None: this tree); time the reads."""
    shutil.copytree(base, run)
    proc, url, ready_s = serve(run, src)
    rows: list[Row] = []
    try:
        with httpx.Client(base_url=url, timeout=600) as c:
            a = tokens["A"]
            for label, path in (("GET /v1/picture", "/v1/picture"),
                                ("GET /v1/picture?bbox (100 km)", f"/v1/picture?bbox={AREA}"),
                                ("GET /v1/notices/{id}", "/v1/notices/B-1"),
                                ("GET /v1/findings?open=true", "/v1/findings?open=true")):
                got = c.get(path, headers={"Authorization": f"Bearer {a}"})
                rows.append((label, timed(c, path, a, repeat), len(got.content)))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    return ready_s, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--notices", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--store", type=Path, help="keep (and reuse) the built deployment here")
    ap.add_argument("--baseline", default="4e15f9d", help="the commit to compare with")
    ap.add_argument("--quick", action="store_true", help="1,000 notices, 3 repeats")
    args = ap.parse_args()
    if args.quick:
        args.notices, args.repeat = 1_000, 3
    tmp = Path(tempfile.mkdtemp(prefix="accord-reads-"))
    try:
        base = args.store or tmp / "built"
        if not (base / "tokens.txt").exists():
            build(base, args.notices)
        tokens = dict(line.split() for line in (base / "tokens.txt").read_text().splitlines())
        old = tmp / "baseline"
        old.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.baseline, "src"],
                                 capture_output=True, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(old, filter="data")
        runs = {"read model (this tree)": measure(base, tmp / "new", None, tokens, args.repeat),
                f"baseline ({args.baseline})": measure(base, tmp / "old", old / "src", tokens,
                                                        args.repeat)}
        store = SqliteStore(base / "accord.db", readonly=True)
        size = store.size()
        store.close()
        print(f"{platform.node()} {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
              f"load {os.getloadavg()[0]:.2f}; log size {size:,}; ms over {args.repeat} "
              "requests each, after one warm-up")
        names = list(runs)
        print(f"{'request':32} " + " ".join(f"{n:>30}" for n in names) + f" {'bytes':>11}")
        for k, (label, _, nbytes) in enumerate(runs[names[0]][1]):
            cells = [f"median {statistics.median(r[1][k][1]):8.1f} max {max(r[1][k][1]):8.1f}"
                     for r in runs.values()]
            print(f"{label:32} " + " ".join(f"{c:>30}" for c in cells) + f" {nbytes:11,}")
        print(f"{'start until ready (s)':32} " + " ".join(f"{r[0]:30.2f}" for r in runs.values()))
        new, old_rows = runs[names[0]][1], runs[names[1]][1]
        print("ratio median, baseline / read model: " + ", ".join(
            f"{a[0].removeprefix('GET ')} {statistics.median(b[1]) / statistics.median(a[1]):.1f}x"
            for a, b in zip(new, old_rows, strict=True)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
