"""The tactical engine: closest approach by hand, and the pruned engine equals brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.tactical.engine import EARTH_R, Fleet, detect, detect_brute

NM = 1852.0
FT = 0.3048


def fleet(rows: list[tuple[float, ...]], parties: list[int] | None = None) -> Fleet:
    a = np.array(rows, dtype=float)
    return Fleet(lat=a[:, 0], lon=a[:, 1], alt=a[:, 2], gs=a[:, 3], trk=a[:, 4], vs=a[:, 5],
                 party=np.array(parties if parties else range(len(rows)), dtype=np.int64))


def metres_east(lat: float, m: float) -> float:
    return math.degrees(m / (EARTH_R * math.cos(math.radians(lat))))


def test_head_on_on_the_equator() -> None:
    # 20 km apart, closing at 200 m/s each: CPA at 50 s, distance 0; H = 5 km -> in at 37.5 s
    f = fleet([(0, 0, 3000, 200, 90, 0), (0, metres_east(0, 20000), 3000, 200, 270, 0)])
    c = detect(f, 5000, 300, 300)
    assert c.pairs() == {(0, 1)}
    assert c.t_cpa[0] == pytest.approx(50.0, abs=0.01)
    assert c.d_cpa[0] == pytest.approx(0.0, abs=0.5)
    assert c.t_in[0] == pytest.approx(37.5, abs=0.01)
    assert c.t_out[0] == pytest.approx(62.5, abs=0.01)
    assert c.distance[0] == pytest.approx(20000, rel=1e-6)


def test_parallel_tracks_miss_by_the_offset() -> None:
    # side by side 6 km apart, same speed and track: never closer than 6 km
    f = fleet([(0, 0, 3000, 150, 0, 0), (0, metres_east(0, 6000), 3000, 150, 0, 0)])
    assert len(detect(f, 5000, 300, 300)) == 0
    c = detect(f, 6500, 300, 300)
    assert len(c) == 1 and c.t_in[0] <= 0 and c.los[0]  # already inside 6.5 km


def test_crossing_at_right_angles() -> None:
    # A heads north from 10 km south of the origin, B east from 10 km west, both 100 m/s:
    # they reach the origin together at 100 s; relative speed 141.4 m/s, CPA distance 0.
    lat_a = math.degrees(-10000 / EARTH_R)
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


def random_fleet(rnd: np.random.Generator, n: int, lat: tuple[float, float],
                 lon: tuple[float, float], parties: int) -> Fleet:
    return Fleet(lat=rnd.uniform(*lat, n), lon=rnd.uniform(*lon, n),
                 alt=rnd.uniform(0, 12000, n), gs=rnd.uniform(0, 300, n),
                 trk=rnd.uniform(0, 360, n), vs=rnd.uniform(-20, 20, n),
                 party=rnd.integers(0, parties, n))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 400),
       lat0=st.floats(-75, 75), span=st.floats(0.05, 20), lon0=st.floats(-180, 180),
       h=st.sampled_from([500.0, 5 * NM, 20000.0]), parties=st.integers(1, 4))
def test_pruned_engine_finds_exactly_the_brute_force_pairs(seed: int, n: int, lat0: float,
                                                          span: float, lon0: float, h: float,
                                                          parties: int) -> None:
    rnd = np.random.default_rng(seed)
    lat = (max(-85, lat0), min(85, lat0 + span))
    f = random_fleet(rnd, n, lat, (lon0, lon0 + span * 2), parties)
    fast = detect(f, h, 1000 * FT, 300)
    slow = detect_brute(f, h, 1000 * FT, 300)
    assert fast.pairs() == slow.pairs()
    assert np.allclose(fast.t_in, slow.t_in) and np.allclose(fast.d_cpa, slow.d_cpa)


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


def test_pruning_keeps_memory_and_work_far_below_n_squared() -> None:
    rnd = np.random.default_rng(5)
    f = random_fleet(rnd, 10000, (45, 55), (0, 15), 10)
    c = detect(f, 5 * NM, 300, 300)
    assert c.candidates < 10000 * 9999 // 2 // 50  # < 2% of all pairs reach the exact test
