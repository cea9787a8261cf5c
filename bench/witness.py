"""Witnessing's cost to filings, and how soon a checkpoint is witnessed under load.

Two `accord serve` run side by side on the same machine, in the same run: one whose agreement
names 3 witnesses (quorum 2; three `accord witness serve` processes on 127.0.0.1) and, as the
baseline, one whose agreement names none. Both get the same filings (the congested-area
documents of bench/ingest.py, made from one seed and signed for each log), phase after phase,
the two services one after the other within each phase:

1. Closed loop: --connections parties, one request in flight each (throughput).
2. Open loop at --rate filings/s for --duration s (latency from the time each filing was due).

During the open-loop phase a poller reads each service's latest checkpoint and latest
witnessed checkpoint every --poll s; for each checkpoint size it saw, the delay is the time
from first seeing that size to first seeing a witnessed checkpoint at least that large.

    python bench/witness.py
    python bench/witness.py --quick
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from accord.witness.folder import WitnessFolder
from ingest import Filings, deployment, pct, phase, serving

console = Console(width=150)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def witnesses(root: Path, n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        folder = WitnessFolder.init(root / f"w{i}", f"witness.bench/w{i}", [])
        out.append({"dir": folder.dir, "key": folder.verifier_key, "port": free_port()})
    return out


def start_witness(w: dict[str, Any]) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-m", "accord", "witness", "serve", str(w["dir"]),
                             "--port", str(w["port"]), "--log-level", "warning"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    proc.stdout.readline()
    return proc


class Poller(threading.Thread):
    """Latest checkpoint and latest witnessed checkpoint of one service, every `every` s."""

    def __init__(self, url: str, token: str, every: float) -> None:
        super().__init__(daemon=True)
        self.url, self.every = url, every
        self.headers = {"Authorization": f"Bearer {token}"}
        self.seen: dict[int, float] = {}  # size -> first seen
        self.witnessed: list[tuple[float, int]] = []  # (time, witnessed size) when it grew
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=5) as c:
            while not self.stop.wait(self.every):
                now = time.perf_counter()
                try:
                    cp = c.get("/v1/log/checkpoint").json()
                    w = c.get("/v1/log/witnessed")
                except httpx.HTTPError:
                    continue
                self.seen.setdefault(int(cp["size"]), now)
                if w.status_code == 200:
                    size = int(w.json()["size"])
                    if not self.witnessed or size > self.witnessed[-1][1]:
                        self.witnessed.append((time.perf_counter(), size))

    def delays(self, since: float) -> list[float]:
        out = []
        for size, t in sorted(self.seen.items()):
            if t < since:
                continue
            done = next((tw for tw, s in self.witnessed if s >= size), None)
            if done is not None:
                out.append(max(0.0, done - t))
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--filings", type=int, default=6000, help="closed loop: filings per mode")
    ap.add_argument("--connections", type=int, default=32, help="closed loop: parties")
    ap.add_argument("--rate", type=float, default=1000.0, help="open loop: filings/s")
    ap.add_argument("--duration", type=float, default=10.0, help="open loop: seconds")
    ap.add_argument("--parties", type=int, default=200, help="open loop: parties")
    ap.add_argument("--poll", type=float, default=0.05, help="poller period, s")
    ap.add_argument("--baseline-first", action="store_true",
                    help="run the service without witnesses first in each phase (default: "
                         "the one with witnesses first); compare both orders")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.filings, args.connections, args.rate = 100, 4, 50.0
        args.duration, args.parties = 1.0, 8
    parties = [f"P{i}" for i in range(max(args.parties, args.connections))]
    procs: list[subprocess.Popen[str]] = []
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        ws = witnesses(d, 3)
        policy = {"quorum": 2, "list": [{"key": w["key"], "url": f"http://127.0.0.1:{w['port']}"}
                                        for w in ws]}
        worlds: dict[str, Any] = {}
        for name, over in (("3 witnesses", {"witnesses": policy}), ("no witnesses", {})):
            world, tokens = deployment_with(d / name.replace(" ", "-"), parties, over)
            worlds[name] = (world, tokens, Filings(world, seed=11))
        wv = worlds["3 witnesses"][0]
        for w in ws:
            WitnessFolder.open(w["dir"]).add_logs([wv.writer.signer.verifier_key])
            procs.append(start_witness(w))
        served = {}
        for name, (world, _, _) in worlds.items():
            served[name] = d / f"served-{name.replace(' ', '-')}"
            world.writer.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            shutil.copytree(world.dir, served[name])
        try:
            with serving(served["3 witnesses"]) as url_w, \
                    serving(served["no witnesses"]) as url_b:
                urls = {"3 witnesses": url_w, "no witnesses": url_b}
                if args.baseline_first:
                    worlds = dict(reversed(list(worlds.items())))
                time.sleep(1.0)
                for name, (_world, tokens, filings) in worlds.items():
                    work = filings.make(parties[:args.connections], args.filings)
                    results.setdefault(name, {})["closed"] = phase(urls[name], tokens, work,
                                                                   0, 60.0)
                for name, (_world, tokens, filings) in worlds.items():
                    work = filings.make(parties[:args.parties],
                                        round(args.rate * args.duration))
                    poller = Poller(urls[name][0], tokens[parties[0]], args.poll)
                    poller.start()
                    t0 = time.perf_counter()
                    results[name]["open"] = phase(urls[name], tokens, work, args.rate, 60.0)
                    time.sleep(1.0 if args.quick else 3.0)  # the last ones get witnessed
                    poller.stop.set()
                    poller.join()
                    results[name]["delays"] = poller.delays(t0)
                    results[name]["sizes"] = len([t for t in poller.seen.values() if t >= t0])
        finally:
            for p in procs:
                p.terminate()
                p.wait(10)
    when = (f"{platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}, "
            f"load average {os.getloadavg()[0]:.2f}")
    t = Table("agreement", "closed: filings/s", "closed p50 ms", "closed p99 ms",
              f"open {args.rate:,.0f}/s: achieved", "open p50 ms", "open p99 ms", "errors",
              title=f"Ingest with and without witnesses, same run ({when})")
    for name in ("no witnesses", "3 witnesses"):
        c, o = results[name]["closed"], results[name]["open"]
        t.add_row(name, f"{c['rate']:,.0f}", f"{c['p50']:.1f}", f"{c['p99']:.1f}",
                  f"{o['rate']:,.0f}", f"{o['p50']:.1f}", f"{o['p99']:.1f}",
                  f"{c['errors'] + o['errors']}")
    console.print(t)
    b, w = results["no witnesses"], results["3 witnesses"]
    console.print(f"ratio with/without witnesses: closed-loop filings/s "
                  f"{w['closed']['rate'] / b['closed']['rate']:.2f}x, open-loop p50 "
                  f"{w['open']['p50'] / b['open']['p50']:.2f}x, p99 "
                  f"{w['open']['p99'] / b['open']['p99']:.2f}x")
    dl = w["delays"]
    console.print(f"time to witnessed (quorum 2 of 3) at {args.rate:,.0f} filings/s: "
                  f"{len(dl)} of {w['sizes']} checkpoint sizes seen were witnessed; "
                  f"p50 {pct(dl, 50) * 1e3:.0f} ms, p99 {pct(dl, 99) * 1e3:.0f} ms, "
                  f"max {max(dl, default=float('nan')) * 1e3:.0f} ms (poll every "
                  f"{args.poll * 1e3:.0f} ms)")


def deployment_with(dir: Path, parties: list[str], over: dict[str, Any]) -> tuple[Any, Any]:
    """bench/ingest.py's congested-area deployment, with `over` in its agreement."""
    from accord.service.runtime import issue_token
    from accord.timefmt import SystemClock
    from support import make_world

    if not over:
        return deployment(dir, parties)
    clock = SystemClock()
    world = make_world(dir, parties=tuple(parties), start=clock.now(), id="congested",
                       title="Congested area", separation={"horizontal_m": 500,
                                                           "vertical_m": 300},
                       kinds={"uas": {}}, zones=[],
                       limits={"max_window_hours": 2, "horizon_days": 30}, **over)
    tokens = {p: issue_token(world.store, p, "bench", clock) for p in parties}
    return world, tokens


if __name__ == "__main__":
    main()
