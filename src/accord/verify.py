"""Full verification of a deployment's store (a receipt alone is checked by `log/receipt.py`).

`verify_store` trusts nothing in the database: it re-reads every entry, re-checks every
signature and state transition by folding the log, recomputes every tree node and checkpoint
root, and compares the stored picture with the rebuilt one, naming the entry, node, checkpoint
or table row that is wrong. It also re-makes the operator's decisions: the strategic check of
every filing and amendment, run again by the writer's own code against the log as it stood
before that entry, must give exactly the findings the log records right after it.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from accord.errors import AccordError, InvalidInput
from accord.geo.box import volume_box
from accord.log.event import OPERATOR, Entry, canonical, private_digest
from accord.log.merkle import Frontier, leaf_hash
from accord.log.note import Checkpoint, NoteVerifier, open_note
from accord.picture.fold import Changes, Picture
from accord.picture.snapshot import SnapshotMaker, decode_text
from accord.rules.hotline import Due
from accord.rules.notice import Finding, Notice
from accord.service.writer import overdue_records, strategic_check
from accord.store.base import Store, dumps
from accord.store.sqlite import SqliteStore
from accord.timefmt import format_time, parse_time


@dataclass(frozen=True)
class Problem:
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass
class Report:
    entries: int = 0
    nodes: int = 0
    checkpoints: int = 0
    notices: int = 0
    findings: int = 0
    checks: int = 0  # filings and amendments whose strategic check was run again
    snapshots: int = 0  # snapshots of the fold compared with the fold of their prefix
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, where: str, what: str) -> None:
        if len(self.problems) < 1000:
            self.problems.append(Problem(where, what))


def verify_store(store: Store, verifier_key: str,
                 progress: Callable[[int, int], None] | None = None,
                 origin: str | None = None) -> Report:
    """Every problem found, located; a file SQLite itself cannot read is one such problem.

    `origin` is the log's name as the deployment's accord.toml gives it (when there is one):
    it must be the name the log key and every checkpoint carry, as must the store's own."""
    report = Report()
    unreadable: tuple[type[BaseException], ...] = (*store.errors, UnicodeDecodeError)
    try:
        _verify(store, verifier_key, progress, report, origin)
    except unreadable as exc:
        engine = "SQLite" if store.backend == "sqlite" else "PostgreSQL"
        report.add("database file" if store.backend == "sqlite" else "database",
                   f"{engine} cannot read it: {exc}")
    return report


@dataclass
class _Fold:
    """What folding the entries yields for the later stages."""

    picture: Picture
    computed: dict[tuple[int, int], bytes] = field(default_factory=dict)
    roots: dict[int, bytes] = field(default_factory=dict)
    digests: dict[tuple[str, int], str | None] = field(default_factory=dict)
    parties: set[str] = field(default_factory=set)  # every party of any agreement adopted
    admissible: bool = True
    snapshots: SnapshotMaker = field(default_factory=SnapshotMaker)


def _verify(store: Store, verifier_key: str,
            progress: Callable[[int, int], None] | None, report: Report,
            origin: str | None) -> None:
    for msg in store.integrity():
        report.add("database file", msg)
    verifier = NoteVerifier.parse(verifier_key)
    if store.meta("log_key") != verifier_key:
        report.add("table meta (log_key)", "the stored log key is not the deployment's log.pub")
    _origin(store, verifier, origin, report)
    fold = _Fold(Picture(verifier.public_key.public_bytes_raw(), verifier.name))
    stages: list[tuple[str, Callable[[], None]]] = [
        ("table entries", lambda: _entries(store, fold, report, progress)),
        ("table nodes", lambda: _nodes(store, fold, report)),
        ("table checkpoints", lambda: _checkpoints(store, verifier, fold, report)),
        ("table private", lambda: _privates(store, fold, report)),
        ("table tokens", lambda: _tokens(store, fold, report)),
    ]
    for where, stage in stages:
        try:
            stage()
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            # A corrupted value of the wrong type (NULL for an index, text for a hash, ...).
            report.add(where, f"holds a value of the wrong type or shape ({exc})")
            fold.admissible = fold.admissible and where != "table entries"
    if fold.admissible:
        try:
            _compare_projection(store, fold.picture, report)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            report.add("projection tables", f"hold a value of the wrong type ({exc})")
    report.notices = len(fold.picture.notices)
    report.findings = len(fold.picture.findings)


def _entries(store: Store, fold: _Fold, report: Report,
             progress: Callable[[int, int], None] | None) -> None:
    """Recompute every leaf and node, and fold every entry with its signatures checked."""
    decisions = Decisions(fold.picture, report)
    try:
        _fold_entries(store, fold, report, progress, decisions)
        if fold.admissible:
            decisions.finish()
    finally:
        report.checks = decisions.checked
        decisions.close()


def _fold_entries(store: Store, fold: _Fold, report: Report,
                  progress: Callable[[int, int], None] | None, decisions: Decisions) -> None:
    frontier = Frontier()
    cp_sizes = {size for size, _ in store.checkpoints()}
    total = store.size()
    snap_sizes = set(store.snapshot_sizes())
    for size in sorted(s for s in snap_sizes if s <= 0 or s > total):
        report.add(f"snapshot at size {size}", "covers entries the log does not have"
                   if size > 0 else "a snapshot of no entries (the writer never makes one)")
    for index, data in store.entries():
        if index != frontier.size:
            report.add(f"entry {frontier.size}", f"missing (next stored entry is {index})")
            fold.admissible = False
            break
        where = f"entry {index}"
        leaf = leaf_hash(data)
        for level, idx, h in frontier.append(leaf):
            fold.computed[(level, idx)] = h
        if frontier.size in cp_sizes:
            fold.roots[frontier.size] = frontier.root()
        try:
            entry = Entry.decode(data)
        except AccordError as exc:
            report.add(where, f"not a valid entry: {exc.detail}")
            fold.admissible = False
            continue
        if fold.admissible:
            expected = decisions.before(entry)
            try:
                changes = fold.picture.apply(entry, leaf, verify=True)
            except AccordError as exc:
                report.add(where, f"{entry.event.type} by {entry.event.party} seq "
                                  f"{entry.event.seq} is not admissible: {exc.detail}")
                fold.admissible = False
            else:
                if changes.notice is not None:
                    n = changes.notice
                    fold.digests[(n.id, n.version)] = n.private_digest
                decisions.after(index, entry, changes, expected)
                fold.snapshots.note(changes)
                if frontier.size in snap_sizes:
                    _snapshot(store, fold, report, frontier.size)
                if changes.agreement:
                    assert fold.picture.agreement is not None
                    fold.parties.update(fold.picture.agreement.party_ids)
        if progress is not None and index % 1000 == 0:
            progress(index, total)
    report.entries = frontier.size


def _snapshot(store: Store, fold: _Fold, report: Report, size: int) -> None:
    """The snapshot stored at `size` must be the one made from the fold of the first `size`
    entries (compared as text: the compression may differ, what it holds may not)."""
    report.snapshots += 1
    where = f"snapshot at size {size}"
    found = store.snapshot_at_or_before(size)
    if found is None or found[0] != size:
        report.add(where, "vanished while being verified")
        return
    try:
        text = decode_text(found[1])
    except AccordError as exc:
        report.add(where, f"not readable: {exc.detail}")
        return
    if text != fold.snapshots.text(fold.picture):
        report.add(where, f"differs from the fold of the log's first {size} entries")


STRATEGIC = frozenset({"late_notice", "zone_violation", "conflict"})


def _comparable(finding: Finding) -> Any:
    """A finding's body as the log holds it (through canonical JSON), without its id."""
    body = finding.to_body()
    body.pop("finding", None)
    return json.loads(canonical(body))


def _described(f: Finding) -> str:
    return f"a {f.kind} finding ({f.summary()})"


class Decisions:
    """The operator's decisions, made again along the fold and compared with the log.

    Strategic findings: the writer checks a filing or an amendment against the picture and
    the 4D index as they stand just before it (`strategic_check`), appends it, then appends
    each finding as an operator entry right after it, in the check's order; a finding whose
    action is `reject` refuses the filing instead, so a logged filing never breaks such a
    rule. Here the same function runs against the same prefix: the picture being folded, and
    an in-memory SQLite R*Tree holding the volumes of every notice filed and not cancelled,
    as the writer's does (`SqliteStore.index`, queried by the same `near`). Every finding the
    check gives must follow its filing; any other strategic finding is extra.

    Escalations: an escalation pass logs, for each acknowledgement overdue at that moment in
    (deadline, key) order, an `unacknowledged` finding and right after it the escalation
    (`overdue_records`). So each must have been owed and past its deadline when logged, be
    exactly what the writer makes of it, come as a pair; and when a pass escalates one, every
    acknowledgement still owed with an earlier deadline was overdue too and is missing.
    """

    def __init__(self, picture: Picture, report: Report) -> None:
        self.picture = picture
        self.report = report
        self.index = SqliteStore(":memory:", create=True)
        self.owed: list[Finding] = []  # what the last filing's check found, not yet seen
        self.source = -1  # the entry index of that filing (-1: none is being followed)
        self.checked = 0
        self.due: Due | None = None  # the acknowledgement an unacknowledged finding is about
        # The escalation the last entry (an unacknowledged finding) must be followed by.
        self.escalation: tuple[int, Callable[[str, int], dict[str, Any]] | None, str] | None \
            = None
        self.deadlines: list[tuple[datetime, str]] = []  # every due, as a heap
        self.missed: set[str] = set()

    def close(self) -> None:
        self.index.close()

    def before(self, entry: Entry) -> list[Finding] | None:
        """The findings the writer's check gives for a filing or amendment at this point of
        the log (None for other entries, or for one the fold is about to refuse); for an
        unacknowledged finding, the acknowledgement owed that it speaks of."""
        ev = entry.event
        self.due = None
        if ev.type == "finding" and ev.body.get("kind") == "unacknowledged":
            self.due = self.picture.pending.get(_due_key(ev.body))
        if ev.type not in ("notice.file", "notice.amend"):
            return None
        try:
            notice, previous = self.picture.prospective(entry)
            return strategic_check(self.index, self.picture, notice, entry.received_at,
                                   previous)
        except AccordError:
            return None  # not admissible: apply refuses it and says why

    def after(self, index: int, entry: Entry, changes: Changes,
              expected: list[Finding] | None) -> None:
        """Compare an admitted entry with what is owed, then take its own decisions on."""
        ev = entry.event
        if ev.party == OPERATOR and ev.type == "finding" and ev.body.get("finding") != \
                f"F{ev.seq}":
            self.report.add(f"entry {index}", f"finding id {ev.body.get('finding')!r}: the "
                                              f"writer names a finding F<its seq>, F{ev.seq}")
        if ev.type == "finding" and ev.body.get("kind") in STRATEGIC:
            self._strategic(index, entry)
        else:
            self._settle()
        if self.escalation is not None and ev.type != "escalation":
            self.report.add(f"entry {self.escalation[0]}", "an unacknowledged finding that is "
                                                           "not followed by its escalation")
            self.escalation = None
        if ev.type == "finding" and ev.body.get("kind") == "unacknowledged":
            self._unacknowledged(index, entry)
        elif ev.type == "escalation":
            self._escalation(index, entry)
        if ev.type in ("notice.amend", "notice.cancel"):  # the index holds live volumes
            self.index.unindex(changes.notices[0])
        if ev.type in ("notice.file", "notice.amend"):
            self.index.index(self.picture.notices[changes.notices[0]])
            self._owed(self.picture.notice_dues(self.picture.notices[changes.notices[0]]))
        elif ev.type == "message":
            self._owed(self.picture.message_dues(self.picture.messages[changes.messages[0]]))
        if expected is not None:
            assert changes.notice is not None
            self.checked += 1
            self._settle()
            self.source, self.owed = index, list(expected)
            refused = [f for f in expected if f.action == "reject"]
            if refused:
                self.report.add(f"entry {index}", f"{ev.type} {self._name(changes.notice)} "
                                f"breaks a rule whose action is reject, so the writer must "
                                f"have refused it: " + "; ".join(f.summary() for f in refused))

    def finish(self) -> None:
        self._settle()
        if self.escalation is not None:
            self.report.add(f"entry {self.escalation[0]}", "an unacknowledged finding that is "
                                                           "not followed by its escalation")

    @staticmethod
    def _name(notice: Notice) -> str:
        return f"{notice.id} v{notice.version}"

    # -- strategic findings ------------------------------------------------------------------

    def _strategic(self, index: int, entry: Entry) -> None:
        body = entry.event.body
        got = {k: v for k, v in body.items() if k != "finding"}
        want = [_comparable(f) for f in self.owed]
        if got in want:
            k = want.index(got)
            self._missing(self.owed[:k])
            del self.owed[:k + 1]
            return
        what = (f"finding {body.get('finding')} ({body.get('kind')} of {body.get('notice')} "
                f"v{body.get('version')})")
        if self.source < 0:
            self.report.add(f"entry {index}", f"{what} follows no filing or amendment: the "
                                              f"writer records these right after the entry it "
                                              f"checks")
        else:
            self.report.add(f"entry {index}", f"{what} is not one the strategic check of entry "
                                              f"{self.source} gives")

    def _settle(self) -> None:
        """The run of findings after a filing has ended: whatever is still owed is missing."""
        self._missing(self.owed)
        self.owed, self.source = [], -1

    def _missing(self, findings: list[Finding]) -> None:
        for f in findings:
            self.report.add(f"entry {self.source}", f"the strategic check gives "
                                                    f"{_described(f)}, which the log does not "
                                                    f"record after the entry")

    # -- acknowledgements overdue ------------------------------------------------------------

    def _owed(self, dues: list[Due]) -> None:
        for d in dues:
            heapq.heappush(self.deadlines, (d.deadline, d.key))

    def _unacknowledged(self, index: int, entry: Entry) -> None:
        body = entry.event.body
        due, at = self.due, entry.received_at
        what = f"finding {body.get('finding')} (unacknowledged: {_due_key(body)})"
        self.escalation = (index, None, str(body.get("finding")))  # to pair it, at least
        if due is None:
            self.report.add(f"entry {index}", f"{what}: no such acknowledgement was owed")
            return
        if due.deadline > at:
            self.report.add(f"entry {index}", f"{what}: recorded at {format_time(at)}, before "
                                              f"its deadline {format_time(due.deadline)}")
            return
        # A pass escalates in (deadline, key) order everything overdue at its start, so every
        # acknowledgement still owed that sorts before this one was overdue too.
        while self.deadlines and self.deadlines[0] < (due.deadline, due.key):
            deadline, key = heapq.heappop(self.deadlines)
            late = self.picture.pending.get(key)
            if late is not None and late.deadline == deadline and key not in self.missed:
                self.missed.add(key)
                self.report.add(f"entry {index}", f"the escalation pass leaves out {key}, due "
                                                  f"at {format_time(deadline)}, before "
                                                  f"{due.key} (due "
                                                  f"{format_time(due.deadline)}) that it "
                                                  f"escalates")
        agreement = self.picture.require_agreement()
        finding, escalation = overdue_records(self.picture, agreement, due)
        if {k: v for k, v in body.items() if k != "finding"} != _comparable(finding):
            self.report.add(f"entry {index}", f"{what}: not the finding the writer records for "
                                              f"it")
        self.escalation = (index, escalation, str(body.get("finding")))

    def _escalation(self, index: int, entry: Entry) -> None:
        ev = entry.event
        if self.escalation is None:
            self.report.add(f"entry {index}", f"escalation {ev.body.get('escalation')} follows "
                                              f"no unacknowledged finding")
            return
        _, make, finding_id = self.escalation
        self.escalation = None
        if make is not None and ev.body != json.loads(canonical(make(finding_id, ev.seq))):
            self.report.add(f"entry {index}", f"escalation {ev.body.get('escalation')} is not "
                                              f"the one the writer makes for finding "
                                              f"{finding_id}")


def _due_key(body: dict[str, Any]) -> str:
    """The key of the acknowledgement an `unacknowledged` finding body speaks of."""
    details = body.get("details")
    party = details.get("party") if isinstance(details, dict) else None
    message = details.get("message") if isinstance(details, dict) else None
    return Due(str(party), datetime.min, notice=body.get("notice"), version=body.get("version"),
               message=message).key


def _nodes(store: Store, fold: _Fold, report: Report) -> None:
    """Every stored node must be the recomputed one, and none may be missing."""
    seen = 0
    for level, idx, h in store.nodes():
        seen += 1
        want = fold.computed.get((level, idx))
        if want is None:
            report.add(f"table nodes (level {level}, index {idx})", "a node beyond the log")
        elif want != h:
            what = "leaf hash" if level == 0 else "node hash"
            report.add(f"table nodes (level {level}, index {idx})",
                       f"{what} differs from the one recomputed from the entries")
    report.nodes = seen
    if seen != len(fold.computed):
        report.add("table nodes", f"{len(fold.computed) - seen} node(s) missing")


def _checkpoints(store: Store, verifier: NoteVerifier, fold: _Fold,
                 report: Report) -> None:
    """Signed by the log key, and their roots are the tree's roots at their sizes."""
    for size, note in store.checkpoints():
        report.checkpoints += 1
        where = f"checkpoint at size {size}"
        try:
            text, _ = open_note(note, [verifier])
            cp = Checkpoint.parse(text)
        except AccordError as exc:
            report.add(where, f"does not verify with the log key: {exc.detail}")
            continue
        if cp.size != size or cp.origin != verifier.name:
            report.add(where, f"signed for size {cp.size} of {cp.origin!r}")
        elif size not in fold.roots:
            report.add(where, "covers entries the log does not have")
        elif fold.roots[size] != cp.root:
            report.add(where, "root differs from the tree recomputed from the entries")
    latest = store.checkpoint()
    if report.entries and (latest is None or latest[0] != report.entries):
        report.add("table checkpoints", "the latest checkpoint does not cover the whole log")


def _origin(store: Store, verifier: NoteVerifier, origin: str | None,
            report: Report) -> None:
    """One name for the log everywhere: the log key's (which signs every checkpoint under it),
    the store's meta row, and the deployment's accord.toml."""
    if store.meta("origin") != verifier.name:
        report.add("table meta (origin)", f"names the log {store.meta('origin')!r}, but its "
                                          f"key and checkpoints name it {verifier.name!r}")
    if origin is not None and origin != verifier.name:
        report.add("accord.toml (origin)", f"names the log {origin!r}, but its key and "
                                           f"checkpoints name it {verifier.name!r}")
    schema = store.meta("schema")
    if schema != store.schema_version:
        report.add("table meta (schema)",
                   f"schema version {schema!r}, not {store.schema_version!r}")


def _tokens(store: Store, fold: _Fold, report: Report) -> None:
    """Bearer tokens are not in the log (nothing signs them), so a changed hash cannot be
    told from another token; but every row must be well formed (a SHA-256, a label, an RFC
    3339 time) and name a party of some agreement the log adopted."""
    for rowid, digest, party, label, created in store.token_rows():
        where = f"table tokens (row {rowid}, party {party!r})"
        if not isinstance(digest, bytes) or len(digest) != 32:
            report.add(where, "the token hash is not a 32-byte SHA-256")
        if not isinstance(party, str) or not party:
            report.add(where, "names no party")
        elif fold.admissible and party not in fold.parties:
            report.add(where, "names a party no agreement in the log has ever had")
        if not isinstance(label, str):
            report.add(where, "the label is not text")
        try:
            parse_time(created)
        except (AccordError, TypeError):
            report.add(where, f"the creation time {created!r} is not an RFC 3339 UTC time")


def _privates(store: Store, fold: _Fold, report: Report) -> None:
    """Each private part must be the one its notice's signed digest commits to."""
    for notice, version, salt, text in store.privates():
        want_digest = fold.digests.get((notice, version))
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if want_digest is None or data is None or private_digest(salt, data) != want_digest:
            report.add(f"table private ({notice} v{version})",
                       "does not match the digest in the signed notice")


def _compare_projection(store: Store, picture: Picture, report: Report) -> None:
    want = picture.snapshot()
    _compare_rows("p_state", store.raw_rows("p_state"),
                  {k: want[k] for k in ("size", "agreement_entry", "agreement_leaf",
                                        "last_received")}, report)
    _compare_rows("p_notices", store.raw_rows("p_notices"), want["notices"], report)
    _compare_rows("p_findings", store.raw_rows("p_findings"), want["findings"], report)
    _compare_rows("p_seqs", store.raw_rows("p_seqs"), want["seqs"], report)
    _compare_rows("p_messages", store.raw_rows("p_messages"), want["messages"], report)
    _compare_rows("p_escalations", store.raw_rows("p_escalations"), want["escalations"], report)
    _compare_rows("p_alerts", store.raw_rows("p_alerts"), want["alerts"], report)
    _compare_index(store, picture, report)


def _compare_index(store: Store, picture: Picture, report: Report) -> None:
    """The 4D index holds exactly the volumes of every notice the writer's picture holds: each
    live one (at the log's last receive time) and each owed an acknowledgement must be there,
    a cancelled one must not, and one that has ended may be there or not (the writer retires
    it at its next batch: `accord.service.history`), but whole or not at all. The writer
    loads its picture from the index, so a live notice missing here would be missing from
    every later check."""
    at = picture.last_received
    stored: dict[str, list[tuple[float, ...]]] = {}
    for nid, box in store.index_rows():
        stored.setdefault(nid, []).append(box)
    bad: list[str] = []
    for nid in sorted(set(stored) | set(picture.notices)):
        n = picture.notices.get(nid)
        have = stored.get(nid)
        if n is None or n.cancelled_at is not None:
            if have is not None:
                bad.append(nid)
            continue
        want = sorted(store.stored_box(volume_box(v)) for v in n.volumes)
        if have is None:
            owed = any(d.key in picture.pending for d in picture.notice_dues(n))
            if (at is not None and n.live(at)) or owed:
                bad.append(nid)
            continue
        if sorted(have) != want:
            bad.append(nid)
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        report.add("table p_volume_index", f"the 4D index does not match the notices the "
                                           f"writer holds ({shown})")


def _compare_rows(table: str, stored: dict[str, str], want: dict[str, Any], report: Report,
                  ) -> None:
    """Stored rows are the canonical text of the rebuilt values, byte for byte."""
    for key in sorted(set(stored) | set(want)):
        if key not in want:
            report.add(f"table {table} ({key})", "a row the log does not produce")
        elif key not in stored:
            report.add(f"table {table} ({key})", "missing: the log produces this row")
        elif stored[key] != (dumps(want[key]) if table != "p_seqs" else str(want[key])):
            report.add(f"table {table} ({key})", "differs from the picture rebuilt from the log")


def load_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"{what} is not JSON: {exc}", field=what) from None
