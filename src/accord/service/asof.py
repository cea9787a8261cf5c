"""The picture as of a past time T: the nearest snapshot, and a fold of the entries after it.

The entries received before T are a prefix of the log (receive times strictly increase); its
length is found by bisection. The snapshot at or before that length (`accord.picture.
snapshot`) gives the hot part of the fold there; only the notices the answer can hold are
parsed (live at T, within the area's box if one is asked for, and those that the open
findings or the tail name); the tail is folded onto it with the same rule book as every
fold. A notice the snapshot left out (cancelled or ended by then) that the tail names gets a
stand-in made from the projection's fixed fields (party, kind, filing time) and the version
the entry names; a stand-in that the tail does not amend is dropped again, as it cannot be
live at T. Disclosure is applied afterwards by the same view as for every picture.

Without a snapshot at or before the prefix (a log shorter than the interval, or a store from
before snapshots) the picture is folded from entry 0, as it always was.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from accord.errors import AccordError
from accord.log.event import Entry
from accord.log.merkle import leaf_hash
from accord.picture.fold import Picture
from accord.picture.snapshot import Snapshot
from accord.picture.view import Area
from accord.rules.agreement import Agreement
from accord.rules.notice import Notice
from accord.store.base import Store
from accord.timefmt import to_micros

log = logging.getLogger("accord.asof")

_STAND_IN = -1  # the entry index of a stand-in notice (never a real one)
_NAMED = {"notice.amend": "replaces", "notice.cancel": "version", "notice.ack": "version"}
_AGREEMENTS: dict[bytes, Agreement] = {}  # by leaf hash: the same bytes, the same agreement


def boundary(store: Store, at: datetime) -> int:
    """How many entries were received before `at` (they are the log's first ones)."""
    lo, hi = 0, store.size()
    while lo < hi:
        mid = (lo + hi) // 2
        if Entry.decode(store.entry(mid)).received_at < at:
            lo = mid + 1
        else:
            hi = mid
    return lo


def fold_from_zero(store: Store, operator_key: bytes, origin: str, end: int) -> Picture:
    """The fold of the first `end` entries, from entry 0."""
    picture = Picture(operator_key, origin)
    for _, data in store.entries(0, end):
        picture.apply(Entry.decode(data), leaf_hash(data), verify=False)
    return picture


def picture_at(store: Store, operator_key: bytes, at: datetime, *,
               area: Area | None = None, origin: str | None = None) -> Picture:
    """The picture as of `at`: the fold of the entries received before it, as far as any
    view of it at `at` can tell (within `area`, if given: notices outside the area's box may
    be left out). Not for writing: acknowledgements owed (`pending`) are not derived."""
    origin = (store.meta("origin") or "") if origin is None else origin
    end = boundary(store, at)
    found = store.snapshot_at_or_before(end)
    if found is not None:
        try:
            return _from_snapshot(store, operator_key, origin, found, end, at, area)
        except (AccordError, ValueError, KeyError, TypeError) as exc:
            # The snapshot or the projection does not fit the log (`accord verify` names
            # which): the answer comes from the log alone.
            log.warning("snapshot at size %d not usable (%s); folding from entry 0",
                        found[0], exc)
    return fold_from_zero(store, operator_key, origin, end)


def _agreement(store: Store, index: int, leaf: bytes) -> Agreement:
    """The agreement adopted by entry `index`, whose leaf hash the snapshot says is `leaf`."""
    hit = _AGREEMENTS.get(leaf)
    if hit is None:
        data = store.entry(index)
        if leaf_hash(data) != leaf:
            raise ValueError(f"entry {index} is not the agreement the snapshot names")
        hit = Agreement.from_json(Entry.decode(data).event.body)
        if len(_AGREEMENTS) >= 16:
            _AGREEMENTS.clear()
        _AGREEMENTS[leaf] = hit
    return hit


def _from_snapshot(store: Store, operator_key: bytes, origin: str,
                   found: tuple[int, bytes], end: int, at: datetime,
                   area: Area | None) -> Picture:
    size, data = found
    snap = Snapshot.read(data)
    if snap.size != size:
        raise ValueError(f"the snapshot stored at size {size} says size {snap.size}")
    p = Picture(operator_key, origin)
    p.size, p.v2_seen, p.last_received = snap.size, snap.v2_seen, snap.last_received
    p.agreement_entry, p.agreement_leaf = snap.agreement_entry, snap.agreement_leaf
    if snap.agreement_entry >= 0:
        p.agreement = _agreement(store, snap.agreement_entry, snap.agreement_leaf)
    p.seqs = dict(snap.seqs)
    p.findings = dict(snap.findings)
    p.messages = dict(snap.messages)
    p.escalations = dict(snap.escalations)
    p.alerts = dict(snap.alerts)
    p.open_alerts = {a["key"]: k for k, a in snap.alerts.items()}
    tail = [(i, d, Entry.decode(d)) for i, d in store.entries(size, end)]

    # The notices the answer can need: live at `at` (in the area's box), and any that an
    # open finding or the tail names.
    at_us = to_micros(at)
    box = None if area is None else (area.lon_min, area.lat_min, area.lon_max, area.lat_max)
    wanted = {k for k, line in snap.notices.items()
              if line.end_us > at_us and (box is None or line.may_meet(*box))}
    for f in snap.findings.values():
        wanted.update(_named_by_finding(f.notice, f.details))
    named: dict[str, int] = {}  # notice -> the version the first tail entry names
    filed: set[str] = set()  # notices filed in the tail itself
    for _, _, e in tail:
        body = e.event.body
        if e.event.type == "notice.file" and isinstance(body.get("notice"), str):
            filed.add(body["notice"])
        elif (e.event.type in _NAMED and isinstance(body.get("notice"), str)
              and body["notice"] not in filed):
            named.setdefault(body["notice"], int(body.get(_NAMED[e.event.type], 0)))
        elif e.event.type == "finding":
            wanted.update(_named_by_finding(body.get("notice"), body.get("details")))
    wanted.update(named)
    notices = {k: snap.notices[k].notice() for k in wanted if k in snap.notices}
    stand_ins = [k for k in named if k not in notices]
    for k in stand_ins:
        notices[k] = _stand_in(store.notice_json, k, named[k])
    p.notices = notices
    for _, d, e in tail:
        p.apply(e, leaf_hash(d), verify=False)
    for k in stand_ins:
        if p.notices[k].entry == _STAND_IN:
            del p.notices[k]
    return p


def _named_by_finding(notice: Any, details: Any) -> set[str]:
    out = {notice} if isinstance(notice, str) else set()
    if isinstance(details, dict) and isinstance(details.get("other"), str):
        out.add(details["other"])
    return out


def _stand_in(projection: Callable[[str], dict[str, Any] | None], notice: str,
              version: int) -> Notice:
    """A notice the snapshot left out, at the version a tail entry names: its party, kind
    and filing time (the same in every version) from the projection. It is dropped after
    the fold unless amended (then the amendment carries everything else)."""
    row = projection(notice)
    if row is None:
        raise KeyError(f"notice {notice!r} is named by the log but not in the projection")
    n = Notice.from_json(row)
    return replace(n, version=version, acks=frozenset(), cancelled_at=None,
                   entry=_STAND_IN)
