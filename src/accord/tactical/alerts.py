"""From position reports to alerts: the track table, the three detections, and the alert book.

- `TrackTable` keeps the latest report of each aircraft (out-of-order and duplicate reports
  are counted and dropped, stale tracks expire) and extrapolates all of them to one instant.
- Detections: predicted loss of separation between aircraft of different parties (the
  vectorised engine), predicted entry into another party's active hazard volume (time to
  entry along the straight-line prediction, or already inside), and nonconformance (an
  aircraft outside every active notice of its own party).
- `AlertBook` turns each cycle's detections into changes with hysteresis: raised once,
  upgraded at once, downgraded only after the lower level has held, cleared once after the
  detection has been gone for a while. Only changes are logged, never the tracks themselves.

Levels follow the DAIDALUS idea: the earlier a violation is predicted, the lower the level
(1 preventive, 2 corrective, 3 warning). Pure: numpy, shapely and the core only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Final, Literal

import numpy as np
import shapely
from numpy.typing import NDArray

from accord.errors import InvalidInput
from accord.geo.box import volume_box
from accord.geo.geodesy import GEOD, MIN_METRES_PER_DEG_LAT, WGS84_A, WGS84_E2
from accord.geo.separation import LocalFrame, proximity
from accord.geo.volume import GEOID_MAX_M, GEOID_MIN_M, AltitudeBand, Circle, Reference, Volume
from accord.tactical.engine import Fleet, Stretch, Urgency, apart, detect, detect_urgent
from accord.timefmt import format_time

AlertKind = Literal["separation", "hazard", "nonconformance", "overflow"]
Change = Literal["raised", "updated", "cleared"]


@dataclass(frozen=True, slots=True)
class Report:
    """One position report: metres, metres a second, degrees true; altitude reference kept."""

    party: str
    aircraft: str
    time: datetime
    lat: float
    lon: float
    alt_m: float
    gs: float
    trk: float
    vs: float = 0.0
    callsign: str | None = None
    reference: Reference = "AMSL"

    @property
    def key(self) -> tuple[str, str]:
        return self.party, self.aircraft

    def check(self) -> Report:
        """Refuse what cannot be an aircraft state (the feed counts it and goes on)."""
        for name, value, lo, hi in (("lat", self.lat, -90, 90), ("lon", self.lon, -180, 180),
                                    ("alt_m", self.alt_m, -1000, 30000), ("gs", self.gs, 0, 1500),
                                    ("trk", self.trk, -360, 720), ("vs", self.vs, -300, 300)):
            if not isinstance(value, int | float) or not math.isfinite(value) \
                    or not lo <= value <= hi:
                raise InvalidInput(f"{name} {value!r} is not plausible", field=name,
                                   accepted=f"a number from {lo} to {hi}")
        if not self.aircraft or len(self.aircraft) > 64:
            raise InvalidInput("aircraft id is empty or too long", field="aircraft",
                               accepted="1 to 64 characters")
        return self


@dataclass
class TrackTable:
    """The latest report per aircraft, and what was dropped."""

    max_age: timedelta = timedelta(seconds=30)
    tracks: dict[tuple[str, str], Report] = field(default_factory=dict)
    per_party: dict[str, int] = field(default_factory=dict)  # tracks held, by party
    accepted: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    expired: int = 0

    def update(self, r: Report) -> bool:
        """Keep `r` if it is newer than what we hold for its aircraft."""
        held = self.tracks.get(r.key)
        if held is not None:
            if r.time == held.time:
                self.duplicates += 1
                return False
            if r.time < held.time:
                self.out_of_order += 1
                return False
        else:
            self.per_party[r.party] = self.per_party.get(r.party, 0) + 1
        self.tracks[r.key] = r
        self.accepted += 1
        return True

    def expire(self, now: datetime) -> list[tuple[str, str]]:
        gone = [k for k, r in self.tracks.items() if now - r.time > self.max_age]
        for k in gone:
            del self.tracks[k]
            left = self.per_party[k[0]] - 1
            if left:
                self.per_party[k[0]] = left
            else:
                del self.per_party[k[0]]
        self.expired += len(gone)
        return gone

    def fleet(self, now: datetime) -> tuple[list[Report], Fleet, list[str]]:
        """Every track extrapolated to `now` along its reported velocity: along the WGS-84
        geodesic that starts on its track (the engine's straight path), arriving on the
        track the geodesic has there (which turns with the convergence of meridians)."""
        reports = list(self.tracks.values())
        parties = sorted({r.party for r in reports})
        index = {p: i for i, p in enumerate(parties)}
        dt = np.array([(now - r.time).total_seconds() for r in reports])
        gs = np.array([r.gs for r in reports])
        lon2, lat2, trk2 = advance(np.array([r.lat for r in reports]),
                                   np.array([r.lon for r in reports]),
                                   np.array([r.trk for r in reports]), gs * dt)
        f = Fleet(lat=lat2, lon=lon2,
                  alt=np.array([r.alt_m + r.vs * d for r, d in zip(reports, dt, strict=True)]),
                  gs=gs, trk=trk2,
                  vs=np.array([r.vs for r in reports]),
                  party=np.array([index[r.party] for r in reports], dtype=np.int64),
                  amsl=np.array([r.reference == "AMSL" for r in reports], dtype=np.bool_))
        return reports, f, parties


def advance(lat: NDArray[np.float64], lon: NDArray[np.float64], trk: NDArray[np.float64],
            metres: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
    """(lon, lat, track) after `metres` along the geodesic leaving (lat, lon) on `trk`."""
    if not len(lat):
        return lon, lat, trk
    lon2, lat2, back = GEOD.fwd(lon, lat, trk, metres)
    lon2 = (np.asarray(lon2, dtype=np.float64) + 180.0) % 360.0 - 180.0
    trk2 = (np.asarray(back, dtype=np.float64) + 180.0) % 360.0
    return lon2, np.asarray(lat2, dtype=np.float64), trk2


@dataclass(frozen=True, slots=True)
class Levels:
    """Seconds to violation at or under which each level applies (and the look-ahead)."""

    preventive: float = 300.0
    corrective: float = 120.0
    warning: float = 60.0

    def of(self, t: float) -> int:
        return 3 if t <= self.warning else 2 if t <= self.corrective else 1


@dataclass(frozen=True)
class Detection:
    key: str
    kind: AlertKind
    level: int
    parties: tuple[str, ...]
    details: dict[str, Any]


SEGMENT_S = 300.0  # the longest stretch the engine predicts from one state


def separation(reports: list[Report], f: Fleet, h: float, v: float,
               levels: Levels) -> list[Detection]:
    """Predicted losses of separation between aircraft of different parties.

    A look-ahead longer than SEGMENT_S is cut into stretches of at most that: each starts
    from the fleet moved on exactly along its geodesics (pyproj), so the engine's error
    stays within its bound for 300 s whatever the look-ahead (docs/design.md: with one
    stretch it grows as the cube of the distance flown). A pair's loss is its earliest."""
    return separation_bounded(reports, f, h, v, levels)[0]


_Part = tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]


def _stretches(f: Fleet, h: float, v: float, lookahead: float) -> list[_Part]:
    """The conflicts of each stretch of the look-ahead: pair code i * n + j, time to loss,
    time of closest approach (both from now) and distance at closest approach."""
    n = len(f)
    parts: list[_Part] = []
    start = 0.0
    while start < lookahead:
        span = min(SEGMENT_S, lookahead - start)
        c = detect(f if start == 0.0 else _moved(f, start), h, v, span)
        if len(c):
            t0 = c.t_in if start == 0.0 else np.maximum(c.t_in, 0.0)
            parts.append((c.i * n + c.j, start + t0, start + c.t_cpa, c.d_cpa))
        start += span
    return parts


@dataclass
class Unlisted:
    """Detections found but not built one by one, because the cap could not raise them in
    this cycle anyway: per party, how many and the highest level. The book counts them in
    the party's overflow alert."""

    count: dict[str, int] = field(default_factory=dict)
    level: dict[str, int] = field(default_factory=dict)
    # aircraft in a crowd too dense to test pair by pair within a cycle (`detect_urgent`):
    # per party, how many and the first few names; counted with the rest, at level 3
    crowded: dict[str, int] = field(default_factory=dict)
    crowded_names: dict[str, list[str]] = field(default_factory=dict)


def separation_bounded(reports: list[Report], f: Fleet, h: float, v: float, levels: Levels,
                       *, per_party: int | None = None,
                       keep: frozenset[tuple[str, str]] = frozenset(),
                       ) -> tuple[list[Detection], Unlisted]:
    """Like `separation`, but with `per_party` set, builds only the `per_party` most urgent
    conflicts of each party (level, then time to loss) and those between the aircraft pairs
    in `keep` (alerts already open); the others are only counted, in arrays. So a flood of
    stacked tracks (a million pairs) costs arrays, not a million Python objects a cycle."""
    unlisted = Unlisted()
    n = len(f)
    if n < 2:
        return [], unlisted
    if per_party is not None:
        return _separation_urgent(reports, f, h, v, levels, per_party, keep)
    parts = _stretches(f, h, v, levels.preventive)
    if not parts:
        return [], unlisted
    if len(parts) == 1:  # one stretch (a look-ahead up to SEGMENT_S): each pair once already
        code, t_in, t_cpa, d_cpa = parts[0]
        t_in = np.maximum(t_in, 0.0)
        if len(code) > 1 and not bool(np.all(code[1:] > code[:-1])):
            by = np.argsort(code, kind="stable")
            code, t_in, t_cpa, d_cpa = code[by], t_in[by], t_cpa[by], d_cpa[by]
    else:  # each pair once, from its earliest stretch (np.unique keeps the first occurrence)
        code, first = np.unique(np.concatenate([p[0] for p in parts]), return_index=True)
        t_in = np.maximum(np.concatenate([p[1] for p in parts])[first], 0.0)
        t_cpa = np.concatenate([p[2] for p in parts])[first]
        d_cpa = np.concatenate([p[3] for p in parts])[first]
    i, j = code // n, code % n
    m = len(code)
    lv = np.where(t_in <= levels.warning, 3, np.where(t_in <= levels.corrective, 2, 1)
                  ).astype(np.int8)
    chosen = np.ones(m, dtype=np.bool_)
    if per_party is not None and m > per_party:
        pi, pj = f.party[i], f.party[j]
        # most urgent first: level, then time to loss, then the pair (lexsort is stable)
        order = np.lexsort((t_in, -lv))
        pi_o, pj_o = pi[order], pj[order]
        chosen_o = np.zeros(m, dtype=np.bool_)
        for p in np.flatnonzero(np.bincount(pi) + np.bincount(pj)).tolist():
            mine = (pi_o == p) | (pj_o == p)  # this party's conflicts, most urgent first
            chosen_o |= mine & (np.cumsum(mine, dtype=np.int64) <= per_party)
        del pi_o, pj_o
        chosen = np.zeros(m, dtype=np.bool_)
        chosen[order] = chosen_o
        del order, chosen_o
        if keep:
            index = {f"{r.party}/{r.aircraft}": k for k, r in enumerate(reports)}
            codes = [min(index[a], index[b]) * n + max(index[a], index[b])
                     for a, b in keep if a in index and b in index]
            if codes:
                chosen |= np.isin(code, np.array(codes, dtype=np.int64))
        rest = ~chosen
        if rest.any():
            name = {int(f.party[k]): r.party for k, r in enumerate(reports)}
            size = int(f.party.max()) + 1
            count = (np.bincount(pi[rest], minlength=size)
                     + np.bincount(pj[rest], minlength=size))
            top = np.zeros(size, dtype=np.int64)
            np.maximum.at(top, pi[rest], lv[rest])
            np.maximum.at(top, pj[rest], lv[rest])
            for q in np.flatnonzero(count).tolist():
                unlisted.count[name[q]] = int(count[q])
                unlisted.level[name[q]] = int(top[q])
    pick = np.flatnonzero(chosen)
    return _built(reports, f, i[pick], j[pick], lv[pick], t_in[pick], t_cpa[pick],
                  d_cpa[pick]), unlisted


def _built(reports: list[Report], f: Fleet, ci: NDArray[np.int64], cj: NDArray[np.int64],
           lv: NDArray[np.int8], t_in: NDArray[np.float64], t_cpa: NDArray[np.float64],
           d_cpa: NDArray[np.float64]) -> list[Detection]:
    """The detections of the conflicts (ci[k], cj[k])."""
    _, vertical = apart(f, ci, cj)
    horizontal = np.asarray(GEOD.inv(f.lon[ci], f.lat[ci], f.lon[cj], f.lat[cj])[2])
    out = []
    for k in range(len(ci)):
        a, b = sorted((reports[int(ci[k])], reports[int(cj[k])]), key=lambda r: r.key)
        out.append(Detection(
            key=f"separation:{a.party}/{a.aircraft}:{b.party}/{b.aircraft}", kind="separation",
            level=int(lv[k]), parties=tuple(sorted({a.party, b.party})),
            details={"aircraft": [f"{a.party}/{a.aircraft}", f"{b.party}/{b.aircraft}"],
                     "time_to_loss_s": round(float(t_in[k]), 1),
                     "t_cpa_s": round(float(t_cpa[k]), 1),
                     "d_cpa_m": round(float(d_cpa[k]), 1),
                     "distance_m": round(float(horizontal[k]), 1),
                     "vertical_m": round(float(vertical[k]), 1)}))
    return out


def _separation_urgent(reports: list[Report], f: Fleet, h: float, v: float, levels: Levels,
                       per_party: int, keep: frozenset[tuple[str, str]],
                       ) -> tuple[list[Detection], Unlisted]:
    """`separation_bounded` with a cap: the engine reduces the conflicts while it finds them
    (`detect_urgent`), so memory stays O(N + per_party x parties) in any flood."""
    n = len(f)
    index = {f"{r.party}/{r.aircraft}": k for k, r in enumerate(reports)}
    codes = [min(index[a], index[b]) * n + max(index[a], index[b])
             for a, b in keep if a in index and b in index]
    stretches = []
    start = 0.0
    while start < levels.preventive:
        span = min(SEGMENT_S, levels.preventive - start)
        stretches.append(Stretch(f if start == 0.0 else _moved(f, start), start, span))
        start += span
    got = detect_urgent(stretches, h, v, Urgency(per_party, levels.warning, levels.corrective,
                                                  np.array(codes, dtype=np.int64)))
    i, j = got.code // n, got.code % n
    # what concerns each party, less what is built: counted in its overflow alert
    rest = got.count.copy()
    np.add.at(rest, (f.party[i], got.level), -1)
    np.add.at(rest, (f.party[j], got.level), -1)
    unlisted = Unlisted()
    name = {int(f.party[k]): r.party for k, r in enumerate(reports)}
    for q in np.flatnonzero(rest.sum(axis=1)).tolist():
        unlisted.count[name[q]] = int(rest[q].sum())
        unlisted.level[name[q]] = int(np.flatnonzero(rest[q])[-1])
    for k in np.flatnonzero(got.crowd).tolist():
        # its conflicts were not all tested: the party is told, at the highest level
        r = reports[k]
        unlisted.crowded[r.party] = unlisted.crowded.get(r.party, 0) + 1
        names = unlisted.crowded_names.setdefault(r.party, [])
        if len(names) < OVERFLOW_SHOWN:
            names.append(f"{r.party}/{r.aircraft}")
    return _built(reports, f, i, j, got.level, got.t_in, got.t_cpa, got.d_cpa), unlisted


def _moved(f: Fleet, seconds: float) -> Fleet:
    """The fleet `seconds` on: along each geodesic, the track turned with it."""
    lon, lat, trk = advance(f.lat, f.lon, f.trk, f.gs * seconds)
    return Fleet(lat=lat, lon=lon, alt=f.alt + f.vs * seconds, gs=f.gs, trk=trk, vs=f.vs,
                 party=f.party, amsl=f.amsl)


@dataclass(frozen=True)
class Hazard:
    """One volume of an active hazard notice: who declared it, and the space to keep clear of."""

    notice: str
    version: int
    party: str
    volume: Volume


def band_in(band: AltitudeBand, reference: Reference, *, widen: bool) -> tuple[float, float]:
    """The band in `reference`, exact when the references agree. Otherwise the geoid
    undulation N = W84 - AMSL is only known to lie in [GEOID_MIN_M, GEOID_MAX_M]:
    `widen` gives every altitude the band may cover (for "could it be inside": hazard entry),
    not `widen` only the altitudes it surely covers (for "is it surely inside": conformance;
    empty, lower > upper, when the band is thinner than the geoid range)."""
    if band.reference == reference:
        return band.lower_m, band.upper_m
    if reference == "W84":  # an AMSL band in W84: [lower + N, upper + N]
        if widen:
            return band.lower_m + GEOID_MIN_M, band.upper_m + GEOID_MAX_M
        return band.lower_m + GEOID_MAX_M, band.upper_m + GEOID_MIN_M
    if widen:  # a W84 band in AMSL: [lower - N, upper - N]
        return band.lower_m - GEOID_MAX_M, band.upper_m - GEOID_MIN_M
    return band.lower_m - GEOID_MIN_M, band.upper_m - GEOID_MAX_M


PATH_POINTS = 7  # samples of each path over the look-ahead (on the geodesic), joined straight


def entry_time(r: Report, now: datetime, hazard: Hazard, lookahead: float) -> float | None:
    """Seconds from `now` until the aircraft is inside the hazard volume (0: inside already),
    along its straight path (the geodesic on its track), or None within the look-ahead."""
    return _entries([r], now, hazard, lookahead)[0]


def _entries(reports: list[Report], now: datetime, hazard: Hazard,
             lookahead: float) -> list[float | None]:
    """`entry_time` for several reports against one hazard volume.

    The path: points every lookahead / 6 seconds along the WGS-84 geodesic that leaves the
    reported position on the reported track (the engine's straight path), from now (the
    report's age accounted for), joined by straight segments in a local azimuthal
    equidistant frame. For a circle the frame is centred on the circle, where distances from
    the centre are exact and a 15 km segment departs from the geodesic by centimetres; the
    entry is where a segment meets the circle (a quadratic). For a polygon the frame is the
    cached one nearest the aircraft and the path is intersected with the footprint there."""
    vol = hazard.volume
    n = len(reports)
    ts = np.linspace(0.0, lookahead, PATH_POINTS)
    age = np.array([(now - r.time).total_seconds() for r in reports])
    gs = np.array([r.gs for r in reports])
    lon, lat = _along(reports, (age[:, None] + ts[None, :]) * gs[:, None])
    window = ((vol.start - now).total_seconds(), (vol.end - now).total_seconds())
    out: list[float | None] = []
    if isinstance(vol.footprint, Circle):
        frame = LocalFrame(vol.footprint.lon, vol.footprint.lat)
        x, y = frame.forward(lon, lat)
        horiz = _circle_segments(x.reshape(n, -1), y.reshape(n, -1), ts,
                                 vol.footprint.radius_m)
        for k, r in enumerate(reports):
            vert = _vertical(r, vol, age[k])
            out.append(None if vert is None else
                       _earliest(horiz[k], vert, window, lookahead))
        return out
    horiz_p = _polygon_segments(reports, lon, lat, ts, vol)
    for k, r in enumerate(reports):
        vert = _vertical(r, vol, age[k])
        out.append(None if vert is None else _earliest(horiz_p[k], vert, window, lookahead))
    return out


def _polygon_segments(reports: list[Report], lon: NDArray[np.float64], lat: NDArray[np.float64],
                      ts: NDArray[np.float64], vol: Volume,
                      cells: int = 1 << 20) -> list[list[tuple[float, float]]]:
    """Per report, the times at which its path (lon[k], lat[k] at times ts, joined straight
    in the cached frame nearest the aircraft) is inside the polygon, vectorised per frame.

    Each path segment is crossed with every edge of the footprint as projected in that frame
    (all rings, holes too): an edge crosses the segment's line when its two ends lie on
    different sides, a vertex on the line counting as the left side for both edges that meet
    there, so a path through a vertex crosses once and a path grazing it twice or never; a
    crossing counts where it lies in [0, 1) along the segment (the last segment: [0, 1]), so
    one at a path point counts once. Starting inside (covered, boundary included) or not, the
    path alternates at each crossing; an aircraft at rest is inside throughout or never.
    The first interval, if inside at the start, is open towards the past."""
    n = len(reports)
    out: list[list[tuple[float, float]]] = [[] for _ in range(n)]
    groups: dict[LocalFrame, list[int]] = {}
    for k in range(n):
        groups.setdefault(LocalFrame.at(round(float(lon[k, 0]), 1),
                                        round(float(lat[k, 0]), 1)), []).append(k)
    last = len(ts) - 2
    for frame, members in groups.items():
        shape = frame.shape(vol.footprint)
        rings = [shapely.get_coordinates(ring) for part in shapely.get_parts(shape)
                 for ring in shapely.get_rings(part)]
        ax = np.concatenate([c[:-1, 0] for c in rings])
        ay = np.concatenate([c[:-1, 1] for c in rings])
        bx = np.concatenate([c[1:, 0] for c in rings])
        by = np.concatenate([c[1:, 1] for c in rings])
        ex, ey = bx - ax, by - ay
        step = max(1, cells // max(1, len(ax) * (len(ts) - 1)))
        for c0 in range(0, len(members), step):
            rows = np.array(members[c0:c0 + step])
            g = len(rows)
            px, py = frame.forward(lon[rows].ravel(), lat[rows].ravel())
            px, py = px.reshape(g, -1), py.reshape(g, -1)
            inside = shapely.covers(shape, shapely.points(px[:, 0], py[:, 0]))
            x0, y0 = px[:, :-1, None], py[:, :-1, None]  # (rows, segments, 1)
            dx, dy = np.diff(px, axis=1)[:, :, None], np.diff(py, axis=1)[:, :, None]
            side_a = dx * (ay - y0) - dy * (ax - x0)  # (rows, segments, edges)
            side_b = dx * (by - y0) - dy * (bx - x0)
            denom = dx * ey - dy * ex
            crossing = ((side_a >= 0.0) != (side_b >= 0.0)) & (denom != 0.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                u = ((ax - x0) * ey - (ay - y0) * ex) / denom
            top = np.where(np.arange(len(ts) - 1) == last, 1.0, np.nextafter(1.0, 0.0))
            crossing &= (u >= 0.0) & (u <= top[None, :, None])
            rk, sk, ek = np.nonzero(crossing)
            t = ts[sk] + u[rk, sk, ek] * (ts[sk + 1] - ts[sk])
            order = np.lexsort((t, rk))
            rk, t = rk[order], t[order]
            bounds = np.searchsorted(rk, np.arange(g + 1))
            for q in range(g):
                k = int(rows[q])
                state = bool(inside[q])
                if reports[k].gs < 1e-6:
                    out[k] = [(-math.inf, math.inf)] if state else []
                    continue
                intervals: list[tuple[float, float]] = []
                start = -math.inf
                for tc in t[bounds[q]:bounds[q + 1]].tolist():
                    if state:
                        intervals.append((start, tc))
                    start = tc
                    state = not state
                if state:
                    intervals.append((start, float(ts[-1])))
                out[k] = intervals
    return out


def _along(reports: list[Report], metres: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
    """(lon, lat), each (reports, columns): `metres` along each report's geodesic."""
    n, m = metres.shape
    lon, lat, _ = advance(np.repeat([r.lat for r in reports], m),
                          np.repeat([r.lon for r in reports], m),
                          np.repeat([r.trk for r in reports], m), metres.ravel())
    return lon.reshape(n, m), lat.reshape(n, m)


def _vertical(r: Report, vol: Volume, age: float) -> tuple[float, float] | None:
    """Times from now when the aircraft is within the volume's band (widened across
    references: alert early, never late), or None."""
    lo, hi = band_in(vol.altitude, r.reference, widen=True)
    if abs(r.vs) < 1e-9:
        return (-math.inf, math.inf) if lo <= r.alt_m <= hi else None
    a, b = (lo - r.alt_m) / r.vs - age, (hi - r.alt_m) / r.vs - age
    return min(a, b), max(a, b)


def _circle_segments(x: NDArray[np.float64], y: NDArray[np.float64], ts: NDArray[np.float64],
                     radius: float) -> list[list[tuple[float, float]]]:
    """Per row, the times at which the polyline (x[k], y[k]) at times ts is within `radius` of
    the origin: one interval per segment, from the quadratic on it. The first segment's
    interval may start before now (inside already) and the last may end after the look-ahead."""
    dt = np.diff(ts)
    px, py = x[:, :-1], y[:, :-1]
    vx, vy = np.diff(x, axis=1) / dt, np.diff(y, axis=1) / dt
    a = vx * vx + vy * vy
    b = 2.0 * (px * vx + py * vy)
    c = px * px + py * py - radius * radius
    moving = a > 1e-12
    disc = b * b - 4.0 * a * c
    root = np.sqrt(np.maximum(disc, 0.0))
    safe = np.where(moving, 2.0 * a, 1.0)
    t1 = np.where(moving, (-b - root) / safe, np.where(c <= 0.0, -math.inf, math.inf))
    t2 = np.where(moving, (-b + root) / safe, np.where(c <= 0.0, math.inf, -math.inf))
    hit = np.where(moving, disc >= 0.0, c <= 0.0)
    lo = np.where(np.arange(len(dt)) == 0, -math.inf, 0.0)  # segment k covers [ts_k, ts_k+1]
    hi = np.where(np.arange(len(dt)) == len(dt) - 1, math.inf, dt)
    start = ts[:-1] + np.maximum(t1, lo)
    end = ts[:-1] + np.minimum(t2, hi)
    hit &= start <= end
    return [[(float(s0), float(e0)) for s0, e0, h in zip(sr, er, hr, strict=True) if h]
            for sr, er, hr in zip(start, end, hit, strict=True)]


def _earliest(horiz: list[tuple[float, float]], vert: tuple[float, float],
              window: tuple[float, float], lookahead: float) -> float | None:
    best: float | None = None
    for h0, h1 in horiz:
        t_start = max(h0, vert[0], window[0], 0.0)
        t_end = min(h1, vert[1], window[1], lookahead)
        if t_start <= t_end and (best is None or t_start < best):
            best = t_start
    return best


def hazards(reports: list[Report], now: datetime, active: list[Hazard], lookahead: float,
            levels: Levels) -> list[Detection]:
    """Aircraft predicted to enter (or already inside) another party's hazard volume."""
    out: list[Detection] = []
    if not reports or not active:
        return out
    lat = np.array([r.lat for r in reports])
    lon = np.array([r.lon for r in reports])
    party = np.array([r.party for r in reports])
    age = np.array([max(0.0, (now - r.time).total_seconds()) for r in reports])
    reach = np.array([r.gs for r in reports]) * (lookahead + age)  # from the reported position
    for hz in active:
        near = [reports[int(k)] for k in
                np.flatnonzero(_near(lat, lon, reach, hz.volume) & (party != hz.party))]
        if not near:
            continue
        for r, t in zip(near, _entries(near, now, hz, lookahead), strict=True):
            if t is None:
                continue
            out.append(Detection(
                key=f"hazard:{r.party}/{r.aircraft}:{hz.notice}", kind="hazard",
                level=3 if t <= 0.0 else levels.of(t),
                parties=tuple(sorted({r.party, hz.party})),
                details={"aircraft": f"{r.party}/{r.aircraft}", "notice": hz.notice,
                         "version": hz.version, "hazard_party": hz.party,
                         "inside": t <= 0.0, "time_to_entry_s": round(t, 1)}))
    return out


def _near(lat: NDArray[np.float64], lon: NDArray[np.float64], reach: NDArray[np.float64],
          vol: Volume) -> NDArray[np.bool_]:
    """Aircraft that could reach the volume's box within `reach` metres: the exact test runs
    only for these. The pads are the geo core's (`pad_degrees`, vectorised: a path of that
    length stays within the padded latitudes and changes longitude by at most its length over
    the parallel radius at the most poleward of them; every longitude once that reaches a
    pole), longitudes are compared across the antimeridian, and 0.01 degree is added for
    rounding."""
    b = volume_box(vol)
    dlat = reach / MIN_METRES_PER_DEG_LAT * (1.0 + 1e-9) + 0.01
    ext = np.abs(lat) + dlat
    phi = np.radians(np.minimum(ext, 90.0))
    parallel = WGS84_A * np.cos(phi) / np.sqrt(1.0 - WGS84_E2 * np.sin(phi) ** 2)
    with np.errstate(divide="ignore"):
        dlon = np.where(ext >= 90.0, np.inf,
                        np.degrees(reach / np.maximum(parallel, 1e-9)) * (1.0 + 1e-9) + 0.01)
    centre = (b.lon_min + b.lon_max) / 2.0
    off = np.abs((lon - centre + 180.0) % 360.0 - 180.0)  # degrees from the box's middle
    mask: NDArray[np.bool_] = ((lat >= b.lat_min - dlat) & (lat <= b.lat_max + dlat)
                               & (off <= (b.lon_max - b.lon_min) / 2.0 + dlon))
    return mask


def nonconformance(reports: list[Report], now: datetime,
                   own: dict[str, list[Volume]]) -> list[Detection]:
    """Aircraft outside every active notice volume of their own party, where they are now:
    each report moved on along its geodesic by its age, its altitude by its vertical speed."""
    out: list[Detection] = []
    if not reports:
        return out
    age = np.array([max(0.0, (now - r.time).total_seconds()) for r in reports])
    lon2, lat2 = _along(reports, (age * np.array([r.gs for r in reports]))[:, None])
    lat, lon = lat2[:, 0], lon2[:, 0]
    alt = np.array([r.alt_m for r in reports]) + np.array([r.vs for r in reports]) * age
    maybe = np.zeros(len(reports), dtype=bool)
    for party, vols in own.items():  # inside some own box: worth the exact test
        mine = np.array([r.party == party for r in reports])
        for vol in vols:
            maybe |= mine & _near(lat, lon, np.zeros(len(reports)), vol)
    for k, r in enumerate(reports):
        at = (float(lat[k]), float(lon[k]), float(alt[k]))
        if not maybe[k]:
            out.append(_nonconforming(r, at, own))
            continue
        here = Volume(Circle(at[1], at[0], 1.0), AltitudeBand(at[2], at[2], r.reference),
                      now, now + timedelta(microseconds=1))
        frame = LocalFrame.at(at[1], at[0])
        inside = False
        for vol in own.get(r.party, []):
            lo, hi = band_in(vol.altitude, r.reference, widen=False)  # surely inside
            if not lo <= at[2] <= hi:
                continue
            p = proximity(here, vol, frame)
            if p is not None and p.horizontal_m <= 0.0:
                inside = True
                break
        if not inside:
            out.append(_nonconforming(r, at, own))
    return out


def _nonconforming(r: Report, at: tuple[float, float, float],
                   own: dict[str, list[Volume]]) -> Detection:
    """`at`: (lat, lon, alt_m) now."""
    return Detection(
        key=f"nonconformance:{r.party}/{r.aircraft}", kind="nonconformance", level=2,
        parties=(r.party,),
        details={"aircraft": f"{r.party}/{r.aircraft}", "lat": round(at[0], 6),
                 "lon": round(at[1], 6), "alt_m": round(at[2], 1),
                 "active_notices": len(own.get(r.party, []))})


def describe(kind: str, change: str, details: dict[str, Any]) -> str:
    """One line for an officer: what an alert (or its change) is about."""
    if kind == "overflow":
        what = (f"{details['count']} more alerts for {details['party']} not raised one by one "
                f"(at most {details['max_open']} open)")
        crowded = details.get("kinds", {}).get("crowded") if isinstance(
            details.get("kinds"), dict) else None
        if crowded:
            what += (f"; {crowded} aircraft in a crowd too dense to test pair by pair, "
                     f"e.g. {', '.join(str(x) for x in details.get('crowded', []))}")
        return f"no longer: {what}" if change == "cleared" else what
    if change == "cleared":
        return f"{details['aircraft']} no longer predicted in {details.get('notice', 'conflict')}"
    if kind == "separation":
        return (f"{' and '.join(details['aircraft'])}: loss of separation in "
                f"{details['time_to_loss_s']:.0f} s (CPA {details['d_cpa_m'] / 1000:.1f} km)")
    if kind == "hazard":
        if details["inside"]:
            return f"{details['aircraft']} inside {details['notice']}"
        return (f"{details['aircraft']} enters {details['notice']} in "
                f"{details['time_to_entry_s']:.0f} s")
    return f"{details['aircraft']} outside its notices"


@dataclass
class _Open:
    detection: Detection
    raised: datetime
    last_seen: datetime
    lower_since: datetime | None = None
    logged_count: int = 0  # an overflow alert: how many it held back when last logged


@dataclass(frozen=True)
class AlertChange:
    change: Change
    detection: Detection
    at: datetime

    def body(self, alert_id: str) -> dict[str, Any]:
        d = self.detection
        return {"alert": alert_id, "change": self.change, "kind": d.kind, "key": d.key,
                "level": d.level, "parties": list(d.parties), "details": d.details,
                "at": format_time(self.at, micro=True)}


def urgency(d: Detection) -> tuple[float, float, str]:
    """Sort key, most urgent first: the higher level, then the sooner event, then the key."""
    soon = d.details.get("time_to_loss_s", d.details.get("time_to_entry_s", 0.0))
    return -d.level, float(soon) if isinstance(soon, int | float) else 0.0, d.key


OVERFLOW_SHOWN: Final = 5  # the most urgent detections an overflow alert names


@dataclass
class AlertBook:
    """Open alerts, with the hysteresis that stops a noisy track from flapping, and a cap.

    The cap: at most `max_open` alerts open at once that concern a party. New detections are
    raised most urgent first while every party concerned is under the cap; the rest are not
    dropped but held back, and each party they concern gets one `overflow` alert instead
    (key `overflow:<party>`, at the highest level held back, naming the count and the most
    urgent few). A held-back detection is raised as soon as room opens (an alert clears).
    So one cycle raises at most `max_open` + 1 alerts per party, whatever a batch holds.

    The log is the truth: `sync` aligns the book with the alerts the log holds open before
    each step, so a change the log never took (a failed write) is made again, and an alert
    left open by an earlier run is cleared when it is no longer detected.
    """

    # Long enough for real, manoeuvring tracks (tests/tactical/test_real_trajectories.py: with
    # 8 s, and with 20 s, a turning pair was cleared and raised again within seconds).
    clear_after: timedelta = timedelta(seconds=30)
    downgrade_after: timedelta = timedelta(seconds=10)
    max_open: int = 50
    open: dict[str, _Open] = field(default_factory=dict)
    # What the last step cleared: if the log did not take a clear, `sync` puts it back as it
    # was (so it is cleared again at once, not after a new hold).
    _cleared: dict[str, _Open] = field(default_factory=dict)

    def sync(self, now: datetime, logged: dict[str, dict[str, Any]]) -> None:
        """Align the book with the log: `logged` maps each key the log holds open to that
        alert's latest state (its body as logged)."""
        for key in [k for k in self.open if k not in logged]:
            del self.open[key]  # never logged (a failed raise), or closed in the log
        for key, state in logged.items():
            held = self.open.get(key)
            if held is None:
                held = self._cleared.get(key)
                if held is None:  # unknown to this book (a restart): a full hold from now
                    d = _from_log(state)
                    held = _Open(d, now, now, logged_count=_held_back(d))
                self.open[key] = held
            level = state.get("level")
            if isinstance(level, int) and level != held.detection.level:
                # a level change the log did not take: step() will make it again
                held.detection = replace(held.detection, level=level)
                held.lower_since = None
        self._cleared = {}

    def step(self, now: datetime, detections: list[Detection],
             unlisted: Unlisted | None = None) -> list[AlertChange]:
        """One cycle's detections in, the changes to log out. `unlisted`: detections only
        counted (`separation_bounded`), held back with the rest."""
        changes: list[AlertChange] = []
        seen: dict[str, Detection] = {}
        fresh: list[Detection] = []
        for d in detections:
            if d.key in self.open:
                seen[d.key] = d
            elif d.key not in seen:
                fresh.append(d)
        # New detections, most urgent first, while every party concerned has room.
        count: dict[str, int] = {}
        for o in self.open.values():
            if o.detection.kind != "overflow":
                for p in o.detection.parties:
                    count[p] = count.get(p, 0) + 1
        held_back: dict[str, list[Detection]] = {}
        for d in sorted({d.key: d for d in fresh}.values(), key=urgency):
            if all(count.get(p, 0) < self.max_open for p in d.parties):
                seen[d.key] = d
                for p in d.parties:
                    count[p] = count.get(p, 0) + 1
            else:
                for p in d.parties:
                    held_back.setdefault(p, []).append(d)
        extra = unlisted or Unlisted()
        for party in sorted(set(held_back) | set(extra.count) | set(extra.crowded)):
            summary = self._overflow(party, held_back.get(party, []),
                                     extra.count.get(party, 0), extra.level.get(party, 0),
                                     extra.crowded.get(party, 0),
                                     extra.crowded_names.get(party, []))
            seen[summary.key] = summary
        for key, d in seen.items():
            held = self.open.get(key)
            count_now = _held_back(d)
            if held is None:
                self.open[key] = _Open(d, now, now, logged_count=count_now)
                changes.append(AlertChange("raised", d, now))
                continue
            held.last_seen = now
            if d.level > held.detection.level:
                held.detection, held.lower_since, held.logged_count = d, None, count_now
                changes.append(AlertChange("updated", d, now))
            elif d.level < held.detection.level:
                held.lower_since = held.lower_since or now
                if now - held.lower_since >= self.downgrade_after:
                    held.detection, held.lower_since, held.logged_count = d, None, count_now
                    changes.append(AlertChange("updated", d, now))
            else:
                held.lower_since = None
                held.detection = replace(held.detection, details=d.details)
                if count_now >= 2 * held.logged_count > 0:
                    # an overflow twice as large as the log says: logged again (at most
                    # log2 of the flood's size times), so the count an officer reads is
                    # never less than half the truth while it grows
                    held.logged_count = count_now
                    changes.append(AlertChange("updated", d, now))
        self._cleared = {}
        for key in [k for k in self.open if k not in seen]:
            held = self.open[key]
            if now - held.last_seen >= self.clear_after:
                self._cleared[key] = self.open.pop(key)
                changes.append(AlertChange("cleared", held.detection, now))
        return changes

    def _overflow(self, party: str, held_back: list[Detection], unlisted: int = 0,
                  unlisted_level: int = 0, crowded: int = 0,
                  crowded_names: list[str] | None = None) -> Detection:
        kinds: dict[str, int] = {}
        for d in held_back:
            kinds[d.kind] = kinds.get(d.kind, 0) + 1
        if unlisted:
            kinds["separation"] = kinds.get("separation", 0) + unlisted
        if crowded:
            kinds["crowded"] = crowded
        level = max([d.level for d in held_back] + [unlisted_level] + [3] * bool(crowded))
        details: dict[str, Any] = {
            "party": party, "count": len(held_back) + unlisted + crowded,
            "max_open": self.max_open, "kinds": dict(sorted(kinds.items())),
            "most_urgent": [{"key": d.key, "kind": d.kind, "level": d.level,
                             "aircraft": d.details.get("aircraft")}
                            for d in held_back[:OVERFLOW_SHOWN]]}
        if crowded:
            details["crowded"] = list(crowded_names or [])[:OVERFLOW_SHOWN]
        return Detection(key=f"overflow:{party}", kind="overflow", level=level,
                         parties=(party,), details=details)


def _held_back(d: Detection) -> int:
    """How many detections an overflow alert holds back (0 for any other alert)."""
    n = d.details.get("count") if d.kind == "overflow" else 0
    return n if isinstance(n, int) else 0


def _from_log(state: dict[str, Any]) -> Detection:
    """An open alert as the log holds it, back as the detection it was raised for."""
    parties = state.get("parties")
    details = state.get("details")
    level = state.get("level")
    kind = state.get("kind")
    return Detection(key=str(state.get("key")),
                     kind=kind if kind in ("hazard", "nonconformance", "overflow")
                     else "separation",
                     level=level if isinstance(level, int) else 1,
                     parties=tuple(str(p) for p in parties) if isinstance(parties, list)
                     else (),
                     details=details if isinstance(details, dict) else {})
