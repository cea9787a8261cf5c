"""WGS 84 geodesy shared by the geo core: the ellipsoid, geodesics, and metres-to-degrees bounds.

Everything here is exact geodesy (pyproj's Karney geodesics) or a provable bound on it, so that
boxes built from it never miss a point. No grids, no network, no I/O. Pure: must never import
accord.store, service, api, cli or rules.
"""

from __future__ import annotations

import math
from typing import Final

import pyproj

WGS84_A: Final = 6_378_137.0
WGS84_F: Final = 1 / 298.257223563
WGS84_E2: Final = WGS84_F * (2 - WGS84_F)

GEOD: Final = pyproj.Geod(ellps="WGS84")

# The meridian radius of curvature is smallest at the equator, a(1 - e^2): so one degree of
# latitude is never shorter than this, anywhere on the ellipsoid.
MIN_METRES_PER_DEG_LAT: Final = math.radians(WGS84_A * (1 - WGS84_E2))

# Relative slack for floating-point rounding in the bounds below (far above their error).
_SLACK: Final = 1e-9


def parallel_radius(lat_deg: float) -> float:
    """Distance from the polar axis of the ellipsoid surface at this latitude (metres)."""
    phi = math.radians(lat_deg)
    return WGS84_A * math.cos(phi) / math.sqrt(1 - WGS84_E2 * math.sin(phi) ** 2)


def pad_degrees(lat_min: float, lat_max: float, metres: float) -> tuple[float, float]:
    """Degrees (dlat, dlon) that cover every point within `metres` of a point at lat_min..lat_max.

    Contract: a point P with latitude in [lat_min, lat_max] and longitude lon; every Q with
    geodesic distance(P, Q) <= metres has latitude within [lat_min - dlat, lat_max + dlat] and
    longitude within lon +- dlon (mod 360). Proof: the line element is
    ds^2 = M^2 dphi^2 + p^2 dlambda^2 with M >= a(1-e^2) and p = parallel radius, which falls
    with |latitude|; a path of length `metres` therefore stays inside the padded latitudes and
    changes longitude by at most metres / p(most poleward padded latitude). dlon is `inf` when
    the padded latitudes reach a pole (every longitude is then reachable).
    """
    if metres <= 0.0:
        return 0.0, 0.0
    dlat = metres / MIN_METRES_PER_DEG_LAT * (1 + _SLACK)
    lat_ext = max(abs(lat_min - dlat), abs(lat_max + dlat))
    if lat_ext >= 90.0:
        return dlat, math.inf
    p = parallel_radius(lat_ext)
    dlon = math.degrees(metres / p) * (1 + _SLACK)
    return dlat, dlon


def geodesic_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Geodesic distance on WGS 84 in metres (Karney's algorithm, accurate to nanometres)."""
    _, _, d = GEOD.inv(lon1, lat1, lon2, lat2)
    return float(d)


def pole_distance_m(lon: float, lat: float, north: bool) -> float:
    """Geodesic (meridian) distance from a point to the North or South Pole."""
    return geodesic_m(lon, lat, lon, 90.0 if north else -90.0)


def circle_bounds(lon: float, lat: float, radius_m: float) -> tuple[float, float, float, float]:
    """Conservative (lon_min, lon_max, lat_min, lat_max) of a geodesic circle; may pass +-180.

    Latitudes are exact (the circle's northernmost and southernmost points lie due north and
    due south of the centre, by the meridian-arc argument of `pad_degrees`), clamped at the
    poles when the circle reaches one. The longitude half-width is radius / parallel radius
    at the most poleward latitude the circle reaches (`inf` when it reaches a pole): an upper
    bound, a few per cent wide at mid latitudes. Longitudes are not wrapped, so a result
    beyond +-180 means the circle crosses the antimeridian.
    """
    eps = 1e-9
    if radius_m >= pole_distance_m(lon, lat, north=True):
        lat_max = 90.0
    else:
        _, lat_n, _ = GEOD.fwd(lon, lat, 0.0, radius_m)
        lat_max = min(90.0, float(lat_n) + eps)
    if radius_m >= pole_distance_m(lon, lat, north=False):
        lat_min = -90.0
    else:
        _, lat_s, _ = GEOD.fwd(lon, lat, 180.0, radius_m)
        lat_min = max(-90.0, float(lat_s) - eps)
    lat_ext = max(abs(lat_min), abs(lat_max))
    if lat_ext >= 90.0:
        return -math.inf, math.inf, lat_min, lat_max
    dlon = math.degrees(radius_m / parallel_radius(lat_ext)) * (1 + _SLACK)
    return lon - dlon, lon + dlon, lat_min, lat_max
