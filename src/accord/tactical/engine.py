"""The tactical conflict engine: predicted losses of separation between aircraft, vectorised.

State-based detection over a look-ahead (straight-line prediction, as BlueSky's `StateBased`
and the DAIDALUS family): for each pair, the interval in which both the horizontal distance is
under H and the vertical distance under V; a conflict when that interval is non-empty, ends
after now and starts within the look-ahead. Pair geometry is BlueSky's flat-earth
approximation (the pair's mean latitude scales longitude), so results can be compared pair
for pair with BlueSky's detector.

Never O(N^2): each aircraft's position swept over the look-ahead gives a box (x, y, altitude);
boxes are sorted on x and swept (sort-and-sweep), so only pairs whose boxes meet in all three
dimensions reach the exact arithmetic, in chunks that bound memory. Arrays in, arrays out; no
state, no I/O.

Altitude references: each aircraft's altitude is AMSL or W84 (`Fleet.amsl`). Within one
reference the vertical test is exact. Between references the geoid undulation N = W84 - AMSL
is only known to lie in the geo core's bounds [GEOID_MIN_M, GEOID_MAX_M], so the pair is taken
at the smallest vertical gap any such N gives: more conflicts, never fewer. Pure: numpy and
the geo core's constants only.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from accord.geo.volume import GEOID_MAX_M, GEOID_MIN_M

EARTH_R = 6371000.0  # metres, BlueSky's flat-earth radius
F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


@dataclass(frozen=True)
class Fleet:
    """Aircraft states, one row each: degrees, metres, metres a second, degrees true.

    `party` is an integer per aircraft; pairs of the same party are not conflicts unless the
    caller asks for all pairs. `amsl` is True where the altitude is above mean sea level and
    False where it is above the WGS 84 ellipsoid (default: all in one reference)."""

    lat: F64
    lon: F64
    alt: F64
    gs: F64
    trk: F64
    vs: F64
    party: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    amsl: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=np.bool_))

    def __post_init__(self) -> None:
        n = len(self.lat)
        if len(self.party) != n:
            object.__setattr__(self, "party", np.arange(n, dtype=np.int64))
        if len(self.amsl) != n:
            object.__setattr__(self, "amsl", np.zeros(n, dtype=np.bool_))
        for name in ("lon", "alt", "gs", "trk", "vs"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} rows, lat has {n}")

    def __len__(self) -> int:
        return len(self.lat)

    @property
    def east(self) -> F64:
        return self.gs * np.sin(np.radians(self.trk))

    @property
    def north(self) -> F64:
        return self.gs * np.cos(np.radians(self.trk))


@dataclass(frozen=True)
class Conflicts:
    """Predicted conflicts as parallel arrays, one row per unordered pair (i < j)."""

    i: I64
    j: I64
    t_in: F64  # seconds from now to loss of separation (<= 0: already lost)
    t_out: F64
    t_cpa: F64  # time of closest horizontal approach
    d_cpa: F64  # horizontal distance at that time, metres
    distance: F64  # horizontal distance now, metres
    vertical: F64  # vertical distance now, metres (the smallest possible across references)
    candidates: int = 0  # pairs that reached the exact test (after pruning)

    def __len__(self) -> int:
        return len(self.i)

    def pairs(self) -> set[tuple[int, int]]:
        return set(zip(self.i.tolist(), self.j.tolist(), strict=True))

    @property
    def los(self) -> NDArray[np.bool_]:
        """Separation already lost (both minima infringed now)."""
        return self.t_in <= 0.0


def _empty(candidates: int = 0) -> Conflicts:
    z = np.zeros(0)
    zi = np.zeros(0, dtype=np.int64)
    return Conflicts(zi, zi, z, z, z, z, z, z, candidates)


def pair_geometry(f: Fleet, i: I64, j: I64, h: float, v: float,
                  lookahead: float) -> Conflicts:
    """The exact state-based test on the given pairs (BlueSky's geometry and criteria).

    Vertically the pair conflicts while dz = alt_j - alt_i lies in (lo - v, hi + v), where
    [lo, hi] is the range of the reference offset: [0, 0] within one reference; with i AMSL
    and j W84 the true gap is dz - N, so [GEOID_MIN_M, GEOID_MAX_M]; with i W84 and j AMSL it
    is dz + N, so [-GEOID_MAX_M, -GEOID_MIN_M]."""
    lat_i, lat_j = f.lat[i], f.lat[j]
    dlat = np.radians(lat_j - lat_i)
    dlon = np.radians((f.lon[j] - f.lon[i] + 180.0) % 360.0 - 180.0)
    cavelat = np.cos(np.radians((lat_i + lat_j) * 0.5))
    dx = EARTH_R * dlon * cavelat  # j relative to i, metres east
    dy = EARTH_R * dlat
    east, north = f.east, f.north
    vx = east[j] - east[i]  # j relative to i, metres a second
    vy = north[j] - north[i]
    v2 = np.maximum(vx * vx + vy * vy, 1e-6)
    t_cpa = -(dx * vx + dy * vy) / v2
    dist2 = dx * dx + dy * dy
    d_cpa2 = np.abs(dist2 - t_cpa * t_cpa * v2)
    hor = d_cpa2 < h * h
    half = np.sqrt(np.maximum(0.0, h * h - d_cpa2) / v2)
    t_in_h = np.where(hor, t_cpa - half, 1e8)
    t_out_h = np.where(hor, t_cpa + half, -1e8)
    dz = f.alt[j] - f.alt[i]
    vz = f.vs[j] - f.vs[i]
    vz = np.where(np.abs(vz) < 1e-6, 1e-6, vz)
    amsl_i, amsl_j = f.amsl[i], f.amsl[j]
    up = amsl_i & ~amsl_j  # i AMSL, j W84
    down = ~amsl_i & amsl_j  # i W84, j AMSL
    lo = np.where(up, GEOID_MIN_M, np.where(down, -GEOID_MAX_M, 0.0))
    hi = np.where(up, GEOID_MAX_M, np.where(down, -GEOID_MIN_M, 0.0))
    cross_hi = (dz - lo + v) / -vz  # dz(t) = lo - v
    cross_lo = (dz - hi - v) / -vz  # dz(t) = hi + v
    t_in = np.maximum(np.minimum(cross_hi, cross_lo), t_in_h)
    t_out = np.minimum(np.maximum(cross_hi, cross_lo), t_out_h)
    hit = hor & (t_in <= t_out) & (t_out > 0.0) & (t_in < lookahead)
    gap = np.maximum(np.maximum(dz - hi, lo - dz), 0.0)
    return Conflicts(i[hit], j[hit], t_in[hit], t_out[hit], t_cpa[hit],
                     np.sqrt(d_cpa2[hit]), np.sqrt(dist2[hit]), gap[hit], len(i))


def detect(f: Fleet, h: float, v: float, lookahead: float, *, all_pairs: bool = False,
           chunk: int = 1 << 19, workers: int = 2) -> Conflicts:
    """Conflicts between aircraft of different parties (all pairs with `all_pairs`)."""
    n = len(f)
    if n < 2:
        return _empty()
    # A flat frame for pruning only; the exact test uses each pair's own mean latitude. For a
    # pair that can conflict, the initial east-west offset is at most H plus both sweeps, and
    # the frame's longitude scale is off from the pair's by at most `slack` of it; so widening
    # each box by `slack` times its own reach keeps every real conflict (a property test
    # checks this against the brute force).
    lat0 = float(np.clip(np.mean(f.lat), -89.0, 89.0))
    c0 = np.cos(np.radians(lat0))
    cmin = max(float(np.cos(np.radians(min(89.9, float(np.max(np.abs(f.lat))))))), 1e-3)
    slack = abs(float(np.cos(np.radians(float(np.min(np.abs(f.lat)))))) - cmin) / cmin
    ref = float(np.degrees(np.arctan2(np.mean(np.sin(np.radians(f.lon))),
                                      np.mean(np.cos(np.radians(f.lon))))))
    dlon = (f.lon - ref + 180.0) % 360.0 - 180.0
    if float(np.max(np.abs(dlon))) > 170.0:  # a fleet around the globe: no single flat frame
        return detect_brute(f, h, v, lookahead, all_pairs=all_pairs)
    x = EARTH_R * np.radians(dlon) * c0
    y = EARTH_R * np.radians(f.lat - lat0)
    x2 = x + f.east * lookahead
    y2 = y + f.north * lookahead
    z2 = f.alt + f.vs * lookahead
    reach = h / 2.0 * (1.0 + 1e-9)
    grow = 2.0 * slack * (reach + np.abs(x2 - x)) + 1.0  # scale error, and a metre of rounding
    xlo = np.minimum(x, x2) - reach - grow
    xhi = np.maximum(x, x2) + reach + grow
    ylo = np.minimum(y, y2) - reach - 1.0
    yhi = np.maximum(y, y2) + reach + 1.0
    zlo = np.minimum(f.alt, z2) - v / 2.0
    zhi = np.maximum(f.alt, z2) + v / 2.0
    if f.amsl.any() and not f.amsl.all():  # mixed references: AMSL boxes in W84, widened
        zlo = np.where(f.amsl, zlo + GEOID_MIN_M, zlo)
        zhi = np.where(f.amsl, zhi + GEOID_MAX_M, zhi)
    # Strips of latitude, each swept along x: an aircraft is entered in every strip its box
    # spans, and a pair is taken only in the strip holding the lower edge of the two boxes'
    # overlap in y, so each pair is seen once. Strips half a box high cut the x-overlapping
    # pairs that the y test would throw away anyway.
    y0 = float(ylo.min())
    height = max(float(np.median(yhi - ylo)) / 2.0, 1.0)
    s_lo = ((ylo - y0) // height).astype(np.int64)
    s_hi = ((yhi - y0) // height).astype(np.int64)
    spans = s_hi - s_lo + 1
    member = np.repeat(np.arange(n), spans)
    strip = np.repeat(s_lo, spans) + (np.arange(int(spans.sum()))
                                      - np.repeat(np.cumsum(spans) - spans, spans))
    width = float(xhi.max() - xlo.min()) * 2.0 + 1.0  # keeps strips apart on one sorted key
    x0 = float(xlo.min())
    key_lo = strip * width + (xlo[member] - x0)
    key_hi = strip * width + (xhi[member] - x0)
    order = np.argsort(key_lo, kind="stable")
    key_lo, key_hi, member, strip = key_lo[order], key_hi[order], member[order], strip[order]
    m = len(member)
    # Per entry, in sorted order: the tests below read rows a and a+k, nearly in sequence.
    e_ylo, e_yhi, e_zlo, e_zhi = ylo[member], yhi[member], zlo[member], zhi[member]
    e_party = f.party[member]
    ends = np.searchsorted(key_lo, key_hi, side="right")  # boxes starting before this ends
    counts = np.maximum(ends - np.arange(m) - 1, 0)
    total_pairs = int(counts.sum())
    bounds = np.searchsorted(np.cumsum(counts), np.arange(chunk, total_pairs + chunk, chunk),
                             side="right")
    edges = np.unique(np.concatenate([[0], np.minimum(bounds, m), [m]]))
    def run(start: int, stop: int) -> Conflicts | None:
        c = counts[start:stop]
        total = int(c.sum())
        if total == 0:
            return None
        a = np.repeat(np.arange(start, stop), c)
        b = a + 1 + (np.arange(total) - np.repeat(np.cumsum(c) - c, c))
        ya, yb = e_ylo[a], e_ylo[b]
        keep = ((ya <= e_yhi[b]) & (yb <= e_yhi[a]) & (e_zlo[a] <= e_zhi[b])
                & (e_zlo[b] <= e_zhi[a]))
        if not all_pairs:
            keep &= e_party[a] != e_party[b]
        a, b = a[keep], b[keep]
        ya, yb = ya[keep], yb[keep]
        once = ((np.maximum(ya, yb) - y0) // height).astype(np.int64) == strip[a]
        i, j = member[a[once]], member[b[once]]
        if not len(i):
            return None
        return pair_geometry(f, np.minimum(i, j), np.maximum(i, j), h, v, lookahead)

    spans_ = list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))
    if workers > 1 and len(spans_) > 1:
        # numpy releases the GIL in its loops: chunks run side by side on the cores.
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(lambda se: run(*se), spans_))
    else:
        results = [run(*se) for se in spans_]
    found = [r for r in results if r is not None]
    candidates = sum(r.candidates for r in found)
    if not found:
        return _empty(candidates)
    return _sorted(_concat(found, candidates))


def detect_brute(f: Fleet, h: float, v: float, lookahead: float, *,
                 all_pairs: bool = False, block: int = 2048) -> Conflicts:
    """The O(N^2) reference: every pair through the exact test, in blocks (bounded memory)."""
    n = len(f)
    found: list[Conflicts] = []
    for s in range(0, n, block):
        rows = np.arange(s, min(n, s + block))
        i = np.repeat(rows, n)
        j = np.tile(np.arange(n), len(rows))
        keep = i < j
        if not all_pairs:
            keep &= f.party[i] != f.party[j]
        if keep.any():
            found.append(pair_geometry(f, i[keep], j[keep], h, v, lookahead))
    if not found:
        return _empty()
    return _sorted(_concat(found, n * (n - 1) // 2))


def _concat(parts: list[Conflicts], candidates: int) -> Conflicts:
    def cat(name: str) -> Any:
        return np.concatenate([getattr(c, name) for c in parts])

    return Conflicts(i=cat("i"), j=cat("j"), t_in=cat("t_in"), t_out=cat("t_out"),
                     t_cpa=cat("t_cpa"), d_cpa=cat("d_cpa"), distance=cat("distance"),
                     vertical=cat("vertical"), candidates=candidates)


def _sorted(c: Conflicts) -> Conflicts:
    k = np.lexsort((c.j, c.i))
    return Conflicts(c.i[k], c.j[k], c.t_in[k], c.t_out[k], c.t_cpa[k], c.d_cpa[k],
                     c.distance[k], c.vertical[k], c.candidates)
