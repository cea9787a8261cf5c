"""Property tests for the geo core (hypothesis).

Accuracy claim checked here: for footprints up to 30 km across and up to ~200 km apart, with
the frame centred on the first volume (as a strategic check does), the reported horizontal
distance agrees with an independent reference (shapely in a frame centred midway between the
two, circles as 720-gons) within 0.1% + 1 m.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from geo_cases import circle_json, polygon_json, ring_around, volume_json
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from accord.errors import AccordError, InvalidGeometry
from accord.geo.box import footprint_bounds, volume_box
from accord.geo.geodesy import GEOD
from accord.geo.separation import LocalFrame, conflicts, proximity
from accord.geo.volume import Polygon, Volume, parse_volume, volume_to_json

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)

# Places where geometry is hard: the Latakia area, high latitude, both sides of the
# antimeridian, the equator; plus anywhere between 75 S and 75 N.
PLACES = st.one_of(
    st.sampled_from([(35.78, 35.52), (10.0, 70.0), (179.8, -17.0), (-179.9, 0.0), (0.0, 0.0)]),
    st.tuples(st.floats(-179.0, 179.0), st.floats(-75.0, 75.0)),
)


@st.composite
def footprint_json(draw: st.DrawFn, lon: float, lat: float) -> dict[str, Any]:
    radius = draw(st.floats(200.0, 15_000.0))
    if draw(st.booleans()):
        return circle_json(lon, lat, radius)
    n = draw(st.integers(3, 12))
    gaps = np.asarray(draw(st.lists(st.floats(0.3, 1.0), min_size=n, max_size=n)))
    start = draw(st.floats(0.0, 360.0))
    angles = start + 360.0 * np.cumsum(gaps) / gaps.sum()
    fracs = draw(st.lists(st.floats(0.3, 1.0), min_size=n, max_size=n))
    return polygon_json(ring_around(lon, lat, radius, angles=list(angles), fracs=fracs))


@st.composite
def altitude(draw: st.DrawFn) -> dict[str, Any]:
    lower = draw(st.floats(-500.0, 5000.0))
    upper = lower + draw(st.floats(0.0, 3000.0))
    return {
        "lower": lower,
        "upper": upper,
        "units": "m",
        "reference": draw(st.sampled_from(["W84", "AMSL"])),
    }


@st.composite
def volume_pair(draw: st.DrawFn, max_apart: float = 200_000.0) -> tuple[Volume, Volume]:
    lon, lat = draw(PLACES)
    az = draw(st.floats(0.0, 360.0))
    apart = draw(st.floats(0.0, max_apart))
    lon2, lat2, _ = GEOD.fwd(lon, lat, az, apart)
    minutes = draw(st.integers(0, 50))
    start2 = f"2018-09-17T18:{minutes:02d}:00Z"
    try:
        a = parse_volume(
            {**volume_json(draw(footprint_json(lon, lat))), "altitude": draw(altitude())}
        )
        b = parse_volume(
            {
                **volume_json(
                    draw(footprint_json(float(lon2), float(lat2))),
                    start=start2,
                    end="2018-09-17T19:30:00Z",
                ),
                "altitude": draw(altitude()),
            }
        )
    except InvalidGeometry:  # e.g. a footprint drawn across the antimeridian
        assume(False)
        raise
    return a, b


@SETTINGS
@given(volume_pair())
def test_proximity_is_symmetric(pair: tuple[Volume, Volume]) -> None:
    a, b = pair
    frame = LocalFrame.around(a)
    p, q = proximity(a, b, frame), proximity(b, a, frame)
    assert p is not None and q is not None
    assert abs(p.horizontal_m - q.horizontal_m) <= max(0.01, 1e-6 * p.horizontal_m)
    assert p.vertical_m == q.vertical_m and (p.start, p.end) == (q.start, q.end)


@SETTINGS
@given(volume_pair())
def test_horizontal_distance_agrees_with_an_independent_reference(
    pair: tuple[Volume, Volume],
) -> None:
    from geo_cases import reference_distance

    a, b = pair
    p = proximity(a, b, LocalFrame.around(a))
    assert p is not None
    ref = reference_distance(a.footprint, b.footprint)
    assert abs(p.horizontal_m - ref) <= 1e-3 * ref + 1.0, (p.horizontal_m, ref)


@SETTINGS
@given(volume_pair(max_apart=150_000.0), st.floats(0.0, 100_000.0), st.floats(0.0, 2000.0))
def test_box_prefilter_never_misses(
    pair: tuple[Volume, Volume], horizontal: float, vertical: float
) -> None:
    a, b = pair
    hit = conflicts(a, b, horizontal, vertical, LocalFrame.around(a))
    if hit is not None:
        assert volume_box(a).expand(horizontal, vertical).intersects(volume_box(b))
        assert volume_box(b).expand(horizontal, vertical).intersects(volume_box(a))
        assert hit.horizontal_m < horizontal and hit.vertical_m < vertical


@SETTINGS
@given(volume_pair(max_apart=300_000.0))
def test_box_holds_the_footprint_in_any_nearby_frame(pair: tuple[Volume, Volume]) -> None:
    a, b = pair
    assume(isinstance(a.footprint, Polygon))
    frame = LocalFrame.around(b)  # straight edges in another volume's frame
    lon_min, lon_max, lat_min, lat_max = footprint_bounds(a.footprint)
    xy = np.asarray(frame.shape(a.footprint).exterior.coords)
    t = np.linspace(0.0, 1.0, 50)[:, None]
    dense = np.concatenate([xy[i] + (xy[i + 1] - xy[i]) * t for i in range(len(xy) - 1)])
    lon, lat = frame.inverse(dense[:, 0], dense[:, 1])
    if lon_min == -180.0 and lon_max == 180.0:
        assert (lat >= lat_min).all() and (lat <= lat_max).all()
        return
    lon = np.where(lon - lon_min < -180.0, lon + 360.0, lon)  # points just across +-180
    lon = np.where(lon - lon_max > 180.0, lon - 360.0, lon)
    assert (lon >= lon_min).all() and (lon <= lon_max).all()
    assert (lat >= lat_min).all() and (lat <= lat_max).all()


@SETTINGS
@given(
    PLACES.flatmap(lambda p: footprint_json(*p)),
    st.sampled_from(["m", "ft", "FL"]),
    st.floats(-1000.0, 10_000.0),
    st.floats(0.0, 5000.0),
    st.integers(0, 999_999),
)
def test_valid_volumes_survive_the_round_trip(
    fp: dict[str, Any], units: str, lower: float, thickness: float, micros: int
) -> None:
    obj = volume_json(
        fp,
        lower=lower,
        upper=lower + thickness,
        units=units,
        reference=None if units == "FL" else "AMSL",
        start=f"2018-09-17T18:40:00.{micros:06d}Z",
    )
    try:
        v = parse_volume(obj)
    except InvalidGeometry:
        assume(False)
        raise
    out = volume_to_json(v)
    assert parse_volume(out) == v
    assert parse_volume(json.loads(json.dumps(out))) == v
    assert volume_to_json(parse_volume(out)) == out


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.sampled_from(
        [
            "Polygon",
            "Feature",
            "Circle",
            "W84",
            "AMSL",
            "FL",
            "m",
            "km",
            "NM",
            "2018-09-17T18:40:00Z",
            "2018-09-17T19:10:00Z",
        ]
    ),
    lambda children: (
        st.lists(children, max_size=6)
        | st.dictionaries(
            st.sampled_from(
                [
                    "footprint",
                    "altitude",
                    "start",
                    "end",
                    "type",
                    "coordinates",
                    "center",
                    "radius",
                    "value",
                    "units",
                    "lower",
                    "upper",
                    "reference",
                    "geometry",
                    "properties",
                    "x",
                ]
            ),
            children,
            max_size=6,
        )
    ),
    max_leaves=40,
)

POSITION = st.lists(st.floats(-200.0, 200.0) | st.integers(-200, 200), min_size=2, max_size=2)
RING = st.lists(POSITION, min_size=3, max_size=10).map(lambda r: [*r, r[0]])
GOOD = volume_json(polygon_json(ring_around(35.5, 35.0, 5000.0)))


def _mutate(obj: Any, path: list[int], new: Any) -> Any:
    """Replace the node reached by following `path` (indices into children) with `new`."""
    if not path or not isinstance(obj, dict | list) or not obj:
        return new
    if isinstance(obj, dict):
        keys = sorted(obj)
        k = keys[path[0] % len(keys)]
        return {**obj, k: _mutate(obj[k], path[1:], new)}
    i = path[0] % len(obj)
    return [*obj[:i], _mutate(obj[i], path[1:], new), *obj[i + 1 :]]


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        JSON,
        st.builds(
            lambda rings: volume_json(polygon_json(*rings)), st.lists(RING, min_size=1, max_size=3)
        ),
        st.builds(_mutate, st.just(GOOD), st.lists(st.integers(0, 50), max_size=6), JSON),
        st.builds(
            lambda c, r, u: volume_json(circle_json(c[0], c[1], r, u)),
            POSITION,
            st.floats(allow_nan=True) | st.integers(),
            JSON | st.just("km"),
        ),
    )
)
def test_garbage_raises_only_accord_errors(obj: Any) -> None:
    try:
        v = parse_volume(obj, field="volumes[0]")
    except AccordError as err:
        assert err.field is not None and err.field.startswith("volumes[0]")
        assert err.accepted
        return
    assert isinstance(v, Volume)
    assert math.isfinite(v.altitude.lower_m) and v.end > v.start


@SETTINGS
@given(volume_pair(), st.floats(0.0, 60_000.0))
def test_disc_shortcut_only_settles_pairs_that_are_truly_apart(
    pair: tuple[Volume, Volume], limit: float
) -> None:
    """`conflicts` may skip the exact test on enclosing discs: that must never hide a conflict."""
    from geo_cases import reference_distance

    from accord.geo.separation import _apart

    a, b = pair
    if _apart(a.footprint, b.footprint, limit):
        assert reference_distance(a.footprint, b.footprint) >= limit - 1.0
