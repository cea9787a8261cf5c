"""Volumes: the 4D extents that notices and zones declare (footprint x altitude band x window).

This module is the gate between a party's JSON and the geo core. `parse_volume` validates
everything and returns normalised values; whatever it returns is safe for every other geo
function (finite numbers in range, valid rings, no antimeridian crossing, bounded size, a
non-empty [start, end) window in UTC). `volume_to_json` writes the normalised form back, and
`parse_volume(volume_to_json(v)) == v`. Every refusal is an `accord.errors.InvalidInput`
subclass whose `field` is a JSON-path-like location under the caller's prefix and whose
`accepted` says what would have been accepted.

Pure: no I/O. Imports only accord.errors, accord.timefmt, accord.geo, numpy, shapely, pyproj;
must never import accord.store, service, api, cli or rules.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal, TypeAlias

import numpy as np
import shapely

from accord.errors import InvalidGeometry, InvalidInput, InvalidTime, LimitExceeded
from accord.geo.geodesy import GEOD, circle_bounds
from accord.timefmt import format_time, parse_time

Position: TypeAlias = tuple[float, float]
Ring: TypeAlias = tuple[Position, ...]
Reference: TypeAlias = Literal["W84", "AMSL"]

FOOT_M: Final = 0.3048
NAUTICAL_MILE_M: Final = 1852.0
LENGTH_UNITS: Final[dict[str, float]] = {
    "m": 1.0,
    "km": 1000.0,
    "NM": NAUTICAL_MILE_M,
    "ft": FOOT_M,
}
ALTITUDE_UNITS: Final[dict[str, float]] = {"m": 1.0, "ft": FOOT_M, "FL": 100 * FOOT_M}

# Bounds on the geoid undulation N = (W84 ellipsoidal height) - (height above mean sea level).
# Published extremes: EGM96 (15' grid WW15MGH) -106.99 m (Indian Ocean, south of Sri Lanka) to
# +85.39 m (New Guinea); EGM2008 lies within a metre of the same range. Rounded outward by a few
# metres to cover the difference between models and between mean sea level and the geoid
# (sea-surface topography, +-2 m). Without a geoid grid offline these bounds are all we use.
GEOID_MIN_M: Final = -110.0
GEOID_MAX_M: Final = 90.0

ACCEPTED_POSITION: Final = (
    "[longitude, latitude] in WGS 84 degrees: two finite numbers, "
    "-180 <= longitude <= 180, -90 <= latitude <= 90"
)
ACCEPTED_FOOTPRINT: Final = (
    "a GeoJSON Polygon geometry, a GeoJSON Feature whose geometry is a Polygon, or "
    '{"type": "Circle", "center": [lon, lat], "radius": {"value": 5, "units": "km"}}'
)
ACCEPTED_ANTIMERIDIAN: Final = (
    "a footprint that does not cross longitude +-180 degrees; split it into two volumes at 180"
)
ACCEPTED_RING: Final = (
    "a closed linear ring (RFC 7946): at least 4 positions, 3 or more distinct vertices, "
    "the last position repeating the first"
)


# ---------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True, slots=True)
class Circle:
    """A geodesic circle: every point within `radius_m` metres (on WGS 84) of (lon, lat)."""

    lon: float
    lat: float
    radius_m: float


@dataclass(frozen=True, slots=True)
class Polygon:
    """A polygon in WGS 84 lon/lat degrees, as `parse_volume` normalises it.

    Rings are stored open (the first vertex is not repeated at the end), without consecutive
    duplicates, the exterior counter-clockwise and holes clockwise in the lon/lat plane (the
    RFC 7946 orientation). Between vertices, edges are straight lines in whichever local frame
    the check uses (see `accord.geo.separation.LocalFrame`): within a few metres of geodesics
    for edges of tens of km. The hash is computed once, because projected shapes are cached
    per footprint on the hot path.
    """

    exterior: Ring
    holes: tuple[Ring, ...] = ()
    _hash: int = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.exterior, self.holes)))

    def __hash__(self) -> int:
        return self._hash

    @property
    def vertex_count(self) -> int:
        return len(self.exterior) + sum(len(h) for h in self.holes)


Footprint: TypeAlias = Polygon | Circle


@dataclass(frozen=True, slots=True)
class AltitudeBand:
    """A closed altitude band [lower_m, upper_m] in metres above `reference`.

    `W84`: height above the WGS 84 ellipsoid. `AMSL`: height above mean sea level. Flight
    levels are pressure altitudes; they are read as AMSL under the ISA assumption (FL 100 =
    10,000 ft = 3048 m), which real pressure and temperature can move by hundreds of metres:
    agreements should choose vertical minima with that in mind.
    """

    lower_m: float
    upper_m: float
    reference: Reference

    def w84_bounds(self) -> tuple[float, float]:
        """The band in W84 metres; an AMSL band is widened by the geoid bounds (conservative)."""
        if self.reference == "W84":
            return self.lower_m, self.upper_m
        return self.lower_m + GEOID_MIN_M, self.upper_m + GEOID_MAX_M


def vertical_gap(a: AltitudeBand, b: AltitudeBand) -> float:
    """Metres between two bands, 0 if they overlap or touch.

    Exact when both share a reference. Otherwise both are compared in W84 with the AMSL band
    widened by the global geoid bounds: the smallest gap any geoid undulation could give, so
    never more than the true gap.
    """
    if a.reference == b.reference:
        a_lo, a_hi, b_lo, b_hi = a.lower_m, a.upper_m, b.lower_m, b.upper_m
    else:
        (a_lo, a_hi), (b_lo, b_hi) = a.w84_bounds(), b.w84_bounds()
    return max(0.0, b_lo - a_hi, a_lo - b_hi)


@dataclass(frozen=True, slots=True)
class Volume:
    """One 4D extent: footprint x altitude band x time window [start, end) in UTC."""

    footprint: Footprint
    altitude: AltitudeBand
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class VolumeLimits:
    """What one volume may be. Defaults suit a notice; agreements may set their own.

    `max_radius_m` bounds a circle's radius and, for a polygon, the distance of any vertex
    from the centre of its lon/lat bounding box: the geo core works in local frames and its
    accuracy figures assume footprints of at most a few hundred km.
    """

    max_vertices: int = 1000
    max_window: timedelta = timedelta(hours=24)
    max_radius_m: float = 500_000.0
    min_altitude_m: float = -2_000.0
    max_altitude_m: float = 1_000_000.0


DEFAULT_LIMITS: Final = VolumeLimits()


# ---------------------------------------------------------------------------------------------
# JSON helpers


def _kind(x: object) -> str:
    """The JSON name of a value's type, for messages."""
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "a boolean"
    if isinstance(x, int | float):
        return "a number"
    if isinstance(x, str):
        return "a string"
    if isinstance(x, list):
        return "an array"
    if isinstance(x, dict):
        return "an object"
    return type(x).__name__


def _show(x: object) -> str:
    """A short rendering of a value for a message (never the whole of a huge input)."""
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."


def _at(prefix: str, key: object) -> str:
    k = str(key)
    return f"{prefix}.{k}" if k.isidentifier() else f"{prefix}[{json.dumps(k)}]"


def _object(
    obj: object,
    where: str,
    required: tuple[str, ...],
    optional: tuple[str, ...],
    error: type[InvalidInput],
    what: str,
) -> dict[str, Any]:
    """A JSON object with exactly these keys (optional ones may be absent)."""
    keys = ", ".join(required) + (f" (optional: {', '.join(optional)})" if optional else "")
    accepted = f"{what}: a JSON object with keys {keys}"
    if not isinstance(obj, dict):
        raise error(
            f"{what} must be a JSON object, got {_kind(obj)}", field=where, accepted=accepted
        )
    for k in obj:
        if k not in required and k not in optional:
            raise error(f"unknown key {_show(k)} in {what}", field=_at(where, k), accepted=accepted)
    for k in required:
        if k not in obj:
            raise error(f"missing key {k!r} in {what}", field=_at(where, k), accepted=accepted)
    return obj


def _number(x: object, where: str, error: type[InvalidInput], what: str) -> float:
    """A finite JSON number (booleans are not numbers)."""
    accepted = f"{what}: a finite JSON number"
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise error(f"{what} must be a number, got {_kind(x)}", field=where, accepted=accepted)
    try:
        v = float(x)
    except OverflowError:
        raise error(f"{what} is too large", field=where, accepted=accepted) from None
    if not math.isfinite(v):
        raise error(f"{what} must be finite, got {v}", field=where, accepted=accepted)
    return v


def _position(p: object, where: str) -> Position:
    if not isinstance(p, list) or len(p) != 2:
        got = f"an array of {len(p)} elements" if isinstance(p, list) else _kind(p)
        raise InvalidGeometry(
            f"a position must be [longitude, latitude], got {got}"
            + (
                " (altitudes go in 'altitude', not in positions)"
                if isinstance(p, list) and len(p) == 3
                else ""
            ),
            field=where,
            accepted=ACCEPTED_POSITION,
        )
    lon = _number(p[0], where, InvalidGeometry, "longitude")
    lat = _number(p[1], where, InvalidGeometry, "latitude")
    if not -180.0 <= lon <= 180.0:
        raise InvalidGeometry(
            f"longitude {lon} is outside -180..180", field=where, accepted=ACCEPTED_POSITION
        )
    if not -90.0 <= lat <= 90.0:
        raise InvalidGeometry(
            f"latitude {lat} is outside -90..90", field=where, accepted=ACCEPTED_POSITION
        )
    return lon, lat


def _fmt(lon: float, lat: float) -> str:
    return f"(lon {lon:.6g}, lat {lat:.6g})"


# ---------------------------------------------------------------------------------------------
# Footprints


def parse_footprint(
    obj: object, field: str = "footprint", limits: VolumeLimits = DEFAULT_LIMITS
) -> Footprint:
    """A footprint from JSON: GeoJSON Polygon, Feature with a Polygon, or Circle."""
    if not isinstance(obj, dict):
        raise InvalidGeometry(
            f"the footprint must be a JSON object, got {_kind(obj)}",
            field=field,
            accepted=ACCEPTED_FOOTPRINT,
        )
    if "type" not in obj:
        raise InvalidGeometry(
            "missing key 'type' in the footprint",
            field=f"{field}.type",
            accepted=ACCEPTED_FOOTPRINT,
        )
    kind = obj["type"]
    if kind == "Polygon":
        return _parse_polygon(obj, field, limits)
    if kind == "Feature":
        d = _object(
            obj,
            field,
            ("type", "geometry"),
            ("properties", "id", "bbox"),
            InvalidGeometry,
            "a GeoJSON Feature",
        )
        geometry = d["geometry"]
        gf = f"{field}.geometry"
        if not isinstance(geometry, dict):
            raise InvalidGeometry(
                f"the Feature's geometry must be a Polygon, got {_kind(geometry)}",
                field=gf,
                accepted=ACCEPTED_FOOTPRINT,
            )
        if geometry.get("type") != "Polygon":
            raise InvalidGeometry(
                f"the Feature's geometry must be a Polygon, got type {_show(geometry.get('type'))}",
                field=f"{gf}.type",
                accepted=ACCEPTED_FOOTPRINT,
            )
        return _parse_polygon(geometry, gf, limits)
    if kind == "Circle":
        return _parse_circle(obj, field, limits)
    hint = " (file one volume per polygon)" if kind == "MultiPolygon" else ""
    raise InvalidGeometry(
        f"footprint type {_show(kind)} is not accepted{hint}",
        field=f"{field}.type",
        accepted=ACCEPTED_FOOTPRINT,
    )


def _parse_polygon(obj: dict[str, Any], where: str, limits: VolumeLimits) -> Polygon:
    d = _object(
        obj, where, ("type", "coordinates"), ("bbox",), InvalidGeometry, "a GeoJSON Polygon"
    )
    cf = f"{where}.coordinates"
    coords = d["coordinates"]
    accepted = "an array of linear rings: the exterior first, then any holes; " + ACCEPTED_RING
    if not isinstance(coords, list) or not coords:
        got = "an empty array" if isinstance(coords, list) else _kind(coords)
        raise InvalidGeometry(
            f"coordinates must be an array of linear rings, got {got}", field=cf, accepted=accepted
        )
    total = 0
    for r, ring in enumerate(coords):
        if not isinstance(ring, list):
            raise InvalidGeometry(
                f"a linear ring must be an array of positions, got {_kind(ring)}",
                field=f"{cf}[{r}]",
                accepted=accepted,
            )
        total += max(0, len(ring) - 1)
    if total > limits.max_vertices:
        raise LimitExceeded(
            f"the polygon has {total} vertices; at most {limits.max_vertices} are accepted",
            field=cf,
            accepted=f"at most {limits.max_vertices} vertices in all rings",
        )
    rings: list[list[Position]] = []
    for r, ring in enumerate(coords):
        rf = f"{cf}[{r}]"
        if len(ring) < 4:
            raise InvalidGeometry(
                f"a linear ring needs at least 4 positions, got {len(ring)}",
                field=rf,
                accepted=ACCEPTED_RING,
            )
        pts = [_position(p, f"{rf}[{i}]") for i, p in enumerate(ring)]
        if pts[0] != pts[-1]:
            raise InvalidGeometry(
                f"the ring is not closed: the last position {_fmt(*pts[-1])} must repeat the "
                f"first {_fmt(*pts[0])}",
                field=f"{rf}[{len(pts) - 1}]",
                accepted=ACCEPTED_RING,
            )
        rings.append(pts)
    return _make_polygon(rings, cf, limits)


def _open_ring(pts: list[Position]) -> list[Position]:
    """Closed ring -> open ring without consecutive duplicates."""
    out: list[Position] = []
    for p in pts[:-1]:
        if not out or out[-1] != p:
            out.append(p)
    while len(out) > 1 and out[-1] == out[0]:
        out.pop()
    return out


def _make_polygon(rings: list[list[Position]], cf: str, limits: VolumeLimits) -> Polygon:
    """Validate closed rings and build the normalised Polygon."""
    for r, pts in enumerate(rings):
        for i in range(1, len(pts)):
            (lon0, lat0), (lon1, lat1) = pts[i - 1], pts[i]
            if abs(lon1 - lon0) > 180.0:
                raise InvalidGeometry(
                    f"the edge from {_fmt(lon0, lat0)} to {_fmt(lon1, lat1)} crosses the "
                    "antimeridian (longitude +-180)",
                    field=f"{cf}[{r}][{i}]",
                    accepted=ACCEPTED_ANTIMERIDIAN,
                )
    open_rings = [_open_ring(pts) for pts in rings]
    for r, ring in enumerate(open_rings):
        if len(set(ring)) < 3:
            raise InvalidGeometry(
                f"the ring has {len(set(ring))} distinct vertices; at least 3 are needed",
                field=f"{cf}[{r}]",
                accepted=ACCEPTED_RING,
            )
    shell, holes = open_rings[0], open_rings[1:]
    geom = shapely.Polygon(shell, holes)
    if not shapely.is_valid(geom):
        _explain_invalid(geom, open_rings, cf)
    if not geom.area > 0.0:  # pragma: no cover - GEOS reports zero-area rings as invalid
        raise InvalidGeometry("the polygon has no area", field=cf, accepted=ACCEPTED_RING)
    shell = _oriented(shell, ccw=True)
    holes = [_oriented(h, ccw=False) for h in holes]
    _check_extent(shell, cf, limits)
    return Polygon(tuple(shell), tuple(tuple(h) for h in holes))


def _oriented(ring: list[Position], *, ccw: bool) -> list[Position]:
    """The ring in the requested orientation, keeping its first vertex first."""
    if bool(shapely.is_ccw(shapely.LinearRing(ring))) == ccw:
        return ring
    return [ring[0], *reversed(ring[1:])]


_VALIDITY_WORDS: Final = {
    "Self-intersection": "edges of the polygon cross or touch each other",
    "Ring Self-intersection": "a ring touches itself",
    "Hole lies outside shell": "a hole lies outside the exterior ring",
    "Nested holes": "a hole lies inside another hole",
    "Interior is disconnected": "the holes cut the polygon into separate pieces",
    "Nested shells": "one ring lies inside another",
    "Duplicate Rings": "two rings are the same",
    "Too few points": "a ring has too few distinct points",
}


def _explain_invalid(geom: Any, rings: list[list[Position]], cf: str) -> None:
    """Raise InvalidGeometry saying what GEOS found wrong and where (ring and lon/lat)."""
    reason = str(shapely.is_valid_reason(geom))
    name, _, rest = reason.partition("[")
    words = _VALIDITY_WORDS.get(name, name.lower())
    where = ""
    if rest.endswith("]"):
        parts = rest[:-1].split()
        if len(parts) >= 2:
            where = f" near {_fmt(float(parts[0]), float(parts[1]))}"
    at = cf
    for r, ring in enumerate(rings):
        if not shapely.is_simple(shapely.LinearRing(ring)):
            at = f"{cf}[{r}]"
            break
    else:
        if len(rings) > 1:
            shell = shapely.Polygon(rings[0])
            for r, hole in enumerate(rings[1:], start=1):
                if not shapely.covers(shell, shapely.Polygon(hole)):
                    at = f"{cf}[{r}]"
                    break
    raise InvalidGeometry(
        f"the polygon is not valid: {words}{where}",
        field=at,
        accepted="a simple polygon (OGC valid): rings that do not cross or touch themselves, "
        "holes inside the exterior and apart from each other",
        extra={"reason": reason},
    )


def _check_extent(shell: list[Position], cf: str, limits: VolumeLimits) -> None:
    arr = np.asarray(shell, dtype=np.float64)
    lon_c = float((arr[:, 0].min() + arr[:, 0].max()) / 2)
    lat_c = float((arr[:, 1].min() + arr[:, 1].max()) / 2)
    n = len(arr)
    _, _, dist = GEOD.inv(np.full(n, lon_c), np.full(n, lat_c), arr[:, 0], arr[:, 1])
    far = float(np.max(dist))
    if far > limits.max_radius_m:
        raise LimitExceeded(
            f"the polygon reaches {far / 1000:.1f} km from the centre of its bounding box "
            f"{_fmt(lon_c, lat_c)}; at most {limits.max_radius_m / 1000:g} km is accepted",
            field=cf,
            accepted=f"footprints within {limits.max_radius_m / 1000:g} km of their centre; "
            "split larger areas into several volumes",
        )


def _parse_circle(obj: dict[str, Any], where: str, limits: VolumeLimits) -> Circle:
    d = _object(obj, where, ("type", "center", "radius"), (), InvalidGeometry, "a Circle")
    lon, lat = _position(d["center"], f"{where}.center")
    rf = f"{where}.radius"
    units_list = ", ".join(f'"{u}"' for u in LENGTH_UNITS)
    rd = _object(d["radius"], rf, ("value", "units"), (), InvalidGeometry, "a radius")
    value = _number(rd["value"], f"{rf}.value", InvalidGeometry, "the radius")
    units = rd["units"]
    if not isinstance(units, str) or units not in LENGTH_UNITS:
        raise InvalidGeometry(
            f"radius units {_show(units)} are not accepted",
            field=f"{rf}.units",
            accepted=f"one of {units_list}",
        )
    if value <= 0.0:
        raise InvalidGeometry(
            f"the radius must be positive, got {value:g} {units}",
            field=f"{rf}.value",
            accepted="a radius greater than zero",
        )
    radius_m = value * LENGTH_UNITS[units]
    if not radius_m <= limits.max_radius_m:
        raise LimitExceeded(
            f"a radius of {value:g} {units} is more than {limits.max_radius_m / 1000:g} km",
            field=f"{rf}.value",
            accepted=f"a radius of at most {limits.max_radius_m / 1000:g} km",
        )
    lon_min, lon_max, lat_min, lat_max = circle_bounds(lon, lat, radius_m)
    if lat_max >= 90.0 or lat_min <= -90.0:
        pole = "North" if lat_max >= 90.0 else "South"
        raise InvalidGeometry(
            f"the circle around {_fmt(lon, lat)} with radius {radius_m / 1000:g} km reaches "
            f"the {pole} Pole",
            field=where,
            accepted="a circle that stays clear of the poles; use polygons for polar areas",
        )
    if lon_min < -180.0 or lon_max > 180.0:
        raise InvalidGeometry(
            f"the circle around {_fmt(lon, lat)} with radius {radius_m / 1000:g} km would "
            "cross the antimeridian (longitude +-180)",
            field=where,
            accepted=ACCEPTED_ANTIMERIDIAN,
        )
    return Circle(lon, lat, radius_m)


# ---------------------------------------------------------------------------------------------
# Altitude and time


def parse_altitude(
    obj: object, field: str = "altitude", limits: VolumeLimits = DEFAULT_LIMITS
) -> AltitudeBand:
    """An altitude band from JSON, converted to metres; `reference` may be omitted only for FL."""
    d = _object(
        obj, field, ("lower", "upper", "units"), ("reference",), InvalidGeometry, "an altitude band"
    )
    lower = _number(d["lower"], f"{field}.lower", InvalidGeometry, "the lower altitude")
    upper = _number(d["upper"], f"{field}.upper", InvalidGeometry, "the upper altitude")
    units = d["units"]
    if not isinstance(units, str) or units not in ALTITUDE_UNITS:
        raise InvalidGeometry(
            f"altitude units {_show(units)} are not accepted",
            field=f"{field}.units",
            accepted='one of "m", "ft", "FL"',
        )
    rf = f"{field}.reference"
    reference: Reference
    if "reference" not in d:
        if units != "FL":
            raise InvalidGeometry(
                f"the altitude reference is missing (units {units!r})",
                field=rf,
                accepted='"W84" or "AMSL" (may be omitted for FL)',
            )
        reference = "AMSL"
    else:
        ref = d["reference"]
        if units == "FL" and ref != "AMSL":
            raise InvalidGeometry(
                f"flight levels are pressure altitudes, read as AMSL; reference {_show(ref)} "
                "does not apply",
                field=rf,
                accepted='"AMSL" or no reference with FL',
            )
        if ref == "W84":
            reference = "W84"
        elif ref == "AMSL":
            reference = "AMSL"
        else:
            raise InvalidGeometry(
                f"altitude reference {_show(ref)} is not accepted",
                field=rf,
                accepted='"W84" (WGS 84 ellipsoid) or "AMSL" (mean sea level)',
            )
    factor = ALTITUDE_UNITS[units]
    lower_m, upper_m = lower * factor, upper * factor
    span = f"{limits.min_altitude_m:,.0f} m to {limits.max_altitude_m:,.0f} m"
    if not lower_m >= limits.min_altitude_m:
        raise InvalidGeometry(
            f"the lower altitude {lower:g} {units} is below {limits.min_altitude_m:,.0f} m",
            field=f"{field}.lower",
            accepted=f"altitudes from {span}",
        )
    if not upper_m <= limits.max_altitude_m:
        raise InvalidGeometry(
            f"the upper altitude {upper:g} {units} is above {limits.max_altitude_m:,.0f} m",
            field=f"{field}.upper",
            accepted=f"altitudes from {span}",
        )
    if lower_m > upper_m:
        raise InvalidGeometry(
            f"the lower altitude {lower:g} {units} is above the upper altitude {upper:g} {units}",
            field=f"{field}.lower",
            accepted="lower <= upper",
        )
    return AltitudeBand(lower_m, upper_m, reference)


def _duration(td: timedelta) -> str:
    """A duration for an officer: "24 h", "1 h 30 min", "24 h 0 min 1 s", "50000 days"."""
    total = td.total_seconds()
    if total >= 4 * 86_400 and total % 86_400 == 0:
        return f"{int(total // 86_400)} days"
    h, rest = divmod(int(total), 3600)
    m, s = divmod(rest, 60)
    frac = total - int(total)
    text = f"{h} h" if h else ""
    if m or ((s or frac) and h):
        text += f" {m} min"
    if s or frac:
        text += f" {s + frac:g} s"
    return text.strip() or "0 s"


def _window(d: dict[str, Any], field: str, limits: VolumeLimits) -> tuple[datetime, datetime]:
    start = parse_time(d["start"], f"{field}.start")
    end = parse_time(d["end"], f"{field}.end")
    if end <= start:
        how = "empty" if end == start else "reversed"
        raise InvalidTime(
            f"the time window is {how}: end {format_time(end)} is not after start "
            f"{format_time(start)}",
            field=f"{field}.end",
            accepted="an end strictly after the start; the window is [start, end)",
        )
    if end - start > limits.max_window:
        raise LimitExceeded(
            f"the time window lasts {_duration(end - start)}; at most "
            f"{_duration(limits.max_window)} is accepted",
            field=f"{field}.end",
            accepted=f"a window of at most {_duration(limits.max_window)}",
        )
    return start, end


# ---------------------------------------------------------------------------------------------
# Volumes in and out


def parse_volume(
    obj: object, field: str = "volume", limits: VolumeLimits = DEFAULT_LIMITS
) -> Volume:
    """A validated, normalised Volume from JSON; the caller checks the agreement's horizon."""
    d = _object(obj, field, ("footprint", "altitude", "start", "end"), (), InvalidInput, "a volume")
    footprint = parse_footprint(d["footprint"], f"{field}.footprint", limits)
    altitude = parse_altitude(d["altitude"], f"{field}.altitude", limits)
    start, end = _window(d, field, limits)
    return Volume(footprint, altitude, start, end)


def _ring_json(ring: Ring) -> list[list[float]]:
    return [[lon, lat] for lon, lat in (*ring, ring[0])]


def footprint_to_json(fp: Footprint) -> dict[str, Any]:
    """The normalised JSON form of a footprint (circles stay circles, radius in metres)."""
    if isinstance(fp, Circle):
        return {
            "type": "Circle",
            "center": [fp.lon, fp.lat],
            "radius": {"value": fp.radius_m, "units": "m"},
        }
    return {
        "type": "Polygon",
        "coordinates": [_ring_json(fp.exterior), *(_ring_json(h) for h in fp.holes)],
    }


def volume_to_json(v: Volume) -> dict[str, Any]:
    """The normalised JSON form: metres, reference kept, RFC 3339 times; parse_volume takes it."""
    return {
        "footprint": footprint_to_json(v.footprint),
        "altitude": {
            "lower": v.altitude.lower_m,
            "upper": v.altitude.upper_m,
            "units": "m",
            "reference": v.altitude.reference,
        },
        "start": format_time(v.start),
        "end": format_time(v.end),
    }


def footprint_geojson(fp: Footprint, points: int = 64) -> dict[str, Any]:
    """A GeoJSON Polygon for display; a circle becomes `points` geodesic points on its edge.

    For drawing only: the checks use circles analytically, never this approximation.
    """
    if isinstance(fp, Polygon):
        return footprint_to_json(fp)
    az = np.linspace(360.0, 0.0, points, endpoint=False)  # decreasing azimuth: counter-clockwise
    lons, lats, _ = GEOD.fwd(
        np.full(points, fp.lon), np.full(points, fp.lat), az, np.full(points, fp.radius_m)
    )
    ring = [[float(x), float(y)] for x, y in zip(lons, lats, strict=True)]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
