"""Readers that turn a feed into report rows for `POST /v1/tracks` (SI units, UTC).

- JSON lines: one report object a line, in the API's own form.
- SBS-1 BaseStation text (`MSG,...`, as dump1090 and most ADS-B receivers serve on port
  30003): positions (MSG 3) and velocities (MSG 4) arrive separately per ICAO address; a row
  is made from each position once a velocity for that aircraft is known and recent.

A bad line is counted and skipped, never fatal: feeds are noisy.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from accord.timefmt import format_time

FT = 0.3048
KT = 1852.0 / 3600.0
FPM = FT / 60.0


@dataclass
class Counts:
    lines: int = 0
    rows: int = 0
    bad: int = 0
    waiting: int = 0  # SBS positions held back until a velocity is known


def jsonl_rows(lines: Iterable[str], counts: Counts) -> Iterator[dict[str, Any]]:
    for line in lines:
        counts.lines += 1
        line = line.strip()
        if not line:
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            counts.bad += 1
            continue
        if not isinstance(row, dict):
            counts.bad += 1
            continue
        counts.rows += 1
        yield row


@dataclass
class _Aircraft:
    callsign: str | None = None
    gs: float | None = None
    trk: float | None = None
    vs: float = 0.0
    velocity_at: datetime | None = None


@dataclass
class SbsAssembler:
    """Joins MSG 1 (callsign), 3 (position) and 4 (velocity) per ICAO address."""

    max_velocity_age: timedelta = timedelta(seconds=10)
    aircraft: dict[str, _Aircraft] = field(default_factory=dict)

    def rows(self, lines: Iterable[str], counts: Counts) -> Iterator[dict[str, Any]]:
        for line in lines:
            counts.lines += 1
            row = self.line(line.strip(), counts)
            if row is not None:
                counts.rows += 1
                yield row

    def line(self, line: str, counts: Counts) -> dict[str, Any] | None:
        if not line:
            return None
        f = line.split(",")
        if len(f) < 22 or f[0] != "MSG":
            counts.bad += 1
            return None
        try:
            kind = int(f[1])
            icao = f[4].strip().upper()
            when = datetime.strptime(f"{f[6]} {f[7]}", "%Y/%m/%d %H:%M:%S.%f").replace(tzinfo=UTC)
            if not icao:
                raise ValueError("no ICAO address")
            ac = self.aircraft.setdefault(icao, _Aircraft())
            if kind == 1 and f[10].strip():
                ac.callsign = f[10].strip()
            elif kind == 4:
                ac.gs = float(f[12]) * KT
                ac.trk = float(f[13])
                ac.vs = float(f[16]) * FPM if f[16].strip() else 0.0
                ac.velocity_at = when
            elif kind == 3:
                alt, lat, lon = float(f[11]) * FT, float(f[14]), float(f[15])
                if ac.velocity_at is None or ac.gs is None or ac.trk is None \
                        or when - ac.velocity_at > self.max_velocity_age:
                    counts.waiting += 1
                    return None
                row: dict[str, Any] = {"aircraft": icao, "time": format_time(when),
                                       "lat": lat, "lon": lon, "alt_m": round(alt, 1),
                                       "gs_mps": round(ac.gs, 2), "trk_deg": ac.trk,
                                       "vs_mps": round(ac.vs, 3), "reference": "AMSL"}
                if ac.callsign:
                    row["callsign"] = ac.callsign
                return row
        except (ValueError, IndexError):
            counts.bad += 1
        return None


MAX_LINE = 64 * 1024
"""A report line is ~200 bytes; a longer line is cut here (and then counted as bad), so a feed
without newlines (or `/dev/zero`) cannot fill the memory."""


def capped_lines(fh: IO[str]) -> Iterator[str]:
    """Lines of at most MAX_LINE characters: an over-long line yields its first part only."""
    while True:
        line = fh.readline(MAX_LINE)
        if not line:
            return
        yield line
        while len(line) == MAX_LINE and not line.endswith("\n"):  # skip the rest of it
            line = fh.readline(MAX_LINE)


def lines_from(source: str) -> Iterator[str]:
    """A file's lines, standard input ('-'), or a TCP feed ('tcp://host:port')."""
    if source.startswith("tcp://"):
        host, _, port = source.removeprefix("tcp://").rpartition(":")
        with socket.create_connection((host, int(port)), timeout=30) as sock, \
                sock.makefile("r", encoding="ascii", errors="replace") as fh:
            yield from capped_lines(fh)
        return
    if source == "-":
        import sys

        yield from capped_lines(sys.stdin)
        return
    with open(source, encoding="utf-8", errors="replace") as fh:
        yield from capped_lines(fh)
