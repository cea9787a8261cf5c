"""proximity / conflicts / LocalFrame on hand-computed cases."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
import shapely
from geo_cases import circle_json, polygon_json, reference_distance, ring_around, square, volume

from accord.errors import InvalidInput
from accord.geo.geodesy import GEOD
from accord.geo.separation import LocalFrame, Proximity, conflicts, proximity
from accord.geo.volume import Circle, Volume


def test_two_circles_20_km_apart() -> None:
    lon2, lat2, _ = GEOD.fwd(35.0, 35.0, 70.0, 20_000.0)
    a = volume(circle_json(35.0, 35.0, 5, "km"))
    b = volume(circle_json(float(lon2), float(lat2), 5, "km"))
    p = proximity(a, b, LocalFrame.around(a))
    assert p is not None
    _, _, centres = GEOD.inv(35.0, 35.0, lon2, lat2)
    assert abs(p.horizontal_m - (centres - 10_000.0)) < 1.0
    assert p.horizontal_m == pytest.approx(10_000.0, abs=1e-3)
    assert p.vertical_m == 0.0
    assert (p.start, p.end) == (a.start, a.end)


def test_circle_and_polygon_analytic() -> None:
    # A polygon whose nearest vertex is exactly 12 km due east of the circle's centre.
    lon_v, lat_v, _ = GEOD.fwd(35.0, 35.0, 90.0, 12_000.0)
    lon_c, lat_c, _ = GEOD.fwd(lon_v, lat_v, 90.0, 10_000.0)
    ring = ring_around(float(lon_c), float(lat_c), 10_000.0, angles=[270, 0, 90, 180])
    poly = volume(polygon_json(ring))
    circle = volume(circle_json(35.0, 35.0, 3000))
    for frame in (LocalFrame.around(poly), LocalFrame.around(circle), LocalFrame.at(36.0, 36.0)):
        p = proximity(circle, poly, frame)
        q = proximity(poly, circle, frame)
        assert p is not None and q is not None
        assert p.horizontal_m == pytest.approx(9000.0, abs=0.5)
        assert q.horizontal_m == p.horizontal_m
        assert p.horizontal_m >= 9000.0 - 1e-6  # never below the true distance


def test_overlapping_footprints_are_at_zero() -> None:
    a = volume(square(35.0, 35.0, 35.2, 35.2))
    b = volume(square(35.1, 35.1, 35.3, 35.3))
    inside = volume(circle_json(35.1, 35.1, 100))
    crossing = volume(circle_json(35.25, 35.1, 10, "km"))
    frame = LocalFrame.around(a)
    for other in (b, inside, crossing):
        p = proximity(a, other, frame)
        assert p is not None and p.horizontal_m == 0.0


def test_circle_inside_a_hole_is_apart() -> None:
    outer = ring_around(35.0, 35.0, 20_000.0, n=4, angles=[45, 135, 225, 315])
    hole = ring_around(35.0, 35.0, 10_000.0, n=4, angles=[45, 315, 225, 135])
    donut = volume(polygon_json(outer, hole))
    c = volume(circle_json(35.0, 35.0, 2000))
    p = proximity(donut, c, LocalFrame.around(donut))
    # nearest point of the hole's edge is its midpoint, 10 km * cos(45 deg) from the centre
    assert p is not None and p.horizontal_m == pytest.approx(
        10_000 * math.sqrt(0.5) - 2000, rel=2e-3
    )


def test_bands_300_m_apart() -> None:
    sq = square(35.0, 35.0, 35.1, 35.1)
    a = volume(sq, lower=0, upper=1000)
    b = volume(sq, lower=1300, upper=2000)
    frame = LocalFrame.around(a)
    p = proximity(a, b, frame)
    assert p is not None and p.vertical_m == 300.0 and p.horizontal_m == 0.0
    assert conflicts(a, b, 5000, 300, frame) is None  # exactly at the minimum: separated
    hit = conflicts(a, b, 5000, 300.001, frame)
    assert hit == p


def test_amsl_against_w84_is_conservative() -> None:
    sq = square(35.0, 35.0, 35.1, 35.1)
    a = volume(sq, lower=0, upper=1000, reference="AMSL")
    b = volume(sq, lower=1300, upper=2000, reference="W84")
    p = proximity(a, b, LocalFrame.around(a))
    assert p is not None and p.vertical_m == pytest.approx(210.0)
    assert conflicts(a, b, 1000, 250, LocalFrame.around(a)) is not None
    assert conflicts(a, b, 1000, 200, LocalFrame.around(a)) is None


def test_windows_touching_at_an_instant_do_not_overlap() -> None:
    sq = square(35.0, 35.0, 35.1, 35.1)
    a = volume(sq, start="2018-09-17T18:00:00Z", end="2018-09-17T18:30:00Z")
    b = volume(sq, start="2018-09-17T18:30:00Z", end="2018-09-17T19:00:00Z")
    c = volume(sq, start="2018-09-17T18:29:59Z", end="2018-09-17T19:00:00Z")
    frame = LocalFrame.around(a)
    assert proximity(a, b, frame) is None and proximity(b, a, frame) is None
    assert conflicts(a, b, 10_000, 1000, frame) is None
    p = conflicts(a, c, 10_000, 1000, frame)
    assert p is not None and p.end - p.start == timedelta(seconds=1)
    assert (p.start, p.end) == (c.start, a.end)


def test_horizontal_minimum_is_strict() -> None:
    lon2, lat2, _ = GEOD.fwd(35.0, 35.0, 10.0, 30_000.0)
    a = volume(circle_json(35.0, 35.0, 5000))
    b = volume(circle_json(float(lon2), float(lat2), 5000))
    frame = LocalFrame.around(a)
    p = proximity(a, b, frame)
    assert p is not None
    d = p.horizontal_m
    assert conflicts(a, b, d, 100, frame) is None
    assert conflicts(a, b, math.nextafter(d, math.inf), 100, frame) == p
    assert conflicts(a, b, 0.0, 0.0, frame) is None  # a zero minimum never conflicts


def test_polygon_pair_near_minimum_uses_the_refined_distance() -> None:
    a = volume(square(35.0, 35.0, 35.1, 35.1))
    b = volume(square(35.2, 35.0, 35.3, 35.1))
    frame = LocalFrame.at(33.0, 33.0)  # deliberately far away: the frame stretches distances
    p = proximity(a, b, frame)
    assert p is not None
    d_frame = shapely.distance(frame.shape(a.footprint), frame.shape(b.footprint))
    assert d_frame > p.horizontal_m  # the frame over-estimates, the refined figure is geodesic
    ref = reference_distance(a.footprint, b.footprint)
    assert p.horizontal_m == pytest.approx(ref, rel=1e-4)
    # a minimum between the refined and the frame distance: still found
    h = (p.horizontal_m + d_frame) / 2
    assert conflicts(a, b, h, 100, frame) is not None


def test_bad_minima_are_refused() -> None:
    a = volume(square(35.0, 35.0, 35.1, 35.1))
    for h, v, field in (
        (-1.0, 0.0, "horizontal_m"),
        (math.nan, 0.0, "horizontal_m"),
        (1.0, math.inf, "vertical_m"),
    ):
        with pytest.raises(InvalidInput) as info:
            conflicts(a, a, h, v, LocalFrame.around(a))
        assert info.value.field == field and info.value.accepted


def test_frame_is_deterministic_and_cached() -> None:
    a = volume(square(35.0, 35.0, 35.1, 35.1))
    f1 = LocalFrame.around(a)
    assert f1 == LocalFrame(35.05, 35.05) == LocalFrame.around(a.footprint)
    assert LocalFrame.at(35.054, 35.046) == LocalFrame(35.05, 35.05)
    assert f1.shape(a.footprint) is f1.shape(a.footprint)
    x, y = f1.forward([35.05, 35.15], [35.05, 35.05])
    assert abs(x[0]) < 1e-6 and abs(y[0]) < 1e-6
    _, _, d = GEOD.inv(35.05, 35.05, 35.15, 35.05)
    assert math.hypot(x[1], y[1]) == pytest.approx(d, abs=1e-6)  # equidistant from the centre
    lon, lat = f1.inverse(x, y)
    assert lon[1] == pytest.approx(35.15, abs=1e-10) and lat[1] == pytest.approx(35.05, abs=1e-10)
    with pytest.raises(ValueError):
        LocalFrame.around()


def test_frame_shape_of_a_circle_is_for_display() -> None:
    c = Circle(35.0, 35.0, 5000.0)
    shape = LocalFrame.around(c).shape(c)
    assert shape.area == pytest.approx(math.pi * 5000.0**2, rel=2e-3)


def test_across_the_antimeridian() -> None:
    east = volume(square(179.9, -17.0, 180.0, -16.9))
    west = volume(square(-180.0, -17.0, -179.9, -16.9))
    frame = LocalFrame.around(east, west)
    assert abs(abs(frame.lon0) - 180.0) < 0.011
    p = proximity(east, west, frame)
    assert p is not None and p.horizontal_m == pytest.approx(0.0, abs=1e-3)
    far_west = volume(square(-179.8, -17.0, -179.7, -16.9))
    p2 = proximity(east, far_west, LocalFrame.around(east))
    _, _, d = GEOD.inv(180.0, -16.95, -179.8, -16.95)
    assert p2 is not None and p2.horizontal_m == pytest.approx(d, rel=1e-3)
    c1 = volume(circle_json(179.95, 0.0, 1000))
    c2 = volume(circle_json(-179.95, 0.0, 1000))
    p3 = proximity(c1, c2, LocalFrame.around(c1))
    assert p3 is not None and p3.horizontal_m == pytest.approx(11_131.9 - 2000, abs=1.0)


def test_proximity_is_a_value() -> None:
    a = volume(square(35.0, 35.0, 35.1, 35.1))
    p = proximity(a, a, LocalFrame.around(a))
    assert isinstance(p, Proximity) and p == Proximity(0.0, 0.0, a.start, a.end)
    assert isinstance(a, Volume)
