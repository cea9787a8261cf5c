"""Hazard entry and nonconformance where the aircraft really is and goes (issue 8).

Hazard entry is checked against an independent reference written here: the aircraft flies
the WGS-84 geodesic that leaves its report on its track (pyproj `Geod.fwd`, exact); the
entry is the first moment its geodesic distance to the circle's centre is under the radius
(sampled every 0.25 s, refined by bisection). Circles are used because their edge is
defined on the ellipsoid itself (a polygon's edges are straight in the frame of the check,
by convention, docs/design.md). The whole detection is asked (`hazards`), so the prefilter
is under test too: across the antimeridian and over the poles.

Tolerance: 2 s on the time to entry, except on knife edges: paths whose least distance to the
centre is within 20 m of the radius (the path between samples is drawn straight in a frame
centred on the circle, within a few metres of the geodesic; 20 m leaves room), or entries
within 2 s of the end of the look-ahead.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from pyproj import Geod

from accord.geo.volume import AltitudeBand, Circle, Volume
from accord.tactical.alerts import Hazard, Levels, Report, hazards, nonconformance

GEOD = Geod(ellps="WGS84")
NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
LOOKAHEAD = 300.0
EDGE_M = 20.0
TOLERANCE = 2.0


def reference(r: Report, lon_c: float, lat_c: float, radius: float) -> tuple[float | None, float]:
    """(seconds from NOW to entry or None, least distance to the centre over the look-ahead)."""
    age = (NOW - r.time).total_seconds()

    def dist(t: np.ndarray) -> np.ndarray:
        lon, lat, _ = GEOD.fwd(np.full(len(t), r.lon), np.full(len(t), r.lat),
                               np.full(len(t), r.trk), r.gs * (age + t))
        return np.asarray(GEOD.inv(lon, lat, np.full(len(t), lon_c),
                                   np.full(len(t), lat_c))[2])

    t = np.arange(0.0, LOOKAHEAD + 0.125, 0.25)
    d = dist(t)
    inside = d < radius
    if not inside.any():
        return None, float(d.min())
    k = int(np.argmax(inside))
    if k == 0:
        return 0.0, float(d.min())
    lo, hi = float(t[k - 1]), float(t[k])
    while hi - lo > 1e-3:
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if dist(np.array([mid]))[0] < radius else (mid, hi)
    return hi, float(d.min())


def engine(r: Report, circle: Circle) -> float | None:
    vol = Volume(circle, AltitudeBand(0, 15000, "AMSL"), NOW - timedelta(hours=1),
                 NOW + timedelta(hours=1))
    found = hazards([r], NOW, [Hazard("H", 1, "B", vol)], LOOKAHEAD, Levels())
    return float(found[0].details["time_to_entry_s"]) if found else None


@pytest.mark.parametrize("lat", [0.0, -30.0, 45.0, -60.0, 70.0, -80.0, 85.0, 89.0])
@pytest.mark.parametrize("lon", [179.95, -179.95, 10.0])
def test_hazard_entry_agrees_with_geodesics(lat: float, lon: float) -> None:
    rnd = np.random.default_rng(zlib.crc32(f"{lat} {lon}".encode()))
    checked = entered = 0
    for _ in range(12):
        radius = float(rnd.uniform(2000, 60000))
        gs, tm = float(rnd.uniform(50, 300)), float(rnd.uniform(10, 330))
        # the path passes `miss` from the centre at tm; the report is up to 20 s old
        trk_c = float(rnd.uniform(0, 360))
        miss = float(rnd.uniform(0, 1.5 * radius))
        plon, plat, _ = GEOD.fwd(lon, lat, trk_c + 90, miss)
        age = float(rnd.uniform(0, 20))
        slon, slat, back = GEOD.fwd(plon, plat, trk_c + 180, gs * (tm + age))
        r = Report("A", "1", NOW - timedelta(seconds=age), float(slat), float(slon), 5000.0,
                   gs, float(back) % 360)
        t_ref, d_min = reference(r, lon, lat, radius)
        if abs(d_min - radius) <= EDGE_M or (t_ref is not None and t_ref > LOOKAHEAD - 2):
            continue
        t_eng = engine(r, Circle(lon, lat, radius))
        checked += 1
        assert (t_eng is None) == (t_ref is None), (r, radius, t_ref, t_eng, d_min)
        if t_ref is not None and t_eng is not None:
            entered += 1
            assert abs(t_eng - t_ref) <= TOLERANCE, (r, radius, t_ref, t_eng, d_min)
    assert checked >= 8 and entered >= 3


def test_hazard_across_the_antimeridian_and_over_the_pole_is_found() -> None:
    # eastbound at 179.9, the hazard's centre 30 km east, past 180
    lon_c = float(GEOD.fwd(179.9, 10.0, 90.0, 30000.0)[0])
    r = Report("A", "1", NOW, 10.0, 179.9, 5000.0, 200.0, 90.0)
    t = engine(r, Circle(lon_c, 10.0, 5000.0))
    assert t == pytest.approx(reference(r, lon_c, 10.0, 5000.0)[0], abs=0.5)
    # northbound at 89.8 N on 0 E, the hazard across the pole at 89.8 N on 180
    r = Report("A", "2", NOW, 89.8, 0.0, 5000.0, 250.0, 0.0)
    t = engine(r, Circle(180.0, 89.8, 5000.0))
    assert t == pytest.approx(reference(r, 180.0, 89.8, 5000.0)[0], abs=0.5)


def own_notice(radius: float) -> dict[str, list[Volume]]:
    return {"A": [Volume(Circle(20.0, 60.0, radius), AltitudeBand(0, 10000, "AMSL"),
                         NOW - timedelta(hours=1), NOW + timedelta(hours=1))]}


def test_nonconformance_is_judged_where_the_aircraft_is_now() -> None:
    # reported 25 s ago 4 km from the centre of its 9 km notice, flying out at 250 m/s:
    # now 10.25 km out, outside; the old test of the reported position said inside
    lon, lat, back = GEOD.fwd(20.0, 60.0, 45.0, 4000.0)
    leaving = Report("A", "1", NOW - timedelta(seconds=25), float(lat), float(lon), 5000.0,
                     250.0, float(back + 180) % 360)
    [d] = nonconformance([leaving], NOW, own_notice(9000.0))
    now_lon, now_lat, _ = GEOD.fwd(lon, lat, leaving.trk, 250.0 * 25)
    assert d.details["lat"] == pytest.approx(float(now_lat), abs=1e-6)
    assert d.details["lon"] == pytest.approx(float(now_lon), abs=1e-6)
    # and the reverse: reported outside, now well inside
    lon, lat, back = GEOD.fwd(20.0, 60.0, 45.0, 12000.0)
    entering = Report("A", "2", NOW - timedelta(seconds=25), float(lat), float(lon), 5000.0,
                      250.0, float(back) % 360)
    assert nonconformance([entering], NOW, own_notice(9000.0)) == []
    # climbing out of the band: reported at 9,900 m, 10 m/s for 25 s
    high = Report("A", "3", NOW - timedelta(seconds=25), 60.0, 20.0, 9900.0, 0.0, 0.0, 10.0)
    [d] = nonconformance([high], NOW, own_notice(9000.0))
    assert d.details["alt_m"] == pytest.approx(10150.0)
