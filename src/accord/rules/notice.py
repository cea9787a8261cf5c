"""Notices and findings as values, and the parsing of notice event bodies against an agreement.

Pure: imports only the core (`geo`, `errors`, `timefmt`, `log.event`, `rules.agreement`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from accord.errors import InvalidInput, InvalidTime, LimitExceeded
from accord.geo.volume import Volume, VolumeLimits, parse_volume, volume_to_json
from accord.log.event import unb64
from accord.rules.agreement import Action, Agreement
from accord.rules.text import check_text
from accord.timefmt import format_time, parse_time

FindingKind = Literal["conflict", "late_notice", "zone_violation", "unacknowledged"]
NOTICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
_STORED = VolumeLimits(max_vertices=100_000, max_window=timedelta(days=50_000))
_FILE_KEYS = {"notice", "kind", "volumes", "title", "private_digest"}


@dataclass(frozen=True, slots=True)
class Notice:
    """One version of a party's declared activity, with its acknowledgements so far."""

    id: str
    party: str
    version: int
    kind: str
    volumes: tuple[Volume, ...]
    filed_at: datetime
    updated_at: datetime
    entry: int
    title: str | None = None
    private_digest: str | None = None
    acks: frozenset[str] = frozenset()
    cancelled_at: datetime | None = None

    @property
    def start(self) -> datetime:
        return min(v.start for v in self.volumes)

    @property
    def end(self) -> datetime:
        return max(v.end for v in self.volumes)

    def state(self, at: datetime, required_acks: frozenset[str]) -> str:
        """filed -> acknowledged -> active -> ended, or cancelled (derived, never stored)."""
        if self.cancelled_at is not None and self.cancelled_at <= at:
            return "cancelled"
        if at >= self.end:
            return "ended"
        if at >= self.start:
            return "active"
        if required_acks and required_acks <= self.acks:
            return "acknowledged"
        return "filed"

    def live(self, at: datetime) -> bool:
        return self.cancelled_at is None and at < self.end

    def with_ack(self, party: str) -> Notice:
        return replace(self, acks=self.acks | {party})

    @staticmethod
    def from_json(obj: dict[str, Any]) -> Notice:
        """Inverse of `to_json`, for the store's projection (already validated when filed)."""
        cancelled = obj.get("cancelled_at")
        return Notice(
            id=obj["id"], party=obj["party"], version=obj["version"], kind=obj["kind"],
            volumes=tuple(parse_volume(v, field=f"notice.volumes[{i}]", limits=_STORED)
                          for i, v in enumerate(obj["volumes"])),
            filed_at=parse_time(obj["filed_at"]), updated_at=parse_time(obj["updated_at"]),
            entry=obj["entry"], title=obj.get("title"),
            private_digest=obj.get("private_digest"), acks=frozenset(obj["acks"]),
            cancelled_at=parse_time(cancelled) if cancelled is not None else None)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "party": self.party, "version": self.version, "kind": self.kind,
            "volumes": [volume_to_json(v) for v in self.volumes],
            "filed_at": format_time(self.filed_at, micro=True),
            "updated_at": format_time(self.updated_at, micro=True),
            "entry": self.entry, "acks": sorted(self.acks),
        }
        if self.title is not None:
            out["title"] = self.title
        if self.private_digest is not None:
            out["private_digest"] = self.private_digest
        if self.cancelled_at is not None:
            out["cancelled_at"] = format_time(self.cancelled_at, micro=True)
        return out


@dataclass(frozen=True, slots=True)
class Finding:
    """What a check found. `details` are plain JSON so the finding can be an operator event."""

    kind: FindingKind
    notice: str | None  # None for a finding about a hotline message (see details.message)
    version: int | None
    parties: tuple[str, ...]
    action: Action
    details: dict[str, Any] = field(hash=False)
    id: str = ""
    entry: int = -1
    raised_at: datetime | None = None

    def to_body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"finding": self.id, "kind": self.kind,
                               "parties": list(self.parties), "action": self.action,
                               "details": self.details}
        if self.notice is not None:
            out["notice"], out["version"] = self.notice, self.version
        return out

    def summary(self) -> str:
        d = self.details
        if self.kind == "conflict":
            return (f"{self.notice} v{self.version} conflicts with {d['other']} "
                    f"v{d['other_version']} ({d['other_party']}): horizontal "
                    f"{d['horizontal_m'] / 1000:.1f} km, vertical {d['vertical_m']:.0f} m, "
                    f"{d['start']} to {d['end']}")
        if self.kind == "late_notice":
            return (f"{self.notice} v{self.version} was received {duration(d['lead_s'])} "
                    f"before its window opens; the agreement requires "
                    f"{duration(d['required_s'])}")
        if self.kind == "zone_violation":
            return (f"{self.notice} v{self.version} enters zone {d['zone']} "
                    f"({d['zone_name']}) from {d['start']} to {d['end']}")
        if self.kind == "unacknowledged":
            what = (f"{self.notice} v{self.version}" if self.notice is not None
                    else f"message {d['message']}")
            return f"{d['party']} did not acknowledge {what} by {d['deadline']}"
        return f"{self.notice} v{self.version}: {self.kind}"

    @staticmethod
    def from_body(body: dict[str, Any], entry: int, raised_at: datetime) -> Finding:
        return Finding(kind=body["kind"], notice=body.get("notice"), version=body.get("version"),
                       parties=tuple(body["parties"]), action=body["action"],
                       details=body["details"], id=body["finding"], entry=entry,
                       raised_at=raised_at)

    @staticmethod
    def from_json(obj: dict[str, Any]) -> Finding:
        return Finding.from_body(obj, obj["entry"], parse_time(obj["raised_at"]))

    def to_json(self) -> dict[str, Any]:
        out = self.to_body()
        out["entry"] = self.entry
        if self.raised_at is not None:
            out["raised_at"] = format_time(self.raised_at, micro=True)
        return out


def duration(seconds: float) -> str:
    s = round(seconds)
    sign = "-" if s < 0 else ""
    s = abs(s)
    if s >= 3600:
        return f"{sign}{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{sign}{s // 60} min {s % 60:02d} s"
    return f"{sign}{s} s"


def notice_id(value: Any, field: str) -> str:
    if not isinstance(value, str) or not NOTICE_ID.match(value):
        raise InvalidInput(f"{value!r} is not a valid notice id", field=field,
                           accepted="1-64 letters, digits, '_', '.', ':', '-'")
    return value


def version_number(value: Any, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidInput(f"expected a version number, got {value!r}", field=field,
                           accepted="an integer >= 1")
    return value


@dataclass(frozen=True, slots=True)
class NoticeContent:
    """The parsed content of a `notice.file` or `notice.amend` body."""

    id: str
    kind: str
    volumes: tuple[Volume, ...]
    title: str | None
    private_digest: str | None
    replaces: int | None


def parse_notice_body(body: dict[str, Any], agreement: Agreement, received_at: datetime,
                      *, amend: bool, field: str = "body") -> NoticeContent:
    """Validate a notice body against the agreement's kinds and limits (not against the state)."""
    allowed = _FILE_KEYS | ({"replaces"} if amend else set())
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidInput(f"unknown key(s) {unknown}", field=field,
                           accepted=", ".join(sorted(allowed)))
    nid = notice_id(body.get("notice"), f"{field}.notice")
    kind_name = body.get("kind")
    if not isinstance(kind_name, str):
        raise InvalidInput("kind is required", field=f"{field}.kind",
                           accepted=", ".join(k.name for k in agreement.kinds))
    agreement.kind(kind_name, f"{field}.kind")
    raw = body.get("volumes")
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("a notice needs at least one volume", field=f"{field}.volumes",
                           accepted="a non-empty list of volumes")
    limits = agreement.limits
    if len(raw) > limits.max_volumes:
        raise LimitExceeded(f"{len(raw)} volumes; the agreement allows {limits.max_volumes}",
                            field=f"{field}.volumes",
                            accepted=f"at most {limits.max_volumes} volumes")
    vlimits = limits.volume_limits()
    volumes = tuple(parse_volume(v, field=f"{field}.volumes[{i}]", limits=vlimits)
                    for i, v in enumerate(raw))
    for i, v in enumerate(volumes):
        if v.end <= received_at:
            raise InvalidTime(f"the window ended at {format_time(v.end)}, before the notice was "
                              f"received ({format_time(received_at)})",
                              field=f"{field}.volumes[{i}].end",
                              accepted="a window that has not yet ended")
        if v.start > received_at + limits.horizon:
            raise InvalidTime(f"the window starts more than {limits.horizon.days} days ahead",
                              field=f"{field}.volumes[{i}].start",
                              accepted=f"a start within {limits.horizon.days} days of filing")
    title = body.get("title")
    if title is not None and (not isinstance(title, str) or len(title) > 200):
        raise InvalidInput("title must be a string of at most 200 characters",
                           field=f"{field}.title")
    if title is not None:
        check_text(title, f"{field}.title")
    digest = body.get("private_digest")
    if digest is not None:
        unb64(digest, f"{field}.private_digest", 32)
    replaces = version_number(body.get("replaces"), f"{field}.replaces") if amend else None
    return NoticeContent(id=nid, kind=kind_name, volumes=volumes, title=title,
                         private_digest=digest, replaces=replaces)


def parse_ref_body(body: dict[str, Any], field: str = "body") -> tuple[str, int]:
    """`{"notice", "version"}`: the body of a cancel or an acknowledgement."""
    unknown = sorted(set(body) - {"notice", "version"})
    if unknown:
        raise InvalidInput(f"unknown key(s) {unknown}", field=field, accepted="notice, version")
    return (notice_id(body.get("notice"), f"{field}.notice"),
            version_number(body.get("version"), f"{field}.version"))
