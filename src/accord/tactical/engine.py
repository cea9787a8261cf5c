"""The tactical conflict engine: predicted losses of separation between aircraft, vectorised.

State-based detection over a look-ahead (as BlueSky's `StateBased` and the DAIDALUS family):
each aircraft keeps its ground speed, its vertical speed and a straight path; for each pair,
the interval in which both the horizontal distance is under H and the vertical distance under
V; a conflict when that interval is non-empty, ends after now and starts within the look-ahead.

Pair geometry on the WGS-84 ellipsoid, right at every latitude: each aircraft is the point of
the ellipsoid below it, in earth-centred metres, with its velocity along its track in its own
east/north frame, as a 3-vector (so each moves along the tangent to its geodesic). For a pair,
the relative position and velocity are projected on one local tangent plane, normal to the
sum of the two ellipsoid normals, and the distance is solved there in closed form. Both
velocities are compared in one frame, so the convergence of meridians is in the geometry; the
error against geodesics on the ellipsoid grows as the cube of the distance flown: under 16 m
for aircraft up to 310 m/s over 300 s (docs/design.md, "Tactical alerts").

Never O(N^2): each aircraft's path over the look-ahead gives a box in one earth-centred frame
(rotated to the fleet's centre; a rotation keeps distances) and in altitude. Boxes are entered
in strips and swept along one axis (sort-and-sweep), so only pairs whose boxes meet reach the
exact arithmetic, in chunks that bound memory. The boxes are padded by a proved bound on what
the tangent-plane projection can hide, so pruning never drops a pair the exact test keeps: no
special case for the poles, the antimeridian or a fleet around the globe. Arrays in, arrays
out; no state, no I/O.

Altitude references: each aircraft's altitude is AMSL or W84 (`Fleet.amsl`). Within one
reference the vertical test is exact. Between references the geoid undulation N = W84 - AMSL
is only known to lie in the geo core's bounds [GEOID_MIN_M, GEOID_MAX_M], so the pair is taken
at the smallest vertical gap any such N gives: more conflicts, never fewer. Pure: numpy and
the geo core's constants only.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Final, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from accord.geo.volume import GEOID_MAX_M, GEOID_MIN_M

EARTH_R = 6371000.0  # metres, a mean radius: rough placement only (tests, demos), not geometry
WGS84_A = 6378137.0  # semi-major axis, metres
WGS84_F = 1.0 / 298.257223563
WGS84_B = WGS84_A * (1.0 - WGS84_F)
_E2 = WGS84_F * (2.0 - WGS84_F)
RHO_MIN = WGS84_A * (1.0 - _E2)  # the smallest radius of curvature (meridian, at the equator)
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


@dataclass(frozen=True)
class Kinematics:
    """Per aircraft, in one earth-centred frame (metres, metres a second): the point of the
    WGS-84 ellipsoid below it (p), the normal there (n) and its velocity along its track in
    its own local east/north frame (v, perpendicular to n).

    n is the ellipsoid's gradient, a Q p with Q = diag(a^-2, a^-2, b^-2): exactly the normal's
    direction, of length N / a (1 to 1.0034). Since p Q p = 1 at every point, the chord
    between two points is exactly perpendicular to the sum of their n."""

    px: F64
    py: F64
    pz: F64
    nx: F64
    ny: F64
    nz: F64
    vx: F64
    vy: F64
    vz: F64


def kinematics(f: Fleet) -> Kinematics:
    """Earth-centred states of the fleet (x to 0 N 0 E, z to the north pole)."""
    lat, lon = np.radians(f.lat), np.radians(f.lon)
    sl, cl, so, co = np.sin(lat), np.cos(lat), np.sin(lon), np.cos(lon)
    prime = WGS84_A / np.sqrt(1.0 - _E2 * sl * sl)  # radius of curvature in the prime vertical
    p = (prime * cl * co, prime * cl * so, prime * (1.0 - _E2) * sl)
    n = (p[0] / WGS84_A, p[1] / WGS84_A, p[2] * WGS84_A / (WGS84_B * WGS84_B))
    trk = np.radians(f.trk)
    ve, vn = f.gs * np.sin(trk), f.gs * np.cos(trk)
    v = (-ve * so - vn * sl * co, ve * co - vn * sl * so, vn * cl)
    return Kinematics(*p, *n, *v)


def _rotate(axes: F64, x: F64, y: F64, z: F64) -> tuple[F64, F64, F64]:
    r0, r1, r2 = axes
    return (r0[0] * x + r0[1] * y + r0[2] * z, r1[0] * x + r1[1] * y + r1[2] * z,
            r2[0] * x + r2[1] * y + r2[2] * z)


def _axes(k: Kinematics) -> F64:
    """East, north and up at the fleet's mean normal (any frame if the normals cancel)."""
    c = np.array([k.nx.mean(), k.ny.mean(), k.nz.mean()])
    size = float(np.linalg.norm(c))
    up = c / size if size > 1e-6 else np.array([0.0, 0.0, 1.0])
    east = np.array([-up[1], up[0], 0.0])
    if float(np.linalg.norm(east)) < 1e-6:
        east = np.array([0.0, 1.0, 0.0])
    east /= np.linalg.norm(east)
    north = np.cross(up, east)
    return np.array([east, north, up])


def pair_geometry(f: Fleet, i: I64, j: I64, h: float, v: float,
                  lookahead: float) -> Conflicts:
    """The exact state-based test on the given pairs (one tangent plane per pair).

    Vertically the pair conflicts while dz = alt_j - alt_i lies in (lo - v, hi + v), where
    [lo, hi] is the range of the reference offset: [0, 0] within one reference; with i AMSL
    and j W84 the true gap is dz - N, so [GEOID_MIN_M, GEOID_MAX_M]; with i W84 and j AMSL it
    is dz + N, so [-GEOID_MAX_M, -GEOID_MIN_M]."""
    return _exact(kinematics(f), f, i, j, h, v, lookahead, _mixed(f))


def horizontal_distance(f: Fleet, i: I64, j: I64, t: F64) -> F64:
    """The model's horizontal distance between aircraft i[k] and j[k] at t[k] seconds."""
    k = kinematics(f)
    dx, dy, dz = k.px[j] - k.px[i], k.py[j] - k.py[i], k.pz[j] - k.pz[i]
    wx, wy, wz = k.vx[j] - k.vx[i], k.vy[j] - k.vy[i], k.vz[j] - k.vz[i]
    mx, my, mz = k.nx[i] + k.nx[j], k.ny[i] + k.ny[j], k.nz[i] + k.nz[j]
    wm = (wx * mx + wy * my + wz * mz) / np.sqrt(mx * mx + my * my + mz * mz)
    rx, ry, rz = dx + wx * t, dy + wy * t, dz + wz * t
    out: F64 = np.sqrt(np.maximum(rx * rx + ry * ry + rz * rz - (wm * t) ** 2, 0.0))
    return out


def _mixed(f: Fleet) -> bool:
    """Altitudes in both references (the vertical test then allows for the geoid)."""
    return bool(f.amsl.any()) and not bool(f.amsl.all())


def _offsets(f: Fleet, i: I64, j: I64, mixed: bool) -> tuple[F64 | float, F64 | float]:
    """The range [lo, hi] of the reference offset of alt_j - alt_i (see `pair_geometry`)."""
    if not mixed:
        return 0.0, 0.0
    amsl_i, amsl_j = f.amsl[i], f.amsl[j]
    up = amsl_i & ~amsl_j  # i AMSL, j W84
    down = ~amsl_i & amsl_j  # i W84, j AMSL
    return (np.where(up, GEOID_MIN_M, np.where(down, -GEOID_MAX_M, 0.0)),
            np.where(up, GEOID_MAX_M, np.where(down, -GEOID_MIN_M, 0.0)))


def apart(f: Fleet, i: I64, j: I64) -> tuple[F64, F64]:
    """(horizontal, vertical) distance now between aircraft i[k] and j[k], as the exact test
    measures them (the vertical one the smallest possible across references)."""
    k = kinematics(f)
    dx, dy, dz = k.px[j] - k.px[i], k.py[j] - k.py[i], k.pz[j] - k.pz[i]
    dalt = f.alt[j] - f.alt[i]
    lo, hi = _offsets(f, i, j, _mixed(f))
    gap: F64 = np.maximum(np.maximum(dalt - hi, lo - dalt), 0.0)
    return np.sqrt(dx * dx + dy * dy + dz * dz), gap


def _exact(k: Kinematics, f: Fleet, i: I64, j: I64, h: float, v: float,
           lookahead: float, mixed: bool = True) -> Conflicts:
    return _exact_at(k, f, i, j, h, v, lookahead, mixed)[0]


def _exact_at(k: Kinematics, f: Fleet, i: I64, j: I64, h: float, v: float,
              lookahead: float, mixed: bool = True) -> tuple[Conflicts, I64]:
    """`_exact`, and the positions in (i, j) of the pairs it keeps."""
    candidates = len(i)
    dx, dy, dz = k.px[j] - k.px[i], k.py[j] - k.py[i], k.pz[j] - k.pz[i]  # j relative to i
    wx, wy, wz = k.vx[j] - k.vx[i], k.vy[j] - k.vy[i], k.vz[j] - k.vz[i]
    mx, my, mz = k.nx[i] + k.nx[j], k.ny[i] + k.ny[j], k.nz[i] + k.nz[j]  # the pair's normal
    # In the plane normal to m: the chord d lies in it already; w loses its m component.
    # |d + w t|^2 = dist2 + 2 dw t + v2 t^2
    wm = wx * mx + wy * my + wz * mz
    dist2 = dx * dx + dy * dy + dz * dz
    dw = dx * wx + dy * wy + dz * wz
    v2 = np.maximum(wx * wx + wy * wy + wz * wz - wm * wm / (mx * mx + my * my + mz * mz),
                    1e-6)
    d_cpa2 = np.abs(dist2 - dw * dw / v2)
    near = np.flatnonzero(d_cpa2 < h * h)  # most candidates end here: the rest on these only
    i, j, dist2, dw, v2, d_cpa2 = i[near], j[near], dist2[near], dw[near], v2[near], d_cpa2[near]
    t_cpa = -dw / v2
    half = np.sqrt((h * h - d_cpa2) / v2)
    dalt = f.alt[j] - f.alt[i]
    vs = f.vs[j] - f.vs[i]
    vs = np.where(np.abs(vs) < 1e-6, 1e-6, vs)
    lo, hi = _offsets(f, i, j, mixed)
    cross_hi = (dalt - lo + v) / -vs  # dz(t) = lo - v
    cross_lo = (dalt - hi - v) / -vs  # dz(t) = hi + v
    t_in = np.maximum(np.minimum(cross_hi, cross_lo), t_cpa - half)
    t_out = np.minimum(np.maximum(cross_hi, cross_lo), t_cpa + half)
    hit = (t_in <= t_out) & (t_out > 0.0) & (t_in < lookahead)
    gap = np.maximum(np.maximum(dalt - hi, lo - dalt), 0.0)
    return (Conflicts(i[hit], j[hit], t_in[hit], t_out[hit], t_cpa[hit],
                      np.sqrt(d_cpa2[hit]), np.sqrt(dist2[hit]), gap[hit], candidates),
            near[hit])


def reach(h: float, lookahead: float, speed_sum: float) -> float:
    """A bound on the earth-centred (chord) distance between two aircraft at any moment of
    the look-ahead at which the exact test finds them within `h` horizontally, for two whose
    ground speeds add up to at most `speed_sum`.

    The exact test drops the relative position's component along the pair's normal m. At
    time t that is t w.m^ (the chord itself is perpendicular to m). Each velocity is
    perpendicular to its own normal, and m^ lies between the two normals, within half their
    angle g of each (times 1.0017 for the unequal lengths of the two n; 1.01 is used), so
    |w.m^| <= speed_sum tan(1.01 g / 2). A pair within h at t started within
    d0 <= h + t speed_sum, and the normals of two points a chord d0 apart differ by at most
    g = 2 asin(d0 / (2 rho_min)) (the normal turns by at most the arc length over the least
    radius of curvature). So the chord is under sqrt(h^2 + beta^2), beta = t speed_sum
    tan(1.01 g / 2)."""
    d0 = (h + lookahead * speed_sum) * (1.0 + 1e-9) + 1.0
    if d0 >= 2.0 * RHO_MIN * math.sin(0.5):  # normals a radian apart: no useful bound
        return d0 + lookahead * speed_sum
    g = 2.0 * math.asin(d0 / (2.0 * RHO_MIN))
    beta = lookahead * speed_sum * math.tan(1.01 * g / 2.0)
    return min(math.hypot(h, beta), d0 + lookahead * speed_sum) * (1.0 + 1e-9) + 1.0


def detect(f: Fleet, h: float, v: float, lookahead: float, *, all_pairs: bool = False,
           chunk: int = 1 << 15, batch: int = 1 << 13, workers: int = 2) -> Conflicts:
    """Conflicts between aircraft of different parties (all pairs with `all_pairs`).

    Every conflict is returned: memory grows with their number (a stacked flood of two
    parties of 10,000 is 10^8 of them). The service uses `detect_urgent`, which keeps only a
    bounded reduction of them."""
    if len(f) < 2:
        return _empty()
    found = _sweep(f, h, v, lookahead, all_pairs, chunk, batch, workers, _Collect)
    tested = sum(r.candidates for part in found for r in part.parts)
    parts = [r for part in found for r in part.parts]
    if not parts:
        return _empty(tested)
    return _sorted(_concat(parts, tested))


class _Sink(Protocol):
    """Where the sweep's conflicts go, one tested batch at a time (one sink per thread)."""

    def add(self, c: Conflicts) -> None: ...


S = TypeVar("S", bound=_Sink)


class _Collect:
    def __init__(self) -> None:
        self.parts: list[Conflicts] = []

    def add(self, c: Conflicts) -> None:
        self.parts.append(c)


@dataclass(frozen=True)
class _Entries:
    """The sweep's entries (an aircraft once per strip its box spans), sorted, and how many
    candidate pairs each generates (see `_sweep`)."""

    member: I64
    strip: I64
    key_lo: F64
    key_hi: F64
    m: int
    pos: I64
    ends: I64
    e_first: NDArray[np.bool_]
    count_a: I64
    count_b: I64
    fpos: I64
    from_b: I64

    @property
    def total(self) -> int:
        return int(self.count_a.sum()) + int(self.count_b.sum())

    def degree(self, n: int) -> I64:
        """Per aircraft, the candidate pairs it is in (either side), in O(entries): the
        partners of an entry are a run of sorted entries (A) or of beginning entries (B),
        so each side is a difference array."""
        m = self.m
        diff = np.zeros(m + 1, dtype=np.int64)
        a = self.count_a > 0
        np.add.at(diff, self.pos[a] + 1, 1)
        np.add.at(diff, self.ends[a], -1)
        as_b = np.cumsum(diff)[:m]
        k = len(self.fpos)
        diff_f = np.zeros(k + 1, dtype=np.int64)
        b = self.count_b > 0
        np.add.at(diff_f, self.from_b[b], 1)
        np.add.at(diff_f, self.from_b[b] + self.count_b[b], -1)
        as_b[self.fpos] += np.cumsum(diff_f)[:k]
        per_entry = self.count_a + self.count_b + as_b
        out: I64 = np.bincount(self.member, weights=per_entry, minlength=n).astype(np.int64)
        return out


def _entries(rows: I64, s_lo: I64, s_hi: I64, xlo: F64, xhi: F64, x0: float,
             width: float) -> _Entries:
    """The sweep's entries for the aircraft `rows`: in strips along y, sorted along x."""
    spans = (s_hi - s_lo + 1)[rows]
    member = np.repeat(rows, spans)
    strip = np.repeat(s_lo[rows], spans) + (np.arange(int(spans.sum()))
                                            - np.repeat(np.cumsum(spans) - spans, spans))
    key_lo = strip * width + (xlo[member] - x0)
    key_hi = strip * width + (xhi[member] - x0)
    order = np.argsort(key_lo)
    key_lo, key_hi, member, strip = key_lo[order], key_hi[order], member[order], strip[order]
    m = len(member)
    # A pair is taken only in the strip holding the lower edge of the two boxes' y-overlap,
    # the higher of their lower edges: the strip in which one of the two boxes begins.
    e_first = s_lo[member] == strip
    # Two enumerations, so that no pair is generated in a strip that does not own it:
    # (A) from each entry that begins its box in the strip, every later entry overlapping it
    # in x; (B) from each entry that continues a box from a lower strip, only the later
    # entries that begin theirs here (fpos). Pairs of two continuing entries are never made.
    pos = np.arange(m)
    ends = np.searchsorted(key_lo, key_hi, side="right")  # boxes starting before this ends
    count_a = np.where(e_first, np.maximum(ends - pos - 1, 0), 0)
    fpos = np.flatnonzero(e_first)
    from_b = np.searchsorted(fpos, pos, side="right")  # the first beginning entry after pos
    count_b = np.where(e_first, 0,
                       np.maximum(np.searchsorted(key_lo[fpos], key_hi, side="right") - from_b,
                                  0))
    return _Entries(member, strip, key_lo, key_hi, m, pos, ends, e_first, count_a, count_b,
                    fpos, from_b)


def _sweep(f: Fleet, h: float, v: float, lookahead: float, all_pairs: bool,
           chunk: int, batch: int, workers: int, sink: Callable[[], S],
           crowd: NDArray[np.bool_] | None = None, budget: int | None = None) -> list[S]:
    """The pruned sweep: every pair the exact test keeps reaches one of the sinks (one per
    thread), in batches of at most about `batch` + `chunk` tested pairs.

    With a `budget` of candidate pairs, aircraft are set aside in `crowd` (updated in place)
    until the rest generate at most that many, and pairs with an aircraft in `crowd` are
    not made at all; without one, every aircraft is swept."""
    if crowd is None:
        crowd = np.zeros(len(f), dtype=np.bool_)
    if budget is None:
        budget = np.iinfo(np.int64).max
    n = len(f)
    k0 = kinematics(f)
    mixed = _mixed(f)
    axes = _axes(k0)  # x east, y north, z up at the fleet's centre
    x, y, zz = _rotate(axes, k0.px, k0.py, k0.pz)
    ux, uy, uz = _rotate(axes, k0.vx, k0.vy, k0.vz)
    # Boxes hold each aircraft's path over the look-ahead, padded by half the chord distance
    # that the exact test can still call a loss (`reach`): a pair it keeps is within that
    # distance in every axis at some moment, so its boxes meet. Heights are the altitudes.
    pad = reach(h, lookahead, 2.0 * float(np.max(f.gs))) / 2.0
    x2, y2, z2_ = x + ux * lookahead, y + uy * lookahead, zz + uz * lookahead
    xlo, xhi = np.minimum(x, x2) - pad, np.maximum(x, x2) + pad
    ylo, yhi = np.minimum(y, y2) - pad, np.maximum(y, y2) + pad
    clo, chi = np.minimum(zz, z2_) - pad, np.maximum(zz, z2_) + pad
    z2 = f.alt + f.vs * lookahead
    zlo = np.minimum(f.alt, z2) - v / 2.0
    zhi = np.maximum(f.alt, z2) + v / 2.0
    if f.amsl.any() and not f.amsl.all():  # mixed references: AMSL boxes in W84, widened
        zlo = np.where(f.amsl, zlo + GEOID_MIN_M, zlo)
        zhi = np.where(f.amsl, zhi + GEOID_MAX_M, zhi)
    # Strips along y, each swept along x: an aircraft is entered in every strip its box
    # spans, and a pair is taken only in the strip holding the lower edge of the two boxes'
    # overlap in y, so each pair is seen once. Strips half a box high cut the x-overlapping
    # pairs that the y test would throw away anyway.
    y0 = float(ylo.min())
    height = max(float(np.median(yhi - ylo)) / 2.0, 1.0)
    s_lo = ((ylo - y0) // height).astype(np.int64)
    s_hi = ((yhi - y0) // height).astype(np.int64)
    width = float(xhi.max() - xlo.min()) * 2.0 + 1.0  # keeps strips apart on one sorted key
    x0 = float(xlo.min())
    rows = np.flatnonzero(~crowd)
    while True:
        sw = _entries(rows, s_lo, s_hi, xlo, xhi, x0, width)
        if sw.total <= budget or not len(rows):
            break
        # Too many candidate pairs for one cycle: the aircraft in the most of them are set
        # aside (crowded), those in at least half as many as the most crowded first, until
        # what is left fits. Each pass takes out at least the most crowded aircraft, and the
        # most pairs any aircraft is in at least halves, so there are at most ~log2(N) passes.
        deg = sw.degree(n)[rows]
        out = deg >= max(int(deg.max()) // 2, 1)
        crowd[rows[out]] = True
        rows = rows[~out]
    member, m, count_a, count_b = sw.member, sw.m, sw.count_a, sw.count_b
    fpos, from_b = sw.fpos, sw.from_b
    # Per entry, in sorted order: the tests below read rows a and a+k, nearly in sequence.
    e_ylo, e_yhi, e_zlo, e_zhi = ylo[member], yhi[member], zlo[member], zhi[member]
    # The third axis (up at the fleet's centre) only separates boxes whose x and y overlap
    # when the fleet spreads over a large part of the globe; it is a filter, never needed
    # for exactness, so it is skipped when it cannot help.
    wide = float(np.min(zz)) < float(np.max(zz)) - 2.0 * pad - 1e5
    e_clo, e_chi = clo[member], chi[member]
    e_party = f.party[member]
    spans_: list[tuple[bool, int, int]] = []
    for begun, counts in ((True, count_a), (False, count_b)):
        total_pairs = int(counts.sum())
        bounds = np.searchsorted(np.cumsum(counts), np.arange(chunk, total_pairs + chunk, chunk),
                                 side="right")
        edges = np.unique(np.concatenate([[0], np.minimum(bounds, m), [m]]))
        spans_ += [(begun, s0, s1) for s0, s1 in itertools.pairwise(edges.tolist())]

    def candidates(begun: bool, start: int, stop: int) -> tuple[I64, I64] | None:
        c = (count_a if begun else count_b)[start:stop]
        total = int(c.sum())
        if total == 0:
            return None
        # Entry a (in order) against its c[a] partners; the a side is repeated from
        # contiguous slices, the b side gathered from nearly contiguous rows. Cheapest and
        # most selective tests first, each on the survivors of the one before.
        a = np.repeat(np.arange(start, stop), c)
        first = (np.arange(start + 1, stop + 1) if begun else from_b[start:stop])
        b = np.arange(total) + np.repeat(first - (np.cumsum(c) - c), c)
        if not begun:
            b = fpos[b]
        keep = np.repeat(e_ylo[start:stop], c) <= e_yhi[b]
        keep &= e_ylo[b] <= np.repeat(e_yhi[start:stop], c)
        a, b = a[keep], b[keep]
        keep = (e_zlo[a] <= e_zhi[b]) & (e_zlo[b] <= e_zhi[a])
        if wide:
            keep &= (e_clo[a] <= e_chi[b]) & (e_clo[b] <= e_chi[a])
        if not all_pairs:
            keep &= e_party[a] != e_party[b]
        i, j = member[a[keep]], member[b[keep]]
        return (np.minimum(i, j), np.maximum(i, j)) if len(i) else None

    def work(spans: list[tuple[bool, int, int]]) -> S:
        # Candidates are gathered until a batch is full, then tested together: arrays stay
        # small (a chunk of 8,192 pairs is 64 KiB, under the allocator's mmap threshold, so
        # no page faults on every temporary) and numpy's per-call overhead is shared.
        out = sink()
        held: list[tuple[I64, I64]] = []
        size = 0
        for begun, start, stop in spans:
            ij = candidates(begun, start, stop)
            if ij is not None:
                held.append(ij)
                size += len(ij[0])
            if size >= batch or (held and (begun, start, stop) == spans[-1]):
                i = np.concatenate([x for x, _ in held])
                j = np.concatenate([y for _, y in held])
                out.add(_exact(k0, f, i, j, h, v, lookahead, mixed))
                held, size = [], 0
        return out

    if workers > 1 and len(spans_) > 1:
        # numpy releases the GIL in its loops: each thread takes a share of the chunks.
        share = -(-len(spans_) // workers)
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(work, [spans_[k:k + share]
                                        for k in range(0, len(spans_), share)]))
    return [work(spans_)]


@dataclass(frozen=True)
class Stretch:
    """One stretch of a look-ahead cut into several: the fleet as it is `offset` seconds
    from now, looked ahead `span` seconds."""

    fleet: Fleet
    offset: float
    span: float


@dataclass(frozen=True)
class Urgency:
    """What a bounded detection keeps (see `detect_urgent`): the `per_party` most urgent
    conflicts of each party, most urgent meaning the higher level, then the sooner loss,
    then the lower pair code i * n + j; every conflict of a pair in `keep` (pair codes);
    and for all the others, counts by party and level. A conflict's level is 3 when its
    loss (from now, 0 if already lost) is at most `warning` seconds away, 2 at most
    `corrective`, else 1."""

    per_party: int
    warning: float
    corrective: float
    keep: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


@dataclass(frozen=True)
class Urgent:
    """The bounded result: the kept conflicts (sorted by pair code) and, per party and
    level, how many conflicts concern it (`count[p, level]`, all of them, kept or not)."""

    code: I64  # i * n + j, i < j
    t_in: F64  # seconds from now to loss, 0 if lost already
    t_cpa: F64  # seconds from now to closest approach
    d_cpa: F64
    level: NDArray[np.int8]
    count: I64  # (parties, 4): column L counts the conflicts of level L (column 0 unused)
    candidates: int
    crowd: NDArray[np.bool_]  # per aircraft: set aside, its pairs not made (but kept ones)


class _Reduce:
    """Folds tested batches into an `Urgent`, holding at most per_party x parties + |keep|
    conflicts however many arrive. A conflict is held while it is among the per_party most
    urgent seen so far of either of its parties (or its pair is kept): whatever comes later,
    each party's most urgent are among those held. The threshold of a party (its
    per_party-th most urgent held) lets most of a flood be dropped after a few comparisons."""

    def __init__(self, f: Fleet, parties: int, u: Urgency, h: float, v: float,
                 stretch: Stretch, earlier: list[tuple[Kinematics, Stretch]]) -> None:
        self.f, self.u, self.h, self.v = f, u, h, v
        self.n, self.parties = len(f), parties
        self.stretch, self.earlier = stretch, earlier
        self.mixed = _mixed(f)
        self.code = np.zeros(0, dtype=np.int64)
        self.t_in = np.zeros(0)
        self.t_cpa = np.zeros(0)
        self.d_cpa = np.zeros(0)
        self.level = np.zeros(0, dtype=np.int8)
        self.count = np.zeros((parties, 4), dtype=np.int64)
        self.candidates = 0
        # per party: the key (-level, t_in, code) of its per_party-th most urgent held
        self.thr_level = np.full(parties, 1, dtype=np.int64)  # -level; 1 beats every level
        self.thr_t = np.full(parties, np.inf)
        self.thr_code = np.full(parties, np.iinfo(np.int64).max, dtype=np.int64)

    def add(self, c: Conflicts) -> None:
        self.candidates += c.candidates
        i, j, t_in, t_cpa, d_cpa = c.i, c.j, c.t_in, c.t_cpa, c.d_cpa
        if self.earlier and len(i):
            # a pair in conflict in an earlier stretch is that stretch's (its earliest loss)
            seen = np.zeros(len(i), dtype=np.bool_)
            for k, st in self.earlier:
                seen[_exact_at(k, st.fleet, i, j, self.h, self.v, st.span, self.mixed)[1]] = True
            if seen.any():
                new = ~seen
                i, j, t_in, t_cpa, d_cpa = i[new], j[new], t_in[new], t_cpa[new], d_cpa[new]
        if not len(i):
            return
        t = self.stretch.offset + np.maximum(t_in, 0.0)
        level = np.where(t <= self.u.warning, 3,
                         np.where(t <= self.u.corrective, 2, 1)).astype(np.int8)
        code = i * self.n + j
        pi, pj = self.f.party[i], self.f.party[j]
        self.count += np.bincount(np.concatenate([pi, pj]) * 4 + np.tile(level, 2),
                                  minlength=4 * self.parties).reshape(self.parties, 4)
        nl = -level.astype(np.int64)
        hold = self._beats(nl, t, code, pi) | self._beats(nl, t, code, pj)
        if len(self.u.keep):
            at = np.minimum(np.searchsorted(self.u.keep, code), len(self.u.keep) - 1)
            hold |= self.u.keep[at] == code
        if hold.any():
            self._hold(code[hold], t[hold], self.stretch.offset + t_cpa[hold], d_cpa[hold],
                       level[hold])

    def _beats(self, nl: I64, t: F64, code: I64, p: I64) -> NDArray[np.bool_]:
        tl, tt, tc = self.thr_level[p], self.thr_t[p], self.thr_code[p]
        out: NDArray[np.bool_] = (nl < tl) | ((nl == tl) & ((t < tt) | ((t == tt) & (code < tc))))
        return out

    def _hold(self, code: I64, t: F64, t_cpa: F64, d_cpa: F64,
              level: NDArray[np.int8]) -> None:
        code = np.concatenate([self.code, code])
        t = np.concatenate([self.t_in, t])
        t_cpa = np.concatenate([self.t_cpa, t_cpa])
        d_cpa = np.concatenate([self.d_cpa, d_cpa])
        level = np.concatenate([self.level, level])
        m = len(code)
        party = self.f.party
        pi, pj = party[code // self.n], party[code % self.n]
        two = pi != pj  # a pair of one party (all_pairs) is ranked once for it
        row = np.concatenate([np.arange(m), np.flatnonzero(two)])
        p = np.concatenate([pi, pj[two]])
        nl = -level.astype(np.int64)[row]
        order = np.lexsort((code[row], t[row], nl, p))
        p_o = p[order]
        start = np.searchsorted(p_o, p_o, side="left")
        rank = np.arange(len(order)) - start
        top = rank < self.u.per_party
        held = np.zeros(m, dtype=np.bool_)
        held[row[order[top]]] = True
        if len(self.u.keep):
            at = np.minimum(np.searchsorted(self.u.keep, code), len(self.u.keep) - 1)
            held |= self.u.keep[at] == code
        # the new thresholds: each party's per_party-th most urgent, where it has that many
        edge = order[rank == self.u.per_party - 1]
        q = p[edge]
        self.thr_level[q] = nl[edge]
        self.thr_t[q] = t[row[edge]]
        self.thr_code[q] = code[row[edge]]
        self.code, self.t_in, self.t_cpa = code[held], t[held], t_cpa[held]
        self.d_cpa, self.level = d_cpa[held], level[held]

    def merge(self, other: _Reduce) -> None:
        self.count += other.count
        self.candidates += other.candidates
        if len(other.code):
            self._hold(other.code, other.t_in, other.t_cpa, other.d_cpa, other.level)


BUDGET: Final = 1 << 23  # candidate pairs a stretch may make: about 0.5 s on two threads


def detect_urgent(stretches: list[Stretch], h: float, v: float, u: Urgency, *,
                  budget: int = BUDGET, chunk: int = 1 << 15, batch: int = 1 << 13,
                  workers: int = 2) -> Urgent:
    """Conflicts between aircraft of different parties over a look-ahead made of
    `stretches` (one fleet, moved on; each pair's loss is its earliest: a pair is taken from
    the first stretch in which it conflicts), reduced as `u` says while they are found.

    Memory is O(N + chunk + per_party x parties + |keep|) whatever the number of conflicts:
    each tested batch is folded into the reduction and dropped. Time is bounded by `budget`
    candidate pairs a stretch (a look-ahead of 300 s is one stretch; a longer one, which
    costs as many sweeps anyway, gets the budget for each, so real traffic is never set
    aside for a long look-ahead): where the boxes would make more, the aircraft in the
    most pairs are set aside as crowded (`Urgent.crowd`) until the rest fit, and no pair of
    a crowded aircraft is made, except the kept pairs, which are always tested. Within the
    budget (every real traffic case measured: docs/benchmarks.md) nothing is set aside and
    the result is exactly what reducing `detect`'s full output would give
    (tests/tactical/test_flood.py)."""
    f = stretches[0].fleet
    n = len(f)
    parties = int(f.party.max()) + 1 if n else 1
    u = replace(u, keep=np.unique(u.keep))
    crowd = np.zeros(n, dtype=np.bool_)
    total = _Reduce(f, parties, u, h, v, stretches[0], [])
    earlier: list[tuple[Kinematics, Stretch]] = []
    swept: list[NDArray[np.bool_]] = []  # per stretch, the aircraft set aside in it
    for st in stretches:
        if n < 2:
            break
        sink = functools.partial(_Reduce, f, parties, u, h, v, st, list(earlier))
        for part in _sweep(st.fleet, h, v, st.span, False, chunk, batch, workers, sink,
                           crowd, budget):
            total.merge(part)
        earlier.append((kinematics(st.fleet), st))
        swept.append(crowd.copy())
    if crowd.any() and len(u.keep):
        # the kept pairs (open alerts) of crowded aircraft: tested alone, stretch by
        # stretch, so an open alert is never cleared for want of a test
        i, j = u.keep // max(n, 1), u.keep % max(n, 1)
        ok = (i < j) & (j < n)
        i, j = i[ok], j[ok]
        i, j = i[f.party[i] != f.party[j]], j[f.party[i] != f.party[j]]
        for s, (k, st) in enumerate(earlier):
            alone = swept[s][i] | swept[s][j]  # not swept in this stretch
            if alone.any():
                part = _Reduce(f, parties, u, h, v, st, earlier[:s])
                part.add(_exact(k, st.fleet, i[alone], j[alone], h, v, st.span, _mixed(f)))
                total.merge(part)
    by = np.argsort(total.code)
    return Urgent(total.code[by], total.t_in[by], total.t_cpa[by], total.d_cpa[by],
                  total.level[by], total.count, total.candidates, crowd)


def detect_brute(f: Fleet, h: float, v: float, lookahead: float, *,
                 all_pairs: bool = False, pairs_per_block: int = 1 << 18) -> Conflicts:
    """The O(N^2) reference: every pair through the exact test, in blocks of rows of about
    `pairs_per_block` pairs (memory stays in the tens of MB at any size)."""
    n = len(f)
    k = kinematics(f)
    mixed = _mixed(f)
    found: list[Conflicts] = []
    block = max(1, pairs_per_block // max(n, 1))
    for s in range(0, n, block):
        rows = np.arange(s, min(n, s + block))
        i = np.repeat(rows, n)
        j = np.tile(np.arange(n), len(rows))
        keep = i < j
        if not all_pairs:
            keep &= f.party[i] != f.party[j]
        if keep.any():
            found.append(_exact(k, f, i[keep], j[keep], h, v, lookahead, mixed))
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
    k = np.argsort(c.i * (int(c.j.max(initial=0)) + 1) + c.j)  # by i, then j
    return Conflicts(c.i[k], c.j[k], c.t_in[k], c.t_out[k], c.t_cpa[k], c.d_cpa[k],
                     c.distance[k], c.vertical[k], c.candidates)
