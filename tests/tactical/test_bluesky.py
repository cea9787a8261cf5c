"""Against an independent detector: BlueSky's, on the same random traffic (5 NM, 1000 ft,
300 s look-ahead). The pair sets must be identical.

Tolerance: none on the pair set. Both compute the same flat-earth geometry in double
precision, so a pair could only differ if its entry time or CPA distance sat within rounding
(~1e-9 relative) of a threshold; the seeds below have none, and a mismatch fails the test."""

from __future__ import annotations

import numpy as np
import pytest
from bluesky_ref import load, pairs
from test_engine import random_fleet

from accord.tactical.engine import detect

NM, FT = 1852.0, 0.3048
# BlueSky's numpy detector uses np.matrix, which numpy deprecates; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")


@pytest.fixture(scope="module")
def detectors() -> tuple[object, object]:
    return load()


@pytest.mark.parametrize("seed, n, area", [
    (1, 500, ((50.0, 51.0), (4.0, 5.5))),      # dense: a terminal area
    (2, 2000, ((48.0, 54.0), (2.0, 12.0))),    # a region
    (3, 3000, ((35.0, 60.0), (-10.0, 30.0))),  # a continent
])
def test_same_pairs_as_bluesky_c_detector(detectors: tuple[object, object], seed: int, n: int,
                                          area: tuple[tuple[float, float], ...]) -> None:
    c_detect, _ = detectors
    f = random_fleet(np.random.default_rng(seed), n, area[0], area[1], n)
    ours = detect(f, 5 * NM, 1000 * FT, 300.0, all_pairs=True).pairs()
    theirs = pairs(c_detect, f, 5 * NM, 1000 * FT, 300.0)
    assert theirs, "the traffic should produce conflicts"
    assert ours == theirs, (len(ours - theirs), len(theirs - ours))


def test_same_pairs_as_bluesky_numpy_detector(detectors: tuple[object, object]) -> None:
    _, np_detect = detectors
    f = random_fleet(np.random.default_rng(4), 600, (50.0, 51.5), (4.0, 6.0), 600)
    ours = detect(f, 5 * NM, 1000 * FT, 300.0, all_pairs=True).pairs()
    assert ours == pairs(np_detect, f, 5 * NM, 1000 * FT, 300.0)
