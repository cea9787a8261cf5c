"""Altitude references in the tactical monitor: AMSL and W84 mixed, conservative each way.

The geoid undulation N = W84 - AMSL is only known to lie in [GEOID_MIN_M, GEOID_MAX_M]
(-110 m, +90 m). Each test takes the worst case in its safe direction: separation the
smallest possible vertical gap, hazard entry the widest band, conformance the narrowest.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Literal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.geo.volume import GEOID_MAX_M, GEOID_MIN_M, AltitudeBand, Circle, Volume
from accord.tactical.alerts import (
    Hazard,
    Levels,
    Report,
    TrackTable,
    entry_time,
    hazards,
    nonconformance,
    separation,
)
from accord.tactical.engine import EARTH_R, Fleet, detect, detect_brute

T = datetime(2030, 1, 1, 12, tzinfo=UTC)
Ref = Literal["W84", "AMSL"]
V = 300.0  # the vertical minimum in these tests


def rpt(party: str, ac: str, lon: float, alt: float, ref: Ref, *, gs: float = 0.0,
        trk: float = 90.0, vs: float = 0.0) -> Report:
    return Report(party, ac, T, 35.0, lon, alt, gs, trk, vs, reference=ref)


def pair(alt_a: float, ref_a: Ref, alt_b: float, ref_b: Ref) -> list[str]:
    """Two aircraft at the same position, hovering: the separation detections between them.

    (With no vertical speed, whether a gap of exactly the minimum is lost depends on the
    pair's order, as in BlueSky's criterion; the tests stay a metre off that edge.)"""
    table = TrackTable()
    table.update(rpt("A", "a", 35.0, alt_a, ref_a))
    table.update(rpt("B", "b", 35.0, alt_b, ref_b))
    reports, f, _ = table.fleet(T)
    return [d.key for d in separation(reports, f, 5000, V, Levels())]


@pytest.mark.parametrize(("ref_a", "ref_b"), [("AMSL", "W84"), ("W84", "AMSL")])
def test_separation_between_references_takes_the_smallest_possible_gap(ref_a: Ref,
                                                                        ref_b: Ref) -> None:
    amsl, w84 = 5000.0, 0.0  # the AMSL aircraft's altitude; the W84 one is set below
    # The W84 aircraft above: its height above the AMSL one is (w84 - amsl) - N, smallest
    # with N = GEOID_MAX_M. Below: (amsl + N) - w84, smallest with N = GEOID_MIN_M.
    top, bottom = amsl + GEOID_MAX_M + V, amsl + GEOID_MIN_M - V
    for w84, conflict in ((top - 1.0, True), (top + 1.0, False), (bottom + 1.0, True),
                          (bottom - 1.0, False), (amsl + GEOID_MAX_M, True),
                          (amsl + GEOID_MIN_M, True)):
        alts = {"AMSL": amsl, "W84": w84}
        got = pair(alts[ref_a], ref_a, alts[ref_b], ref_b)
        assert bool(got) == conflict, (ref_a, w84 - amsl)


@pytest.mark.parametrize("ref", ["AMSL", "W84"])
def test_separation_in_one_reference_is_exact(ref: Ref) -> None:
    assert pair(5000, ref, 5000 + V - 1.0, ref)
    assert not pair(5000, ref, 5000 + V, ref)
    assert not pair(5000 + V + 1.0, ref, 5000, ref)


def test_the_reported_vertical_gap_is_the_smallest_possible() -> None:
    table = TrackTable()
    table.update(rpt("A", "a", 35.0, 5000, "AMSL"))
    table.update(rpt("B", "b", 35.0, 5000 + GEOID_MAX_M + 250, "W84"))
    reports, f, _ = table.fleet(T)
    [d] = separation(reports, f, 5000, V, Levels())
    assert d.details["vertical_m"] == pytest.approx(250.0)


def test_climbing_into_a_mixed_conflict_is_timed_from_the_worst_case() -> None:
    # The W84 aircraft 1,000 m above the AMSL one, descending at 10 m/s: the gap can be
    # under 300 m once w84 - amsl < GEOID_MAX_M + 300, i.e. after (1000 - 390) / 10 = 61 s.
    table = TrackTable()
    table.update(rpt("A", "a", 35.0, 5000, "AMSL"))
    table.update(rpt("B", "b", 35.0, 6000, "W84", vs=-10.0))
    reports, f, _ = table.fleet(T)
    [d] = separation(reports, f, 5000, V, Levels())
    assert d.details["time_to_loss_s"] == pytest.approx((1000 - GEOID_MAX_M - V) / 10, abs=0.1)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 300))
def test_pruning_keeps_every_mixed_reference_conflict(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    f = Fleet(lat=35.0 + rng.uniform(-0.3, 0.3, n), lon=35.0 + rng.uniform(-0.3, 0.3, n),
              alt=rng.uniform(3000, 4500, n), gs=rng.uniform(0, 250, n),
              trk=rng.uniform(0, 360, n), vs=rng.uniform(-15, 15, n),
              party=rng.integers(0, 3, n).astype(np.int64), amsl=rng.random(n) < 0.5)
    fast, brute = detect(f, 5000, V, 300), detect_brute(f, 5000, V, 300)
    assert fast.pairs() == brute.pairs()
    np.testing.assert_allclose(fast.t_in, brute.t_in)
    np.testing.assert_allclose(fast.vertical, brute.vertical)


def band_hazard(lower: float, upper: float, ref: Ref) -> Hazard:
    vol = Volume(Circle(35.0, 35.0, 5000), AltitudeBand(lower, upper, ref),
                 T - timedelta(hours=1), T + timedelta(hours=1))
    return Hazard("H", 1, "B", vol)


def test_hazard_band_in_the_other_reference_is_widened_by_the_geoid_bounds() -> None:
    # A W84 band [1000, 3000] seen from an AMSL aircraft: AMSL = W84 - N, so the band may be
    # anywhere in [1000 - GEOID_MAX_M, 3000 - GEOID_MIN_M] = [910, 3110] AMSL.
    w84_band = band_hazard(1000, 3000, "W84")
    lo, hi = 1000 - GEOID_MAX_M, 3000 - GEOID_MIN_M
    for alt, inside in ((lo, True), (lo - 1, False), (hi, True), (hi + 1, False)):
        t = entry_time(rpt("A", "a", 35.0, alt, "AMSL"), T, w84_band, 300)
        assert (t == 0.0) if inside else (t is None), alt
    # An AMSL band [1000, 3000] seen from a W84 aircraft: [1000 + GEOID_MIN_M, 3000 + GEOID_MAX_M]
    amsl_band = band_hazard(1000, 3000, "AMSL")
    lo, hi = 1000 + GEOID_MIN_M, 3000 + GEOID_MAX_M
    for alt, inside in ((lo, True), (lo - 1, False), (hi, True), (hi + 1, False)):
        t = entry_time(rpt("A", "a", 35.0, alt, "W84"), T, amsl_band, 300)
        assert (t == 0.0) if inside else (t is None), alt
    # The same reference: the band as declared
    for alt, inside in ((1000, True), (999, False), (3000, True), (3001, False)):
        t = entry_time(rpt("A", "a", 35.0, alt, "W84"), T, w84_band, 300)
        assert (t == 0.0) if inside else (t is None), alt


def test_hazard_entry_by_climbing_is_predicted_at_the_widened_edge() -> None:
    # An AMSL aircraft at 500 m climbing at 5 m/s under a W84 band from 1000 m: it may be
    # inside once it passes 1000 - GEOID_MAX_M = 910 m AMSL, after 82 s.
    [d] = hazards([rpt("A", "a", 35.0, 500, "AMSL", vs=5.0)], T,
                  [band_hazard(1000, 3000, "W84")], 300, Levels())
    assert d.details["time_to_entry_s"] == pytest.approx((1000 - GEOID_MAX_M - 500) / 5, abs=0.1)


def own_volume(lower: float, upper: float, ref: Ref) -> dict[str, list[Volume]]:
    return {"A": [Volume(Circle(35.0, 35.0, 20000), AltitudeBand(lower, upper, ref),
                         T - timedelta(hours=1), T + timedelta(hours=1))]}


def test_conformance_in_the_other_reference_needs_the_shrunk_band() -> None:
    # Own W84 band [0, 3000], AMSL reports: the aircraft is surely inside only within
    # [0 - GEOID_MIN_M, 3000 - GEOID_MAX_M] = [110, 2910] AMSL.
    own = own_volume(0, 3000, "W84")
    lo, hi = 0 - GEOID_MIN_M, 3000 - GEOID_MAX_M
    for alt, conforming in ((lo, True), (lo - 1, False), (hi, True), (hi + 1, False),
                            (1500, True)):
        got = nonconformance([rpt("A", "a", 35.0, alt, "AMSL")], T, own)
        assert (got == []) == conforming, alt
    # Own AMSL band [1000, 3000], W84 reports: [1000 + GEOID_MAX_M, 3000 + GEOID_MIN_M]
    own = own_volume(1000, 3000, "AMSL")
    lo, hi = 1000 + GEOID_MAX_M, 3000 + GEOID_MIN_M
    for alt, conforming in ((lo, True), (lo - 1, False), (hi, True), (hi + 1, False)):
        got = nonconformance([rpt("A", "a", 35.0, alt, "W84")], T, own)
        assert (got == []) == conforming, alt
    # The same reference: the band as declared
    for alt, conforming in ((1000, True), (999, False), (3000, True), (3001, False)):
        got = nonconformance([rpt("A", "a", 35.0, alt, "AMSL")], T, own)
        assert (got == []) == conforming, alt


def test_a_band_thinner_than_the_geoid_range_never_conforms_across_references() -> None:
    own = own_volume(1000, 1000 + (GEOID_MAX_M - GEOID_MIN_M) - 1, "W84")
    for alt in range(900, 1300, 10):
        assert nonconformance([rpt("A", "a", 35.0, alt, "AMSL")], T, own), alt
    # but horizontally outside is still nonconformance, whatever the band
    far = 35.0 + math.degrees(30000 / (EARTH_R * math.cos(math.radians(35.0))))
    assert nonconformance([rpt("A", "a", far, 1500, "AMSL")], T, own_volume(0, 3000, "AMSL"))
