"""The tactical monitor: position reports in, alert entries out, at least once a second.

Reports are kept in memory only (the track table); each cycle extrapolates every track to
now, runs the three detections against the picture's active notices, and passes the alert
book's changes to the writer, which logs each as an operator `alert` entry carrying the
sampled positions of the aircraft involved. Tracks themselves are never logged one by one.

The log is the truth for alerts: each cycle first aligns the alert book with the alerts the
log holds open (`AlertBook.sync`), so a cycle whose write failed is made good by the next one,
and alerts left open by an earlier run are cleared once they are no longer detected.
"""

from __future__ import annotations

import logging
import math
import threading
import unicodedata
from datetime import timedelta
from typing import Any, Final

from accord.errors import AccordError, InvalidInput, LimitExceeded
from accord.geo.volume import Volume
from accord.picture.fold import PictureReads
from accord.tactical.alerts import (
    AlertBook,
    AlertChange,
    Hazard,
    Levels,
    Report,
    TrackTable,
    hazards,
    nonconformance,
    separation_bounded,
)
from accord.timefmt import Clock, format_time, parse_time

log = logging.getLogger("accord.tactical")

# One batch: at most this many rows. With the default body limit (1 MiB) that leaves 256 bytes
# a row, and a full row as the feeds send it (every field, times to the microsecond, an id
# and a callsign of 8 characters) takes about 200: the row cap is what bounds a batch, and
# it can be reached (tests/api/test_tracks.py sends exactly this many at the body limit).
MAX_REPORTS: Final = 4096
# Tracks one party may hold at once: a cycle's cost grows with the tracks held, so one party
# naming a new aircraft in every row cannot slow every party's alerts down. Rows for more
# aircraft are refused one by one (described) until tracks expire.
MAX_TRACKS_PER_PARTY: Final = 10_000
MAX_AIRCRAFT_CHARS: Final = 64
MAX_CALLSIGN_CHARS: Final = 16
MAX_PROBLEMS: Final = 50  # rows described in an answer; every refused row is counted

_REQUIRED: Final = ("aircraft", "time", "lat", "lon", "alt_m", "gs_mps", "trk_deg")
_OPTIONAL: Final = ("vs_mps", "callsign", "reference")
_ACCEPTED_ROW: Final = ("{aircraft, time, lat, lon, alt_m, gs_mps, trk_deg} and optionally "
                        "{vs_mps, callsign, reference}")
# Plausible aircraft states: field, lower, upper (metres, metres a second, degrees).
_RANGES: Final = (("lat", -90.0, 90.0), ("lon", -180.0, 180.0), ("alt_m", -1000.0, 30000.0),
                  ("gs_mps", 0.0, 1500.0), ("trk_deg", -360.0, 720.0),
                  ("vs_mps", -300.0, 300.0))


def _short(value: Any) -> str:
    """A value for a message, never the whole of a huge input."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**20:
        try:
            return f"an integer of {len(str(abs(value)))} digits"
        except ValueError:  # past Python's limit on converting integers to text
            return "an integer of thousands of digits"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _number(value: Any, field: str, lo: float, hi: float) -> float:
    """A finite JSON number within [lo, hi]; booleans, huge integers and NaN are refused."""
    name = field.rsplit(".", 1)[-1]
    if not isinstance(value, bool) and isinstance(value, int | float):
        try:
            v = float(value)
        except OverflowError:  # an integer no float can hold
            v = math.inf
        if math.isfinite(v) and lo <= v <= hi:
            return v
    raise InvalidInput(f"{name} must be a number from {lo:g} to {hi:g}, got {_short(value)}",
                       field=field, accepted=f"a number from {lo:g} to {hi:g}")


def _text(value: Any, field: str, most: int, refused: str = "") -> str:
    """An identifier: 1 to `most` characters, no control, format (bidi) or line characters,
    none of `refused`."""
    accepted = f"1 to {most} printable characters" + (f", no {refused!r}" if refused else "")
    if not isinstance(value, str) or not 1 <= len(value) <= most:
        what = f"{len(value)} characters" if isinstance(value, str) else _short(value)
        raise InvalidInput(f"{field.rsplit('.', 1)[-1]} must be a string of 1 to {most} "
                           f"characters, got {what}", field=field, accepted=accepted)
    for ch in value:
        if unicodedata.category(ch)[0] == "C" or unicodedata.category(ch) in ("Zl", "Zp"):
            raise InvalidInput(f"{field.rsplit('.', 1)[-1]} contains the control or format "
                               f"character U+{ord(ch):04X}", field=field, accepted=accepted)
        if ch in refused:
            raise InvalidInput(f"{field.rsplit('.', 1)[-1]} contains {ch!r}", field=field,
                               accepted=accepted)
    return value


def parse_report(party: str, row: Any, field: str) -> Report:
    """One row of a track batch: SI units, RFC 3339 UTC time. Refuses with an InvalidInput
    naming the field at fault, whatever the row holds."""
    if not isinstance(row, dict):
        raise InvalidInput(f"a report is an object, got {_short(row)}", field=field,
                           accepted=_ACCEPTED_ROW)
    unknown = [k for k in row if k not in _REQUIRED and k not in _OPTIONAL]
    if unknown:
        raise InvalidInput(f"unknown key {_short(unknown[0])}"
                           + (f" and {len(unknown) - 1} more" if len(unknown) > 1 else ""),
                           field=field, accepted=_ACCEPTED_ROW)
    missing = [k for k in _REQUIRED if k not in row]
    if missing:
        raise InvalidInput(f"missing {', '.join(missing)}", field=field, accepted=_ACCEPTED_ROW)
    ref = row.get("reference", "AMSL")
    if ref not in ("AMSL", "W84"):
        raise InvalidInput(f"unknown reference {_short(ref)}", field=f"{field}.reference",
                           accepted="AMSL (mean sea level, barometric) or W84 (ellipsoid)")
    # ':' separates the parts of an alert's key (separation:A/x:B/y): refused in ids, so no
    # party can make its aircraft's key collide with another pair's
    aircraft = _text(row["aircraft"], f"{field}.aircraft", MAX_AIRCRAFT_CHARS, refused=":")
    callsign = row.get("callsign")
    if callsign is not None:
        callsign = _text(callsign, f"{field}.callsign", MAX_CALLSIGN_CHARS)
    t = row["time"]
    if isinstance(t, str) and len(t) > 40:
        raise InvalidInput(f"time is {len(t)} characters long", field=f"{field}.time",
                           accepted="an RFC 3339 UTC time")
    time = parse_time(t, f"{field}.time")
    n = {k: _number(row.get(k, 0.0), f"{field}.{k}", lo, hi) for k, lo, hi in _RANGES}
    return Report(party=party, aircraft=aircraft, time=time, lat=n["lat"], lon=n["lon"],
                  alt_m=n["alt_m"], gs=n["gs_mps"], trk=n["trk_deg"], vs=n["vs_mps"],
                  callsign=callsign, reference="W84" if ref == "W84" else "AMSL")


class TacticalMonitor:
    """Owns the track table and the alert book; `cycle()` is one pass of detection."""

    def __init__(self, clock: Clock, max_age: timedelta = timedelta(seconds=30),
                 max_future: timedelta = timedelta(seconds=5), max_open_alerts: int = 50) -> None:
        """Minima, look-ahead and levels come from the agreement in force at each cycle;
        `max_open_alerts` caps the alerts open at once per party (see `AlertBook`)."""
        if isinstance(max_open_alerts, bool) or not isinstance(max_open_alerts, int) \
                or max_open_alerts < 1:
            raise InvalidInput(f"max_open_alerts {max_open_alerts!r} is not usable",
                               field="max_open_alerts", accepted="an integer >= 1")
        self.clock = clock
        self.table = TrackTable(max_age=max_age)
        self.book = AlertBook(max_open=max_open_alerts)
        self.max_future = max_future
        self.rejected = 0
        self._lock = threading.Lock()

    def ingest(self, party: str, rows: Any) -> dict[str, Any]:
        """Validate and keep a batch; bad rows are counted and described, never fatal."""
        if not isinstance(rows, list):
            raise InvalidInput("reports must be an array", field="reports",
                               accepted=f"an array of at most {MAX_REPORTS} reports")
        if len(rows) > MAX_REPORTS:
            raise LimitExceeded(f"{len(rows)} reports in one batch; at most {MAX_REPORTS}",
                                field="reports",
                                accepted=f"at most {MAX_REPORTS} reports a batch; send more "
                                         "in several batches")
        problems: list[dict[str, Any]] = []
        accepted = 0
        now = self.clock.now()
        with self._lock:
            dup0, ooo0 = self.table.duplicates, self.table.out_of_order
            for k, row in enumerate(rows):
                try:
                    r = parse_report(party, row, f"reports[{k}]")
                    if r.time > now + self.max_future:
                        raise InvalidInput("the report is from the future",
                                           field=f"reports[{k}].time",
                                           accepted="a time not after the service's clock")
                    if now - r.time > self.table.max_age:
                        raise InvalidInput("the report is older than a track is kept",
                                           field=f"reports[{k}].time",
                                           accepted=f"within {self.table.max_age} of now")
                    if r.key not in self.table.tracks and \
                            self.table.per_party.get(party, 0) >= MAX_TRACKS_PER_PARTY:
                        raise LimitExceeded(
                            f"{party} already has {MAX_TRACKS_PER_PARTY} tracks",
                            field=f"reports[{k}].aircraft",
                            accepted=f"at most {MAX_TRACKS_PER_PARTY} aircraft a party at "
                                     f"once (a track expires {self.table.max_age} after its "
                                     "last report)")
                except AccordError as exc:
                    self.rejected += 1
                    if len(problems) < MAX_PROBLEMS:
                        problems.append({"row": k, **exc.problem()})
                    continue
                accepted += self.table.update(r)
            dups = self.table.duplicates - dup0
            ooo = self.table.out_of_order - ooo0
            tracks = len(self.table.tracks)
        return {"received": len(rows), "accepted": accepted, "duplicates": dups,
                "out_of_order": ooo, "rejected": len(rows) - accepted - dups - ooo,
                "problems": problems, "tracks": tracks}

    def visible_tracks(self, party: str, picture: PictureReads) -> list[dict[str, Any]]:
        """What `party` may see of the track table: its own aircraft, and those of other
        parties that an open alert concerning `party` names (the alert already shows their
        positions, in its samples); each at its last report, sorted by party and aircraft."""
        named: set[str] = set()
        for a in picture.alerts.values():
            if a.get("state") == "open" and party in a.get("parties", ()):
                ac = a.get("details", {}).get("aircraft")
                named.update(ac if isinstance(ac, list) else [ac] if isinstance(ac, str)
                             else [])
        with self._lock:
            rows = [r for r in self.table.tracks.values()
                    if r.party == party or f"{r.party}/{r.aircraft}" in named]
        return [{"party": r.party, "aircraft": r.aircraft, "callsign": r.callsign,
                 "time": format_time(r.time, micro=True), "lat": r.lat, "lon": r.lon,
                 "alt_m": r.alt_m, "gs_mps": r.gs, "trk_deg": r.trk, "vs_mps": r.vs,
                 "reference": r.reference}
                for r in sorted(rows, key=lambda r: (r.party, r.aircraft))]

    def cycle(self, picture: PictureReads) -> list[dict[str, Any]]:
        """One detection pass over `picture` (the service gives it the committed read model:
        live notices only, never a half-applied batch); returns the alert bodies to log (ids
        filled by the writer).

        The book is first aligned with the alerts the log holds open, so if the caller's
        write of an earlier cycle failed, its changes are made again now."""
        agreement = picture.agreement
        now = self.clock.now()
        with self._lock:
            self.table.expire(now)
            reports, fleet, _ = self.table.fleet(now)
        self.book.sync(now, _open_in_log(picture))
        if agreement is None or not reports:
            return [self._body(c, {}, {}) for c in self.book.step(now, [])]
        rules = agreement.tactical_rules()
        lookahead = rules.lookahead_s
        levels = Levels(rules.lookahead_s, rules.corrective_s, rules.warning_s)
        notices = [n for n in list(picture.notices.values()) if n.live(now)]
        horizon = now + timedelta(seconds=lookahead)
        active_hazards = [Hazard(n.id, n.version, n.party, v) for n in notices
                          if agreement.kind(n.kind).hazard
                          for v in n.volumes if v.start < horizon and v.end > now]
        own: dict[str, list[Volume]] = {}
        for n in notices:
            own.setdefault(n.party, []).extend(v for v in n.volumes if v.start <= now < v.end)
        # the aircraft pairs of open separation alerts: always built, so they stay open
        keep = frozenset((str(a[0]), str(a[1])) for o in self.book.open.values()
                         if o.detection.kind == "separation"
                         and isinstance(a := o.detection.details.get("aircraft"), list)
                         and len(a) == 2)
        listed, unlisted = separation_bounded(
            reports, fleet, rules.horizontal_m, rules.vertical_m, levels,
            per_party=self.book.max_open, keep=keep)
        detections = (listed + hazards(reports, now, active_hazards, lookahead, levels)
                      + nonconformance(reports, now, own))
        changes = self.book.step(now, detections, unlisted)
        by_ac = {f"{r.party}/{r.aircraft}": r for r in reports}
        samples: dict[str, dict[str, Any]] = {}
        return [self._body(c, by_ac, samples) for c in changes]

    @staticmethod
    def _body(c: AlertChange, by_ac: dict[str, Report],
              samples: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """The change, with each aircraft's last reported position (made once a cycle)."""
        body = c.body("")
        ac = c.detection.details.get("aircraft")
        names = ac if isinstance(ac, list) else [ac] if isinstance(ac, str) else []
        out = []
        for name in names:
            s = samples.get(name)
            if s is None and (r := by_ac.get(name)) is not None:
                s = samples[name] = {
                    "aircraft": name, "time": format_time(r.time, micro=True),
                    "lat": round(r.lat, 6), "lon": round(r.lon, 6), "alt_m": round(r.alt_m, 1),
                    "gs_mps": round(r.gs, 1), "trk_deg": round(r.trk, 1),
                    "vs_mps": round(r.vs, 2), "reference": r.reference}
            if s is not None:
                out.append(s)
        body["samples"] = out
        return body


def _open_in_log(picture: PictureReads) -> dict[str, dict[str, Any]]:
    """The alerts the log holds open, by key: their latest logged state (the read model's
    maps never change; a writer's picture is copied whole, atomic under the GIL)."""
    alerts = picture.alerts
    out: dict[str, dict[str, Any]] = {}
    for key, aid in dict(picture.open_alerts).items():
        state = alerts.get(aid)
        if state is not None:
            out[key] = state
    return out
