"""Snapshots of the folded state, each tied to a log size: what a picture as of T starts from.

A snapshot at size s holds the part of the fold of the log's first s entries that a picture
as of any later time can still show or need (the *hot* part), so that the picture as of T is
the nearest snapshot at or before the entries received before T plus a fold of the few entries
after it (`accord.service.asof`), not a fold from entry 0:

- every notice that is neither cancelled nor ended at the snapshot's last receive time (a
  notice not live then is not live at any later T, unless the tail amends it: see below);
- every finding open at that time (one closed then stays closed: its notice version was
  replaced, cancelled or ended, or the acknowledgement it waited for came, and none of these
  is ever undone);
- every message and escalation (the picture lists them all), the open alerts, every signer's
  last seq, the agreement in force (by its entry index and leaf hash) and the scalars.

A notice left out (cancelled or ended) can still be named by a later entry: an
acknowledgement, a cancellation or an amendment (which can make it live again). The tail
fold then takes its fixed fields (party, kind, filing time: the same in every version) from
the store's projection and the version from the entry itself; see `stub`.

The format is deterministic, so `accord verify` can rebuild the snapshot from its own fold
and compare: a first line `accord/snapshot/v1`, then one line per record, each canonical JSON
(which never holds a raw newline): the header (scalars and seqs), then the notices, findings,
messages, escalations and open alerts, each kind sorted by id. A notice's line starts with
its id, its end (µs since the epoch) and its lon/lat box (µ°, rounded outward), so a reader asking
about T and an area parses only the notices that can be in its answer. The text is stored
zlib-compressed; verify compares the text, not the compressed bytes, so another zlib gives no
false alarm. Any store holds the same bytes (a BLOB in SQLite, bytea in PostgreSQL).

`SnapshotMaker` makes them along a fold at a cost that follows what is hot and what changed
since the last one, not everything ever filed: each record's text is kept for the very object
it was made from (until it goes cold), and verify, whose fold keeps everything, carries the
sets that may be hot from one snapshot to the next; the writer, whose picture lets go of what
has ended, takes them from its picture. Pure: no I/O.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from accord.errors import AccordError, InvalidInput
from accord.geo.box import footprint_bounds
from accord.log.event import canonical
from accord.picture.fold import Changes, Picture
from accord.rules.hotline import Message
from accord.rules.notice import Finding, Notice
from accord.timefmt import format_time, parse_time, to_micros

MAGIC = "accord/snapshot/v1"
_SECTIONS = ("N", "F", "M", "E", "A")  # notices, findings, messages, escalations, alerts


def notice_hot(n: Notice, at: datetime | None) -> bool:
    """Live at the snapshot's last receive time `at` (None: an empty log, nothing is)."""
    return at is not None and n.live(at)


def _notice_line(n: Notice) -> str:
    lon0 = lat0 = math.inf
    lon1 = lat1 = -math.inf
    for v in n.volumes:
        a, b, c, d = footprint_bounds(v.footprint)
        lon0, lon1, lat0, lat1 = min(lon0, a), max(lon1, b), min(lat0, c), max(lat1, d)
    return (f"N {n.id} {to_micros(n.end)} {math.floor(lon0 * 1e6)} {math.floor(lat0 * 1e6)} "
            f"{math.ceil(lon1 * 1e6)} {math.ceil(lat1 * 1e6)} {_json(n.to_json())}")


def _json(obj: Any) -> str:
    return canonical(obj).decode("utf-8")


def _line(kind: str, obj: Any) -> str:
    return f"{kind} {_json(obj)}"


def _json_line(kind: str, value: Finding | Message) -> str:
    return _line(kind, value.to_json())


@dataclass(slots=True)
class _Section:
    """One kind of record: the ids that may be hot, and each record's line, kept for the
    object it was made from (an unchanged value is never encoded twice)."""

    ids: set[str] = field(default_factory=set)
    lines: dict[str, tuple[object, str]] = field(default_factory=dict)

    kept: dict[str, tuple[object, str]] = field(default_factory=dict)  # this snapshot's

    def line(self, key: str, value: object, make: Callable[[], str]) -> str:
        hit = self.lines.get(key)
        text = hit[1] if hit is not None and hit[0] is value else make()
        self.kept[key] = (value, text)
        return text

    def done(self) -> None:
        """Keep only the lines of this snapshot's records (what went cold is let go)."""
        self.lines, self.kept = self.kept, {}

    def forget(self, key: str) -> None:
        self.ids.discard(key)


class SnapshotMaker:
    """Makes the snapshot of a picture along a fold. Tell it what each entry (or batch)
    changed with `note`; `text(picture)` then costs what is hot plus what changed.

    Start it with `SnapshotMaker.of(picture)` (one pass over the picture) when the fold does
    not begin at entry 0."""

    def __init__(self) -> None:
        self._s = {k: _Section() for k in _SECTIONS}

    @staticmethod
    def of(picture: Picture) -> SnapshotMaker:
        maker = SnapshotMaker()
        maker._s["N"].ids.update(picture.notices)
        maker._s["F"].ids.update(picture.findings)
        maker._s["A"].ids.update(picture.alerts)
        return maker

    def note(self, changes: Changes) -> None:
        self._s["N"].ids.update(changes.notices)
        self._s["F"].ids.update(changes.findings)
        self._s["A"].ids.update(changes.alerts)

    def refresh(self, picture: Picture) -> None:
        """Take the candidates from `picture` itself: for a picture that holds only what may
        still matter (the writer's, which retires what has ended), this costs what it holds,
        and nothing is carried between snapshots."""
        self._s["N"].ids = set(picture.notices)
        self._s["F"].ids = set(picture.findings)
        self._s["A"].ids = set(picture.alerts)

    def text(self, p: Picture) -> str:
        """The snapshot of `p` as text (what `encode` compresses and verify compares)."""
        at = p.last_received
        header = {
            "size": p.size, "v2_seen": p.v2_seen,
            "agreement_entry": p.agreement_entry,
            "agreement_leaf": p.agreement_leaf.hex(),
            "last_received": format_time(at, micro=True) if at is not None else None,
            "seqs": dict(sorted(p.seqs.items())),
        }
        out = [MAGIC, _json(header)]
        notices = self._s["N"]
        for k in sorted(notices.ids):
            n = p.notices.get(k)
            if n is None or not notice_hot(n, at):
                notices.forget(k)  # not live now, so not live later unless touched again
                continue
            out.append(notices.line(k, n, partial(_notice_line, n)))
        findings = self._s["F"]
        for k in sorted(findings.ids):
            f = p.findings.get(k)
            if f is None or at is None or not p.is_open(f, at):
                findings.forget(k)  # closed now, closed for good
                continue
            out.append(findings.line(k, f, partial(_json_line, "F", f)))
        messages = self._s["M"]
        for k in sorted(p.messages):
            m = p.messages[k]
            out.append(messages.line(k, m, partial(_json_line, "M", m)))
        escalations = self._s["E"]
        for k in sorted(p.escalations):
            e = p.escalations[k]
            out.append(escalations.line(k, e, partial(_line, "E", e)))
        alerts = self._s["A"]
        for k in sorted(alerts.ids):
            a = p.alerts.get(k)
            if a is None or a.get("state") != "open":
                alerts.forget(k)  # cleared for good: an alert id is never raised again
                continue
            out.append(alerts.line(k, a, partial(_line, "A", a)))
        for section in self._s.values():
            section.done()
        return "\n".join(out) + "\n"

    def encode(self, p: Picture) -> bytes:
        """The snapshot as stored."""
        return encode_text(self.text(p))


def encode_text(text: str) -> bytes:
    return zlib.compress(text.encode("utf-8"), 1)


def snapshot_of(p: Picture) -> bytes:
    """The snapshot of `p` made from scratch (one pass over everything)."""
    return SnapshotMaker.of(p).encode(p)


def decode_text(data: bytes) -> str:
    """The text of a stored snapshot; InvalidInput if it is not one."""
    try:
        text = zlib.decompress(data).decode("utf-8")
    except (zlib.error, UnicodeDecodeError) as exc:
        raise InvalidInput(f"not a snapshot ({exc})", field="snapshot") from None
    if not text.startswith(MAGIC + "\n") or not text.endswith("\n"):
        raise InvalidInput("not a snapshot (no accord/snapshot/v1 line)", field="snapshot")
    return text


@dataclass(frozen=True, slots=True)
class NoticeLine:
    """A hot notice as the snapshot lists it: parsed only when asked for."""

    id: str
    end_us: int
    box: tuple[int, int, int, int]  # lon_min, lat_min, lon_max, lat_max in µ°, outward
    json: str

    def notice(self) -> Notice:
        return Notice.from_json(json.loads(self.json))

    def may_meet(self, lon_min: float, lat_min: float, lon_max: float, lat_max: float) -> bool:
        b = self.box
        return (b[0] <= lon_max * 1e6 and b[2] >= lon_min * 1e6
                and b[1] <= lat_max * 1e6 and b[3] >= lat_min * 1e6)


@dataclass(slots=True)
class Snapshot:
    """A stored snapshot, read: the header and the records (notices still unparsed)."""

    size: int
    v2_seen: bool
    agreement_entry: int
    agreement_leaf: bytes
    last_received: datetime | None
    seqs: dict[str, int]
    notices: dict[str, NoticeLine]
    findings: dict[str, Finding]
    messages: dict[str, Message]
    escalations: dict[str, dict[str, Any]]
    alerts: dict[str, dict[str, Any]]

    @staticmethod
    def read(data: bytes) -> Snapshot:
        """Parse a stored snapshot; InvalidInput if it is malformed."""
        lines = decode_text(data).split("\n")
        try:
            h = json.loads(lines[1])
            last = h["last_received"]
            snap = Snapshot(
                size=int(h["size"]), v2_seen=bool(h["v2_seen"]),
                agreement_entry=int(h["agreement_entry"]),
                agreement_leaf=bytes.fromhex(h["agreement_leaf"]),
                last_received=parse_time(last) if last is not None else None,
                seqs={str(k): int(v) for k, v in h["seqs"].items()},
                notices={}, findings={}, messages={}, escalations={}, alerts={})
            for line in _records(lines):
                kind, rest = line[0], line[2:]
                if kind == "N":
                    nid, end, lon0, lat0, lon1, lat1, text = rest.split(" ", 6)
                    snap.notices[nid] = NoticeLine(nid, int(end), (int(lon0), int(lat0),
                                                                   int(lon1), int(lat1)), text)
                elif kind == "F":
                    f = Finding.from_json(json.loads(rest))
                    snap.findings[f.id] = f
                elif kind == "M":
                    m = Message.from_json(json.loads(rest))
                    snap.messages[m.id] = m
                elif kind == "E":
                    e = json.loads(rest)
                    snap.escalations[str(e["escalation"])] = e
                else:
                    a = json.loads(rest)
                    snap.alerts[str(a["alert"])] = a
        except (AccordError, ValueError, KeyError, TypeError, IndexError) as exc:
            raise InvalidInput(f"not a readable snapshot ({exc})", field="snapshot") from None
        return snap


def _records(lines: list[str]) -> Iterator[str]:
    for line in lines[2:]:
        if not line:
            continue
        if len(line) < 3 or line[0] not in _SECTIONS or line[1] != " ":
            raise ValueError(f"an unknown record {line[:20]!r}")
        yield line
