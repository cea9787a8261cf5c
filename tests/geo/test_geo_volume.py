"""parse_volume: every refusal (type, field, accepted), unit conversion, round trip."""

from __future__ import annotations

import copy
import itertools
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from geo_cases import (
    END,
    START,
    circle_json,
    polygon_json,
    ring_around,
    square,
    volume,
    volume_json,
)

from accord.errors import (
    AccordError,
    InvalidGeometry,
    InvalidInput,
    InvalidTime,
    LimitExceeded,
)
from accord.geo.geodesy import GEOD
from accord.geo.volume import (
    GEOID_MAX_M,
    GEOID_MIN_M,
    AltitudeBand,
    Circle,
    Polygon,
    Volume,
    VolumeLimits,
    footprint_geojson,
    parse_footprint,
    parse_volume,
    vertical_gap,
    volume_to_json,
)

SQ = square(35.0, 35.0, 35.1, 35.1)
GOOD = volume_json(SQ)
P = "volumes[0]"
FC = f"{P}.footprint.coordinates"


def with_(path: str, value: Any) -> dict[str, Any]:
    """GOOD with the item at a dotted path (ints index arrays) replaced, or deleted if DEL."""
    obj = copy.deepcopy(GOOD)
    keys: list[Any] = [int(k) if k.lstrip("-").isdigit() else k for k in path.split(".")]
    target = obj
    for k in keys[:-1]:
        target = target[k]
    if value is DEL:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return obj


DEL = object()

BOWTIE = polygon_json([[35.0, 35.0], [35.1, 35.1], [35.1, 35.0], [35.0, 35.1], [35.0, 35.0]])
HOLE_OUTSIDE = polygon_json(
    [[35.0, 35.0], [35.1, 35.0], [35.1, 35.1], [35.0, 35.1], [35.0, 35.0]],
    [[36.0, 36.0], [36.01, 36.0], [36.01, 36.01], [36.0, 36.0]],
)
ACROSS_180 = polygon_json(
    [[179.9, -17.0], [-179.9, -17.0], [-179.9, -16.9], [179.9, -16.9], [179.9, -17.0]]
)

REFUSALS: list[tuple[str, Any, type[AccordError], str]] = [
    ("not an object", [], InvalidInput, P),
    ("unknown key", {**GOOD, "colour": "red"}, InvalidInput, f"{P}.colour"),
    ("missing key", with_("end", DEL), InvalidInput, f"{P}.end"),
    ("footprint not an object", with_("footprint", "POLYGON"), InvalidGeometry, f"{P}.footprint"),
    (
        "footprint without type",
        with_("footprint.type", DEL),
        InvalidGeometry,
        f"{P}.footprint.type",
    ),
    (
        "MultiPolygon",
        with_("footprint.type", "MultiPolygon"),
        InvalidGeometry,
        f"{P}.footprint.type",
    ),
    ("unknown polygon key", with_("footprint.crs", {}), InvalidGeometry, f"{P}.footprint.crs"),
    ("coordinates empty", with_("footprint.coordinates", []), InvalidGeometry, FC),
    ("coordinates not array", with_("footprint.coordinates", {}), InvalidGeometry, FC),
    ("ring not array", with_("footprint.coordinates.0", 7), InvalidGeometry, f"{FC}[0]"),
    (
        "NaN longitude",
        with_("footprint.coordinates.0.1.0", math.nan),
        InvalidGeometry,
        f"{FC}[0][1]",
    ),
    (
        "infinite latitude",
        with_("footprint.coordinates.0.2.1", math.inf),
        InvalidGeometry,
        f"{FC}[0][2]",
    ),
    (
        "boolean as number",
        with_("footprint.coordinates.0.1.0", True),
        InvalidGeometry,
        f"{FC}[0][1]",
    ),
    (
        "string as number",
        with_("footprint.coordinates.0.1.1", "35"),
        InvalidGeometry,
        f"{FC}[0][1]",
    ),
    ("huge integer", with_("footprint.coordinates.0.1.1", 10**400), InvalidGeometry, f"{FC}[0][1]"),
    (
        "longitude > 180",
        with_("footprint.coordinates.0.1.0", 180.5),
        InvalidGeometry,
        f"{FC}[0][1]",
    ),
    ("latitude < -90", with_("footprint.coordinates.0.3.1", -90.5), InvalidGeometry, f"{FC}[0][3]"),
    (
        "position with altitude",
        with_("footprint.coordinates.0.2", [35.1, 35.1, 100]),
        InvalidGeometry,
        f"{FC}[0][2]",
    ),
    (
        "position not array",
        with_("footprint.coordinates.0.2", {"lon": 1}),
        InvalidGeometry,
        f"{FC}[0][2]",
    ),
    (
        "ring not closed",
        with_("footprint.coordinates.0.4", [35.0, 35.05]),
        InvalidGeometry,
        f"{FC}[0][4]",
    ),
    (
        "ring too short",
        with_("footprint.coordinates.0", [[35, 35], [35.1, 35], [35, 35]]),
        InvalidGeometry,
        f"{FC}[0]",
    ),
    (
        "two distinct vertices",
        with_("footprint.coordinates.0", [[35, 35], [35.1, 35], [35, 35], [35.1, 35], [35, 35]]),
        InvalidGeometry,
        f"{FC}[0]",
    ),
    (
        "collinear vertices",
        with_("footprint.coordinates.0", [[35, 35], [35.1, 35], [35.2, 35], [35, 35]]),
        InvalidGeometry,
        f"{FC}[0]",
    ),
    ("self-intersecting", with_("footprint", BOWTIE), InvalidGeometry, f"{FC}[0]"),
    ("hole outside", with_("footprint", HOLE_OUTSIDE), InvalidGeometry, f"{FC}[1]"),
    ("across the antimeridian", with_("footprint", ACROSS_180), InvalidGeometry, f"{FC}[0][1]"),
    (
        "too many vertices",
        with_("footprint", polygon_json(ring_around(35, 35, 5000, n=1001))),
        LimitExceeded,
        FC,
    ),
    (
        "polygon too large",
        with_("footprint", polygon_json(ring_around(35, 35, 600_000, n=6))),
        LimitExceeded,
        FC,
    ),
    (
        "Feature with a Point",
        with_(
            "footprint",
            {
                "type": "Feature",
                "properties": None,
                "geometry": {"type": "Point", "coordinates": [35, 35]},
            },
        ),
        InvalidGeometry,
        f"{P}.footprint.geometry.type",
    ),
    (
        "Feature without geometry",
        with_("footprint", {"type": "Feature", "geometry": None}),
        InvalidGeometry,
        f"{P}.footprint.geometry",
    ),
    (
        "Feature unknown key",
        with_("footprint", {"type": "Feature", "geometry": SQ, "x": 1}),
        InvalidGeometry,
        f"{P}.footprint.x",
    ),
    (
        "Feature bad polygon",
        with_("footprint", {"type": "Feature", "geometry": BOWTIE, "properties": {}}),
        InvalidGeometry,
        f"{P}.footprint.geometry.coordinates[0]",
    ),
    (
        "negative radius",
        with_("footprint", circle_json(35, 35, -5)),
        InvalidGeometry,
        f"{P}.footprint.radius.value",
    ),
    (
        "zero radius",
        with_("footprint", circle_json(35, 35, 0)),
        InvalidGeometry,
        f"{P}.footprint.radius.value",
    ),
    (
        "radius too large",
        with_("footprint", circle_json(35, 35, 600, "km")),
        LimitExceeded,
        f"{P}.footprint.radius.value",
    ),
    (
        "radius overflow",
        with_("footprint", circle_json(35, 35, 1e308, "NM")),
        LimitExceeded,
        f"{P}.footprint.radius.value",
    ),
    (
        "radius units",
        with_("footprint", circle_json(35, 35, 5, "miles")),
        InvalidGeometry,
        f"{P}.footprint.radius.units",
    ),
    (
        "radius not an object",
        with_("footprint", {"type": "Circle", "center": [35, 35], "radius": 5}),
        InvalidGeometry,
        f"{P}.footprint.radius",
    ),
    (
        "circle centre out of range",
        with_("footprint", circle_json(35, 95, 5)),
        InvalidGeometry,
        f"{P}.footprint.center",
    ),
    (
        "circle across the antimeridian",
        with_("footprint", circle_json(179.99, 10, 5, "km")),
        InvalidGeometry,
        f"{P}.footprint",
    ),
    (
        "circle reaching a pole",
        with_("footprint", circle_json(10, 89.99, 5, "km")),
        InvalidGeometry,
        f"{P}.footprint",
    ),
    ("lower above upper", with_("altitude.lower", 2000), InvalidGeometry, f"{P}.altitude.lower"),
    ("altitude NaN", with_("altitude.upper", math.nan), InvalidGeometry, f"{P}.altitude.upper"),
    ("altitude boolean", with_("altitude.lower", False), InvalidGeometry, f"{P}.altitude.lower"),
    ("altitude too high", with_("altitude.upper", 2e6), InvalidGeometry, f"{P}.altitude.upper"),
    ("altitude too low", with_("altitude.lower", -1e4), InvalidGeometry, f"{P}.altitude.lower"),
    ("altitude units", with_("altitude.units", "yards"), InvalidGeometry, f"{P}.altitude.units"),
    (
        "altitude reference missing",
        with_("altitude.reference", DEL),
        InvalidGeometry,
        f"{P}.altitude.reference",
    ),
    (
        "altitude reference unknown",
        with_("altitude.reference", "AGL"),
        InvalidGeometry,
        f"{P}.altitude.reference",
    ),
    (
        "FL with W84",
        volume_json(SQ, 100, 200, "FL", "W84"),
        InvalidGeometry,
        f"{P}.altitude.reference",
    ),
    ("altitude unknown key", with_("altitude.datum", "x"), InvalidGeometry, f"{P}.altitude.datum"),
    ("time with offset", with_("start", "2018-09-17T21:40:00+03:00"), InvalidTime, f"{P}.start"),
    ("time without zone", with_("start", "2018-09-17T18:40:00"), InvalidTime, f"{P}.start"),
    ("time not a string", with_("end", 1537209000), InvalidTime, f"{P}.end"),
    ("time impossible date", with_("end", "2018-02-30T00:00:00Z"), InvalidTime, f"{P}.end"),
    ("reversed window", with_("end", "2018-09-17T18:00:00Z"), InvalidTime, f"{P}.end"),
    ("empty window", with_("end", START), InvalidTime, f"{P}.end"),
    ("window too long", with_("end", "2018-09-18T18:40:01Z"), LimitExceeded, f"{P}.end"),
]


@pytest.mark.parametrize(("case", "obj", "exc", "field"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusals(case: str, obj: Any, exc: type[AccordError], field: str) -> None:
    with pytest.raises(exc) as info:
        parse_volume(obj, field=P)
    err = info.value
    assert type(err) is exc, f"{case}: {type(err).__name__} {err.detail}"
    assert err.field == field, f"{case}: {err.field} ({err.detail})"
    assert err.accepted, case
    assert err.detail and len(err.detail) < 300
    problem = err.problem()
    assert problem["field"] == field and problem["status"] in (400, 413)


def test_messages_say_what_is_wrong() -> None:
    with pytest.raises(InvalidGeometry) as info:
        parse_volume(with_("footprint", BOWTIE), field=P)
    assert "cross" in info.value.detail and "lon 35.05" in info.value.detail
    with pytest.raises(InvalidGeometry) as info:
        parse_volume(with_("footprint", ACROSS_180), field=P)
    assert "antimeridian" in info.value.detail
    assert "split it into two volumes at 180" in (info.value.accepted or "")
    with pytest.raises(InvalidInput) as info2:
        parse_volume(with_("end", DEL))
    assert "'end'" in info2.value.detail and info2.value.field == "volume.end"


def test_default_field_prefix() -> None:
    with pytest.raises(InvalidGeometry) as info:
        parse_footprint(BOWTIE)
    assert info.value.field == "footprint.coordinates[0]"


def test_limits_are_configurable() -> None:
    limits = VolumeLimits(max_vertices=3, max_window=timedelta(minutes=10))
    with pytest.raises(LimitExceeded) as info:
        parse_volume(GOOD, limits=limits)
    assert info.value.field == "volume.footprint.coordinates"
    tri = polygon_json([[35, 35], [35.1, 35], [35, 35.1], [35, 35]])
    with pytest.raises(LimitExceeded) as info:
        parse_volume(volume_json(tri), limits=limits)
    assert info.value.field == "volume.end"
    long = parse_volume(
        volume_json(SQ, end="2018-09-27T18:40:00Z"),
        limits=VolumeLimits(max_window=timedelta(days=30)),
    )
    assert long.end - long.start == timedelta(days=10)


def test_polygon_normalised() -> None:
    clockwise = polygon_json([[35, 35], [35, 35.1], [35.1, 35.1], [35.1, 35], [35, 35]])
    v = volume(clockwise)
    assert isinstance(v.footprint, Polygon)
    assert v.footprint.exterior == ((35, 35), (35.1, 35), (35.1, 35.1), (35, 35.1))
    dup = polygon_json([[35, 35], [35.1, 35], [35.1, 35], [35.1, 35.1], [35, 35.1], [35, 35]])
    assert volume(dup).footprint == v.footprint
    feature = {"type": "Feature", "properties": {"name": "box"}, "id": 7, "geometry": SQ}
    assert volume(feature).footprint == v.footprint
    outer = [[35.0, 35.0], [35.2, 35.0], [35.2, 35.2], [35.0, 35.2], [35.0, 35.0]]
    hole = [[35.05, 35.05], [35.15, 35.05], [35.15, 35.15], [35.05, 35.15], [35.05, 35.05]]
    holed = volume(polygon_json(outer, hole)).footprint
    assert isinstance(holed, Polygon) and len(holed.holes) == 1
    assert holed.holes[0] == ((35.05, 35.05), (35.05, 35.15), (35.15, 35.15), (35.15, 35.05))


def test_polygon_touching_the_antimeridian_is_accepted() -> None:
    east = volume(square(179.9, -17.0, 180.0, -16.9))
    west = volume(square(-180.0, -17.0, -179.9, -16.9))
    assert isinstance(east.footprint, Polygon) and isinstance(west.footprint, Polygon)


@pytest.mark.parametrize(
    ("value", "units", "metres"),
    [(5, "m", 5.0), (5, "km", 5000.0), (5, "NM", 9260.0), (1000, "ft", 304.8)],
)
def test_radius_units(value: float, units: str, metres: float) -> None:
    fp = volume(circle_json(35, 35, value, units)).footprint
    assert fp == Circle(35.0, 35.0, pytest.approx(metres))


@pytest.mark.parametrize(
    ("lower", "upper", "units", "reference", "band"),
    [
        (0, 25000, "ft", "AMSL", AltitudeBand(0.0, 7620.0, "AMSL")),
        (100, 250, "FL", None, AltitudeBand(3048.0, 7620.0, "AMSL")),
        (100, 250, "FL", "AMSL", AltitudeBand(3048.0, 7620.0, "AMSL")),
        (-50, 120.5, "m", "W84", AltitudeBand(-50.0, 120.5, "W84")),
        (1000, 1000, "m", "W84", AltitudeBand(1000.0, 1000.0, "W84")),
    ],
)
def test_altitude_units(
    lower: float, upper: float, units: str, reference: str | None, band: AltitudeBand
) -> None:
    got = volume(SQ, lower=lower, upper=upper, units=units, reference=reference).altitude
    assert got.reference == band.reference
    assert got.lower_m == pytest.approx(band.lower_m) and got.upper_m == pytest.approx(band.upper_m)


def test_times_parsed_as_utc() -> None:
    v = volume(SQ, start="2018-09-17T18:40:00.25Z")
    assert v.start == datetime(2018, 9, 17, 18, 40, 0, 250000, tzinfo=UTC)
    assert v.end == datetime(2018, 9, 17, 19, 10, tzinfo=UTC)
    assert END == "2018-09-17T19:10:00Z"


@pytest.mark.parametrize(
    "footprint",
    [
        SQ,
        circle_json(35.95, 35.41, 5, "NM"),
        polygon_json(ring_around(35.5, 35.5, 12_345.6, n=17)),
        polygon_json(
            [[35.0, 35.0], [35.2, 35.0], [35.2, 35.2], [35.0, 35.2], [35.0, 35.0]],
            [[35.05, 35.05], [35.15, 35.05], [35.15, 35.15], [35.05, 35.05]],
        ),
    ],
)
@pytest.mark.parametrize("units", ["m", "ft", "FL"])
def test_round_trip(footprint: dict[str, Any], units: str) -> None:
    ref = None if units == "FL" else "AMSL"
    v = volume(
        footprint,
        lower=12.5,
        upper=333.3,
        units=units,
        reference=ref,
        start="2018-09-17T18:40:00.123456Z",
    )
    out = volume_to_json(v)
    assert out["altitude"]["units"] == "m"
    assert parse_volume(out) == v
    assert parse_volume(json.loads(json.dumps(out))) == v
    assert hash(parse_volume(out)) == hash(v)


def test_footprint_geojson_circle() -> None:
    c = Circle(35.95, 35.41, 9260.0)
    gj = footprint_geojson(c)
    ring = gj["coordinates"][0]
    assert gj["type"] == "Polygon" and len(ring) == 65 and ring[0] == ring[-1]
    for lon, lat in ring:
        _, _, d = GEOD.inv(c.lon, c.lat, lon, lat)
        assert d == pytest.approx(9260.0, abs=1e-6)
    # counter-clockwise (RFC 7946): positive shoelace area in lon/lat
    area = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in itertools.pairwise(ring))
    assert area > 0
    v = parse_volume(volume_json(gj))
    assert isinstance(v.footprint, Polygon)
    sq = volume(SQ).footprint
    assert footprint_geojson(sq) == volume_to_json(volume(SQ))["footprint"]


def test_vertical_gap_same_reference_is_exact() -> None:
    a = AltitudeBand(0.0, 1000.0, "W84")
    b = AltitudeBand(1300.0, 2000.0, "W84")
    assert vertical_gap(a, b) == 300.0 == vertical_gap(b, a)
    a2 = AltitudeBand(0.0, 1000.0, "AMSL")
    b2 = AltitudeBand(1300.0, 2000.0, "AMSL")
    assert vertical_gap(a2, b2) == 300.0
    assert vertical_gap(a, AltitudeBand(500.0, 600.0, "W84")) == 0.0
    assert vertical_gap(a, AltitudeBand(1000.0, 1200.0, "W84")) == 0.0


def test_vertical_gap_mixed_references_is_conservative() -> None:
    amsl = AltitudeBand(0.0, 1000.0, "AMSL")
    assert amsl.w84_bounds() == (GEOID_MIN_M, 1000.0 + GEOID_MAX_M)
    w84 = AltitudeBand(1300.0, 2000.0, "W84")
    # AMSL 1000 m may be as high as 1000 + 90 m above the ellipsoid: 210 m at least.
    assert vertical_gap(amsl, w84) == pytest.approx(1300.0 - 1000.0 - GEOID_MAX_M)
    below = AltitudeBand(-500.0, -200.0, "W84")
    assert vertical_gap(amsl, below) == pytest.approx(GEOID_MIN_M + 200.0)
    assert vertical_gap(AltitudeBand(0.0, 1000.0, "AMSL"), AltitudeBand(1050, 1100, "W84")) == 0
    # every real geoid undulation gives a gap at least this large
    for n in (GEOID_MIN_M, -30.0, 0.0, 40.0, GEOID_MAX_M):
        true_gap = max(0.0, 1300.0 - (1000.0 + n), (0.0 + n) - 2000.0)
        assert vertical_gap(amsl, w84) <= true_gap


def test_volume_is_hashable_value() -> None:
    a, b = volume(SQ), volume(copy.deepcopy(SQ))
    assert a == b and hash(a) == hash(b) and a is not b
    assert {a: 1}[b] == 1
    assert isinstance(a, Volume)
