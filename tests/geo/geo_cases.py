"""Builders of volume JSON shared by the geo tests (plain functions, no fixtures)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely

from accord.geo.geodesy import GEOD
from accord.geo.separation import LocalFrame
from accord.geo.volume import Circle, Footprint, Polygon, Volume, footprint_geojson, parse_volume

START = "2018-09-17T18:40:00Z"
END = "2018-09-17T19:10:00Z"


def ring_around(
    lon: float,
    lat: float,
    radius_m: float,
    n: int = 8,
    angles: Sequence[float] | None = None,
    fracs: Sequence[float] | None = None,
) -> list[list[float]]:
    """A closed star-shaped ring: vertex i at azimuth angles[i], distance fracs[i] * radius."""
    az = np.asarray(angles if angles is not None else np.linspace(0, 360, n, endpoint=False))
    fr = np.asarray(fracs if fracs is not None else np.ones(len(az)))
    lo, la, _ = GEOD.fwd(np.full(len(az), lon), np.full(len(az), lat), az, fr * radius_m)
    ring = [[float(x), float(y)] for x, y in zip(lo, la, strict=True)]
    return [*ring, ring[0]]


def polygon_json(*rings: list[list[float]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": list(rings)}


def circle_json(lon: float, lat: float, value: float, units: str = "m") -> dict[str, Any]:
    return {"type": "Circle", "center": [lon, lat], "radius": {"value": value, "units": units}}


def square(lon0: float, lat0: float, lon1: float, lat1: float) -> dict[str, Any]:
    return polygon_json([[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]])


def volume_json(
    footprint: dict[str, Any],
    lower: float = 0,
    upper: float = 1000,
    units: str = "m",
    reference: str | None = "W84",
    start: str = START,
    end: str = END,
) -> dict[str, Any]:
    altitude: dict[str, Any] = {"lower": lower, "upper": upper, "units": units}
    if reference is not None:
        altitude["reference"] = reference
    return {"footprint": footprint, "altitude": altitude, "start": start, "end": end}


def volume(footprint: dict[str, Any], **kw: Any) -> Volume:
    return parse_volume(volume_json(footprint, **kw))


def reference_distance(a: Footprint, b: Footprint, points: int = 720) -> float:
    """An independent horizontal distance: shapely in a frame centred midway between a and b.

    Circles become `points`-gons of geodesic points (inscribed: over-estimates by at most
    r * (1 - cos(pi / points)), 1e-5 r for 720).
    """
    ca, cb = _centre(a), _centre(b)
    _, _, d = GEOD.inv(ca[0], ca[1], cb[0], cb[1])
    az, _, _ = GEOD.inv(ca[0], ca[1], cb[0], cb[1])
    mlon, mlat, _ = GEOD.fwd(ca[0], ca[1], az, d / 2)
    frame = LocalFrame(float(mlon), float(mlat))  # exact midpoint, not the cached grid
    return float(shapely.distance(_shape(frame, a, points), _shape(frame, b, points)))


def _centre(fp: Footprint) -> tuple[float, float]:
    if isinstance(fp, Circle):
        return fp.lon, fp.lat
    arr = np.asarray(fp.exterior)
    return float(arr[:, 0].mean()), float(arr[:, 1].mean())


def _shape(frame: LocalFrame, fp: Footprint, points: int) -> Any:
    rings: list[Any]
    if isinstance(fp, Polygon):
        rings = [fp.exterior, *fp.holes]
    else:
        rings = [footprint_geojson(fp, points)["coordinates"][0]]
    xy = []
    for ring in rings:
        arr = np.asarray(ring, dtype=np.float64)
        x, y = frame.forward(arr[:, 0], arr[:, 1])
        xy.append(np.column_stack((x, y)))
    return shapely.Polygon(xy[0], xy[1:])
