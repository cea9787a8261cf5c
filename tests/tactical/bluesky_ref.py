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


def flat_margin(f: Fleet, i: Any, j: Any, h: float, v: float, lookahead: float) -> Any:
    """For pairs i[k], j[k]: how far BlueSky's own geometry (a sphere of 6,371 km, longitude
    scaled at the pair's mean latitude) keeps them from the edge of the verdict: |the least
    horizontal distance while vertically within v over the look-ahead - h|, in metres."""
    r = 6371000.0
    dx = r * np.radians((f.lon[j] - f.lon[i] + 180.0) % 360.0 - 180.0) * np.cos(
        np.radians((f.lat[i] + f.lat[j]) / 2))
    dy = r * np.radians(f.lat[j] - f.lat[i])
    trk = np.radians(f.trk)
    e, n = f.gs * np.sin(trk), f.gs * np.cos(trk)
    vx, vy = e[j] - e[i], n[j] - n[i]
    dz, vz = f.alt[j] - f.alt[i], f.vs[j] - f.vs[i]
    vz = np.where(np.abs(vz) < 1e-9, 1e-9, vz)
    lo = np.maximum(np.minimum((dz + v) / -vz, (dz - v) / -vz), 0.0)
    hi = np.minimum(np.maximum((dz + v) / -vz, (dz - v) / -vz), lookahead)
    v2 = np.maximum(vx * vx + vy * vy, 1e-12)
    t = np.clip(-(dx * vx + dy * vy) / v2, lo, hi)
    d_min = np.where(lo <= hi, np.hypot(dx + vx * t, dy + vy * t), np.inf)
    return np.abs(d_min - h)
