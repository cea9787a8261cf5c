"""Time in Accord: UTC only, RFC 3339 with `Z`, and an injectable clock.

Everything that reads "now" takes a `Clock`, so tests and the demo can run in fixed or
accelerated time. Pure: imports only `accord.errors`.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

from accord.errors import InvalidTime

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?[Zz]$"
)
ACCEPTED_TIME = "RFC 3339 UTC time ending in Z, e.g. 2018-09-17T18:40:00Z"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_time(text: object, field: str = "time") -> datetime:
    """Parse an RFC 3339 UTC timestamp; anything else (offsets, naive, junk) is refused."""
    if not isinstance(text, str):
        raise InvalidTime(f"expected a string, got {type(text).__name__}", field=field,
                          accepted=ACCEPTED_TIME)
    m = _RFC3339.match(text)
    if not m:
        raise InvalidTime(f"{text!r} is not an RFC 3339 UTC time", field=field,
                          accepted=ACCEPTED_TIME)
    year, month, day, hh, mm, ss = (int(g) for g in m.groups()[:6])
    frac = m.group(7) or ""
    micro = int((frac[1:] + "000000")[:6]) if frac else 0
    try:
        return datetime(year, month, day, hh, mm, ss, micro, tzinfo=UTC)
    except ValueError as exc:
        raise InvalidTime(f"{text!r}: {exc}", field=field, accepted=ACCEPTED_TIME) from None


def format_time(t: datetime, *, micro: bool = False) -> str:
    """RFC 3339 with Z; `micro=True` always writes six fractional digits (entry receive times)."""
    if t.tzinfo is not UTC:
        t = t.astimezone(UTC)
    if micro:
        return t.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    if t.microsecond:
        return t.replace(tzinfo=None).isoformat(timespec="microseconds").rstrip("0") + "Z"
    return t.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def to_micros(t: datetime) -> int:
    """Microseconds since the Unix epoch: an exact, sortable integer for storage."""
    d = t - EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def from_micros(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock UTC, strictly increasing so two entries never share a receive time."""

    def __init__(self) -> None:
        self._last = EPOCH
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            t = datetime.now(UTC)
            if t <= self._last:
                t = self._last + timedelta(microseconds=1)
            self._last = t
            return t


class ManualClock:
    """A clock that moves only when told to: for tests, the demo and replays."""

    def __init__(self, start: datetime) -> None:
        self._t = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            t = self._t
            self._t = t + timedelta(microseconds=1)
            return t

    def set(self, t: datetime) -> None:
        with self._lock:
            self._t = t.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._t += delta
