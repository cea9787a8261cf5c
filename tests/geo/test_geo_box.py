"""Box4: tight, conservative boxes for the prefilter; expansion; intersection."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest
from geo_cases import circle_json, polygon_json, square, volume

from accord.errors import InvalidInput
from accord.geo.box import BOX_EPOCH, Box4, box_time, footprint_bounds, volume_box
from accord.geo.geodesy import GEOD, MIN_METRES_PER_DEG_LAT, circle_bounds, pad_degrees
from accord.geo.volume import GEOID_MAX_M, GEOID_MIN_M, Circle, Polygon


def test_box_of_a_square() -> None:
    v = volume(square(35.0, 35.0, 35.1, 35.1), lower=100, upper=900)
    b = volume_box(v)
    assert 34.9999 < b.lon_min <= 35.0 and 35.1 <= b.lon_max < 35.1001
    assert 34.9999 < b.lat_min <= 35.0 and 35.1 <= b.lat_max < 35.1001
    assert (b.alt_min, b.alt_max) == (100.0, 900.0)
    assert b.t_min == (v.start - BOX_EPOCH).total_seconds() == box_time(v.start)
    assert b.t_max - b.t_min == 1800.0
    assert box_time(datetime(2000, 1, 1, 0, 0, 1, 500000, tzinfo=UTC)) == 1.5


def test_box_of_an_amsl_band_is_widened_by_the_geoid_bounds() -> None:
    v = volume(square(35.0, 35.0, 35.1, 35.1), lower=3000, upper=4000, reference="AMSL")
    b = volume_box(v)
    assert (b.alt_min, b.alt_max) == (3000.0 + GEOID_MIN_M, 4000.0 + GEOID_MAX_M)


def test_box_of_a_circle() -> None:
    c = Circle(35.0, 60.0, 10_000.0)
    lon_min, lon_max, lat_min, lat_max = footprint_bounds(c)
    _, lat_n, _ = GEOD.fwd(35.0, 60.0, 0.0, 10_000.0)
    assert lat_max == pytest.approx(lat_n, abs=1e-8) and lat_max >= lat_n
    az = np.linspace(0, 360, 3600, endpoint=False)
    lo, la, _ = GEOD.fwd(np.full(3600, 35.0), np.full(3600, 60.0), az, np.full(3600, 10_000.0))
    assert lon_min <= lo.min() and lo.max() <= lon_max
    assert lat_min <= la.min() and la.max() <= lat_max
    assert lon_max - lo.max() < 0.05 * (lo.max() - 35.0)  # tight within a few per cent
    assert circle_bounds(0.0, 89.99, 5000.0)[0] == -math.inf


def test_long_east_west_edge_bulges_poleward() -> None:
    # A 220 km east-west edge at 60 N: the geodesic rises ~1.2 km above 60 N between vertices.
    v = volume(polygon_json([[34, 59.5], [38, 59.5], [38, 60], [34, 60], [34, 59.5]]))
    assert isinstance(v.footprint, Polygon)
    b = volume_box(v)
    pts = np.asarray(GEOD.npts(38, 60, 34, 60, 200))
    assert pts[:, 1].max() > 60.005
    assert b.lat_max >= pts[:, 1].max()
    assert b.lat_max - pts[:, 1].max() < 0.01  # padded for the frame by well under 1 km


def test_expand_pads_conservatively() -> None:
    b = volume_box(volume(square(35.0, 35.0, 35.1, 35.1)))
    e = b.expand(10_000.0, 300.0)
    assert e.lat_max - b.lat_max == pytest.approx(10_000.0 / MIN_METRES_PER_DEG_LAT, rel=1e-6)
    assert (e.alt_min, e.alt_max) == (b.alt_min - 300.0, b.alt_max + 300.0)
    assert (e.t_min, e.t_max) == (b.t_min, b.t_max)
    # every point 10 km from the box's corners, in every direction, is inside
    for lon, lat in ((b.lon_min, b.lat_min), (b.lon_max, b.lat_max), (b.lon_min, b.lat_max)):
        az = np.linspace(0, 360, 720, endpoint=False)
        lo, la, _ = GEOD.fwd(np.full(720, lon), np.full(720, lat), az, np.full(720, 10_000.0))
        assert (lo >= e.lon_min).all() and (lo <= e.lon_max).all()
        assert (la >= e.lat_min).all() and (la <= e.lat_max).all()
    assert b.expand(0.0, 0.0) == b


def test_expand_near_the_antimeridian_takes_every_longitude() -> None:
    b = volume_box(volume(square(179.9, -17.0, 179.95, -16.9)))
    assert b.lon_max < 180.0
    e = b.expand(10_000.0, 0.0)
    assert (e.lon_min, e.lon_max) == (-180.0, 180.0)
    other = volume_box(volume(circle_json(-179.97, -16.95, 500)))
    assert e.intersects(other)


def test_expand_near_a_pole_clamps() -> None:
    b = volume_box(volume(square(10.0, 89.0, 11.0, 89.5)))
    e = b.expand(100_000.0, 0.0)
    assert e.lat_max == 90.0 and (e.lon_min, e.lon_max) == (-180.0, 180.0)


def test_expand_refuses_bad_minima() -> None:
    b = volume_box(volume(square(35.0, 35.0, 35.1, 35.1)))
    with pytest.raises(InvalidInput) as info:
        b.expand(-1.0, 0.0)
    assert info.value.field == "horizontal_m" and info.value.accepted
    with pytest.raises(InvalidInput):
        b.expand(1.0, math.nan)


def test_intersects_is_closed_on_every_axis() -> None:
    a = Box4(0, 1, 0, 1, 0, 1, 0, 1)
    assert a.intersects(Box4(1, 2, 1, 2, 1, 2, 1, 2))
    assert Box4(1, 2, 1, 2, 1, 2, 1, 2).intersects(a)
    for axis in range(4):
        lo = [0.0] * 8
        hi = [1.0] * 8
        coords = [v for pair in zip(lo[::2], hi[::2], strict=True) for v in pair]
        coords[2 * axis], coords[2 * axis + 1] = 1.5, 2.0
        assert not a.intersects(Box4(*coords))


def test_pad_degrees_is_an_upper_bound() -> None:
    rng = np.random.default_rng(7)
    for _ in range(200):
        lat = float(rng.uniform(-85, 85))
        dist = float(10 ** rng.uniform(1, 5.7))
        dlat, dlon = pad_degrees(lat, lat, dist)
        az = np.linspace(0, 360, 361)
        lo, la, _ = GEOD.fwd(np.zeros(361), np.full(361, lat), az, np.full(361, dist))
        assert (np.abs(la - lat) <= dlat).all()
        if math.isfinite(dlon):
            assert (np.abs(lo) <= dlon).all()
    assert pad_degrees(0.0, 0.0, 0.0) == (0.0, 0.0)
