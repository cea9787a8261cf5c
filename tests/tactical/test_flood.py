"""A flood of conflicting tracks: only what the cap could raise is built one by one, the rest
is counted in arrays, and nothing is lost from the counts."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.tactical.alerts import (
    AlertBook,
    Levels,
    Report,
    TrackTable,
    _moved,
    describe,
    separation,
    separation_bounded,
    urgency,
)
from accord.tactical.engine import Fleet, Stretch, Urgency, detect, detect_urgent

T = datetime(2030, 1, 1, 12, tzinfo=UTC)


def fleet(seed: int, n: int, parties: int = 3) -> tuple[list[Report], Fleet]:
    rng = np.random.default_rng(seed)
    table = TrackTable()
    for k in range(n):
        table.update(Report(f"P{k % parties}", f"a{k}", T, 35.0 + rng.uniform(-0.2, 0.2),
                            35.0 + rng.uniform(-0.2, 0.2), rng.uniform(4000, 5000),
                            rng.uniform(0, 250), rng.uniform(0, 360), rng.uniform(-10, 10)))
    reports, f, _ = table.fleet(T)
    return reports, f


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 200), st.integers(1, 12),
       st.sampled_from([300.0, 700.0]))  # one stretch of look-ahead, and three
def test_bounded_separation_builds_the_most_urgent_and_counts_the_rest(
        seed: int, n: int, cap: int, lookahead: float) -> None:
    reports, f = fleet(seed, n)
    levels = Levels(preventive=lookahead)
    every = {d.key: d for d in separation(reports, f, 5000, 300, levels)}
    built, unlisted = separation_bounded(reports, f, 5000, 300, levels, per_party=cap)
    assert all(every[d.key] == d for d in built)  # the same detections, where built
    for p in {r.party for r in reports}:
        mine = sorted((d for d in every.values() if p in d.parties), key=urgency)
        got = {d.key for d in built if p in d.parties}
        # the party's most urgent are all built (up to ties in level and time to loss)
        assert len(got) >= min(cap, len(mine))
        if len(mine) > cap:
            edge = urgency(mine[cap - 1])[:2]
            assert all(urgency(d)[:2] >= edge for d in mine if d.key not in got)
        assert len(got) + unlisted.count.get(p, 0) == len(mine)  # and nothing is lost
        rest = [d.level for d in mine if d.key not in got]
        assert unlisted.level.get(p, 0) == max(rest, default=0)


def test_pairs_of_open_alerts_are_always_built() -> None:
    reports, f = fleet(7, 200)
    every = sorted(separation(reports, f, 5000, 300, Levels()), key=urgency)
    assert len(every) > 20
    last = every[-1]
    a, b = last.details["aircraft"]
    built, _ = separation_bounded(reports, f, 5000, 300, Levels(),
                                  per_party=2, keep=frozenset({(a, b)}))
    assert last.key in {d.key for d in built}


def test_the_overflow_counts_what_was_not_built() -> None:
    reports, f = fleet(11, 200, parties=2)
    every = separation(reports, f, 5000, 300, Levels())
    book = AlertBook(max_open=3)
    built, unlisted = separation_bounded(reports, f, 5000, 300, Levels(),
                                         per_party=book.max_open)
    changes = book.step(T, built, unlisted)
    singles = [c for c in changes if c.detection.kind == "separation"]
    over = {c.detection.key: c.detection for c in changes if c.detection.kind == "overflow"}
    assert len(singles) == 3
    for p in ("P0", "P1"):
        d = over[f"overflow:{p}"]
        assert d.details["count"] == len(every) - 3
        assert d.details["kinds"] == {"separation": len(every) - 3}
        assert d.level == max(x.level for x in sorted(every, key=urgency)[3:])


def reduce_reference(stretches: list[Stretch], h: float, v: float, u: Urgency,
                     ) -> tuple[dict[int, tuple[float, float, float, int]], np.ndarray]:
    """The unbounded path, reduced afterwards: every conflict of every stretch from
    `detect` (each pair from its first stretch), then each party's `per_party` most urgent
    by (level desc, t_in, code), the kept pairs, and the counts by party and level."""
    f = stretches[0].fleet
    n = len(f)
    every: dict[int, tuple[float, float, float, int]] = {}
    for part in stretches:
        c = detect(part.fleet, h, v, part.span)
        for i, j, t_in, t_cpa, d_cpa in zip(c.i.tolist(), c.j.tolist(), c.t_in.tolist(),
                                            c.t_cpa.tolist(), c.d_cpa.tolist(), strict=True):
            t = part.offset + max(t_in, 0.0)
            level = 3 if t <= u.warning else 2 if t <= u.corrective else 1
            every.setdefault(i * n + j, (t, part.offset + t_cpa, d_cpa, level))
    parties = int(f.party.max()) + 1
    count = np.zeros((parties, 4), dtype=np.int64)
    chosen: set[int] = {int(k) for k in u.keep.tolist() if int(k) in every}
    for p in range(parties):
        mine = [k for k in every if p in (f.party[k // n], f.party[k % n])]
        for k in mine:
            count[p, every[k][3]] += 1
        mine.sort(key=lambda k: (-every[k][3], every[k][0], k))
        chosen |= set(mine[:u.per_party])
    return {k: every[k] for k in chosen}, count


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 160), st.integers(1, 5), st.integers(1, 9),
       st.sampled_from([1, 2]), st.sampled_from([(300.0,), (300.0, 300.0, 100.0)]),
       st.integers(0, 6))
def test_the_bounded_engine_equals_the_unbounded_engine_reduced(
        seed: int, n: int, parties: int, cap: int, workers: int,
        spans: tuple[float, ...], kept: int) -> None:
    """detect_urgent, folding each small batch as it is found (on one or two threads, over
    one or several stretches), keeps exactly what reducing detect's full output keeps."""
    rng = np.random.default_rng(seed)
    table = TrackTable()
    for k in range(n):
        # a crowd on one spot for some, scattered traffic for the rest
        spot = k % 3 == 0
        table.update(Report(f"P{k % parties}", f"a{k}", T,
                            35.0 + (rng.uniform(-0.01, 0.01) if spot else rng.uniform(-0.3, 0.3)),
                            35.0 + (rng.uniform(-0.01, 0.01) if spot else rng.uniform(-0.3, 0.3)),
                            rng.uniform(4000, 5000), rng.uniform(0, 250), rng.uniform(0, 360),
                            rng.uniform(-10, 10)))
    _, f, _ = table.fleet(T)
    stretches, start = [], 0.0
    for span in spans:
        stretches.append(Stretch(f if start == 0.0 else _moved(f, start), start, span))
        start += span
    found = detect(f, 9260.0, 300.0, 300.0)  # kept pairs: some in conflict, some not
    codes = (found.i * len(f) + found.j).tolist()
    keep = np.array(([codes[int(x)] for x in rng.integers(0, len(codes), kept)] if codes
                     else []) + rng.integers(0, len(f) * len(f), kept).tolist(), dtype=np.int64)
    u = Urgency(cap, 60.0, 120.0, keep)
    want, count = reduce_reference(stretches, 9260.0, 300.0, u)
    got = detect_urgent(stretches, 9260.0, 300.0, u, chunk=64, batch=32, workers=workers)
    assert got.code.tolist() == sorted(want)
    for k, code in enumerate(got.code.tolist()):
        t, t_cpa, d_cpa, level = want[code]
        assert (got.t_in[k], got.t_cpa[k], got.d_cpa[k], got.level[k]) == (t, t_cpa, d_cpa,
                                                                           level)
    assert got.count.tolist() == count.tolist()


def stacked(n_stack: int, scattered: int, seed: int = 3) -> tuple[list[Report], Fleet]:
    """`n_stack` aircraft of P1 and P2 on one spot, and scattered traffic of P0 and P3 around."""
    rng = np.random.default_rng(seed)
    table = TrackTable()
    for k in range(n_stack):
        table.update(Report(f"P{1 + k % 2}", f"s{k}", T, 35.0, 35.0, 5000.0 + 50 * (k % 2),
                            100.0, 90.0))
    for k in range(scattered):
        table.update(Report(f"P{3 * (k % 2)}", f"x{k}", T, 36.0 + rng.uniform(-0.5, 0.5),
                            37.0 + rng.uniform(-0.5, 0.5), rng.uniform(4000, 5000),
                            rng.uniform(0, 250), rng.uniform(0, 360), 0.0))
    reports, f, _ = table.fleet(T)
    return reports, f


def test_over_the_budget_a_crowd_is_set_aside_and_the_rest_is_exact() -> None:
    """A stack whose pairs exceed the budget: its aircraft are set aside (crowded), every
    other pair is reduced exactly as without them, the kept pairs of crowded aircraft are
    still tested, and no more candidate pairs are tested than the budget allows."""
    reports, f = stacked(400, 300)
    n = len(f)
    stack = np.array([r.aircraft.startswith("s") for r in reports])
    u0 = Urgency(5, 60.0, 120.0)
    full = detect_urgent([Stretch(f, 0.0, 300.0)], 9260.0, 300.0, u0)
    assert not full.crowd.any() and full.count[1, 3] == 200 * 200  # within the default
    kept = full.code[(f.party[full.code // n] == 1)][:3]  # three open alerts in the stack
    u = Urgency(5, 60.0, 120.0, kept)
    budget = 30_000  # the stack alone makes 79,800 candidate pairs
    got = detect_urgent([Stretch(f, 0.0, 300.0)], 9260.0, 300.0, u, budget=budget)
    assert got.crowd.tolist() == stack.tolist()
    assert got.candidates <= budget + len(kept)
    # the same as the engine on the traffic without the stack, plus the kept pairs
    rest = np.flatnonzero(~stack)
    sub = Fleet(f.lat[rest], f.lon[rest], f.alt[rest], f.gs[rest], f.trk[rest], f.vs[rest],
                f.party[rest], f.amsl[rest])
    alone = detect_urgent([Stretch(sub, 0.0, 300.0)], 9260.0, 300.0, u0)
    back = rest[alone.code // len(sub)] * n + rest[alone.code % len(sub)]
    assert sorted(got.code.tolist()) == sorted(back.tolist() + kept.tolist())
    assert got.count[[0, 3]].tolist() == alone.count[[0, 3]].tolist()
    assert got.count[1, 3] == got.count[2, 3] == 3  # only the kept pairs of the stack


def test_crowded_aircraft_are_told_to_their_party_at_the_highest_level(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import accord.tactical.engine as engine

    monkeypatch.setattr(engine.detect_urgent, "__kwdefaults__",
                        {**engine.detect_urgent.__kwdefaults__, "budget": 30_000})
    reports, f = stacked(400, 300)
    built, unlisted = separation_bounded(reports, f, 9260.0, 300.0, Levels(), per_party=5)
    assert unlisted.crowded == {"P1": 200, "P2": 200}
    assert unlisted.crowded_names["P1"] == [f"P1/s{k}" for k in range(0, 10, 2)]
    assert not any(r.aircraft.startswith("s") for d in built
                   for r in reports if f"{r.party}/{r.aircraft}" in d.details["aircraft"])
    changes = AlertBook(max_open=5).step(T, built, unlisted)
    over = {c.detection.key: c.detection for c in changes if c.detection.kind == "overflow"}
    d = over["overflow:P1"]
    assert d.level == 3 and d.details["kinds"]["crowded"] == 200
    assert d.details["crowded"] == [f"P1/s{k}" for k in range(0, 10, 2)]
    assert "200 aircraft in a crowd" in describe("overflow", "raised", d.details)


def test_the_budget_holds_for_each_stretch_of_a_long_look_ahead() -> None:
    """Three stretches of 300 s: the budget is a stretch's, so traffic that fits in one
    stretch is never set aside because the look-ahead is long."""
    _, f = stacked(400, 300)
    stretches = [Stretch(f if s == 0 else _moved(f, 300.0 * s), 300.0 * s, 300.0)
                 for s in range(3)]
    got = detect_urgent(stretches, 9260.0, 300.0, Urgency(5, 60.0, 120.0), budget=100_000)
    assert not got.crowd.any() and got.count[1, 3] == 200 * 200
    tight = detect_urgent(stretches, 9260.0, 300.0, Urgency(5, 60.0, 120.0), budget=30_000)
    assert tight.crowd.sum() == 400
