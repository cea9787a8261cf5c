"""Tracks through the service: validation, alerts raised, updated and cleared as log entries."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from accord.service.runtime import Service, ServiceConfig
from accord.service.writer import rebuild_picture
from accord.tactical.engine import EARTH_R
from accord.timefmt import format_time
from accord.verify import verify_store
from support import World, make_world


def east(lat: float, metres: float) -> float:
    return math.degrees(metres / (EARTH_R * math.cos(math.radians(lat))))


@pytest.fixture
def svc(tmp_path: Path) -> Any:
    w: World = make_world(tmp_path / "dep")
    # B declares a strike (a hazard) around 36.0 E, 35.0 N, active for the next hours
    strike = {"footprint": {"type": "Circle", "center": [36.0, 35.0],
                            "radius": {"value": 5, "units": "km"}},
              "altitude": {"lower": 0, "upper": 10000, "units": "m", "reference": "AMSL"},
              "start": format_time(w.clock.now()),
              "end": format_time(w.clock.now() + timedelta(hours=3))}
    w.file("B", {"kind": "strike", "volumes": [strike]}, notice="B-STRIKE")
    # A's own notice for its aircraft west of there
    own = dict(strike, footprint={"type": "Circle", "center": [35.7, 35.0],
                                  "radius": {"value": 40, "units": "km"}})
    w.file("A", {"kind": "transit", "volumes": [own]}, notice="A-OWN")
    w.writer.store.close()
    s = Service(w.dir, clock=w.clock, config=ServiceConfig(tactical_interval_s=3600,
                                                            timer_interval_s=3600))
    s.world = w
    yield s
    s.close()


def report(s: Any, aircraft: str, lon: float, trk: float = 90, gs: float = 100,
           alt: float = 5000, **over: Any) -> dict[str, Any]:
    return {"aircraft": aircraft, "time": format_time(s.clock.now()), "lat": 35.0, "lon": lon,
            "alt_m": alt, "gs_mps": gs, "trk_deg": trk, **over}


def cycle(s: Any) -> list[dict[str, Any]]:
    bodies = s.monitor.cycle(s.writer.picture)
    if bodies:
        s.sequencer.alerts(bodies).result()
    return bodies


def test_hazard_entry_alert_raised_updated_cleared(svc: Any) -> None:
    lon = 36.0 - east(35.0, 5000 + 25000)  # 25 km west of the hazard's edge, heading east
    got = svc.monitor.ingest("A", [report(svc, "IL20", lon)])
    assert got["accepted"] == 1 and got["rejected"] == 0
    [raised] = cycle(svc)
    assert raised["change"] == "raised" and raised["kind"] == "hazard" and raised["level"] == 1
    assert raised["details"]["time_to_entry_s"] == pytest.approx(250, abs=2)
    assert raised["samples"][0]["aircraft"] == "A/IL20"
    assert cycle(svc) == []  # same level: nothing new in the log
    svc.clock.advance(timedelta(seconds=140))  # now 110 s from entry: corrective
    svc.monitor.ingest("A", [report(svc, "IL20", lon + east(35.0, 14000))])
    [updated] = cycle(svc)
    assert updated["change"] == "updated" and updated["level"] == 2
    svc.clock.advance(timedelta(seconds=1))
    svc.monitor.ingest("A", [report(svc, "IL20", lon + east(35.0, 14100), trk=270)])  # turns
    assert cycle(svc) == []  # not yet: the alert holds while the detection may come back
    svc.clock.advance(timedelta(seconds=31))
    svc.monitor.ingest("A", [report(svc, "IL20", lon + east(35.0, 12000), trk=270)])
    [cleared] = cycle(svc)
    assert cleared["change"] == "cleared"
    p = svc.writer.picture
    [alert] = p.alerts.values()
    assert alert["state"] == "cleared" and alert["changes"] == 3 and not p.open_alerts
    key = svc.writer.operator_key
    assert rebuild_picture(svc.store, key, verify=True).snapshot() == p.snapshot()
    assert verify_store(svc.store, svc.deployment.verifier_key).ok


def test_separation_and_nonconformance(svc: Any) -> None:
    svc.monitor.ingest("A", [report(svc, "A1", 35.6, trk=90, gs=150)])
    svc.monitor.ingest("B", [report(svc, "B1", 35.6 + east(35.0, 30000), trk=270, gs=150)])
    bodies = cycle(svc)
    kinds = sorted(b["kind"] for b in bodies)
    # A1 is inside A's own notice (conforming) but heads for B's strike area (hazard, ~207 s
    # away); B1 has no notice of its own (nonconforming); and the two are closing head on.
    assert kinds == ["hazard", "nonconformance", "separation"]
    sep = next(b for b in bodies if b["kind"] == "separation")
    assert sep["parties"] == ["A", "B"] and len(sep["samples"]) == 2
    non = next(b for b in bodies if b["kind"] == "nonconformance")
    assert non["details"]["aircraft"] == "B/B1" and non["parties"] == ["B"]


def test_bad_rows_are_counted_not_fatal(svc: Any) -> None:
    first = report(svc, "ok", 35.0)
    rows = [first, report(svc, "nan", float("nan")),
            report(svc, "lat", 35.0, lat=95), {"aircraft": "x"}, "junk",
            report(svc, "old", 35.0, time=format_time(svc.clock.now() - timedelta(hours=1))),
            dict(first)]  # a duplicate of the first
    got = svc.monitor.ingest("A", rows)
    assert (got["accepted"], got["duplicates"], got["rejected"]) == (1, 1, 5)
    fields = {p["field"] for p in got["problems"]}
    assert {"reports[1].lon", "reports[2].lat", "reports[3]", "reports[4]",
            "reports[5].time"} <= fields


def test_an_alert_open_in_the_log_is_updated_after_a_restart(svc: Any) -> None:
    from accord.service.tactical import TacticalMonitor

    lon = 36.0 - east(35.0, 5000 + 25000)
    svc.monitor.ingest("A", [report(svc, "IL20", lon)])
    [raised] = cycle(svc)
    svc.monitor = TacticalMonitor(svc.clock)  # a fresh book, as after a restart
    svc.clock.advance(timedelta(seconds=1))
    svc.monitor.ingest("A", [report(svc, "IL20", lon + east(35.0, 100))])
    cycle(svc)
    [alert] = svc.writer.picture.alerts.values()
    assert alert["changes"] == 2 and alert["change"] == "updated"
    assert raised["key"] == alert["key"]


def test_the_agreement_sets_the_tactical_minima(tmp_path: Path) -> None:
    from accord.service.tactical import TacticalMonitor
    from accord.timefmt import ManualClock

    w = make_world(tmp_path / "d", tactical={"horizontal_m": 500, "vertical_m": 100,
                                             "lookahead_s": 60})
    clock = ManualClock(w.clock.now())
    m = TacticalMonitor(clock)
    now = format_time(clock.now())
    base = {"time": now, "lat": 35.0, "alt_m": 5000, "gs_mps": 100, "vs_mps": 0}
    assert m.ingest("A", [dict(base, aircraft="a", lon=35.0, trk_deg=90)])["accepted"] == 1
    assert m.ingest("B", [dict(base, aircraft="b", lon=35.0 + east(35.0, 15000),
                               trk_deg=270)])["accepted"] == 1
    # closing at 200 m/s from 15 km: inside 500 m at 72.5 s, beyond the 60 s look-ahead
    assert [b for b in m.cycle(w.writer.picture) if b["kind"] == "separation"] == []
    clock.advance(timedelta(seconds=20))
    m.ingest("A", [dict(base, aircraft="a", lon=35.0 + east(35.0, 2000), trk_deg=90,
                        time=format_time(clock.now()))])
    m.ingest("B", [dict(base, aircraft="b", lon=35.0 + east(35.0, 13000), trk_deg=270,
                        time=format_time(clock.now()))])
    [sep] = [b for b in m.cycle(w.writer.picture) if b["kind"] == "separation"]
    assert sep["details"]["time_to_loss_s"] == pytest.approx(52.5, abs=0.5)
    assert sep["level"] == 3  # within the agreement's 60 s warning time
    w.writer.store.close()
