"""Shared test support: a two-party deployment with an agreement in force, on a manual clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from accord import commands
from accord.keys import PARTY_KEY, KeyFile
from accord.service.deployment import Deployment
from accord.service.writer import Outcome, Submission, Writer
from accord.store.base import Store
from accord.timefmt import ManualClock, format_time

T0 = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


def iso(t: datetime) -> str:
    return format_time(t)


def square(lon: float, lat: float, half: float = 0.05) -> dict[str, Any]:
    ring = [[lon - half, lat - half], [lon + half, lat - half], [lon + half, lat + half],
            [lon - half, lat + half], [lon - half, lat - half]]
    return {"type": "Polygon", "coordinates": [ring]}


def volume(lon: float = 35.0, lat: float = 35.0, *, half: float = 0.05, lower: float = 0,
           upper: float = 3000, start: datetime | None = None,
           minutes: float = 60) -> dict[str, Any]:
    s = start or T0 + timedelta(hours=2)
    return {"footprint": square(lon, lat, half),
            "altitude": {"lower": lower, "upper": upper, "units": "m", "reference": "W84"},
            "start": iso(s), "end": iso(s + timedelta(minutes=minutes))}


def agreement_doc(keys: dict[str, KeyFile], **over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": "test-agreement",
        "title": "Test agreement",
        "parties": [{"id": p, "name": f"Party {p}", "key": k.public_b64}
                    for p, k in sorted(keys.items())],
        "separation": {"horizontal_m": 5000, "vertical_m": 300},
        "kinds": {
            "strike": {"hazard": True, "lead_time_minutes": 15, "late": "finding",
                       "ack_required": True, "ack_deadline_minutes": 5},
            "transit": {},
            "drill": {"lead_time_minutes": 60, "late": "reject"},
        },
        "zones": [
            {"id": "base", "name": "Protected base",
             "footprint": {"type": "Circle", "center": [36.0, 36.0],
                           "radius": {"value": 10, "units": "km"}},
             "altitude": {"lower": 0, "upper": 10000, "units": "m", "reference": "W84"},
             "applies_to": {"hazard": True}, "protects": ["B"]},
            {"id": "no-a", "name": "No activity of A",
             "footprint": square(37.0, 37.0, 0.1),
             "altitude": {"lower": 0, "upper": 10000, "units": "m", "reference": "W84"},
             "applies_to": {"parties": ["A"]}, "protects": ["B"], "action": "reject"},
        ],
        "limits": {"max_volumes": 4, "max_vertices": 50, "max_window_hours": 6,
                   "horizon_days": 7},
    }
    doc.update(over)
    return doc


class RawDb:
    """A deployment's database opened beside Accord, as someone with access to it could: for
    tampering in tests. SQL in SQLite's dialect with `?` parameters, on either engine."""

    def __init__(self, dir: Path) -> None:
        d = Deployment.open(dir)
        self.pg = d.database is not None
        if self.pg:
            import psycopg

            self.db: Any = psycopg.connect(d.database_url())
        else:
            import sqlite3

            self.db = sqlite3.connect(d.db_path)

    def execute(self, query: str, params: tuple[Any, ...] = ()) -> Any:
        return self.db.execute(query.replace("?", "%s") if self.pg else query, params)

    def commit(self) -> None:
        self.db.commit()

    def close(self) -> None:
        self.db.close()


@dataclass
class World:
    dir: Path
    writer: Writer
    clock: ManualClock
    keys: dict[str, KeyFile]

    @property
    def store(self) -> Store:
        return self.writer.store

    def sub(self, party: str, type: str, body: dict[str, Any], *, seq: int | None = None,
            private: dict[str, Any] | None = None) -> Submission:
        context = self.writer.context(party)
        if seq is not None:
            context = replace(context, seq=seq)
        return commands.signed(self.keys[party], type, context, self.clock.now(), body, private)

    def file(self, party: str, doc: dict[str, Any], notice: str | None = None) -> Outcome:
        body, reveal = commands.notice_body(doc, party, notice=notice)
        return self.writer.submit(self.sub(party, "notice.file", body, private=reveal))

    def amend(self, party: str, notice: str, replaces: int, doc: dict[str, Any]) -> Outcome:
        body, reveal = commands.notice_body(doc, party, notice=notice, replaces=replaces)
        return self.writer.submit(self.sub(party, "notice.amend", body, private=reveal))

    def ref(self, party: str, type: str, notice: str, version: int) -> Outcome:
        return self.writer.submit(self.sub(party, type, {"notice": notice, "version": version}))


def make_world(dir: Path, parties: tuple[str, ...] = ("A", "B"), start: datetime = T0,
               keys: dict[str, KeyFile] | None = None, origin: str = "test.example/log",
               database: str | None = None, **over: Any) -> World:
    clock = ManualClock(start)
    deployment = Deployment.init(dir, origin, clock, database=database)
    keys = keys or {p: KeyFile.generate(PARTY_KEY, p) for p in parties}
    writer = Writer(deployment.store(), deployment.signer(), clock)
    writer.submit(commands.signed_by_all(agreement_doc(keys, **over), keys.values(), clock.now(),
                                         deployment.origin))
    return World(dir, writer, clock, keys)


@pytest.fixture
def world(tmp_path: Path, database: str | None) -> Iterator[World]:
    """A two-party deployment, on each engine (the `database` fixture)."""
    w = make_world(tmp_path / "dep", database=database)
    yield w
    w.writer.store.close()


def live_snapshot(picture: Any, at: datetime, held: Any = None) -> dict[str, Any]:
    """`picture.snapshot()` with only the notices live at `at`: what a read model made at
    `at` holds (ended and cancelled notices leave the live picture). With `held` (the
    model's findings), only those findings: each one left out must be about a notice and
    closed at `at` (its notice was retired with it: `accord.service.history`)."""
    snap: dict[str, Any] = picture.snapshot()
    snap["notices"] = {k: v for k, v in snap["notices"].items() if picture.notices[k].live(at)}
    if held is not None:
        for fid in set(snap["findings"]) - set(held):
            f = picture.findings[fid]
            assert f.notice is not None and not picture.is_open(f, at), fid
        snap["findings"] = {k: v for k, v in snap["findings"].items() if k in held}
    return snap


def assert_held(held: Any, full: Any) -> None:
    """`held` (the writer's picture, which retires history: `accord.service.history`) is
    `full` (a fold that keeps everything) less notices that are retired -- not live at the
    log's last receive time and owed no acknowledgement -- and less findings that speak of
    a retired notice; everything else is equal."""
    a, b = held.snapshot(), full.snapshot()
    at = full.last_received
    for nid, n in b["notices"].items():
        if nid in a["notices"]:
            assert a["notices"][nid] == n, nid
        else:
            notice = full.notices[nid]
            assert at is not None and not notice.live(at), f"{nid} is live but was retired"
            assert not any(d.key in full.pending for d in full.notice_dues(notice)), nid
    assert set(a["notices"]) <= set(b["notices"])
    for fid, f in b["findings"].items():
        if fid in a["findings"]:
            assert a["findings"][fid] == f, fid
        else:  # retired with a notice it speaks of (which may be back: acknowledged late)
            finding = full.findings[fid]
            assert finding.notice is not None and at is not None, fid
            assert not full.is_open(finding, at), f"finding {fid} is open but was retired"
    assert set(a["findings"]) <= set(b["findings"])
    for k in b:
        if k not in ("notices", "findings"):
            assert a[k] == b[k], k
