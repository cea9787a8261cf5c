"""Live streams against a real `accord serve`: what many streams cost everyone else, and what
one replay of a long log costs the service's memory.

1. Latency. A deployment of --log notices (four parties A-D); `accord serve` with
   `max_streams_per_party = 70`. Party D sends `GET /v1/me` every --interval ms (open loop:
   latency from when each was due) for --duration s while A files a notice every 0.2 s over
   HTTP, first with no stream open (the baseline, same run, same server), then right after
   --streams streams of A, B and C are opened with no Last-Event-ID (each replays the whole
   log, then follows it live; each from its own loopback address, as separate clients).
   Prints p50, p99 and the slowest of D's requests in both phases and the difference.
2. Memory (--memory-store DIR, a deployment built by bench/reads.py): serve a copy, open one
   stream with no Last-Event-ID and read it to the end of the log, sampling the server's
   VmRSS every 50 ms; prints the growth at its peak.

    python bench/streams.py
    python bench/streams.py --memory-store /tmp/reads-200k
    python bench/streams.py --quick         # seconds: a smoke test
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing as mp
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from accord import commands
from accord.service.runtime import issue_token
from accord.timefmt import SystemClock, format_time
from support import World, make_world

PARTIES = ("A", "B", "C", "D")


def pct(xs: list[float], q: float) -> float:
    ys = sorted(xs)
    return ys[min(len(ys) - 1, max(0, math.ceil(q / 100 * len(ys)) - 1))]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def doc(rnd: random.Random, start: Any) -> dict[str, Any]:
    return {"kind": "uas", "volumes": [{
        "footprint": {"type": "Circle", "center": [round(rnd.uniform(6.0, 10.4), 6),
                                                   round(rnd.uniform(45.9, 47.8), 6)],
                      "radius": {"value": 200, "units": "m"}},
        "altitude": {"lower": 0, "upper": 120, "units": "m", "reference": "W84"},
        "start": format_time(start), "end": format_time(start + timedelta(minutes=30))}]}


def build(dir: Path, n: int) -> tuple[World, dict[str, str]]:
    clock = SystemClock()
    world = make_world(dir, parties=PARTIES, start=clock.now(), id="streams", title="Streams",
                       separation={"horizontal_m": 500, "vertical_m": 150}, kinds={"uas": {}},
                       zones=[], limits={"max_window_hours": 2, "horizon_days": 30})
    tokens = {p: issue_token(world.store, p, "bench", clock) for p in PARTIES}
    rnd = random.Random(5)
    t0 = clock.now() + timedelta(hours=1)
    for first in range(0, n, 500):
        world.clock.set(clock.now())
        ctx = world.writer.context("A")
        subs = []
        for k, i in enumerate(range(first, min(n, first + 500))):
            body, _ = commands.notice_body(doc(rnd, t0 + timedelta(minutes=rnd.randrange(600))),
                                           "A", notice=f"A-{i}")
            subs.append(commands.signed(world.keys["A"], "notice.file",
                                        replace(ctx, seq=ctx.seq + k), clock.now(), body))
        bad = [r for r in world.writer.submit_batch(subs) if isinstance(r, Exception)]
        if bad:
            raise SystemExit(f"building failed: {bad[0]}")
    with (dir / "accord.toml").open("a") as fh:
        fh.write("\n[service]\nmax_streams_per_party = 70\n")
    world.store.close()
    return world, tokens


def serve(dir: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "accord", "serve", str(dir), "--port", "0",
                             "--log-level", "warning"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip().rsplit(" ", 1)[-1]
    with httpx.Client(base_url=url) as c:
        while c.get("/readyz").status_code != 200:
            time.sleep(0.05)
    return proc, url


async def _streams(url: str, tokens: list[str], stop: Any, counts: Any, opened: Any,
                   after: int | None = None, until: int | None = None) -> None:
    """Open one stream per token, each from its own loopback address; read until `stop`
    (or, with `until`, until an event id at or past it arrives)."""
    u = urlparse(url)
    headers = "" if after is None else f"Last-Event-ID: {after}\r\n"

    async def one(k: int, token: str) -> None:
        addr = f"127.2.{k // 250}.{k % 250 + 1}"
        reader, writer = await asyncio.open_connection(u.hostname, u.port, local_addr=(addr, 0))
        writer.write(f"GET /v1/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}"
                     f"\r\n{headers}\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        with opened.get_lock():
            opened.value += 1
        tail = b""
        while not stop.is_set():
            try:
                chunk = await asyncio.wait_for(reader.read(1 << 16), 0.5)
            except TimeoutError:
                continue
            if not chunk:
                break
            tail = (tail + chunk)[-4096:]
            counts[k] += chunk.count(b"\nid: ") + chunk.startswith(b"id: ")
            if until is not None:
                ids = [int(x.split(b"\n")[0]) for x in tail.split(b"id: ")[1:]
                       if x.split(b"\n")[0].isdigit()]
                if ids and max(ids) >= until:
                    break
        writer.close()

    await asyncio.gather(*(one(k, t) for k, t in enumerate(tokens)))


def stream_process(url: str, tokens: list[str], stop: Any, counts: Any, opened: Any,
                   after: int | None, until: int | None) -> None:
    asyncio.run(_streams(url, tokens, stop, counts, opened, after, until))


def wait_open(opened: Any, n: int, p: Any) -> None:
    """Until all `n` streams have their response headers (the replays are then under way)."""
    deadline = time.monotonic() + 120
    while opened.value < n and p.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    if opened.value < n:
        raise SystemExit(f"only {opened.value} of {n} streams opened")


def probe(url: str, token: str, duration: float, interval: float) -> list[float]:
    out = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as c:
        c.get("/v1/me")
        t0 = time.perf_counter()
        for k in range(int(duration / interval)):
            due = t0 + k * interval
            if (wait := due - time.perf_counter()) > 0:
                time.sleep(wait)
            r = c.get("/v1/me")
            out.append((time.perf_counter() - due) * 1e3)
            assert r.status_code == 200, r.text
    return out


def filer(url: str, world: World, token: str, stop: threading.Event) -> None:
    rnd = random.Random(8)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as c:
        i = 0
        while not stop.wait(0.2):
            ctx = c.get("/v1/me").json()
            from accord.log.event import Context
            body, _ = commands.notice_body(doc(rnd, SystemClock().now() + timedelta(hours=2)),
                                           "A", notice=f"L-{i}")
            sub = commands.signed(world.keys["A"], "notice.file",
                                  Context(ctx["log"], ctx["agreement"], ctx["next_seq"]),
                                  SystemClock().now(), body)
            c.post("/v1/events", json={"event": sub.event, "sig": sub.sig})
            i += 1


def latency(args: argparse.Namespace, tmp: Path) -> None:
    world, tokens = build(tmp / "dep", args.log)
    proc, url = serve(tmp / "dep")
    try:
        stop_filing = threading.Event()
        t = threading.Thread(target=filer, args=(url, world, tokens["A"], stop_filing))
        t.start()
        base = probe(url, tokens["D"], args.duration, args.interval / 1e3)
        rss0 = rss_mb(proc.pid)
        ctx = mp.get_context("spawn")
        stop = ctx.Event()
        counts = ctx.Array("i", args.streams)
        opened = ctx.Value("i", 0)
        who = [tokens["ABC"[k % 3]] for k in range(args.streams)]
        p = ctx.Process(target=stream_process,
                        args=(url, who, stop, counts, opened, None, None))
        p.start()
        wait_open(opened, args.streams, p)
        loaded = probe(url, tokens["D"], args.duration, args.interval / 1e3)
        rss1 = rss_mb(proc.pid)
        stop.set()
        p.join(30)
        stop_filing.set()
        t.join()
        events = list(counts)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    print(f"{platform.node()} {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load "
          f"{os.getloadavg()[0]:.2f}; log of {args.log:,} notices; GET /v1/me of party D every "
          f"{args.interval:g} ms for {args.duration:g} s; A files every 0.2 s")
    for label, xs in (("no stream open", base),
                      (f"{args.streams} streams (replaying, then live)", loaded)):
        print(f"  {label:40} n {len(xs):5} p50 {pct(xs, 50):7.1f} p99 {pct(xs, 99):7.1f} "
              f"max {max(xs):7.1f} ms")
    print(f"  streams got {min(events):,} to {max(events):,} events each; server VmRSS "
          f"{rss0:.0f} MB before them, {rss1:.0f} MB with them")
    print(f"p99 added by {args.streams} streams: {pct(loaded, 99) - pct(base, 99):.1f} ms "
          f"(target: at most 50 ms)")
    print(f"ratio p99, with streams / without: {pct(loaded, 99) / pct(base, 99):.1f}x")


def memory(store: Path, tmp: Path) -> None:
    run = tmp / "mem"
    shutil.copytree(store, run)
    tokens = dict(line.split() for line in (store / "tokens.txt").read_text().splitlines())
    proc, url = serve(run)
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens['A']}"}) as c:
            size = int(c.get("/v1/log/checkpoint").json()["size"])
        time.sleep(1)
        before = peak = rss_mb(proc.pid)
        ctx = mp.get_context("spawn")
        stop = ctx.Event()
        counts = ctx.Array("i", 1)
        opened = ctx.Value("i", 0)
        p = ctx.Process(target=stream_process,
                        args=(url, [tokens["A"]], stop, counts, opened, None, size - 1))
        p.start()
        wait_open(opened, 1, p)
        started = time.perf_counter()
        while p.is_alive():
            peak = max(peak, rss_mb(proc.pid))
            time.sleep(0.05)
        took = time.perf_counter() - started
        after = rss_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    print(f"one stream with no Last-Event-ID over a {size:,}-entry log ({store}): "
          f"{counts[0]:,} events in {took:.1f} s; server VmRSS {before:.0f} MB before, peak "
          f"{peak:.0f} MB (+{peak - before:.1f} MB), {after:.0f} MB after")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--log", type=int, default=2000, help="notices in the log (latency)")
    ap.add_argument("--streams", type=int, default=200)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--interval", type=float, default=50.0, help="ms between D's requests")
    ap.add_argument("--memory-store", type=Path, help="a deployment from bench/reads.py")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.log, args.streams, args.duration = 200, 12, 3.0
    tmp = Path(tempfile.mkdtemp(prefix="accord-streams-"))
    try:
        if args.memory_store is not None:
            memory(args.memory_store, tmp)
        else:
            latency(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
