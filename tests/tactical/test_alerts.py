"""Tracks to alerts: the track table, hazard entry times, nonconformance, and hysteresis."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from accord.geo.geodesy import GEOD
from accord.geo.volume import AltitudeBand, Circle, Volume
from accord.tactical.alerts import (
    AlertBook,
    Detection,
    Hazard,
    Levels,
    Report,
    TrackTable,
    entry_time,
    hazards,
    nonconformance,
    separation,
)
from accord.tactical.engine import EARTH_R

T = datetime(2030, 1, 1, 12, tzinfo=UTC)


def east_of(lat: float, metres: float) -> float:
    """Degrees of longitude to the point `metres` east of (lat, 0) along the geodesic."""
    return float(GEOD.fwd(0.0, lat, 90.0 if metres >= 0 else 270.0, abs(metres))[0])


def rpt(party: str, ac: str, lon: float, *, lat: float = 35.0, alt: float = 5000, gs: float = 100,
        trk: float = 90, vs: float = 0, t: datetime = T) -> Report:
    return Report(party, ac, t, lat, lon, alt, gs, trk, vs)


def test_track_table_drops_duplicates_and_old_reports_and_expires() -> None:
    table = TrackTable(max_age=timedelta(seconds=30))
    assert table.update(rpt("A", "1", 35.0))
    assert not table.update(rpt("A", "1", 35.1))  # same time: a duplicate
    assert not table.update(rpt("A", "1", 35.1, t=T - timedelta(seconds=1)))
    assert table.update(rpt("A", "1", 35.2, t=T + timedelta(seconds=1)))
    assert (table.accepted, table.duplicates, table.out_of_order) == (2, 1, 1)
    assert table.expire(T + timedelta(seconds=20)) == []
    assert table.expire(T + timedelta(seconds=40)) == [("A", "1")] and not table.tracks


def test_fleet_is_extrapolated_to_now() -> None:
    table = TrackTable()
    table.update(rpt("A", "1", 35.0, gs=100, trk=90, vs=5))
    _, f, parties = table.fleet(T + timedelta(seconds=10))
    assert parties == ["A"]
    assert f.lon[0] == pytest.approx(35.0 + east_of(35.0, 1000), abs=1e-6)
    assert f.alt[0] == pytest.approx(5050)


def test_separation_levels_by_time_to_loss() -> None:
    levels = Levels()
    for gap_m, level in ((80000, 1), (40000, 2), (14000, 3)):
        table = TrackTable()
        table.update(rpt("A", "1", 35.0, gs=150, trk=90))
        table.update(rpt("B", "9", 35.0 + east_of(35.0, gap_m), gs=150, trk=270))
        reports, f, _ = table.fleet(T)
        [d] = separation(reports, f, 9260, 300, levels)
        assert d.kind == "separation" and d.parties == ("A", "B") and d.level == level
        assert d.details["time_to_loss_s"] == pytest.approx((gap_m - 9260) / 300, abs=0.2)


def hazard(lon: float, radius: float = 5000, *, lower: float = 0, upper: float = 10000,
           start: datetime = T - timedelta(hours=1)) -> Hazard:
    vol = Volume(Circle(lon, 35.0, radius), AltitudeBand(lower, upper, "AMSL"), start,
                 start + timedelta(hours=3))
    return Hazard("H-1", 1, "B", vol)


def test_hazard_entry_time_by_hand() -> None:
    centre = 35.0 + east_of(35.0, 20000)
    r = rpt("A", "1", 35.0, gs=100, trk=90)
    assert entry_time(r, T, hazard(centre), 300) == pytest.approx(150, abs=0.5)
    assert entry_time(r, T, hazard(centre), 100) is None  # beyond the look-ahead
    inside = rpt("A", "2", centre, gs=100, trk=90)
    assert entry_time(inside, T, hazard(centre), 300) == 0.0
    above = rpt("A", "3", 35.0, alt=12000, gs=100, trk=90)
    assert entry_time(above, T, hazard(centre), 300) is None
    descending = rpt("A", "4", 35.0, alt=11000, gs=100, trk=90, vs=-10)
    assert entry_time(descending, T, hazard(centre), 300) == pytest.approx(150, abs=0.5)
    later = hazard(centre, start=T + timedelta(seconds=200))
    assert entry_time(r, T, later, 300) == pytest.approx(200, abs=0.5)  # when it opens
    old = rpt("A", "5", 35.0, gs=100, trk=90, t=T - timedelta(seconds=50))  # 50 s old report
    assert entry_time(old, T, hazard(centre), 300) == pytest.approx(100, abs=0.5)


def test_hazards_skip_the_declaring_party_and_level_by_time() -> None:
    centre = 35.0 + east_of(35.0, 20000)
    reports = [rpt("A", "1", 35.0, gs=100), rpt("B", "2", 35.0, gs=100)]
    [d] = hazards(reports, T, [hazard(centre)], 300, Levels())
    assert d.parties == ("A", "B") and d.details["aircraft"] == "A/1"
    assert d.level == 1 and not d.details["inside"]
    [inside] = hazards([rpt("A", "1", centre)], T, [hazard(centre)], 300, Levels())
    assert inside.level == 3 and inside.details["inside"]


def test_nonconformance_outside_every_own_notice() -> None:
    own = {"A": [hazard(35.0).volume]}
    assert nonconformance([rpt("A", "1", 35.0)], T, own) == []
    [d] = nonconformance([rpt("A", "1", 35.0 + east_of(35.0, 8000))], T, own)
    assert d.kind == "nonconformance" and d.parties == ("A",)
    assert len(nonconformance([rpt("C", "1", 35.0)], T, own)) == 1  # no notice at all


def det(level: int, key: str = "k") -> Detection:
    return Detection(key, "separation", level, ("A", "B"), {"level": level})


def test_alert_book_raises_once_updates_and_clears_once_without_flapping() -> None:
    book = AlertBook(clear_after=timedelta(seconds=8), downgrade_after=timedelta(seconds=5))
    s = lambda sec, *d: [c.change for c in book.step(T + timedelta(seconds=sec), list(d))]  # noqa: E731
    assert s(0, det(1)) == ["raised"]
    assert s(1, det(1)) == []
    assert s(2, det(3)) == ["updated"]  # upgrades at once
    assert s(3, det(2)) == []  # a lower level must hold before a downgrade
    assert s(4) == []  # a noisy track drops out for a cycle: no clear
    assert s(5, det(2)) == []
    assert s(9, det(2)) == ["updated"]  # level 2 held since 3 s: 6 s >= 5 s, so down
    for sec in range(10, 17):  # flapping in and out: seen at 11, 13 and 15 s
        assert s(sec, *([det(2)] if sec % 2 else [])) == []
    assert s(22) == []
    assert s(23) == ["cleared"]  # last seen at 15 s, gone for 8 s
    assert s(24) == [] and not book.open


def test_hazard_entry_into_a_polygon() -> None:
    from accord.geo.volume import Polygon

    x0, x1 = 35.0 + east_of(35.0, 15000), 35.0 + east_of(35.0, 25000)
    d = math.degrees(5000 / EARTH_R)
    square = Polygon(((x0, 35.0 - d), (x1, 35.0 - d), (x1, 35.0 + d), (x0, 35.0 + d)))
    vol = Volume(square, AltitudeBand(0, 10000, "AMSL"), T - timedelta(hours=1),
                 T + timedelta(hours=1))
    r = rpt("A", "1", 35.0, gs=100, trk=90)
    assert entry_time(r, T, Hazard("P", 1, "B", vol), 300) == pytest.approx(150, abs=1.0)
    away = rpt("A", "1", 35.0, gs=100, trk=270)
    assert entry_time(away, T, Hazard("P", 1, "B", vol), 300) is None


def sep(key: str, parties: tuple[str, ...], level: int = 1, soon: float = 200.0) -> Detection:
    return Detection(key, "separation", level, parties,
                     {"aircraft": [f"{p}/{key}" for p in parties], "time_to_loss_s": soon})


def test_the_cap_raises_the_most_urgent_and_one_overflow_alert_per_party() -> None:
    book = AlertBook(max_open=3)
    flood = [sep(f"k{i:02}", ("A", "B"), level=1, soon=100.0 + i) for i in range(20)]
    urgent = sep("z-urgent", ("A", "B"), level=3, soon=30.0)
    changes = book.step(T, [*flood, urgent])
    raised = [c.detection for c in changes if c.change == "raised"]
    singles = [d.key for d in raised if d.kind != "overflow"]
    assert singles == ["z-urgent", "k00", "k01"]  # most urgent first, then the soonest
    over = {d.key: d for d in raised if d.kind == "overflow"}
    assert set(over) == {"overflow:A", "overflow:B"}
    a = over["overflow:A"]
    assert a.parties == ("A",) and a.level == 1
    assert a.details["count"] == 18 and a.details["max_open"] == 3
    assert a.details["kinds"] == {"separation": 18}
    assert [m["key"] for m in a.details["most_urgent"]] == ["k02", "k03", "k04", "k05", "k06"]
    # the next cycle: nothing new to log, however many are held back
    assert book.step(T + timedelta(seconds=1), [*flood, urgent]) == []
    # a held-back warning raises the overflow alert's level at once
    worse = [*flood, urgent, sep("y-new", ("A", "B"), level=3, soon=10.0)]
    [up_a, up_b] = book.step(T + timedelta(seconds=2), worse)
    assert {(c.change, c.detection.key, c.detection.level) for c in (up_a, up_b)} == {
        ("updated", "overflow:A", 3), ("updated", "overflow:B", 3)}


def test_the_cap_counts_every_party_concerned_and_room_frees_as_alerts_clear() -> None:
    book = AlertBook(max_open=2, clear_after=timedelta(seconds=5))
    ab = [sep(f"ab{i}", ("A", "B")) for i in range(3)]
    c_only = Detection("non-C", "nonconformance", 2, ("C",), {"aircraft": "C/1"})
    changes = book.step(T, [*ab, c_only])
    keys = sorted(c.detection.key for c in changes)
    assert keys == ["ab0", "ab1", "non-C", "overflow:A", "overflow:B"]  # C has room
    # ab0 and ab1 go away; once cleared, ab2 gets its own alert and the overflows clear
    assert book.step(T + timedelta(seconds=1), [ab[2], c_only]) == []
    changes = book.step(T + timedelta(seconds=6), [ab[2], c_only])
    got = sorted((c.change, c.detection.key) for c in changes)
    assert got == [("cleared", "ab0"), ("cleared", "ab1")]
    changes = book.step(T + timedelta(seconds=7), [ab[2], c_only])
    assert [(c.change, c.detection.key) for c in changes] == [("raised", "ab2")]
    changes = book.step(T + timedelta(seconds=12), [ab[2], c_only])
    assert sorted((c.change, c.detection.key) for c in changes) == [
        ("cleared", "overflow:A"), ("cleared", "overflow:B")]
    assert sorted(book.open) == ["ab2", "non-C"]


def test_one_cycle_raises_at_most_the_cap_plus_one_per_party_whatever_the_flood() -> None:
    book = AlertBook(max_open=50)
    flood = [sep(f"{i}-{j}", ("A", "B")) for i in range(100) for j in range(90)]
    flood += [Detection(f"non{i}", "nonconformance", 2, ("A",), {"aircraft": f"A/{i}"})
              for i in range(500)]
    changes = book.step(T, flood)
    for party in ("A", "B"):
        mine = [c for c in changes if party in c.detection.parties]
        assert len(mine) <= 51, party
    # A's nonconformance (level 2) is more urgent than the level-1 conflicts: A's room goes
    # to it, and every A-B conflict waits in both parties' overflow alerts.
    assert len(changes) == 50 + 2
    over = {c.detection.key: c.detection.details for c in changes
            if c.detection.kind == "overflow"}
    assert over["overflow:A"]["count"] == 450 + 9000
    assert over["overflow:B"]["count"] == 9000


def test_sync_puts_back_what_the_log_did_not_take() -> None:
    book = AlertBook(clear_after=timedelta(seconds=5))
    assert [c.change for c in book.step(T, [det(1)])] == ["raised"]
    book.sync(T, {})  # the raise never reached the log
    assert not book.open
    [again] = book.step(T + timedelta(seconds=1), [det(1)])
    assert again.change == "raised"
    logged = {"k": again.body("L1")}
    book.sync(T + timedelta(seconds=1), logged)
    [cleared] = book.step(T + timedelta(seconds=7), [])
    assert cleared.change == "cleared"
    book.sync(T + timedelta(seconds=7), logged)  # the clear never reached the log
    [cleared2] = book.step(T + timedelta(seconds=8), [])  # cleared again at once
    assert cleared2.change == "cleared" and cleared2.detection.key == "k"
    book.sync(T + timedelta(seconds=8), {})
    assert book.step(T + timedelta(seconds=9), []) == [] and not book.open
    # an alert the log holds open but this book never knew (a restart): a full hold
    book.sync(T + timedelta(seconds=10), logged)
    assert book.step(T + timedelta(seconds=14), []) == []
    [gone] = book.step(T + timedelta(seconds=15), [])
    assert gone.change == "cleared" and gone.detection.level == 1


def test_the_overflow_alert_is_updated_when_what_it_holds_back_doubles() -> None:
    book = AlertBook(max_open=1)
    flood = lambda n: [sep(f"k{i:03}", ("A", "B"), soon=100.0 + i) for i in range(n)]  # noqa: E731
    changes = book.step(T, flood(4))  # one raised, three held back
    [a] = [c for c in changes if c.detection.key == "overflow:A"]
    assert a.detection.details["count"] == 3
    assert book.step(T + timedelta(seconds=1), flood(6)) == []  # 5 held back: < 2 x 3
    changes = book.step(T + timedelta(seconds=2), flood(7))  # 6 held back: twice as many
    assert sorted((c.change, c.detection.key, c.detection.details["count"]) for c in changes) \
        == [("updated", "overflow:A", 6), ("updated", "overflow:B", 6)]
    assert book.step(T + timedelta(seconds=3), flood(2)) == []  # fewer: no entry for that
    changes = book.step(T + timedelta(seconds=4), flood(13))  # 12: twice the 6 logged
    assert {c.detection.details["count"] for c in changes} == {12}


def test_an_overflow_alert_reads_as_one_line() -> None:
    from accord.tactical.alerts import describe

    book = AlertBook(max_open=1)
    changes = book.step(T, [sep("k1", ("A", "B")), sep("k2", ("A", "B")), sep("k3", ("A", "B"))])
    [a] = [c for c in changes if c.detection.key == "overflow:A"]
    body = a.body("L9")
    assert describe(body["kind"], "raised", body["details"]) == \
        "2 more alerts for A not raised one by one (at most 1 open)"
    assert describe(body["kind"], "cleared", body["details"]).startswith("no longer: 2 more")
