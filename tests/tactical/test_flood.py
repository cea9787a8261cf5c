"""A flood of conflicting tracks: only what the cap could raise is built one by one, the rest
is counted in arrays, and nothing is lost from the counts."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.tactical.alerts import (
    AlertBook,
    Levels,
    Report,
    TrackTable,
    separation,
    separation_bounded,
    urgency,
)
from accord.tactical.engine import Fleet

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
