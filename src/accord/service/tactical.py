"""The tactical monitor: position reports in, alert entries out, at least once a second.

Reports are kept in memory only (the track table); each cycle extrapolates every track to
now, runs the three detections against the picture's active notices, and passes the alert
book's changes to the writer, which logs each as an operator `alert` entry carrying the
sampled positions of the aircraft involved. Tracks themselves are never logged one by one.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

from accord.errors import AccordError, InvalidInput
from accord.picture.fold import Picture
from accord.tactical.alerts import (
    AlertBook,
    AlertChange,
    Hazard,
    Levels,
    Report,
    TrackTable,
    hazards,
    nonconformance,
    separation,
)
from accord.timefmt import Clock, format_time, parse_time

log = logging.getLogger("accord.tactical")
_REPORT_KEYS = {"aircraft", "time", "lat", "lon", "alt_m", "gs_mps", "trk_deg", "vs_mps",
                "callsign", "reference"}


def parse_report(party: str, row: Any, field: str) -> Report:
    """One row of a track batch: SI units, RFC 3339 UTC time."""
    if not isinstance(row, dict):
        raise InvalidInput("a report is an object", field=field,
                           accepted="{aircraft, time, lat, lon, alt_m, gs_mps, trk_deg, ...}")
    unknown = sorted(set(row) - _REPORT_KEYS)
    missing = sorted({"aircraft", "time", "lat", "lon", "alt_m", "gs_mps", "trk_deg"} - set(row))
    if unknown or missing:
        raise InvalidInput(f"unknown {unknown}" if unknown else f"missing {missing}",
                           field=field, accepted=", ".join(sorted(_REPORT_KEYS)))
    ref = row.get("reference", "AMSL")
    if ref not in ("AMSL", "W84"):
        raise InvalidInput(f"unknown reference {ref!r}", field=f"{field}.reference",
                           accepted="AMSL, W84")
    try:
        r = Report(party=party, aircraft=str(row["aircraft"]),
                   time=parse_time(row["time"], f"{field}.time"), lat=row["lat"],
                   lon=row["lon"], alt_m=row["alt_m"], gs=row["gs_mps"], trk=row["trk_deg"],
                   vs=row.get("vs_mps", 0.0), callsign=row.get("callsign"), reference=ref)
        return r.check()
    except AccordError as exc:
        exc.field = f"{field}.{exc.field}" if exc.field and not exc.field.startswith(field) \
            else exc.field
        raise


class TacticalMonitor:
    """Owns the track table and the alert book; `cycle()` is one pass of detection."""

    def __init__(self, clock: Clock, max_age: timedelta = timedelta(seconds=30),
                 max_future: timedelta = timedelta(seconds=5)) -> None:
        """Minima, look-ahead and levels come from the agreement in force at each cycle."""
        self.clock = clock
        self.table = TrackTable(max_age=max_age)
        self.book = AlertBook()
        self.max_future = max_future
        self.rejected = 0
        self._lock = threading.Lock()

    def ingest(self, party: str, rows: list[Any]) -> dict[str, Any]:
        """Validate and keep a batch; bad rows are counted and described, never fatal."""
        problems = []
        accepted = dup0 = ooo0 = 0
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
                except AccordError as exc:
                    self.rejected += 1
                    if len(problems) < 50:
                        problems.append({"row": k, **exc.problem()})
                    continue
                accepted += self.table.update(r)
            dups = self.table.duplicates - dup0
            ooo = self.table.out_of_order - ooo0
        return {"received": len(rows), "accepted": accepted, "duplicates": dups,
                "out_of_order": ooo, "rejected": len(rows) - accepted - dups - ooo,
                "problems": problems, "tracks": len(self.table.tracks)}

    def cycle(self, picture: Picture) -> list[dict[str, Any]]:
        """One detection pass; returns the alert bodies to log (ids filled by the writer)."""
        agreement = picture.agreement
        now = self.clock.now()
        with self._lock:
            self.table.expire(now)
            reports, fleet, _ = self.table.fleet(now)
        if agreement is None or not reports:
            changes = self.book.step(now, [])
            return [self._body(c, {}) for c in changes]
        rules = agreement.tactical_rules()
        lookahead = rules.lookahead_s
        levels = Levels(rules.lookahead_s, rules.corrective_s, rules.warning_s)
        notices = [n for n in list(picture.notices.values()) if n.live(now)]
        horizon = now + timedelta(seconds=lookahead)
        active_hazards = [Hazard(n.id, n.version, n.party, v) for n in notices
                          if agreement.kind(n.kind).hazard
                          for v in n.volumes if v.start < horizon and v.end > now]
        own: dict[str, list[Any]] = {}
        for n in notices:
            own.setdefault(n.party, []).extend(v for v in n.volumes if v.start <= now < v.end)
        detections = (separation(reports, fleet, rules.horizontal_m, rules.vertical_m, levels)
                      + hazards(reports, now, active_hazards, lookahead, levels)
                      + nonconformance(reports, now, own))
        changes = self.book.step(now, detections)
        by_ac = {f"{r.party}/{r.aircraft}": r for r in reports}
        samples: dict[str, dict[str, Any]] = {}
        return [self._body(c, by_ac, samples) for c in changes]

    @staticmethod
    def _body(c: AlertChange, by_ac: dict[str, Report],
              samples: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """The change, with each aircraft's last reported position (made once a cycle)."""
        body = c.body("")
        ac = c.detection.details.get("aircraft")
        names = ac if isinstance(ac, list) else [ac] if ac else []
        out = []
        for name in names:
            s = samples.get(name)
            if s is None and (r := by_ac.get(name)) is not None:
                s = samples[name] = {
                    "aircraft": name, "time": format_time(r.time, micro=True),
                    "lat": round(r.lat, 6), "lon": round(r.lon, 6), "alt_m": round(r.alt_m, 1),
                    "gs_mps": round(r.gs, 1), "trk_deg": round(r.trk, 1),
                    "vs_mps": round(r.vs, 2)}
            if s is not None:
                out.append(s)
        body["samples"] = out
        return body
