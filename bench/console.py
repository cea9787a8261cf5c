"""The console under load, in real Chromium: a deployment of --notices live notices and
--aircraft aircraft of the signed-in party reporting every second.

Builds (through the writer, as the service would) a two-party deployment whose RU holds
--notices one-circle notices over the eastern Mediterranean in the coming day, starts
`accord serve`, opens IL's console in headless Chromium (Debian's package, Playwright's sync
API) and measures:

    first full render    sign-in pressed -> the picture fetched, every notice drawn, the
                         lists built and the next frame painted (target: <= 2 s)
    live update          a notice entry arriving on the stream -> applied and painted, while
                         RU files --rate notices a second (target p95: <= 100 ms)
    aircraft update      /v1/tracks answered -> the --aircraft markers and predicted paths
                         moved and painted, once a second (target p95: <= 100 ms)
    longest task         the longest main-thread task (PerformanceObserver "longtask")
                         during the live period: how long the page can be unresponsive

Load is offered open loop: the aircraft reports are sent on a fixed one-second schedule and
the notices on a fixed schedule of --rate a second, whatever the service or page answer.

Baseline, in the same run on the same page and picture: the live update done the naive way,
by fetching the whole picture again and redrawing it (`fullRefresh`, what the console does
only when the agreement changes). The ratio printed is baseline / live update (medians).

    python bench/console.py                  # 10,000 notices, 1,000 aircraft, 30 s live
    python bench/console.py --quick          # 500 notices, 100 aircraft, 6 s: a smoke test
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
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from accord import commands
from accord.client import Client
from accord.service.runtime import issue_token
from accord.timefmt import SystemClock, format_time
from support import make_world

PARTIES = ("IL", "RU")
REGION = (33.0, 33.0, 38.0, 37.0)  # lon_min, lat_min, lon_max, lat_max
BATCH = 500
CHROMIUM = next((p for p in ("/usr/lib/chromium/chromium", shutil.which("chromium") or "")
                 if p and os.path.exists(p)), None)


def build(dir: Path, n: int, seed: int = 10) -> dict[str, str]:
    clock = SystemClock()
    world = make_world(dir, parties=PARTIES, start=clock.now(), id="console-bench",
                       title="Console bench", separation={"horizontal_m": 500, "vertical_m": 150},
                       kinds={"transit": {}}, zones=[],
                       limits={"max_window_hours": 2, "horizon_days": 30})
    tokens = {p: issue_token(world.store, p, "bench", clock) for p in PARTIES}
    for p in PARTIES:
        world.keys[p].write(dir / f"{p}.key")
    rnd = random.Random(seed)
    t0 = clock.now().replace(second=0, microsecond=0) + timedelta(hours=1)
    seq = 1
    done = 0
    started = time.perf_counter()
    while done < n:
        world.clock.set(clock.now())
        subs = []
        for i in range(done, min(n, done + BATCH)):
            subs.append(world.sub("RU", "notice.file", _body(rnd, t0, f"RU-{i}"), seq=seq))
            seq += 1
        bad = [r for r in world.writer.submit_batch(subs) if isinstance(r, Exception)]
        if bad:
            raise SystemExit(f"building the deployment failed: {bad[0]}")
        done += len(subs)
    world.store.close()
    print(f"built {n:,} notices in {time.perf_counter() - started:.1f} s")
    return tokens


def _body(rnd: random.Random, t0: Any, notice: str) -> dict[str, Any]:
    start = t0 + timedelta(minutes=rnd.randrange(0, 22 * 60))
    doc = {"kind": "transit", "volumes": [{
        "footprint": {"type": "Circle",
                      "center": [round(rnd.uniform(REGION[0], REGION[2]), 5),
                                 round(rnd.uniform(REGION[1], REGION[3]), 5)],
                      "radius": {"value": 2, "units": "km"}},
        "altitude": {"lower": 0, "upper": 3000, "units": "m", "reference": "W84"},
        "start": format_time(start), "end": format_time(start + timedelta(minutes=60))}]}
    body, _ = commands.notice_body(doc, "RU", notice=notice)
    return body


def serve(dir: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "accord", "serve", str(dir), "--port", "0",
                             "--log-level", "warning"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip().rsplit(" ", 1)[-1]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("the server did not become ready")


class Feeder:
    """Open-loop load: the aircraft reports every second, RU's notices at `rate` a second."""

    def __init__(self, url: str, tokens: dict[str, str], dir: Path, aircraft: int,
                 rate: float) -> None:
        from accord.keys import KeyFile

        self.url, self.tokens, self.n, self.rate = url, tokens, aircraft, rate
        self.key = KeyFile.read(dir / "RU.key")
        self.stop = threading.Event()
        self.late = 0
        self.sent_notices = 0
        rnd = random.Random(3)
        self.fleet = [[rnd.uniform(REGION[1], REGION[3]), rnd.uniform(REGION[0], REGION[2]),
                       rnd.uniform(3000, 11000), rnd.uniform(120, 250), rnd.uniform(0, 360)]
                      for _ in range(aircraft)]
        self.threads = [threading.Thread(target=self._tracks, daemon=True),
                        threading.Thread(target=self._notices, daemon=True)]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def _tracks(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10,
                          headers={"Authorization": f"Bearer {self.tokens['IL']}"}) as c:
            t0 = time.monotonic()
            k = 0
            while not self.stop.is_set():
                now = SystemClock().now()
                rows = []
                for i, (lat, lon, alt, gs, trk) in enumerate(self.fleet):
                    d = gs * 1.0 / 6371000
                    lat2 = lat + math.degrees(d * math.cos(math.radians(trk)))
                    lon2 = lon + math.degrees(d * math.sin(math.radians(trk))
                                              / math.cos(math.radians(lat)))
                    self.fleet[i][0], self.fleet[i][1] = lat2, lon2
                    rows.append({"aircraft": f"IAF-{i}", "time": format_time(now, micro=True),
                                 "lat": round(lat2, 6), "lon": round(lon2, 6),
                                 "alt_m": round(alt, 1), "gs_mps": round(gs, 1),
                                 "trk_deg": round(trk, 1)})
                c.post("/v1/tracks", json={"reports": rows})
                k += 1
                wait = t0 + k - time.monotonic()
                if wait < 0:
                    self.late += 1
                self.stop.wait(max(0.0, wait))

    def _notices(self) -> None:
        rnd = random.Random(7)
        t0n = SystemClock().now().replace(second=0, microsecond=0) + timedelta(hours=2)
        with Client(self.url, self.tokens["RU"]) as c:
            start = time.monotonic()
            k = 0
            while not self.stop.is_set():
                ctx = c.context()
                body = _body(rnd, t0n, f"RU-LIVE-{k}")
                c.submit(commands.signed(self.key, "notice.file", ctx, SystemClock().now(),
                                         body))
                self.sent_notices += 1
                k += 1
                wait = start + k / self.rate - time.monotonic()
                if wait < 0:
                    self.late += 1
                self.stop.wait(max(0.0, wait))


def _busy(cdp: Any) -> float:
    """Seconds the page's main thread has spent in tasks (Chromium's TaskDuration)."""
    metrics = cdp.send("Performance.getMetrics")["metrics"]
    return float(next(m["value"] for m in metrics if m["name"] == "TaskDuration"))


def _cpu(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, math.ceil(p / 100 * len(xs)) - 1))] if xs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--notices", type=int, default=10_000)
    ap.add_argument("--aircraft", type=int, default=1_000)
    ap.add_argument("--seconds", type=float, default=30.0, help="length of the live period")
    ap.add_argument("--rate", type=float, default=2.0, help="RU's new notices a second")
    ap.add_argument("--quick", action="store_true", help="500 notices, 100 aircraft, 6 s")
    ap.add_argument("--store", type=Path, help="keep the built deployment here and reuse it "
                    "(its notices' windows start an hour after it was built)")
    args = ap.parse_args()
    if args.quick:
        args.notices, args.aircraft, args.seconds = 500, 100, 6.0
    if CHROMIUM is None:
        raise SystemExit("bench/console.py needs Chromium (Debian: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    print(f"machine: {platform.machine()} {os.cpu_count()} cores, {platform.platform()}; "
          f"load {os.getloadavg()[0]:.2f}")
    tmp = Path(tempfile.mkdtemp(prefix="accord-bench-console-"))
    proc = None
    try:
        dir = tmp / "dep"
        if args.store is not None and (args.store / "tokens.json").exists():
            shutil.copytree(args.store, dir)
            tokens = json.loads((dir / "tokens.json").read_text())
        else:
            tokens = build(dir, args.notices)
            (dir / "tokens.json").write_text(json.dumps(tokens))
            if args.store is not None:
                shutil.copytree(dir, args.store, dirs_exist_ok=True)
        log_key = (dir / "log.pub").read_text().strip()
        proc, url = serve(dir)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=["--no-sandbox", "--disable-dev-shm-usage"])
            page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url + "/?party=IL")
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")
            busy0 = _busy(cdp)
            cpu0 = _cpu(proc.pid)
            page.fill("#token", tokens["IL"])
            page.set_input_files("#keyfile", str(dir / "IL.key"))
            page.fill("#logkey", log_key)
            page.click("#signin-form button[type=submit]")
            page.wait_for_selector("body[data-stream=connected]", state="attached",
                                   timeout=120_000)
            deadline = time.monotonic() + 60
            while page.evaluate("() => window.accordConsole.timings.firstRender") == 0:
                if time.monotonic() > deadline:
                    raise SystemExit("the first render did not finish")
                time.sleep(0.05)
            busy1 = _busy(cdp)
            cpu1 = _cpu(proc.pid)
            t = page.evaluate("() => window.accordConsole.timings")
            first = (t["firstRender"] - t["signin"]) / 1000
            drawn = page.evaluate("() => window.accordConsole.map.byNotice.size")
            print(f"first full render: {first:.2f} s for {drawn:,} notices drawn "
                  f"(target <= 2 s)")
            print(f"  of which: sign-in (token, key, agreement) "
                  f"{(t['start'] - t['signin']) / 1000:.2f} s, then the picture fetched "
                  f"{(t['fetched'] - t['start']) / 1000:.2f} s (the base map meanwhile), "
                  f"applied {(t['loaded'] - t['fetched']) / 1000:.2f} s, drawn "
                  f"{(t['drawn'] - t['loaded']) / 1000:.2f} s, painted "
                  f"{(t['firstRender'] - t['drawn']) / 1000:.2f} s")
            # the live period
            time.sleep(2)  # long tasks of the first render are reported a little later
            first_long = page.evaluate("() => Math.max(0, ...window.accordConsole.longTasks"
                                       ".map((x) => x.duration))")
            print(f"  longest main-thread task during the first render: {first_long:.0f} ms")
            print(f"  CPU time, less dependent on the machine's load: the page's main thread "
                  f"busy {busy1 - busy0:.2f} s, the service {cpu1 - cpu0:.2f} s")
            live_from = page.evaluate("() => { const s = window.accordConsole;"
                                      " s.lastUpdateMs.length = 0; s.trackUpdateMs.length = 0;"
                                      " return performance.now(); }")
            feeder = Feeder(url, tokens, dir, args.aircraft, args.rate)
            busy0 = _busy(cdp)
            feeder.start()
            time.sleep(args.seconds)
            busy_live = _busy(cdp) - busy0
            feeder.stop.set()
            for th in feeder.threads:
                th.join(timeout=15)
            time.sleep(1.5)
            got = page.evaluate("() => { const s = window.accordConsole; return {live:"
                                " s.lastUpdateMs, tracks: s.trackUpdateMs, long: s.longTasks,"
                                " aircraft: s.map.aircraft.size}; }")
            live, tracks = got["live"], got["tracks"]
            long = [x for x in got["long"] if x["start"] >= live_from]
            longest = max((x["duration"] for x in long), default=0.0)
            print(f"live period: {args.seconds:g} s, {feeder.sent_notices} notices filed "
                  f"({args.rate:g}/s offered), {args.aircraft:,} aircraft reporting every "
                  f"second ({got['aircraft']:,} drawn); {feeder.late} sends late")
            print(f"live update (entry -> painted): n={len(live)} p50 "
                  f"{statistics.median(live) if live else float('nan'):.1f} ms, p95 "
                  f"{pct(live, 95):.1f} ms, max {max(live, default=float('nan')):.1f} ms "
                  f"(target p95 <= 100 ms)")
            print(f"aircraft update (tracks -> painted): n={len(tracks)} p50 "
                  f"{statistics.median(tracks) if tracks else float('nan'):.1f} ms, p95 "
                  f"{pct(tracks, 95):.1f} ms, max {max(tracks, default=float('nan')):.1f} ms "
                  f"(target p95 <= 100 ms)")
            print(f"longest main-thread task in the live period: {longest:.0f} ms "
                  f"({len(long)} tasks over 50 ms); main thread busy "
                  f"{busy_live / args.seconds * 100:.0f}% of the time")
            # the baseline: the same update done by reloading and redrawing everything
            base = []
            for _ in range(5):
                base.append(page.evaluate(
                    "async () => { const t0 = performance.now(); await window.accordConsole"
                    ".fullRefresh(); await new Promise((r) => requestAnimationFrame(r));"
                    " return performance.now() - t0; }"))
            print(f"baseline, full refresh (picture fetched and redrawn): median "
                  f"{statistics.median(base):.1f} ms over {len(base)}")
            if live:
                print(f"ratio full refresh / live update, medians: "
                      f"{statistics.median(base) / statistics.median(live):.1f}x")
            if errors:
                raise SystemExit(f"the page failed: {errors[:3]}")
            print(json.dumps({"first_render_s": round(first, 3),
                              "live_p95_ms": round(pct(live, 95), 1),
                              "tracks_p95_ms": round(pct(tracks, 95), 1),
                              "longest_task_ms": round(longest), "load": os.getloadavg()[0]}))
            browser.close()
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
