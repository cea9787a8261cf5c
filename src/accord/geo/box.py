"""4D bounding boxes (longitude, latitude, altitude, time) for the strategic prefilter.

The store indexes one `Box4` per volume (SQLite R*Tree) and asks for the boxes that meet a
notice's box expanded by the separation minima; only those pairs reach the exact test in
`accord.geo.separation`. So the contract is one-sided: a box may be larger than its volume,
never smaller, and `volume_box(a).expand(H, V).intersects(volume_box(b))` holds whenever
`conflicts(a, b, H, V, frame)` reports a conflict.

Units: degrees; altitude in W84 metres (AMSL bands widened by the geoid bounds); time in
seconds since `BOX_EPOCH` (2000-01-01T00:00:00Z) as a float. R*Tree keeps 32-bit floats rounded
outward: for times before 2034 (2^30 s) that widens a box by at most 64 s, for longitudes by
under 2 m, harmless for a prefilter. Intervals are closed on every axis (a box is a superset).

Pure: no I/O; must never import accord.store, service, api, cli or rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Final

import numpy as np

from accord.errors import InvalidInput
from accord.geo.geodesy import GEOD, WGS84_F, circle_bounds, pad_degrees
from accord.geo.volume import Circle, Footprint, Polygon, Volume

BOX_EPOCH: Final = datetime(2000, 1, 1, tzinfo=UTC)

# Edges are straight lines in the local frame of a check, not geodesics. A straight segment of
# length L in an azimuthal equidistant frame centred up to a few thousand km away stays within
# about 0.2 * L^2 / (8 R) of the geodesic between its ends (measured; it grows with the distance
# from the frame centre). We allow L^2 / (8 * 6.3e6 m) + 1 m: 5x that for the frames the checks
# use. For a 10 km edge that is 3 m, for 100 km 200 m.
_EDGE_R: Final = 6.3e6
_EDGE_FLOOR_M: Final = 1.0


def box_time(t: datetime) -> float:
    """Seconds since BOX_EPOCH (exact to the microsecond in a float64)."""
    return (t - BOX_EPOCH).total_seconds()


@dataclass(frozen=True, slots=True)
class Box4:
    """An axis-aligned box in (lon, lat, W84 altitude m, seconds since BOX_EPOCH); closed."""

    lon_min: float
    lon_max: float
    lat_min: float
    lat_max: float
    alt_min: float
    alt_max: float
    t_min: float
    t_max: float

    def intersects(self, other: Box4) -> bool:
        """True if the closed boxes share a point (touching counts)."""
        return (
            self.lon_min <= other.lon_max
            and other.lon_min <= self.lon_max
            and self.lat_min <= other.lat_max
            and other.lat_min <= self.lat_max
            and self.alt_min <= other.alt_max
            and other.alt_min <= self.alt_max
            and self.t_min <= other.t_max
            and other.t_min <= self.t_max
        )

    def expand(self, horizontal_m: float, vertical_m: float) -> Box4:
        """The box grown to hold every point within horizontal_m (geodesic) and vertical_m.

        Latitude and longitude padding come from `pad_degrees` (a proof, not an estimate),
        clamped at +-90. If the padded longitudes would pass +-180 (or a pole is reachable),
        the box takes every longitude from -180 to 180: one box, still never missing a volume
        on the far side of the antimeridian. Time is not padded.
        """
        for name, value in (("horizontal_m", horizontal_m), ("vertical_m", vertical_m)):
            if isinstance(value, bool) or not (math.isfinite(value) and value >= 0.0):
                raise InvalidInput(
                    f"a separation of {value!r} m cannot pad a box",
                    field=name,
                    accepted="a finite number of metres >= 0",
                )
        dlat, dlon = pad_degrees(self.lat_min, self.lat_max, horizontal_m)
        lon_min, lon_max = _lon_range(self.lon_min - dlon, self.lon_max + dlon)
        return Box4(
            lon_min,
            lon_max,
            max(-90.0, self.lat_min - dlat),
            min(90.0, self.lat_max + dlat),
            self.alt_min - vertical_m,
            self.alt_max + vertical_m,
            self.t_min,
            self.t_max,
        )


def footprint_bounds(fp: Footprint) -> tuple[float, float, float, float]:
    """Conservative (lon_min, lon_max, lat_min, lat_max) of a validated footprint.

    Circle: `circle_bounds`. Polygon: the vertices' box, widened to each edge's geodesic
    vertex (the poleward bulge of an east-west edge, exact via Clairaut's relation), then
    padded for the difference between a geodesic and a straight edge in a local frame.
    A footprint whose bounds would pass +-180 (only one lying on the antimeridian) gets
    every longitude.
    """
    if isinstance(fp, Circle):
        lon_min, lon_max, lat_min, lat_max = circle_bounds(fp.lon, fp.lat, fp.radius_m)
        return (*_lon_range(lon_min, lon_max), lat_min, lat_max)
    return _polygon_bounds(fp)


def _polygon_bounds(fp: Polygon) -> tuple[float, float, float, float]:
    ring = np.asarray(fp.exterior, dtype=np.float64)  # holes lie inside the exterior
    lon1, lat1 = ring[:, 0], ring[:, 1]
    lon2, lat2 = np.roll(lon1, -1), np.roll(lat1, -1)
    lon_min, lon_max = float(lon1.min()), float(lon1.max())
    lat_min, lat_max = float(lat1.min()), float(lat1.max())
    az12, az21, dist = GEOD.inv(lon1, lat1, lon2, lat2)
    az12, az21, dist = np.asarray(az12), np.asarray(az21), np.asarray(dist)
    # Heading north at the start and south at the end (forward azimuth there is az21 + 180)
    # means the geodesic passes its northern vertex inside the edge; the reverse, its southern.
    c12, c21 = np.cos(np.radians(az12)), np.cos(np.radians(az21))
    north = (c12 > 0) & (c21 > 0)
    south = (c12 < 0) & (c21 < 0)
    if north.any() or south.any():
        beta1 = np.arctan((1 - WGS84_F) * np.tan(np.radians(lat1)))
        clairaut = np.minimum(1.0, np.abs(np.cos(beta1) * np.sin(np.radians(az12))))
        beta0 = np.arccos(clairaut)
        phi0 = np.degrees(np.arctan(np.tan(beta0) / (1 - WGS84_F)))
        if north.any():
            lat_max = max(lat_max, float(phi0[north].max()))
        if south.any():
            lat_min = min(lat_min, float(-phi0[south].max()))
    margin = float(np.max(dist)) ** 2 / (8 * _EDGE_R) + _EDGE_FLOOR_M
    dlat, dlon = pad_degrees(lat_min, lat_max, margin)
    lat_min, lat_max = max(-90.0, lat_min - dlat), min(90.0, lat_max + dlat)
    return (*_lon_range(lon_min - dlon, lon_max + dlon), lat_min, lat_max)


def _lon_range(lon_min: float, lon_max: float) -> tuple[float, float]:
    """Longitudes that would pass +-180 become the whole circle: one box, never a miss."""
    if lon_min < -180.0 or lon_max > 180.0:
        return -180.0, 180.0
    return lon_min, lon_max


@lru_cache(maxsize=1 << 16)
def volume_box(v: Volume) -> Box4:
    """The volume's box: conservative footprint bounds, W84 altitude bounds, its time window.

    Cached: the writer asks for the same volume's box to query the index, to check and to
    index it, and candidate volumes recur from check to check."""
    lon_min, lon_max, lat_min, lat_max = footprint_bounds(v.footprint)
    alt_min, alt_max = v.altitude.w84_bounds()
    return Box4(
        lon_min, lon_max, lat_min, lat_max, alt_min, alt_max, box_time(v.start), box_time(v.end)
    )
