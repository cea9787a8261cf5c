"""The strategic check: one notice against the agreement, the zones and other parties' notices.

`check` is pure: the caller (the writer, or `accord notice check`) has already narrowed the
other notices to those whose 4D boxes come near, using the store's index; this module does the
exact test on what it is given. Pure: imports only the core.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from accord.geo.box import volume_box
from accord.geo.separation import LocalFrame, conflicts, proximity
from accord.geo.volume import Volume
from accord.rules.agreement import Agreement
from accord.rules.notice import Finding, Notice
from accord.timefmt import format_time


def check(notice: Notice, agreement: Agreement, received_at: datetime,
          candidates: Iterable[Notice], previous: Notice | None = None) -> list[Finding]:
    """Every finding the notice raises, in a stable order: late notice, zones, conflicts.

    `previous` is the version an amendment replaces: volumes it already declared unchanged are
    not late again.
    """
    frames = _Frames(notice.volumes)
    findings: list[Finding] = []
    late = _late(notice, agreement, received_at, previous)
    if late is not None:
        findings.append(late)
    findings.extend(_zones(notice, agreement, frames))
    findings.extend(_conflicts(notice, agreement, received_at, candidates, frames))
    return findings


class _Frames:
    """One local projection per volume of the notice, built only when an exact test needs it
    (building a pyproj transformer costs far more than the box tests that usually say no)."""

    def __init__(self, volumes: tuple[Volume, ...]) -> None:
        self.volumes = volumes
        self.frames: dict[int, LocalFrame] = {}
        self.boxes = [volume_box(v) for v in volumes]

    def __getitem__(self, i: int) -> LocalFrame:
        frame = self.frames.get(i)
        if frame is None:
            frame = self.frames[i] = LocalFrame.around(self.volumes[i].footprint)
        return frame


def affected_by(notice: Notice, agreement: Agreement) -> tuple[str, ...]:
    """Everyone party to the agreement: a notice is given to all, as on the hotline."""
    return tuple(sorted(agreement.acting_ids))


def _late(notice: Notice, agreement: Agreement, received_at: datetime,
          previous: Notice | None) -> Finding | None:
    kind = agreement.kind(notice.kind)
    if kind.lead_time.total_seconds() <= 0:
        return None
    kept = set(previous.volumes) if previous is not None and previous.kind == notice.kind else set()
    fresh = [v for v in notice.volumes if v not in kept]
    if not fresh:
        return None
    start = min(v.start for v in fresh)
    lead = start - received_at
    if lead >= kind.lead_time:
        return None
    return Finding(
        kind="late_notice", notice=notice.id, version=notice.version,
        parties=affected_by(notice, agreement), action=kind.late_action,
        details={"party": notice.party, "notice_kind": notice.kind,
                 "received_at": format_time(received_at, micro=True),
                 "start": format_time(start), "lead_s": round(lead.total_seconds(), 3),
                 "required_s": round(kind.lead_time.total_seconds(), 3)})


def _zones(notice: Notice, agreement: Agreement, frames: _Frames) -> list[Finding]:
    kind = agreement.kind(notice.kind)
    out: list[Finding] = []
    for zone in agreement.zones:
        if notice.party in zone.protects or not zone.rule.applies(notice.party, kind):
            continue
        hits = []
        for i, vol in enumerate(notice.volumes):
            for zvol in zone.volumes:
                if not frames.boxes[i].intersects(volume_box(zvol)):
                    continue
                p = proximity(vol, zvol, frames[i])
                if p is not None and p.horizontal_m <= 0.0 and p.vertical_m <= 0.0:
                    hits.append((i, p))
        if not hits:
            continue
        parties = tuple(sorted({notice.party, *zone.protects} if zone.protects
                               else set(agreement.acting_ids)))
        out.append(Finding(
            kind="zone_violation", notice=notice.id, version=notice.version, parties=parties,
            action=zone.action,
            details={"party": notice.party, "zone": zone.id, "zone_name": zone.name,
                     "volumes": [i for i, _ in hits],
                     "start": format_time(min(p.start for _, p in hits)),
                     "end": format_time(max(p.end for _, p in hits))}))
    return out


def _conflicts(notice: Notice, agreement: Agreement, received_at: datetime,
               candidates: Iterable[Notice], frames: _Frames) -> list[Finding]:
    sep = agreement.separation
    out: list[Finding] = []
    seen: set[str] = set()
    for other in sorted(candidates, key=lambda n: n.id):
        if other.party == notice.party or other.id in seen or not other.live(received_at):
            continue
        seen.add(other.id)
        pairs = []
        for i, vol in enumerate(notice.volumes):
            reach = frames.boxes[i].expand(sep.horizontal_m, sep.vertical_m)
            for j, ovol in enumerate(other.volumes):
                # The index matched this notice by some volume; with one, it matched that one.
                if len(other.volumes) > 1 and not reach.intersects(volume_box(ovol)):
                    continue
                p = conflicts(vol, ovol, sep.horizontal_m, sep.vertical_m, frames[i])
                if p is not None:
                    pairs.append((i, j, p))
        if not pairs:
            continue
        closest = min(pairs, key=lambda t: (t[2].horizontal_m, t[2].vertical_m))[2]
        hazard = (agreement.kind(notice.kind).hazard or agreement.kind(other.kind).hazard)
        out.append(Finding(
            kind="conflict", notice=notice.id, version=notice.version,
            parties=tuple(sorted({notice.party, other.party})), action=agreement.conflict_action,
            details={"party": notice.party, "other": other.id, "other_version": other.version,
                     "other_party": other.party, "hazard": hazard,
                     "horizontal_m": round(closest.horizontal_m, 1),
                     "vertical_m": round(closest.vertical_m, 1),
                     "start": format_time(min(p.start for _, _, p in pairs)),
                     "end": format_time(max(p.end for _, _, p in pairs)),
                     "volumes": [[i, j] for i, j, _ in pairs]}))
    return out

