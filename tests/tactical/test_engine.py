"""The tactical engine: closest approach by hand, meridian convergence, the pruning bound, and
the pruned engine equals brute force at every latitude, across the antimeridian and the poles.

Aircraft are placed with pyproj's geodesics on WGS-84 (the engine's ellipsoid), so distances
set up here are true distances."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from accord.tactical.engine import (
    Fleet,
    detect,
    detect_brute,
    horizontal_distance,
    kinematics,
    pair_geometry,
    reach,
)

NM = 1852.0
FT = 0.3048
GEOD = Geod(ellps="WGS84")


def fleet(rows: list[tuple[float, ...]], parties: list[int] | None = None) -> Fleet:
    a = np.array(rows, dtype=float)
    return Fleet(lat=a[:, 0], lon=a[:, 1], alt=a[:, 2], gs=a[:, 3], trk=a[:, 4], vs=a[:, 5],
                 party=np.array(parties if parties else range(len(rows)), dtype=np.int64))


def metres_east(lat: float, m: float) -> float:
    """The longitude m metres east of (lat, 0) along the parallel's geodesic start."""
    return float(GEOD.fwd(0.0, lat, 90.0 if m >= 0 else 270.0, abs(m))[0])


def test_head_on_on_the_equator() -> None:
    # 20 km apart, closing at 200 m/s each: CPA at 50 s, distance 0; H = 5 km -> in at 37.5 s
    f = fleet([(0, 0, 3000, 200, 90, 0), (0, metres_east(0, 20000), 3000, 200, 270, 0)])
    c = detect(f, 5000, 300, 300)
    assert c.pairs() == {(0, 1)}
    assert c.t_cpa[0] == pytest.approx(50.0, abs=0.01)
    assert c.d_cpa[0] == pytest.approx(0.0, abs=0.5)
    assert c.t_in[0] == pytest.approx(37.5, abs=0.01)
    assert c.t_out[0] == pytest.approx(62.5, abs=0.01)
    assert c.distance[0] == pytest.approx(20000, abs=0.01)


def test_parallel_tracks_miss_by_the_offset() -> None:
    # side by side 6 km apart, same speed and track: never closer than 6 km
    f = fleet([(0, 0, 3000, 150, 0, 0), (0, metres_east(0, 6000), 3000, 150, 0, 0)])
    assert len(detect(f, 5000, 300, 300)) == 0
    c = detect(f, 6500, 300, 300)
    assert len(c) == 1 and c.t_in[0] <= 0 and c.los[0]  # already inside 6.5 km


def test_crossing_at_right_angles() -> None:
    # A heads north from 10 km south of the origin, B east from 10 km west, both 100 m/s:
    # they reach the origin together at 100 s; relative speed 141.4 m/s, CPA distance 0.
    lat_a = float(GEOD.fwd(0.0, 0.0, 180.0, 10000.0)[1])
    f = fleet([(lat_a, 0, 1000, 100, 0, 0), (0, metres_east(0, -10000), 1000, 100, 90, 0)])
    c = detect(f, 5000, 300, 300)
    assert c.t_cpa[0] == pytest.approx(100.0, abs=0.05)
    assert c.t_in[0] == pytest.approx(100 - 5000 / (100 * math.sqrt(2)), abs=0.05)


def test_vertical_separation_and_climb() -> None:
    base = (0, 0, 3000, 200, 90, 0)
    other = (0, metres_east(0, 20000), 3000 + 600, 200, 270, 0)
    assert len(detect(fleet([base, other]), 5000, 300, 300)) == 0  # 600 m apart: clear
    climbing = (0, metres_east(0, 20000), 3000 - 600, 200, 270, 10)  # climbs 10 m/s into it
    c = detect(fleet([base, climbing]), 5000, 300, 300)
    # vertical: inside 300 m from t=30 s to t=90 s; horizontal from 37.5 s to 62.5 s
    assert c.t_in[0] == pytest.approx(37.5, abs=0.01) and c.t_out[0] == pytest.approx(62.5)


def test_beyond_the_lookahead_and_behind() -> None:
    far = fleet([(0, 0, 3000, 100, 90, 0), (0, metres_east(0, 100000), 3000, 100, 270, 0)])
    assert len(detect(far, 5000, 300, 300)) == 0  # meet at 500 s
    assert len(detect(far, 5000, 300, 600)) == 1
    diverging = fleet([(0, 0, 3000, 100, 270, 0), (0, metres_east(0, 8000), 3000, 100, 90, 0)])
    assert len(detect(diverging, 5000, 300, 300)) == 0


def test_same_party_pairs_are_not_conflicts() -> None:
    rows = [(0, 0, 3000, 200, 90, 0), (0, metres_east(0, 20000), 3000, 200, 270, 0)]
    assert len(detect(fleet(rows, [7, 7]), 5000, 300, 300)) == 0
    assert len(detect(fleet(rows, [7, 7]), 5000, 300, 300, all_pairs=True)) == 1


@pytest.mark.parametrize("lat, trk", [(70.0, 0.0), (-70.0, 180.0)])
def test_meridians_converge(lat: float, trk: float) -> None:
    """Issue 8: 9.4 km apart at 70 N, both on track 000 at 250 m/s: on WGS-84 within 5 NM
    from about 176 s (flat-earth geometry: relative velocity zero, never a conflict). The
    same southbound at 70 S; and flying away from the pole the meridians part."""
    spacing = 0.24716740404341
    f = fleet([(lat, 10.0, 9000, 250, trk, 0), (lat, 10.0 + spacing, 9000, 250, trk, 0)])
    c = detect(f, 5 * NM, 1000 * FT, 300)
    assert c.pairs() == {(0, 1)}
    assert c.t_in[0] == pytest.approx(176.0, abs=2.0)
    away = fleet([(lat, 10.0, 9000, 250, 180 - trk, 0),
                  (lat, 10.0 + spacing, 9000, 250, 180 - trk, 0)])
    assert len(detect(away, 5 * NM, 1000 * FT, 300)) == 0


def test_head_on_over_the_pole() -> None:
    # both fly north towards the pole from opposite meridians: head-on across it
    f = fleet([(89.95, 0.0, 9000, 200, 0, 0), (89.95, 180.0, 9000, 200, 0, 0)])
    d = float(GEOD.inv(0.0, 89.95, 180.0, 89.95)[2])
    c = detect(f, 5000, 300, 300)
    assert c.pairs() == {(0, 1)}
    assert c.distance[0] == pytest.approx(d, abs=0.5)
    assert c.t_in[0] == pytest.approx((d - 5000) / 400, abs=0.05)
    assert c.d_cpa[0] == pytest.approx(0.0, abs=1.0)


def test_head_on_across_the_antimeridian() -> None:
    lon_b = float(GEOD.fwd(179.95, 10.0, 90.0, 20000.0)[0])  # 20 km east: about -179.87
    assert lon_b < 0
    f = fleet([(10.0, 179.95, 3000, 200, 90, 0), (10.0, lon_b, 3000, 200, 270, 0)])
    c = detect(f, 5000, 300, 300)
    assert c.pairs() == {(0, 1)}
    assert c.distance[0] == pytest.approx(20000, abs=0.5)
    assert c.t_in[0] == pytest.approx(37.5, abs=0.05)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), lookahead=st.floats(30, 900),
       h=st.floats(100, 40000), smax=st.floats(1, 600))
def test_reach_bounds_the_distance_at_a_loss(seed: int, lookahead: float, h: float,
                                              smax: float) -> None:
    """Whenever the exact test keeps a pair, at some moment of the loss inside the look-ahead
    the two are within `reach` of each other in earth-centred metres: the pruning boxes are
    padded by it, so pruning cannot drop the pair."""
    rnd = np.random.default_rng(seed)
    n = 4000
    lat = rnd.uniform(-90, 90, n)
    lon = rnd.uniform(-180, 180, n)
    az = rnd.uniform(0, 360, n)
    far = rnd.uniform(0, h + smax * lookahead, n)
    lon2, lat2, _ = GEOD.fwd(lon, lat, az, far)
    gs = rnd.uniform(0, smax / 2, 2 * n)
    f = Fleet(lat=np.concatenate([lat, lat2]), lon=np.concatenate([lon, lon2]),
              alt=np.zeros(2 * n), gs=gs, trk=rnd.uniform(0, 360, 2 * n), vs=np.zeros(2 * n))
    i, j = np.arange(n), np.arange(n) + n
    c = pair_geometry(f, i, j, h, 300.0, lookahead)
    assert len(c) > 0
    t = np.clip(c.t_cpa, np.maximum(c.t_in, 0.0), np.minimum(c.t_out, lookahead))
    k = kinematics(f)
    chord = np.sqrt(sum((getattr(k, "p" + a)[c.j] + getattr(k, "v" + a)[c.j] * t
                         - getattr(k, "p" + a)[c.i] - getattr(k, "v" + a)[c.i] * t) ** 2
                        for a in "xyz"))
    assert np.all(horizontal_distance(f, c.i, c.j, t) <= h * (1 + 1e-9))
    assert np.all(chord <= reach(h, lookahead, smax))


def random_fleet(rnd: np.random.Generator, n: int, lat: tuple[float, float],
                 lon: tuple[float, float], parties: int) -> Fleet:
    return Fleet(lat=rnd.uniform(*lat, n), lon=rnd.uniform(*lon, n),
                 alt=rnd.uniform(0, 12000, n), gs=rnd.uniform(0, 300, n),
                 trk=rnd.uniform(0, 360, n), vs=rnd.uniform(-20, 20, n),
                 party=rnd.integers(0, parties, n))


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 400),
       lat0=st.floats(-90, 90), span=st.floats(0.05, 40), lon0=st.floats(-180, 180),
       h=st.sampled_from([500.0, 5 * NM, 20000.0]), parties=st.integers(1, 4),
       lookahead=st.sampled_from([60.0, 300.0, 900.0]))
def test_pruned_engine_finds_exactly_the_brute_force_pairs(seed: int, n: int, lat0: float,
                                                          span: float, lon0: float, h: float,
                                                          parties: int,
                                                          lookahead: float) -> None:
    rnd = np.random.default_rng(seed)
    lat = (max(-90, lat0 - span / 2), min(90, lat0 + span / 2))
    f = random_fleet(rnd, n, lat, (lon0, lon0 + span * 2), parties)
    f = Fleet(f.lat, (f.lon + 180) % 360 - 180, f.alt, f.gs, f.trk, f.vs, f.party)
    fast = detect(f, h, 1000 * FT, lookahead)
    slow = detect_brute(f, h, 1000 * FT, lookahead)
    assert fast.pairs() == slow.pairs()
    assert np.array_equal(fast.t_in, slow.t_in) and np.array_equal(fast.d_cpa, slow.d_cpa)


def test_dense_and_antimeridian_traffic_match_brute_force() -> None:
    rnd = np.random.default_rng(3)
    dense = random_fleet(rnd, 1500, (50, 51), (4, 5.5), 3)
    assert detect(dense, 5 * NM, 300, 300).pairs() == detect_brute(dense, 5 * NM, 300,
                                                                     300).pairs()
    seam = random_fleet(rnd, 800, (-10, 10), (179, 181), 2)
    seam = Fleet(seam.lat, (seam.lon + 180) % 360 - 180, seam.alt, seam.gs, seam.trk, seam.vs,
                 seam.party)
    assert detect(seam, 5 * NM, 300, 300).pairs() == detect_brute(seam, 5 * NM, 300,
                                                                    300).pairs()
    for lat in ((88.0, 90.0), (-90.0, -86.0)):  # polar caps: every longitude
        cap = random_fleet(rnd, 800, lat, (-180, 180), 3)
        assert detect(cap, 5 * NM, 300, 300).pairs() == detect_brute(cap, 5 * NM, 300,
                                                                       300).pairs()
    world = random_fleet(rnd, 3000, (-90, 90), (-180, 180), 3)  # the whole globe, one frame
    assert detect(world, 20000, 300, 300).pairs() == detect_brute(world, 20000, 300,
                                                                    300).pairs()


def test_the_converging_pair_survives_pruning_in_traffic() -> None:
    # issue 8: flat-earth pruning dropped this pair even with an exact test that keeps it
    rnd = np.random.default_rng(11)
    crowd = random_fleet(rnd, 2000, (60, 80), (-20, 40), 2000)
    pair = fleet([(70.0, 10.0, 9000, 250, 0, 0), (70.0, 10.24716740404341, 9000, 250, 0, 0)])
    f = Fleet(*(np.concatenate([getattr(pair, a), getattr(crowd, a)])
                for a in ("lat", "lon", "alt", "gs", "trk", "vs")),
              party=np.concatenate([[-1, -2], crowd.party]))
    fast = detect(f, 5 * NM, 1000 * FT, 300)
    assert (0, 1) in fast.pairs()
    assert fast.pairs() == detect_brute(f, 5 * NM, 1000 * FT, 300).pairs()


def test_pruning_keeps_memory_and_work_far_below_n_squared() -> None:
    rnd = np.random.default_rng(5)
    f = random_fleet(rnd, 10000, (45, 55), (0, 15), 10)
    c = detect(f, 5 * NM, 300, 300)
    assert c.candidates < 10000 * 9999 // 2 // 50  # < 2% of all pairs reach the exact test
