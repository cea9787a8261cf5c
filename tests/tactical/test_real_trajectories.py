"""Real trajectories: sample flights that ship inside the PyPI `traffic` package, replayed
through the tactical monitor as a feed would deliver them.

The samples are read straight from the package's data files (gzipped JSON records: knots,
feet, feet a minute, millisecond timestamps). `traffic` itself is not imported: version 2.13
does not import with pandas 3, and nothing here needs more than its data.
"""

from __future__ import annotations

import gzip
import importlib.util
import itertools
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from accord.geo.volume import AltitudeBand, Circle, Volume
from accord.picture.fold import Picture
from accord.rules.agreement import Agreement
from accord.rules.notice import Notice
from accord.service.tactical import TacticalMonitor
from accord.timefmt import ManualClock, format_time

KT, FT = 1852.0 / 3600.0, 0.3048


def sample(name: str) -> list[dict[str, Any]]:
    spec = importlib.util.find_spec("traffic")
    assert spec is not None and spec.submodule_search_locations, "pip install traffic"
    root = Path(spec.submodule_search_locations[0]) / "data" / "samples"
    [path] = list(root.glob(f"*/{name}.json.gz"))
    with gzip.open(path) as fh:
        rows = json.loads(fh.read())
    return [r for r in rows if all(r.get(k) is not None for k in
                                   ("latitude", "longitude", "altitude", "groundspeed",
                                    "track", "timestamp"))]


def row(r: dict[str, Any], *, dt: timedelta = timedelta(0), dlat: float = 0.0,
        dlon: float = 0.0, aircraft: str | None = None) -> dict[str, Any]:
    when = datetime.fromtimestamp(r["timestamp"] / 1000, UTC) + dt
    return {"aircraft": aircraft or r["icao24"], "callsign": r.get("callsign"),
            "time": format_time(when), "lat": r["latitude"] + dlat,
            "lon": r["longitude"] + dlon, "alt_m": r["altitude"] * FT,
            "gs_mps": r["groundspeed"] * KT, "trk_deg": r["track"] % 360,
            "vs_mps": (r.get("vertical_rate") or 0.0) * FT / 60.0}


def picture(notices: list[tuple[str, str, Volume]]) -> Picture:
    key = "A" * 43 + "="
    p = Picture(b"")
    p.agreement = Agreement.from_json({
        "id": "t", "parties": [{"id": "A", "key": key}, {"id": "B", "key": "B" * 43 + "="}],
        "separation": {"horizontal_m": 5 * 1852, "vertical_m": 1000 * FT},
        "kinds": {"transit": {}}})
    t0 = datetime(2000, 1, 1, tzinfo=UTC)
    for nid, party, vol in notices:
        p.notices[nid] = Notice(id=nid, party=party, version=1, kind="transit", volumes=(vol,),
                                filed_at=t0, updated_at=t0, entry=0)
    return p


def replay(rows: list[tuple[str, dict[str, Any]]], pic: Picture) -> list[dict[str, Any]]:
    """Feed rows in time order; run a detection cycle for every second of replay time."""
    rows = sorted(rows, key=lambda pr: pr[1]["time"])
    clock = ManualClock(datetime.fromisoformat(rows[0][1]["time"].replace("Z", "+00:00")))
    monitor = TacticalMonitor(clock)
    changes: list[dict[str, Any]] = []
    last_cycle = None
    for party, r in rows:
        when = datetime.fromisoformat(r["time"].replace("Z", "+00:00"))
        clock.set(when)
        got = monitor.ingest(party, [r])
        assert got["rejected"] == 0, got["problems"]
        if last_cycle is None or when - last_cycle >= timedelta(seconds=1):
            bodies = monitor.cycle(pic)
            log_alerts(pic, bodies)
            changes += bodies
            last_cycle = when
    return changes


def log_alerts(pic: Picture, bodies: list[dict[str, Any]]) -> None:
    """What the writer does with a cycle's alert changes, for a picture with no log."""
    for b in bodies:
        aid = pic.open_alerts.get(b["key"], f"L{len(pic.alerts)}")
        pic.alerts[aid] = dict(b, alert=aid, state="cleared" if b["change"] == "cleared"
                               else "open")
        if b["change"] == "cleared":
            del pic.open_alerts[b["key"]]
        else:
            pic.open_alerts[b["key"]] = aid


def around(rows: list[dict[str, Any]], margin_m: float = 20000) -> Volume:
    """A notice volume that holds the whole trajectory (its bounding circle)."""
    lat = sum(r["latitude"] for r in rows) / len(rows)
    lon = sum(r["longitude"] for r in rows) / len(rows)
    far = max(math.hypot((r["latitude"] - lat) * 111_320,
                         (r["longitude"] - lon) * 111_320 * math.cos(math.radians(lat)))
              for r in rows)
    return Volume(Circle(lon, lat, far * 1.05 + margin_m), AltitudeBand(-500, 15000, "AMSL"),
                  datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


@pytest.fixture(scope="module")
def tra051() -> list[dict[str, Any]]:
    # a 30-minute stretch of the Transavia "belevingsvlucht" over the Netherlands
    rows = sample("belevingsvlucht")
    t0 = rows[0]["timestamp"] + 60 * 60 * 1000
    return [r for r in rows if t0 <= r["timestamp"] < t0 + 30 * 60 * 1000]


def test_no_nonconformance_inside_its_notice(tra051: list[dict[str, Any]]) -> None:
    pic = picture([("A-1", "A", around(tra051))])
    changes = replay([("A", row(r)) for r in tra051], pic)
    assert changes == []


def test_nonconformance_when_it_leaves_a_smaller_notice(tra051: list[dict[str, Any]]) -> None:
    first = tra051[0]
    small = Volume(Circle(first["longitude"], first["latitude"], 5000),
                   AltitudeBand(-500, 15000, "AMSL"), datetime(2000, 1, 1, tzinfo=UTC),
                   datetime(2100, 1, 1, tzinfo=UTC))
    changes = replay([("A", row(r)) for r in tra051], picture([("A-1", "A", small)]))
    raised = [c for c in changes if c["kind"] == "nonconformance" and c["change"] == "raised"]
    assert raised and raised[0]["details"]["aircraft"].startswith("A/")


def test_converging_flights_raise_a_separation_alert_ahead_of_time(
        tra051: list[dict[str, Any]]) -> None:
    """B flies another real track, moved in space and time so that it reaches TRA051's
    position at minute 20 of the stretch, from a different direction."""
    other = sample("elal747")
    meet = tra051[len(tra051) * 2 // 3]
    cruise = [r for r in other if r["altitude"] > 20000]
    b_meet = cruise[len(cruise) // 2]
    dt = timedelta(milliseconds=meet["timestamp"] - b_meet["timestamp"])
    dlat, dlon = meet["latitude"] - b_meet["latitude"], meet["longitude"] - b_meet["longitude"]
    window = [r for r in cruise
              if abs(r["timestamp"] - b_meet["timestamp"]) <= 10 * 60 * 1000]
    b_rows = [row(r, dt=dt, dlat=dlat, dlon=dlon, aircraft="ELY-B") for r in window]
    for r in b_rows:  # fly B at TRA051's altitude so only the horizontal geometry decides
        r["alt_m"], r["vs_mps"] = meet["altitude"] * FT, 0.0
    pic = picture([("A-1", "A", around(tra051)), ("B-1", "B", around(window, 400000))])
    changes = replay([("A", row(r)) for r in tra051] + [("B", r) for r in b_rows], pic)
    sep = [c for c in changes if c["kind"] == "separation"]
    assert sep and sep[0]["change"] == "raised" and sep[0]["parties"] == ["A", "B"]
    meet_at = datetime.fromtimestamp(meet["timestamp"] / 1000, UTC)
    raised_at = datetime.fromisoformat(sep[0]["at"].replace("Z", "+00:00"))
    assert raised_at < meet_at - timedelta(seconds=30)  # warned well before they meet
    assert sep[0]["details"]["time_to_loss_s"] > 0
    # No flapping on these manoeuvring tracks: raises of the pair at least a minute apart.
    raises = [datetime.fromisoformat(c["at"].replace("Z", "+00:00")) for c in sep
              if c["change"] == "raised"]
    assert all(b - a > timedelta(seconds=60) for a, b in itertools.pairwise(raises))
    assert len(raises) <= 2
