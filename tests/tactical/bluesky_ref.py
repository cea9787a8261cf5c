"""BlueSky's state-based conflict detectors, loaded without starting the simulator.

BlueSky (TU Delft) is the independent reference the issue names: `CStateBased` (its C
extension) and `StateBased` (numpy). Both take traffic objects with lat/lon/alt/trk/gs/vs
arrays; a plain namespace stands in for BlueSky's Traffic.
"""

from __future__ import annotations

import contextlib
import io
from types import SimpleNamespace
from typing import Any

import numpy as np

from accord.tactical.engine import Fleet


def load() -> tuple[Any, Any]:
    """(cstatebased.detect, StateBased().detect); BlueSky prints banners on import."""
    with contextlib.redirect_stdout(io.StringIO()):
        from bluesky.traffic.asas import cstatebased
        from bluesky.traffic.asas.statebased import StateBased

        numpy_detector = StateBased.__new__(StateBased)
    return cstatebased.detect, numpy_detector.detect


def traffic(f: Fleet) -> SimpleNamespace:
    n = len(f)
    return SimpleNamespace(ntraf=n, lat=f.lat, lon=f.lon, alt=f.alt, trk=f.trk, gs=f.gs,
                           vs=f.vs, id=[str(i) for i in range(n)])


def pairs(detector: Any, f: Fleet, h: float, v: float, lookahead: float) -> set[tuple[int, int]]:
    """Unordered conflict pairs as BlueSky finds them (it reports each pair both ways)."""
    n = len(f)
    t = traffic(f)
    out = detector(t, t, np.full(n, h), np.full(n, v), np.full(n, lookahead))
    return {(min(int(a), int(b)), max(int(a), int(b))) for a, b in out[0]}
