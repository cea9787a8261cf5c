"""The one writer: validate -> check -> append -> project, for a batch of commands at a time.

Every write in a deployment goes through a `Writer`. A batch is one SQLite transaction, one
fsync and one checkpoint signature (group commit); each command in it gets its receipt, proved
against that checkpoint, as soon as the batch is durable. A refused command leaves the log and
the picture untouched and gets its `AccordError` back; the others in the batch go on.

Each command of a batch runs inside its own SQLite savepoint, and the in-memory state it
changes (the picture, the tree's frontier) is journaled the same way: whatever goes wrong in
one command -- a refusal, or any exception at all, before or after its entry was appended --
undoes that command alone, and only that command's caller hears of it.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from accord.errors import AccordError, InvalidInput, RuleBreach, Unavailable, WriteFailed
from accord.geo.box import volume_box
from accord.limits import check_depth
from accord.log.event import (
    EVENT_VERSION,
    OPERATOR,
    Context,
    Entry,
    Event,
    canonical,
    private_digest,
    sign_event,
    unb64,
    verify_event_signature,
)
from accord.log.merkle import inclusion_proof, leaf_hash
from accord.log.note import NoteSigner
from accord.log.receipt import Receipt
from accord.picture.fold import Changes, Picture
from accord.picture.readmodel import Publisher, ReadModel, Touched
from accord.picture.snapshot import SnapshotMaker
from accord.rules.agreement import Agreement
from accord.rules.check import check
from accord.rules.hotline import Due, Message
from accord.rules.notice import Finding, Notice
from accord.service.appender import LogAppender
from accord.service.history import Retirement, StoreArchive
from accord.store.base import Store
from accord.timefmt import Clock, ClockStep, ClockWatch, SystemClock, format_time, parse_time

log = logging.getLogger("accord.writer")

SNAPSHOT_EVERY = 1000  # entries between two snapshots of the fold (ServiceConfig.snapshot_every)


@dataclass(frozen=True)
class Submission:
    """A command as a party sends it: the signed event, and the private part it commits to."""

    event: dict[str, Any]
    sig: str | None = None
    sigs: dict[str, str] | None = None
    private: dict[str, Any] | None = None  # {"salt": base64, "data": any JSON}
    # Set by Writer.preverify: the parsed event and the key its signature was checked with.
    verified: tuple[Event, bytes] | None = field(default=None, compare=False, repr=False)


class Tick:
    """A batch item that asks the writer to escalate whatever acknowledgement is overdue."""


@dataclass(frozen=True)
class Alerts:
    """A batch item: tactical alert changes to log (bodies from the tactical monitor)."""

    bodies: list[dict[str, Any]]


@dataclass(frozen=True)
class _Call:
    fn: Callable[[Writer], Any]


@dataclass
class Outcome:
    """What the writer did with one command: its entry's receipt and the findings it raised."""

    index: int
    entry: Entry
    receipt: Receipt | None = None
    notice: Notice | None = None
    findings: list[tuple[Finding, Receipt | None]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """What a write returns (CLI --json and the API alike): the entry, its receipt, and
        every finding it raised with theirs."""
        return {"index": self.index,
                "received_at": format_time(self.entry.received_at, micro=True),
                "event": self.entry.event.to_json(),
                "receipt": self.receipt.to_json() if self.receipt else None,
                "notice": self.notice.to_json() if self.notice else None,
                "findings": [{"finding": f.to_json(), "receipt": rc.to_json() if rc else None}
                             for f, rc in self.findings]}


def load_picture(store: Store, operator_key: bytes, origin: str | None = None) -> Picture:
    """The writer's picture from the projection tables (fast); `accord verify` proves them
    right. It holds the notices not yet retired (`accord.service.history`: those in the 4D
    index) and their findings; the retired ones are history, in the projection only.

    `origin` is the log's (default: as the store records it)."""
    origin = (store.meta("origin") or "") if origin is None else origin
    picture = Picture(operator_key, origin)
    state = store.state()
    size = store.size()
    if state.get("size", 0) != size:
        return rebuild_picture(store, operator_key, origin=origin)
    picture.size = size
    picture.v2_seen = size > 0 and Entry.decode(store.entry(size - 1)).event.v >= 2
    picture.agreement_entry = state.get("agreement_entry", -1)
    if picture.agreement_entry >= 0:
        entry = Entry.decode(store.entry(picture.agreement_entry))
        picture.agreement = Agreement.from_json(entry.event.body)
        picture.agreement_leaf = base64.b64decode(state["agreement_leaf"])
    last = state.get("last_received")
    picture.last_received = parse_time(last) if last else None
    picture.notices = {n["id"]: Notice.from_json(n) for n in store.held_notices_json()}
    picture.findings = {f["finding"]: Finding.from_json(f) for f in store.held_findings_json()}
    picture.messages = {k: Message.from_json(v) for k, v in store.items("p_messages").items()}
    picture.escalations = store.items("p_escalations")
    picture.alerts = store.items("p_alerts")
    picture.open_alerts = {a["key"]: k for k, a in picture.alerts.items()
                           if a["state"] == "open"}
    picture.seqs = store.seqs()
    picture.rebuild_pending()
    return picture


def strategic_check(store: Store, picture: Picture, notice: Notice, received_at: datetime,
                    previous: Notice | None = None) -> list[Finding]:
    """The 4D index narrows the other notices to those whose boxes come within the separation
    minima; the pure `check` then does the exact test on just those."""
    agreement = picture.require_agreement()
    sep = agreement.separation
    near: set[str] = set()
    for vol in notice.volumes:
        near |= store.near(volume_box(vol).expand(sep.horizontal_m, sep.vertical_m))
    near.discard(notice.id)
    candidates = [picture.notices[n] for n in sorted(near)]
    return check(notice, agreement, received_at, candidates, previous)


def overdue_records(picture: Picture, agreement: Agreement, due: Due
                    ) -> tuple[Finding, Callable[[str, int], dict[str, Any]]]:
    """What the writer logs for an acknowledgement that is overdue: the `unacknowledged`
    finding to the late party and the owner (its id is given when it is logged), and the
    body of the urgent escalation, given that finding's id and the escalation's seq.
    `accord verify` rebuilds both with this function to check what the log holds."""
    if due.notice is not None:
        owed = picture.known_notice(due.notice)
        assert owed is not None  # a notice owed an acknowledgement is never retired
        owner = owed.party
        what = f"notice {due.notice} v{due.version}"
        details: dict[str, Any] = {"party": due.party}
    else:
        assert due.message is not None
        owner = picture.messages[due.message].sender
        what = f"message {due.message}"
        details = {"party": due.party, "message": due.message}
    details["deadline"] = format_time(due.deadline, micro=True)
    finding = Finding(kind="unacknowledged", notice=due.notice, version=due.version,
                      parties=tuple(sorted({due.party, owner})), action="finding",
                      details=details)
    contact = agreement.party(due.party).escalation if due.party in agreement.party_ids \
        else None

    def escalation(finding_id: str, seq: int) -> dict[str, Any]:
        return {"escalation": f"E{seq}", "due": due.key, "party": due.party, "contact": contact,
                "about": due.about(), "from": owner,
                "deadline": format_time(due.deadline, micro=True), "finding": finding_id,
                "priority": "urgent",
                "text": f"URGENT for {contact or due.party}: {due.party} has not acknowledged "
                        f"{what} from {owner}, due {format_time(due.deadline)} (finding "
                        f"{finding_id})."}

    return finding, escalation


def rebuild_picture(store: Store, operator_key: bytes, *, verify: bool = False,
                    before: datetime | None = None, origin: str | None = None) -> Picture:
    """Fold the log from entry 0 (up to entries received before `before`)."""
    picture = Picture(operator_key, (store.meta("origin") or "") if origin is None else origin)
    for _, data in store.entries():
        entry = Entry.decode(data)
        if before is not None and entry.received_at >= before:
            break
        picture.apply(entry, leaf_hash(data), verify=verify)
    return picture


_ABSENT = object()


class _UndoDict(dict[Any, Any]):
    """A dict of the live picture that notes what each change overwrote while its journal
    records, so a failed command can be undone without copying the picture."""

    __slots__ = ("journal",)

    def __init__(self, journal: _Journal, data: dict[Any, Any]) -> None:
        super().__init__(data)
        self.journal = journal

    def _note(self, key: Any) -> None:
        entries = self.journal.entries
        if entries is not None:
            entries.append((self, key, dict.get(self, key, _ABSENT)))

    def __setitem__(self, key: Any, value: Any) -> None:
        self._note(key)
        dict.__setitem__(self, key, value)

    def __delitem__(self, key: Any) -> None:
        self._note(key)
        dict.__delitem__(self, key)

    def pop(self, key: Any, *default: Any) -> Any:
        if key in self:
            self._note(key)
        return dict.pop(self, key, *default)

    def popitem(self) -> tuple[Any, Any]:
        key, value = dict.popitem(self)
        if self.journal.entries is not None:
            self.journal.entries.append((self, key, value))
        return key, value

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self._note(key)
        return dict.setdefault(self, key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def clear(self) -> None:
        for key in list(self):
            del self[key]

    def __ior__(self, other: Any) -> _UndoDict:  # type: ignore[misc]
        self.update(other)
        return self


_IMMUTABLE = (type(None), bool, int, float, str, bytes, datetime, tuple, frozenset)
_KNOWN_SAFE = {*_IMMUTABLE, _UndoDict, Agreement}  # exact types that need no check


class _Journal:
    """Undo for the picture's in-memory state, one command at a time.

    Dict attributes become `_UndoDict`s that log each key's previous value; every other
    attribute is restored by value (immutable ones as they are, anything mutable as a copy
    taken at `begin`). A field added to `Picture` later is covered without change here."""

    def __init__(self) -> None:
        self.entries: list[tuple[dict[Any, Any], Any, Any]] | None = None

    def begin(self, picture: Picture) -> dict[str, Any]:
        """Start recording; returns the attributes to restore on `undo`."""
        attrs = vars(picture)
        saved = dict(attrs)
        for name, value in saved.items():
            t = type(value)
            if t in _KNOWN_SAFE:
                continue
            if t is dict:  # a new plain dict (e.g. reassigned): journal it too
                saved[name] = attrs[name] = _UndoDict(self, value)
            elif not (isinstance(value, _IMMUTABLE)
                      or (dataclasses.is_dataclass(value)
                          and value.__dataclass_params__.frozen)):  # type: ignore[union-attr]
                saved[name] = copy.copy(value)
        self.entries = []
        return saved

    def undo(self, picture: Picture, saved: dict[str, Any]) -> None:
        assert self.entries is not None
        for d, key, old in reversed(self.entries):
            if old is _ABSENT:
                dict.pop(d, key, None)
            else:
                dict.__setitem__(d, key, old)
        self.entries = []
        attrs = vars(picture)
        attrs.clear()
        attrs.update(saved)

    def stop(self) -> None:
        self.entries = None


class Writer:
    """Sequences every write to one deployment's store. Not thread-safe: see `Sequencer`."""

    def __init__(self, store: Store, signer: NoteSigner, clock: Clock | None = None,
                 snapshot_every: int = SNAPSHOT_EVERY,
                 fence: Callable[[], None] | None = None) -> None:
        self.store = store
        self.snapshot_every = snapshot_every
        self.signer = signer
        self.clock = clock or SystemClock()
        self.watch = ClockWatch(self.clock)  # every receive time is read through it
        self.operator_key = signer.public_key
        self.origin = signer.name
        self.picture = load_picture(store, self.operator_key, self.origin)
        self.picture.archive = StoreArchive(store)
        self.history = Retirement(self.picture)  # what may leave the picture, and when
        self.watch.behind(self.picture.last_received)
        self._clock_steps: list[ClockStep] = []
        self.log = LogAppender(store, signer)
        self.listeners: list[Callable[[list[tuple[int, Entry]]], None]] = []
        # Read by the escalation timer from another thread: replaced whole, never mutated.
        self.next_deadline: datetime | None = self.picture.next_deadline()
        self._appended: list[tuple[int, Entry]] = []
        self._journal = _Journal()
        self._stale = False  # a failed batch left memory unsure: reload before the next
        # The committed read model, replaced whole after each batch that commits: readers on
        # any thread take it with one attribute read and never see a half-applied batch.
        self._publisher = Publisher(self.picture, store.checkpoint(), self.clock.now())
        self._touched = Touched()
        # Called inside each batch's transaction before anything else (the election's fencing
        # check on PostgreSQL: it raises, and nothing of the batch is written).
        self.fence = fence
        self._snapshot_size = 0  # the size of the latest snapshot written
        self._start_snapshots()

    # -- the public face --------------------------------------------------------------------

    def submit(self, sub: Submission) -> Outcome:
        """Append one command; raise its AccordError if it is refused."""
        result = self.submit_batch([sub])[0]
        if isinstance(result, AccordError):
            raise result
        outcome: Outcome = result
        return outcome

    def submit_batch(self, subs: Sequence[Submission | Tick | Alerts]) -> list[Any]:
        """Append a batch in one durable transaction; each command succeeds or fails alone.

        Each result is an Outcome, the command's AccordError (`WriteFailed` when the cause
        was not the command's: it was rolled back, nothing of it is written), or for a `Tick`
        or `Alerts` the indices of the entries it wrote. Listeners hear of the new entries
        once they are durable. Raises only when the batch as a whole failed (the store could
        not commit): then nothing of it was written.
        """
        if self._stale:
            self._reload()
        results: list[Any] = []
        self._appended = []
        snapshot: int = self._snapshot_size
        committing = False
        try:
            with self.store.transaction():
                if self.fence is not None:
                    self.fence()
                self.log.begin()
                # Ended and cancelled notices leave the picture and the index first, in this
                # transaction (no fsync of their own); the next model drops them too.
                self.history.retire(self.picture, self.store, self._touched, self.clock.now())
                self._log_clock_steps()
                for sub in subs:
                    results.append(self._isolated(sub))
                self._journal.stop()
                note = self.log.seal()
                if note is not None:
                    self._project_state()
                    snapshot = self._snapshot()
                committing = True
        except BaseException as exc:
            self._journal.stop()
            self._stale = True
            self.watch.restore(self._clock_steps)
            try:
                self._reload()
            except Exception:  # the store is unwell: the next batch tries again first
                log.exception("reloading the writer's state failed")
            if committing and isinstance(exc, Exception) and not isinstance(exc, AccordError):
                # The commit itself failed: a database server may have committed it all the
                # same and lost the answer on the way back (the reload above knows).
                raise Unavailable(
                    f"the store did not confirm the commit ({type(exc).__name__}: {exc}); "
                    "the batch may have been written", field="writer",
                    accepted="check GET /v1/me (next_seq) before sending it again: a "
                             "replayed seq is refused") from exc
            raise
        self._clock_steps = []
        if note is not None:
            self._snapshot_size = snapshot
            self._publish(note)
            self._durable(results, note)
        return results

    def _publish(self, note: str) -> None:
        """After the commit, before anyone hears of the batch: the next read model, from the
        keys the batch touched (their values now are the committed ones: a command rolled
        back has been undone in memory too). A failure here would leave readers on the
        previous model while the log moved on, so the model is then rebuilt whole."""
        touched, self._touched = self._touched, Touched()
        self._advance(touched, (self.picture.size, note))
        self.history.committed(self.picture, touched)

    @property
    def published(self) -> ReadModel:
        """The committed read model: replaced whole after each batch that commits."""
        return self._publisher.model

    def _advance(self, touched: Touched, checkpoint: tuple[int, str] | None) -> None:
        self._publisher.advance(self.picture, touched, checkpoint, self.clock.now())

    def prune(self) -> None:
        """Between batches: publish the model again without the notices that have ended
        since (the same checkpoint: nothing was written), so the live picture follows the
        clock even when nothing is filed."""
        self._publisher.prune(self.picture, self.clock.now())

    def _isolated(self, sub: Submission | Tick | Alerts) -> Any:
        """One command inside its own savepoint: on any exception, undo it alone."""
        mark = (self.log.mark(), len(self._appended), self._journal.begin(self.picture))
        self.store.savepoint()
        try:
            if isinstance(sub, Tick):
                result: Any = self._escalate()
            elif isinstance(sub, Alerts):
                result = self._alerts(sub.bodies)
            else:
                result = self._one(sub)
        except Exception as exc:  # BaseException (an interrupt) fails the whole batch instead
            self.store.rollback_savepoint()  # if this fails, so does the batch: all undone
            self.log.rollback(mark[0])
            del self._appended[mark[1]:]
            self._journal.undo(self.picture, mark[2])
            if isinstance(exc, AccordError):
                return exc
            log.error("the writer failed on a command; it was rolled back", exc_info=exc)
            return WriteFailed(f"the writer failed on this command ({type(exc).__name__}); "
                               "it was rolled back and nothing of it was written",
                               accepted="the same command again, or report the fault "
                                        "to the operator if it persists")
        self.store.release_savepoint()
        return result

    def _durable(self, results: list[Any], note: str) -> None:
        """After the commit: receipts, deadlines, listeners. The batch is written whatever
        happens here, so nothing here may turn into a caller's error."""
        try:
            self._attach_receipts(results, note)
        except Exception:  # the entries stand; a receipt can be fetched again later
            log.exception("attaching receipts failed after a durable commit")
        self.next_deadline = self.picture.next_deadline()
        for listener in self.listeners:
            try:
                listener(self._appended)
            except Exception:
                log.exception("a listener of new entries failed")

    def escalate(self) -> list[int]:
        """Escalate whatever is overdue now (normally through the Sequencer's timer)."""
        result = self.submit_batch([Tick()])[0]
        if isinstance(result, AccordError):
            raise result
        indices: list[int] = result
        return indices

    def preview(self, party: str, body: dict[str, Any]) -> dict[str, Any]:
        """The findings a `notice.file` body of `party` would raise now; nothing is appended.

        The check needs no private reveal, so a private digest in the body is ignored."""
        self.picture.require_agreement().party(party, "party")
        now = self.clock.now()
        event = self.picture.context(party).event(
            "notice.file", party, format_time(now),
            {k: v for k, v in body.items() if k != "private_digest"})
        entry = Entry(event=event, received_at=now, sig="")
        notice, previous = self.picture.prospective(entry)
        findings = self._check(notice, entry.received_at, previous)
        return {"notice": notice.to_json(), "findings": [f.to_body() for f in findings]}

    def context(self, party: str) -> Context:
        """What `party`'s next event must name: this log, the agreement in force, its seq."""
        return self.picture.context(party)

    # -- one command ------------------------------------------------------------------------

    def preverify(self, sub: Submission) -> Submission:
        """Check a party's signature before the command reaches the writer's thread.

        Safe from any thread (it only reads the agreement in force); Ed25519 verification
        releases the GIL, so callers' threads verify in parallel while the writer appends.
        """
        event = self._admissible(parse_event(sub.event))
        agreement = self.picture.agreement
        if event.type == "agreement" or agreement is None or sub.sig is None:
            return sub
        try:
            key = agreement.party(event.party, "event.party").key
        except AccordError:
            return sub  # the writer refuses it with the full story
        verify_event_signature(event, sub.sig, key)
        return replace(sub, verified=(event, key))

    @staticmethod
    def _admissible(event: Event) -> Event:
        """Only the current event format is admitted; older ones are read from old logs only
        (the log and agreement they do not name could be any)."""
        if event.v != EVENT_VERSION:
            raise InvalidInput(f"event format version {event.v} is no longer admitted: it does "
                               f"not name the log and the agreement it was signed for",
                               field="event.v",
                               accepted=f"{EVENT_VERSION}, with log and agreement (GET /v1/me)")
        return event

    def _one(self, sub: Submission) -> Outcome:
        event = self._admissible(sub.verified[0] if sub.verified
                                 else parse_event(sub.event))
        if event.party == OPERATOR:
            raise InvalidInput("operator events are made by the service, not submitted",
                               field="event.party", accepted="a party id")
        entry = Entry(event=event, received_at=self._receive_time(), sig=sub.sig, sigs=sub.sigs)
        agreement = self.picture.agreement
        checked = (sub.verified is not None and agreement is not None
                   and event.party in agreement.party_ids
                   and agreement.party(event.party).key == sub.verified[1])
        self.picture.authenticate(entry, verify=not checked)
        reveal = self._reveal(event, sub.private)
        notice: Notice | None = None
        findings: list[Finding] = []
        if event.type in ("notice.file", "notice.amend"):
            notice, previous = self.picture.prospective(entry)
            findings = self._check(notice, entry.received_at, previous)
            breaches = [f for f in findings if f.action == "reject"]
            if breaches:
                raise RuleBreach(
                    "; ".join(f.summary() for f in breaches),
                    field="event.body",
                    accepted="a notice that breaks no rule whose action is reject",
                    extra={"findings": [f.to_body() for f in breaches]})
        index = self._append(entry, verified=event.type != "agreement")
        if reveal is not None and notice is not None:
            self.store.add_private(notice.id, notice.version, reveal[0], reveal[1])
        outcome = Outcome(index=index, entry=entry, notice=notice)
        for finding in findings:
            outcome.findings.append((self._record(finding), None))
        return outcome

    def _receive_time(self) -> datetime:
        """The clock's time, but never at or before the last entry's: the log's order is time's.

        Read through the clock watch, which notices a step of the wall clock (either way)
        against the monotonic clock; the next batch logs it (`_log_clock_steps`)."""
        now = self.watch.now()
        last = self.picture.last_received
        if last is not None and now <= last:
            now = last + timedelta(microseconds=1)
        return now

    def _reveal(self, event: Event, private: dict[str, Any] | None) -> tuple[bytes, Any] | None:
        digest = event.body.get("private_digest") if event.type.startswith("notice.") else None
        if private is None:
            if digest is not None:
                raise InvalidInput("the notice commits to a private part that was not sent",
                                   field="private", accepted='{"salt": base64, "data": ...}')
            return None
        check_depth(private, "private")
        if digest is None or not isinstance(private, dict) or set(private) != {"salt", "data"}:
            raise InvalidInput("a private part needs private_digest in the signed body and "
                               "{salt, data} beside it", field="private",
                               accepted='{"salt": base64 of 16 bytes, "data": any JSON}')
        salt = unb64(private["salt"], "private.salt", 16)
        if private_digest(salt, private["data"]) != digest:
            raise InvalidInput("the private part does not match private_digest",
                               field="private", accepted="the part the party signed")
        return salt, private["data"]

    def _log_clock_steps(self) -> None:
        """Log, as operator `clock` entries, the steps of the wall clock seen since the last
        batch, before this batch's entries (whose receive times follow the stepped clock)."""
        self.watch.now()
        self._clock_steps = self.watch.take()
        for step in self._clock_steps:
            self._operator("clock", lambda seq, s=step: s.to_body())

    def _check(self, notice: Notice, received_at: datetime,
               previous: Notice | None) -> list[Finding]:
        return strategic_check(self.store, self.picture, notice, received_at, previous)

    def _operator(self, type: str, make_body: Any) -> int:
        """Append an operator event, signed with the log key; `make_body(seq)` gives its body."""
        received = self._receive_time()
        seq = self.picture.next_seq(OPERATOR)
        # Through canonical JSON and back, so the live picture holds what a replay will read.
        body = json.loads(canonical(make_body(seq)))
        event = Event(type=type, party=OPERATOR, seq=seq, issued_at=format_time(received),
                      body=body, log=self.origin, agreement=self.picture.agreement_hash())
        entry = Entry(event=event, received_at=received,
                      sig=sign_event(event, self.signer.private_key))
        return self._append(entry, verified=True)

    def _record(self, finding: Finding) -> Finding:
        """Write a finding as an operator entry."""
        fid = ""

        def body(seq: int) -> dict[str, Any]:
            nonlocal fid
            fid = f"F{seq}"
            return replace(finding, id=fid).to_body()

        self._operator("finding", body)
        return self.picture.findings[fid]

    def _alerts(self, bodies: list[dict[str, Any]]) -> list[int]:
        """Log alert changes; a raised alert gets its id here, later changes reuse it."""
        indices = []
        for body in bodies:
            if body["change"] == "raised" and body["key"] in self.picture.open_alerts:
                body = dict(body, change="updated")  # still open in the log (a restart)

            def make(seq: int, b: dict[str, Any] = body) -> dict[str, Any]:
                aid = (f"L{seq}" if b["change"] == "raised"
                       else self.picture.open_alerts.get(b["key"], ""))
                return dict(b, alert=aid)

            if body["change"] != "raised" and body["key"] not in self.picture.open_alerts:
                continue  # the book and the log disagree (e.g. after a restart): skip
            indices.append(self._operator("alert", make))
        return indices

    def _escalate(self) -> list[int]:
        """Every acknowledgement now overdue: an `unacknowledged` finding to the parties
        concerned, and an urgent escalation to the late party's escalation contact."""
        agreement = self.picture.agreement
        indices: list[int] = []
        if agreement is None:
            return indices
        for due in self.picture.overdue(self.clock.now()):
            unacknowledged, escalation = overdue_records(self.picture, agreement, due)
            finding = self._record(unacknowledged)
            indices.append(finding.entry)
            indices.append(self._operator("escalation", lambda seq, f=finding, make=escalation:
                                          make(f.id, seq)))
        return indices

    def _append(self, entry: Entry, *, verified: bool) -> int:
        """Admit into the picture first (it may refuse), then log and project."""
        data = entry.encode()
        leaf = leaf_hash(data)
        changes = self.picture.apply(entry, leaf, verify=not verified)
        self._touched.add(changes)
        index = self.log.append(data, leaf)
        self._project(changes)
        self._appended.append((index, entry))
        return index

    # -- projection, checkpoint, receipts ---------------------------------------------------

    def _project(self, changes: Changes) -> None:
        for nid in changes.notices:
            self.store.save_notice(self.picture.notices[nid])
        for fid in changes.findings:
            self.store.save_finding(self.picture.findings[fid].to_json())
        for mid in changes.messages:
            self.store.save_item("p_messages", mid, self.picture.messages[mid].to_json())
        for eid in changes.escalations:
            self.store.save_item("p_escalations", eid, self.picture.escalations[eid])
        for aid in changes.alerts:
            self.store.save_item("p_alerts", aid, self.picture.alerts[aid])
        if changes.seq is not None:
            self.store.save_seq(*changes.seq)

    def _project_state(self) -> None:
        p = self.picture
        self.store.save_state({
            "size": p.size, "agreement_entry": p.agreement_entry,
            "agreement_leaf": base64.b64encode(p.agreement_leaf).decode(),
            "last_received": format_time(p.last_received, micro=True)
            if p.last_received else None})

    def _attach_receipts(self, results: list[Any], note: str) -> None:
        for r in results:
            if isinstance(r, Outcome):
                indices = [r.index, *(f.entry for f, _ in r.findings)]
                own, *found = self.log.receipts(indices, note)
                r.receipt = own
                r.findings = [(f, rc) for (f, _), rc in zip(r.findings, found, strict=True)]

    def _reload(self) -> None:
        """After a failed transaction, forget what was applied in memory: the store is truth."""
        self.picture = load_picture(self.store, self.operator_key, self.origin)
        self.picture.archive = StoreArchive(self.store)
        self.history = Retirement(self.picture)
        self.next_deadline = self.picture.next_deadline()
        self.log.reload()
        self._start_snapshots()
        self._stale = False

    # -- snapshots of the fold (accord.picture.snapshot) -----------------------------------

    def _start_snapshots(self) -> None:
        self._snapshots = SnapshotMaker.of(self.picture)
        last = self.store.snapshot_at_or_before(self.picture.size)
        self._snapshot_size = 0 if last is None else last[0]

    def _snapshot(self) -> int:
        """Inside the batch's transaction (so a batch that fails takes its snapshot with it):
        write the snapshot of the picture as committed once `snapshot_every` entries have
        passed since the last one. Returns the size of the latest snapshot."""
        size = self.picture.size
        if size - self._snapshot_size < self.snapshot_every:
            return self._snapshot_size
        self._snapshots.refresh(self.picture)
        self.store.add_snapshot(size, self._snapshots.encode(self.picture))
        return size

    def receipt(self, index: int, size: int | None = None) -> Receipt:
        """A receipt for any entry, against the checkpoint at `size` (default: the latest)."""
        cp = self.store.checkpoint(size)
        if cp is None:
            raise InvalidInput("no checkpoint at that size", field="size")
        return make_receipt(self.store, index, cp, entry=True)


def parse_event(obj: Any) -> Event:
    """An event from a submission, its nesting bounded before anything walks it."""
    check_depth(obj, "event")
    return Event.from_json(obj)


def make_receipt(store: Store, index: int, checkpoint: tuple[int, str], *,
                 entry: bool = False) -> Receipt:
    """A receipt for `index`; with the entry's bytes only if asked (the caller decides whether
    the one asking may read the entry)."""
    size, note = checkpoint
    if not 0 <= index < size:
        raise InvalidInput(f"entry {index} is not covered by the checkpoint of size {size}",
                           field="index", accepted=f"0 to {size - 1}")
    return Receipt(index=index, leaf_hash=store.node(0, index), checkpoint=note,
                   inclusion_proof=tuple(inclusion_proof(store, index, size)),
                   entry=store.entry(index) if entry else None)


def _settle(fut: Future[Any], result: Any) -> None:
    """Hand a result (or an error) to a caller's future, whatever the caller did with it."""
    try:
        if isinstance(result, BaseException):
            fut.set_exception(result)
        else:
            fut.set_result(result)
    except InvalidStateError:  # settled already: the writer never fails for it
        pass


def _take(fut: Future[Any]) -> bool:
    """Mark a caller's future as taken by the writer; False if the caller cancelled it (or it
    was somehow settled already): then the command is dropped, unwritten."""
    try:
        return fut.set_running_or_notify_cancel()
    except RuntimeError:
        return False


_Item = tuple[Submission | Tick | Alerts | _Call, Future[Any]]


class Sequencer:
    """The writer on its own thread: callers from any thread submit, batches form by themselves.

    Whatever arrives while a batch is being committed makes up the next batch, so under load
    the cost of the fsync and the checkpoint signature is shared by many commands.

    Nothing a caller does reaches the thread: a command whose future was cancelled before the
    writer took it is dropped unwritten (`set_running_or_notify_cancel`), one taken cannot be
    cancelled any more, and every result is handed over through `_settle`. A batch that fails
    as a whole is logged and told to its callers, and the thread goes on. If the thread ever
    stops, `failure` says why, `health()` says so, and every queued or later command fails at
    once with `Unavailable` instead of waiting for an answer that cannot come.
    """

    IDLE_WAKE_S = 1.0  # how often an idle writer wakes for `maintain`

    def __init__(self, writer: Writer, max_batch: int = 512,
                 maintain: Callable[[bool], None] | None = None) -> None:
        self.writer = writer
        self.max_batch = max_batch
        # Run on the writer's thread after each batch, and when idle (its argument: idle).
        self.maintain = maintain
        self.failure: str | None = None
        self.batches = 0
        self.last_batch: float | None = None  # time.time() when the last batch ended
        self._busy_since: float | None = None  # time.monotonic() while a batch runs
        self._stopped = False
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._thread = threading.Thread(target=self._main, name="accord-writer", daemon=True)
        self._thread.start()

    # -- callers' side ------------------------------------------------------------------------

    def submit(self, sub: Submission) -> Future[Outcome]:
        """Queue a command; its signature is checked here, in the caller's thread."""
        fut: Future[Outcome] = Future()
        try:
            sub = self.writer.preverify(sub)
        except AccordError as exc:
            fut.set_exception(exc)
            return fut
        return self._put(sub, fut)

    def call(self, fn: Callable[[Writer], Any]) -> Future[Any]:
        """Run `fn(writer)` on the writer's thread between batches: reads that must see the
        writer's own picture (the check without filing) without racing its changes."""
        return self._put(_Call(fn), Future())

    def alerts(self, bodies: list[dict[str, Any]]) -> Future[list[int]]:
        """Queue alert changes for the log; resolves to their entry indices."""
        return self._put(Alerts(bodies), Future())

    def escalate(self) -> Future[list[int]]:
        """Queue an escalation pass; resolves to the indices of the entries it wrote."""
        return self._put(Tick(), Future())

    def close(self) -> None:
        """Finish everything already queued, then stop."""
        self._queue.put(None)
        self._thread.join()

    def _put(self, item: Submission | Tick | Alerts | _Call, fut: Future[Any]) -> Future[Any]:
        if self._stopped:
            _settle(fut, self._unavailable())
            return fut
        self._queue.put((item, fut))
        if self._stopped:  # the thread ended between the check and the put
            self._fail_queued()
        return fut

    # -- health -------------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._stopped

    def busy_for(self) -> float:
        """Seconds the current batch has been running (0 when idle)."""
        since = self._busy_since
        return 0.0 if since is None else time.monotonic() - since

    def health(self) -> dict[str, Any]:
        """The writer thread as /readyz shows it."""
        return {"alive": self.alive, "queued": self._queue.qsize(), "batches": self.batches,
                "last_batch_at": (format_time(datetime.fromtimestamp(self.last_batch, UTC),
                                              micro=True)
                                  if self.last_batch is not None else None),
                "busy_s": round(self.busy_for(), 3), "failure": self.failure}

    def _unavailable(self) -> Unavailable:
        why = self.failure or "the service is stopping"
        return Unavailable(f"the writer has stopped ({why}); nothing was written",
                           accepted="retry once the service is ready again (GET /readyz)")

    # -- the thread ---------------------------------------------------------------------------

    def _main(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # recorded, and the thread ends
            self.failure = f"{type(exc).__name__}: {exc}"
            log.critical("the writer thread stopped: %s", self.failure, exc_info=exc)
        finally:
            self._stopped = True
            self._fail_queued()

    def _fail_queued(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                _settle(item[1], self._unavailable())

    def _next_batch(self) -> tuple[list[_Item], bool] | None:
        """Up to max_batch queued items (waiting for the first), and whether to stop after
        them; None to stop now."""
        while True:
            try:
                first = self._queue.get(timeout=self.IDLE_WAKE_S)
                break
            except queue.Empty:
                self._maintain(idle=True)
        if first is None:
            return None
        batch = [first]
        while len(batch) < self.max_batch:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                return batch, True
            batch.append(nxt)
        return batch, False

    def _run(self) -> None:
        while True:
            got = self._next_batch()
            if got is None:
                return
            taken, stop = got
            # From here on a caller cannot cancel; one that already did is dropped, unwritten.
            batch = [(item, fut) for item, fut in taken if _take(fut)]
            for item, fut in batch:
                if isinstance(item, _Call):
                    try:
                        result = item.fn(self.writer)
                    except Exception as exc:  # handed to the caller
                        result = exc
                    _settle(fut, result)
            commands = [(c, f) for c, f in batch if not isinstance(c, _Call)]
            if commands:
                self._commit(commands)
            self._maintain(idle=False)
            if stop:
                return

    def _commit(self, batch: list[tuple[Submission | Tick | Alerts, Future[Any]]]) -> None:
        self._busy_since = time.monotonic()
        try:
            results: list[Any] = self.writer.submit_batch([s for s, _ in batch])
        except Exception as exc:  # the batch as a whole: nothing of it was written
            log.error("a batch of %d failed as a whole; nothing of it was written",
                      len(batch), exc_info=exc)
            failed: AccordError = exc if isinstance(exc, AccordError) else Unavailable(
                f"the store could not commit ({type(exc).__name__}: {exc}); "
                "nothing was written", accepted="the same command again in a moment")
            results = [failed] * len(batch)
        except BaseException as exc:  # the thread ends (see _main): answer this batch first
            self.failure = f"{type(exc).__name__}: {exc}"
            stopped = Unavailable(f"the writer thread stopped during this command's batch "
                                  f"({self.failure})", accepted="check GET /v1/me (next_seq) "
                                  "before sending it again: a replayed seq is refused")
            for _, fut in batch:
                _settle(fut, stopped)
            raise
        finally:
            self._busy_since = None
            self.batches += 1
            self.last_batch = time.time()
        for (_, fut), res in zip(batch, results, strict=True):
            _settle(fut, res)

    def _maintain(self, idle: bool) -> None:
        try:
            self.writer.prune()
        except Exception:  # housekeeping must never stop the writer
            log.exception("pruning the read model failed")
        if self.maintain is None:
            return
        try:
            self.maintain(idle)
        except Exception:  # housekeeping must never stop the writer
            log.exception("writer maintenance failed")
