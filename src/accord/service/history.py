"""Live versus history in the writer: notices that can no longer matter leave its picture.

A notice is *retired* from the writer's picture, its 4D index and (with it) its findings once
it is cancelled or has ended by the log's own time (`Picture.last_received`, never the wall
clock: every later entry is received after it, so the notice is live for none of them), and
owes no acknowledgement any more (an owed one still escalates, and names it). From then on
it is history: in the log, in the projection (`p_notices`, `p_findings`) and in every history
query, but not in memory, and the strategic check never sees it again.

Retiring changes no decision. The check ignores a candidate that is not live when the new
notice is received (`rules.check._conflicts`), and the rules that may still name a retired
notice or finding (an acknowledgement, amendment or cancel of it, a notice id or finding id
already taken) ask the picture's `Archive`, which the writer points at its store
(`StoreArchive`). A finding is retired with either notice it speaks of: it is open only while
the versions it names are live, and a notice that is not live at its version never is again
(an amendment makes a new version). `accord verify` folds without retiring and re-makes every
decision, so a difference would show there (tests/service/test_history.py compares the two
side by side).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from accord.picture.fold import Picture
from accord.picture.readmodel import Touched
from accord.rules.notice import Finding, Notice
from accord.store.base import Store


@dataclass(frozen=True, slots=True)
class StoreArchive:
    """The archive of the writer's picture: the store's projection, read on the writer's own
    connection (so inside a batch it sees the batch's rows, and a rolled-back command's rows
    are gone with it). Frozen: the writer's journal keeps it as it is."""

    store: Store

    def __deepcopy__(self, memo: dict[int, object]) -> StoreArchive:
        return self  # a copy of the picture reads the same store

    def notice(self, notice_id: str) -> Notice | None:
        row = self.store.notice_json(notice_id)
        return None if row is None else Notice.from_json(row)

    def has_finding(self, finding_id: str) -> bool:
        return self.store.has_finding(finding_id)


def _refs(finding: Finding) -> tuple[str, ...]:
    """The notices a finding speaks of (its own, and the other one of a conflict)."""
    other = finding.details.get("other") if finding.kind == "conflict" else None
    return tuple(x for x in (finding.notice, other) if isinstance(x, str))


class Retirement:
    """Which notices of the writer's picture may retire, and when.

    A heap of (end, id) for the notices in the picture (a cancelled one: its cancel time);
    the notices kept only because an acknowledgement is still owed (`held`); and for each
    notice the findings that speak of it. Only the writer's thread uses it."""

    def __init__(self, picture: Picture) -> None:
        self.heap: list[tuple[datetime, str]] = []
        self.held: set[str] = set()
        self.refs: dict[str, list[str]] = {}
        for nid, n in picture.notices.items():
            self.heap.append((self._when(n), nid))
        heapq.heapify(self.heap)
        self.findings(picture, picture.findings)

    @staticmethod
    def _when(n: Notice) -> datetime:
        return n.cancelled_at if n.cancelled_at is not None else n.end

    def findings(self, picture: Picture, ids: Iterable[str]) -> None:
        """Note which notices the findings `ids` (those of them the picture holds) speak of."""
        for fid in ids:
            f = picture.findings.get(fid)
            if f is not None:
                for nid in _refs(f):
                    self.refs.setdefault(nid, []).append(fid)

    def committed(self, picture: Picture, touched: Touched) -> None:
        """After a commit: the notices and findings the batch touched, as they now are."""
        for nid in touched.notices:
            n = picture.notices.get(nid)
            if n is not None:
                heapq.heappush(self.heap, (self._when(n), nid))
        self.findings(picture, touched.findings)

    @staticmethod
    def _owes(picture: Picture, n: Notice) -> bool:
        return any(d.key in picture.pending for d in picture.notice_dues(n))

    def retire(self, picture: Picture, store: Store, touched: Touched,
               now: datetime) -> int:
        """Inside the batch's transaction, before its commands: retire every notice that is
        neither live at the log's last receive time (nor at the clock's `now`, if that is
        earlier) nor owed an acknowledgement; its index rows go in the same transaction.
        The ids retired are added to `touched`, so the next read model drops them too.
        Returns how many notices retired."""
        if picture.last_received is None:
            return 0
        # The log's time decides (later entries are received after it); the clock, if it is
        # behind (stepped back), keeps a notice a reader at `now` would still call live.
        cutoff = min(picture.last_received, now)
        gone: list[str] = []
        for nid in list(self.held):
            n = picture.notices.get(nid)
            if n is None or n.live(cutoff):
                self.held.discard(nid)
            elif not self._owes(picture, n):
                self.held.discard(nid)
                gone.append(nid)
        heap = self.heap
        while heap and heap[0][0] <= cutoff:
            _, nid = heapq.heappop(heap)
            n = picture.notices.get(nid)
            if n is None or n.live(cutoff) or nid in self.held or nid in gone:
                continue  # retired already, or amended to end later (pushed again then)
            if self._owes(picture, n):
                self.held.add(nid)
                continue
            gone.append(nid)
        for nid in gone:
            del picture.notices[nid]
            store.unindex(nid)
            touched.notices.add(nid)
            for fid in self.refs.pop(nid, ()):
                if picture.findings.pop(fid, None) is not None:
                    touched.findings.add(fid)
        return len(gone)
