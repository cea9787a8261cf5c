"""Hazard entry for polygons, vectorised per frame, against the per-aircraft shapely path it
replaced (kept here as the reference): the same entry times on random tracks and polygons
(concave, with a hole, at high latitude and across the antimeridian), and a path through a
vertex."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import shapely

from accord.geo.separation import LocalFrame
from accord.geo.volume import AltitudeBand, Polygon, Volume
from accord.tactical.alerts import (
    PATH_POINTS,
    Hazard,
    Report,
    _along,
    _earliest,
    _vertical,
    entry_time,
)

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def reference(r: Report, hazard: Hazard, lookahead: float) -> float | None:
    """The per-aircraft shapely computation (as before vectorising)."""
    vol = hazard.volume
    ts = np.linspace(0.0, lookahead, PATH_POINTS)
    age = (NOW - r.time).total_seconds()
    lon, lat = _along([r], (age + ts[None, :]) * r.gs)
    window = ((vol.start - NOW).total_seconds(), (vol.end - NOW).total_seconds())
    vert = _vertical(r, vol, age)
    if vert is None:
        return None
    frame = LocalFrame.at(round(float(lon[0, 0]), 1), round(float(lat[0, 0]), 1))
    shape = frame.shape(vol.footprint)
    px, py = frame.forward(lon[0], lat[0])
    start = shapely.Point(float(px[0]), float(py[0]))
    intervals: list[tuple[float, float]] = []
    if r.gs < 1e-6:
        if shape.covers(start):
            intervals.append((-math.inf, math.inf))
    else:
        path = shapely.LineString(np.column_stack([px, py]))
        along = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(px), np.diff(py)))])
        part = path.intersection(shape)
        for seg in getattr(part, "geoms", [part]):
            if seg.is_empty:
                continue
            d = [path.project(shapely.Point(c)) for c in shapely.get_coordinates(seg)]
            times = np.interp(d, along, ts)
            intervals.append((float(times.min()), float(times.max())))
        if shape.covers(start):
            intervals.append((-math.inf, 0.0))
    return _earliest(intervals, vert, window, lookahead)


def hazard(ring: list[tuple[float, float]], holes: tuple[tuple[tuple[float, float], ...], ...]
           = (), start_s: float = -3600.0) -> Hazard:
    vol = Volume(Polygon(tuple(ring), holes), AltitudeBand(0, 12000, "AMSL"),
                 NOW + timedelta(seconds=start_s), NOW + timedelta(hours=2))
    return Hazard("N", 1, "B", vol)


def star(lon: float, lat: float, size: float, points: int, rng: np.random.Generator
         ) -> list[tuple[float, float]]:
    """A concave star, counter-clockwise, `size` degrees across."""
    out = []
    for k in range(2 * points):
        a = math.pi * k / points
        rad = size * (1.0 if k % 2 == 0 else rng.uniform(0.3, 0.7)) / 2.0
        out.append((lon + rad * math.cos(a) / max(math.cos(math.radians(lat)), 0.1),
                    lat + rad * math.sin(a)))
    return out


@pytest.mark.parametrize("lat, lon", [(51.0, 5.0), (0.0, 0.0), (70.0, 20.0), (-45.0, 179.9)])
def test_polygon_entry_equals_the_per_aircraft_reference(lat: float, lon: float) -> None:
    rng = np.random.default_rng(int(abs(lat * 100 + lon)))
    for trial in range(4):
        hz = hazard(star(lon, lat, 0.6, 5 + trial, rng))
        if trial == 3:  # a square hole in the middle (clockwise)
            h = 0.05
            hz = hazard(star(lon, lat, 0.6, 7, rng),
                        ((((lon - h, lat - h)), (lon - h, lat + h), (lon + h, lat + h),
                          (lon + h, lat - h)),))
        reports = [Report("A", f"X{k}", NOW - timedelta(seconds=float(rng.uniform(0, 10))),
                          lat + rng.uniform(-0.6, 0.6), lon + rng.uniform(-0.6, 0.6),
                          rng.uniform(0, 12000), rng.choice([0.0, rng.uniform(0, 300)]),
                          rng.uniform(0, 360), rng.uniform(-20, 20)) for k in range(300)]
        reports = [replace_lon(r) for r in reports]
        got = [entry_time(r, NOW, hz, 300.0) for r in reports]
        from accord.tactical.alerts import _entries

        batch = _entries(reports, NOW, hz, 300.0)
        want = [reference(r, hz, 300.0) for r in reports]
        assert sum(w is not None for w in want) > 20
        for g, b, w in zip(got, batch, want, strict=True):
            assert (g is None) == (w is None) and (b is None) == (w is None)
            if w is not None:
                assert g == pytest.approx(w, abs=1e-6) and b == pytest.approx(w, abs=1e-6)


def replace_lon(r: Report) -> Report:
    lon = (r.lon + 180.0) % 360.0 - 180.0
    return Report(r.party, r.aircraft, r.time, r.lat, lon, r.alt_m, r.gs, r.trk, r.vs)


@pytest.mark.parametrize("lat", [10.0, 60.0])
def test_paths_through_and_touching_vertices_agree_with_the_reference(lat: float) -> None:
    """Polygon vertices exactly on the path's points (the same lon/lat, so the same frame
    coordinates): a diamond entered at its west vertex and left at its east vertex; a
    diamond touched at its top vertex only (the reference calls the touch an entry: a
    crossing count must see two crossings there, not one, or it is inside for good); a
    square with an edge along the path."""
    r = Report("A", "T", NOW, lat, 20.0, 5000.0, 250.0, 90.0)
    ts = np.linspace(0.0, 300.0, PATH_POINTS)
    lon, la = _along([r], ts[None, :] * r.gs)
    p = [(float(lon[0, k]), float(la[0, k])) for k in range(PATH_POINTS)]
    h = 0.1
    through = hazard([p[2], (p[3][0], p[3][1] - h), p[4], (p[3][0], p[3][1] + h)])
    touch = hazard([p[2], (p[1][0], p[1][1] - h), (p[3][0], p[3][1] - h)])
    edge = hazard([p[2], (p[2][0], p[2][1] - h), (p[4][0], p[4][1] - h), p[4], p[3]])
    # active from 150 s: inside from 100 s to 200 s, so entered at 150 s (a vertex at a path
    # point counted on both segments would close the interval at 100 s)
    late = hazard([p[2], (p[3][0], p[3][1] - h), p[4], (p[3][0], p[3][1] + h)], start_s=150.0)
    for hz, want in ((through, 100.0), (touch, 100.0), (edge, 100.0), (late, 150.0)):
        assert reference(r, hz, 300.0) == pytest.approx(want, abs=1e-6)
        assert entry_time(r, NOW, hz, 300.0) == pytest.approx(want, abs=1e-6)
    # and nothing after: a second aircraft starting just past the touch is never inside
    later = Report("A", "U", NOW, p[2][1], p[2][0] + 0.01, 5000.0, 250.0, 90.0)
    assert reference(later, touch, 300.0) is None
    assert entry_time(later, NOW, touch, 300.0) is None
