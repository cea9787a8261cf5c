"""Congested-area ingest over HTTP: concurrent clients filing notices in one 10 km area.

A real `accord serve` (its own process) and a load generator (another process) on 127.0.0.1.
Every filing is a party-signed `notice.file` (signed before the clock starts: that is the
party's cost), verified, checked exactly against every live notice near it (all of them are
within 10 km, so every one is a 2D candidate; time slots and altitude layers keep most of them
apart in 4D, and one filing in twenty is placed to conflict), durably logged with group commit,
and answered with its receipt. The load generator speaks plain HTTP/1.1 keep-alive over
asyncio streams so that it costs the machine as little as possible.

Baseline in the same run: the same service with group commit off (`max_batch = 1`: one
transaction, fsync and checkpoint signature per filing). The anchor from outside: the InterUSS
DSS is reported at about 2-8 writes/s of overlapping operational intents in one cell.

    python bench/ingest.py                        # 20,000 filings, 32 connections
    python bench/ingest.py --filings 3000 --connections 16
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from accord import commands
from accord.keys import PARTY_KEY, KeyFile
from accord.service.deployment import Deployment
from accord.service.runtime import issue_token
from accord.service.writer import Writer
from accord.store.sqlite import SqliteStore
from accord.timefmt import SystemClock, format_time

console = Console(width=140)
PARTIES: list[str] = []  # set from --connections: one party per connection
CENTRE = (8.55, 47.37)  # a 10 km box around here (any city would do)


def deployment(dir: Path, max_batch: int) -> tuple[dict[str, KeyFile], dict[str, str]]:
    clock = SystemClock()
    d = Deployment.init(dir, "bench.example/ingest", clock)
    with (dir / "accord.toml").open("a") as fh:
        fh.write(f"\n[service]\nmax_batch = {max_batch}\nrate_per_second = 1000000\n"
                 f"burst = 1000000\n")
    keys = {p: KeyFile.generate(PARTY_KEY, p) for p in PARTIES}
    doc = {"id": "congested", "parties": [{"id": p, "key": k.public_b64} for p, k in keys.items()],
           "separation": {"horizontal_m": 500, "vertical_m": 300},
           "kinds": {"uas": {}}, "limits": {"max_window_hours": 2, "horizon_days": 30}}
    store = SqliteStore(d.db_path)
    writer = Writer(store, d.signer(), clock)
    writer.submit(commands.signed_by_all(doc, keys.values(), clock.now()))
    tokens = {p: issue_token(store, p, "bench", clock) for p in PARTIES}
    store.close()
    return keys, tokens


def filings(keys: dict[str, KeyFile], n: int, seed: int) -> list[tuple[str, bytes]]:
    """(party, request body) pairs: 5-minute slots x 10 altitude layers 350 m apart, all in
    one 10 km box; every 20th filing takes the place, slot and layer of an earlier one."""
    rnd = random.Random(seed)
    t0 = SystemClock().now().replace(second=0, microsecond=0) + timedelta(hours=1)
    seqs = dict.fromkeys(PARTIES, 1)
    out = []
    used: list[tuple[int, int, float, float]] = []
    for i in range(n):
        party = PARTIES[i % len(PARTIES)]
        if i % 20 == 19 and used:
            slot, layer, lon, lat = rnd.choice(used)  # the same place and time: a conflict
        else:
            slot, layer = divmod(i, 10)
            lon = CENTRE[0] + rnd.uniform(-0.06, 0.06)  # within ~10 km east-west
            lat = CENTRE[1] + rnd.uniform(-0.04, 0.04)
            used.append((slot, layer, lon, lat))
        start = t0 + timedelta(minutes=5 * slot)
        doc = {"kind": "uas", "volumes": [{
            "footprint": {"type": "Circle", "center": [round(lon, 6), round(lat, 6)],
                          "radius": {"value": 400, "units": "m"}},
            "altitude": {"lower": layer * 350, "upper": layer * 350 + 50, "units": "m",
                         "reference": "W84"},
            "start": format_time(start), "end": format_time(start + timedelta(minutes=5))}]}
        body, _ = commands.notice_body(doc, party, notice=f"{party}-{i}")
        sub = commands.signed(keys[party], "notice.file", seqs[party], SystemClock().now(), body)
        seqs[party] += 1
        out.append((party, json.dumps({"event": sub.event, "sig": sub.sig}).encode()))
    return out


async def _connection(host: str, port: int, token: str, bodies: list[bytes],
                      lat: list[float], codes: dict[int, int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    head = (f"POST /v1/events HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\n").encode()
    for body in bodies:
        t = time.perf_counter()
        writer.write(head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        status_line = await reader.readline()
        length = 0
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        lat.append(time.perf_counter() - t)
        code = int(status_line.split()[1])
        codes[code] = codes.get(code, 0) + 1
    writer.close()


def load(url: str, tokens: dict[str, str], work: list[tuple[str, bytes]], result: Any) -> None:
    """The load generator (its own process): one keep-alive connection per party, so each
    party's seq arrives in order, all parties at once."""
    host, port = url.removeprefix("http://").split(":")
    per_party: dict[str, list[bytes]] = {p: [] for p in tokens}
    for party, body in work:
        per_party[party].append(body)

    async def main() -> tuple[list[float], dict[int, int], float]:
        lat: list[float] = []
        codes: dict[int, int] = {}
        t = time.perf_counter()
        await asyncio.gather(*(_connection(host, int(port), tokens[p], bodies, lat, codes)
                               for p, bodies in per_party.items()))
        return lat, codes, time.perf_counter() - t

    result.put(asyncio.run(main()))


def run(n: int, max_batch: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as d:
        dir = Path(d) / "dep"
        keys, tokens = deployment(dir, max_batch)
        work = filings(keys, n, seed=11)
        proc = subprocess.Popen([sys.executable, "-m", "accord", "serve", str(dir), "--port",
                                 "0", "--log-level", "warning"], stdout=subprocess.PIPE,
                                text=True)
        assert proc.stdout is not None
        url = proc.stdout.readline().strip().rsplit(" ", 1)[-1]
        time.sleep(1.0)
        q: Any = mp.get_context("fork").Queue()
        p = mp.get_context("fork").Process(target=load, args=(url, tokens, work, q))
        p.start()
        lat, codes, elapsed = q.get()
        p.join()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        store = SqliteStore(dir / "accord.db", readonly=True)
        entries = store.size()
        findings = len(list(store.findings_json()))
        store.close()
    lat.sort()
    return {"n": len(lat), "ok": codes.get(200, 0), "codes": codes, "s": elapsed,
            "rate": len(lat) / elapsed, "p50": lat[len(lat) // 2] * 1e3,
            "p99": lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1e3,
            "mean": statistics.mean(lat) * 1e3, "entries": entries, "findings": findings,
            "batch": max_batch}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--filings", type=int, default=20_000)
    ap.add_argument("--baseline-filings", type=int, default=2_000)
    ap.add_argument("--connections", type=int, default=32)
    args = ap.parse_args()
    PARTIES[:] = [f"P{i}" for i in range(args.connections)]
    group = run(args.filings, 512)
    single = run(args.baseline_filings, 1)
    when = f"{platform.machine()}, {os.cpu_count()} cores, {datetime.now(UTC):%Y-%m-%d}"
    t = Table("mode", "filings", "200 OK", "seconds", "filings/s", "p50 ms", "p99 ms",
              "findings", "log entries",
              title=f"Congested 10 km area, {args.connections} connections over HTTP ({when})")
    for name, r in (("group commit", group), ("one commit per filing", single)):
        t.add_row(name, f"{r['n']:,}", f"{r['ok']:,}", f"{r['s']:.2f}", f"{r['rate']:,.0f}",
                  f"{r['p50']:.1f}", f"{r['p99']:.1f}", f"{r['findings']:,}",
                  f"{r['entries']:,}")
    console.print(t)
    console.print(f"group commit / one commit per filing: {group['rate'] / single['rate']:.1f}x;"
                  f" other statuses: {({k: v for k, v in group['codes'].items() if k != 200})}")
    if group["ok"] != group["n"]:
        raise SystemExit("some filings were refused: the figures above are not valid")


if __name__ == "__main__":
    main()
