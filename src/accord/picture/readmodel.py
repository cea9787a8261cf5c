"""The committed read model: the picture as of one checkpoint, immutable, shared by every reader.

The writer publishes a new `ReadModel` after each batch it commits (and only then), built
from the previous one and the keys the batch touched: every map is a `CowMap`, so the next
version shares everything the batch did not change. Readers take the current model with one
attribute read and use it without a lock for as long as they like; it never changes under
them and it never holds anything the log does not (a command rolled back, or a batch that
failed, is never published). Pure: no I/O.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from accord.picture.cow import DELETED, CowMap
from accord.picture.fold import Changes, PictureReads
from accord.rules.hotline import Message
from accord.rules.notice import Finding, Notice

log = logging.getLogger("accord.readmodel")


@dataclass(slots=True)
class Touched:
    """The keys a batch changed (a superset is harmless: unchanged keys are copied as they
    are), gathered from each entry's `Changes`."""

    notices: set[str] = field(default_factory=set)
    findings: set[str] = field(default_factory=set)
    messages: set[str] = field(default_factory=set)
    escalations: set[str] = field(default_factory=set)
    alerts: set[str] = field(default_factory=set)
    seqs: set[str] = field(default_factory=set)

    def add(self, changes: Changes) -> None:
        self.notices.update(changes.notices)
        self.findings.update(changes.findings)
        self.messages.update(changes.messages)
        self.escalations.update(changes.escalations)
        self.alerts.update(changes.alerts)
        if changes.seq is not None:
            self.seqs.add(changes.seq[0])


def _next(old: CowMap[str, Any], now: Mapping[str, Any], keys: set[str]) -> CowMap[str, Any]:
    """`old` with each key in `keys` set to its value in `now` (or removed if absent)."""
    return old.evolve({k: now.get(k, DELETED) for k in keys})


class ReadModel(PictureReads):
    """The picture as of the checkpoint `checkpoint` (size, signed note): never mutated.

    `notices` holds the live notices only: those neither cancelled nor ended at `live_at`
    (the writer's clock when the model was made). The others stay in the log, the store's
    projection and history queries; a reader asking at or after `live_at` loses nothing,
    since a notice that is not live then is not live later either."""

    __slots__ = (
        "_json",
        "agreement",
        "agreement_entry",
        "agreement_leaf",
        "alerts",
        "checkpoint",
        "escalations",
        "findings",
        "last_received",
        "live_at",
        "messages",
        "notices",
        "open_alerts",
        "operator_key",
        "origin",
        "seqs",
        "size",
    )

    notices: CowMap[str, Notice]
    findings: CowMap[str, Finding]
    messages: CowMap[str, Message]
    escalations: CowMap[str, dict[str, Any]]
    alerts: CowMap[str, dict[str, Any]]
    open_alerts: CowMap[str, str]
    seqs: CowMap[str, int]
    checkpoint: tuple[int, str] | None
    live_at: datetime
    _json: dict[str, tuple[Notice, dict[str, Any]]]

    def __init__(self, picture: PictureReads, checkpoint: tuple[int, str] | None,
                 live_at: datetime, maps: tuple[CowMap[str, Any], ...] | None = None,
                 cache: dict[str, tuple[Notice, dict[str, Any]]] | None = None) -> None:
        """The model of `picture` (which must hold only committed state); `maps` are the seven
        maps when already built (`advance`), else they are built from the picture."""
        if maps is None:
            live = {k: n for k, n in picture.notices.items() if n.live(live_at)}
            maps = (CowMap(live), CowMap(picture.findings),
                    CowMap(picture.messages), CowMap(picture.escalations),
                    CowMap(picture.alerts), CowMap(picture.seqs), CowMap(picture.open_alerts))
        scalars: dict[str, Any] = {
            "operator_key": picture.operator_key, "origin": picture.origin,
            "agreement": picture.agreement, "agreement_entry": picture.agreement_entry,
            "agreement_leaf": picture.agreement_leaf, "size": picture.size,
            "last_received": picture.last_received, "checkpoint": checkpoint,
            "live_at": live_at,
            "notices": maps[0], "findings": maps[1], "messages": maps[2],
            "escalations": maps[3], "alerts": maps[4], "seqs": maps[5],
            "open_alerts": maps[6]}
        for name, value in scalars.items():
            object.__setattr__(self, name, value)
        # notice id -> (the Notice, its JSON), filled as readers ask and handed on to the
        # next model; an entry counts only for the very Notice object it was made from.
        object.__setattr__(self, "_json", {} if cache is None else cache)

    def notice_json(self, notice: Notice) -> dict[str, Any]:
        """`notice.to_json()`, made once per notice version (every reader of every model
        shares it; a plain dict: single gets and sets are atomic). Not to be changed."""
        hit = self._json.get(notice.id)
        if hit is not None and hit[0] is notice:
            return hit[1]
        out = notice.to_json()
        self._json[notice.id] = (notice, out)
        return out

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a published read model is never changed")

    def advance(self, picture: PictureReads, touched: Touched,
                checkpoint: tuple[int, str] | None, live_at: datetime,
                ended: Iterable[str] = ()) -> ReadModel:
        """The next model: this one with the keys `touched` read from `picture`, the writer's
        picture right after the batch committed, and without the notices that are no longer
        live at `live_at` (those touched, and those named in `ended`: the ones whose end has
        passed). This model is left as it was."""
        changes: dict[str, Any] = {}
        for k in ended:
            n = self.notices.get(k)
            if n is not None and not n.live(live_at):
                changes[k] = DELETED
        for k in touched.notices:
            n = picture.notices.get(k)
            changes[k] = n if n is not None and n.live(live_at) else DELETED
        for k, v in changes.items():
            if v is DELETED:
                self._json.pop(k, None)
        # the keys of the alerts touched (an alert's key never changes): open or closed now
        alert_keys = {a["key"] for k in touched.alerts
                      if (a := picture.alerts.get(k)) is not None}
        maps = (self.notices.evolve(changes),
                _next(self.findings, picture.findings, touched.findings),
                _next(self.messages, picture.messages, touched.messages),
                _next(self.escalations, picture.escalations, touched.escalations),
                _next(self.alerts, picture.alerts, touched.alerts),
                _next(self.seqs, picture.seqs, touched.seqs),
                _next(self.open_alerts, picture.open_alerts, alert_keys))
        return ReadModel(picture, checkpoint, live_at, maps, self._json)


class Publisher:
    """Keeps the current `ReadModel` of one picture: the next one after each committed batch
    (`advance`), and again without the notices whose end has passed (`prune`). The writer
    owns one for the picture it writes; a follower (another `accord serve` on the same
    database) owns one for the picture it folds from the log the writer commits.

    The clock is any callable giving the time now; nothing here reads it on its own."""

    def __init__(self, picture: PictureReads, checkpoint: tuple[int, str] | None,
                 now: datetime) -> None:
        self.model = ReadModel(picture, checkpoint, now)
        # (end, notice id) of the notices in the model: those whose end has passed leave it.
        self._ends = [(n.end, k) for k, n in self.model.notices.items()]
        heapq.heapify(self._ends)

    def advance(self, picture: PictureReads, touched: Touched,
                checkpoint: tuple[int, str] | None, now: datetime) -> ReadModel:
        """Publish the model after a batch: `picture` holds only committed state. A failure
        here would leave readers on the previous model while the log moved on, so the model
        is then rebuilt whole."""
        ended = []
        while self._ends and self._ends[0][0] <= now:
            ended.append(heapq.heappop(self._ends)[1])
        try:
            model = self.model.advance(picture, touched, checkpoint, now, ended)
        except Exception:
            log.exception("publishing the read model failed; rebuilding it whole")
            model = ReadModel(picture, checkpoint, now)
            self._ends = [(n.end, k) for k, n in model.notices.items()]
            heapq.heapify(self._ends)
        else:
            for k in touched.notices:
                n = model.notices.get(k)
                if n is not None:
                    heapq.heappush(self._ends, (n.end, k))
        self.model = model
        return model

    def prune(self, picture: PictureReads, now: datetime) -> None:
        """Publish the model again without the notices that have ended since (the same
        checkpoint: nothing was written), so the live picture follows the clock even when
        nothing is filed."""
        if self._ends and self._ends[0][0] <= now:
            self.advance(picture, Touched(), self.model.checkpoint, now)
