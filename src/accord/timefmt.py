"""Time in Accord: UTC only, RFC 3339 with `Z`, and an injectable clock.

Everything that reads "now" takes a `Clock`, so tests and the demo can run in fixed or
accelerated time; a `ClockWatch` reads the wall clock against the monotonic clock and notices
when the wall clock steps. Imports only `accord.errors`.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from accord.errors import InvalidTime

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?[Zz]$"
)
ACCEPTED_TIME = "RFC 3339 UTC time ending in Z, e.g. 2018-09-17T18:40:00Z"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


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
    """The wall clock (UTC, as the system reports it: it may step) and a monotonic clock
    (seconds from an arbitrary origin, never stepped), read together to detect steps."""

    def now(self) -> datetime: ...
    def monotonic(self) -> float: ...


_BOOTTIME = getattr(time, "CLOCK_BOOTTIME", None)


class SystemClock:
    """The system's clocks. `now` is the wall clock as it is (receive times are made strictly
    increasing by the writer, which is also where a step is noticed); `monotonic` counts time
    suspended too where the platform can (Linux CLOCK_BOOTTIME), so a suspended machine's
    wall clock catching up is not mistaken for a step."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        if _BOOTTIME is not None:
            return time.clock_gettime(_BOOTTIME)
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told to: for tests, the demo and replays.

    `set` and `advance` move both clocks together, as time passing does; `step` moves only the
    wall clock, as an operator or a bad time source does. Each `now()` moves 1 µs on."""

    def __init__(self, start: datetime) -> None:
        self._t = start.astimezone(UTC)
        self._skew = 0  # wall minus monotonic, in µs, changed only by step()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            t = self._t
            self._t = t + timedelta(microseconds=1)
            return t

    def monotonic(self) -> float:
        with self._lock:
            return (to_micros(self._t) - self._skew) / 1e6

    def set(self, t: datetime) -> None:
        with self._lock:
            self._t = t.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._t += delta

    def step(self, delta: timedelta) -> None:
        """The wall clock jumps by `delta` (either way); the monotonic clock does not."""
        with self._lock:
            self._t += delta
            self._skew += delta // _US


# A clock step is a change of the wall clock against the monotonic clock between two readings
# of more than CLOCK_STEP plus the most a time daemon slews in that interval (NTP and chrony
# slew at most 500 ppm): a step of a second moves receive times by more than any network delay
# a party could see, and smaller ones are what slewing does anyway.
CLOCK_STEP = timedelta(seconds=1)
CLOCK_MAX_SLEW = 500e-6
# After a step the clock stays in doubt this long, plus the size of a backward step (while the
# writer pins receive times to the last one + 1 µs, until real time catches up).
CLOCK_DOUBT = timedelta(minutes=10)


@dataclass(frozen=True)
class ClockStep:
    """Two readings of both clocks and how far the wall clock moved against the monotonic."""

    step_us: int
    wall: datetime
    previous_wall: datetime
    monotonic_us: int
    previous_monotonic_us: int

    def to_body(self) -> dict[str, object]:
        """The body of the operator's `clock` entry."""
        return {"step_us": self.step_us, "wall": format_time(self.wall, micro=True),
                "previous_wall": format_time(self.previous_wall, micro=True),
                "monotonic_us": self.monotonic_us,
                "previous_monotonic_us": self.previous_monotonic_us}


class ClockWatch:
    """Reads the wall clock with the monotonic clock and notices when the wall clock steps.

    Thread-safe: the writer reads through it for every receive time, the service's timer and
    `/readyz` read it too, and each reading is compared with the one just before, whoever made
    it. Steps wait in `take()` for the writer to log them."""

    def __init__(self, clock: Clock, threshold: timedelta = CLOCK_STEP,
                 doubt: timedelta = CLOCK_DOUBT) -> None:
        self.clock = clock
        self._threshold = threshold // _US
        self._doubt = doubt // _US
        self._lock = threading.Lock()
        self._prev: tuple[datetime, int] | None = None
        self._pending: list[ClockStep] = []
        self._last: ClockStep | None = None
        self._doubt_until = 0  # monotonic µs

    def _read(self) -> tuple[datetime, int]:
        """The wall clock between two monotonic readings, taken as at their midpoint; retried
        (up to three times) when the thread was held up between them, so a pause of the
        process is not mistaken for a step."""
        best: tuple[int, datetime, int] | None = None
        for _ in range(3):
            before = self.clock.monotonic()
            wall = self.clock.now()
            after = self.clock.monotonic()
            spread = round((after - before) * 1e6)
            if best is None or spread < best[0]:
                best = (spread, wall, round((before + after) * 5e5))
            if spread <= 10_000:
                break
        assert best is not None
        return best[1], best[2]

    def now(self) -> datetime:
        """The wall clock; a step since the previous reading is recorded."""
        with self._lock:
            wall, mono = self._read()
            prev = self._prev
            self._prev = (wall, mono)
            if prev is not None:
                elapsed = mono - prev[1]
                step = (to_micros(wall) - to_micros(prev[0])) - elapsed
                if abs(step) > self._threshold + CLOCK_MAX_SLEW * max(elapsed, 0):
                    self._found(ClockStep(step, wall, prev[0], mono, prev[1]))
            return wall

    def _found(self, step: ClockStep) -> None:
        self._pending.append(step)
        self._last = step
        self._doubt_until = max(self._doubt_until,
                                step.monotonic_us + self._doubt + max(-step.step_us, 0))

    def behind(self, last: datetime | None) -> None:
        """At start: a wall clock more than the threshold before `last` (the log's last
        receive time) stepped back while no reading spanned it (a restart, a restored
        machine). Recorded as a step from `last`, with no monotonic time between; a forward
        step while stopped cannot be told from the time stopped, and is not."""
        if last is None:
            return
        with self._lock:
            wall, mono = self._read()
            self._prev = (wall, mono)
            step = to_micros(wall) - to_micros(last)
            if step < -self._threshold:
                self._found(ClockStep(step, wall, last, mono, mono))

    def restore(self, steps: list[ClockStep]) -> None:
        """Steps taken for a batch that failed as a whole: logged by the next one instead."""
        with self._lock:
            self._pending[:0] = steps

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    def take(self) -> list[ClockStep]:
        """The steps seen and not yet logged (the writer logs each as a `clock` entry)."""
        with self._lock:
            out, self._pending = self._pending, []
            return out

    def status(self) -> dict[str, object]:
        """For `/readyz`: `ok`, or `in doubt` with the last step, until when (wall clock, as
        now read) and in how many seconds."""
        self.now()
        with self._lock:
            mono = round(self.clock.monotonic() * 1e6)
            last = self._last
            if last is None or mono >= self._doubt_until:
                return {"state": "ok"}
            left = (self._doubt_until - mono) / 1e6
            return {"state": "in doubt", "step_s": last.step_us / 1e6,
                    "wall": format_time(last.wall, micro=True),
                    "previous_wall": format_time(last.previous_wall, micro=True),
                    "doubt_left_s": round(left, 3)}
