"""The picture: the state folded from the log, and the one place that says which events are legal.

`Picture.apply` admits an entry (signatures, seq, state transition) and only then changes the
state; an illegal entry raises and leaves the picture untouched. The writer uses it to decide
what may be appended, `accord verify` and as-of replay use it to rebuild the state: one rule
book for all three. Pure: imports only the core.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from accord.errors import (
    BadSignature,
    Conflict,
    Forbidden,
    InvalidInput,
    InvalidTime,
    NoAgreement,
    NotFound,
    ReplayedSeq,
    StaleVersion,
    UnknownParty,
    WrongLog,
)
from accord.log.event import (
    ALL_PARTIES,
    EVENT_VERSION,
    OPERATOR,
    Context,
    Entry,
    b64,
    verify_event_signature,
)
from accord.rules.agreement import Agreement
from accord.rules.hotline import Due, Message, parse_message, parse_message_ack
from accord.rules.notice import (
    Finding,
    Notice,
    NoticeContent,
    parse_notice_body,
    parse_ref_body,
)
from accord.timefmt import format_time, parse_time, to_micros

EVENT_TYPES = ("agreement", "notice.file", "notice.amend", "notice.cancel", "notice.ack",
               "message", "message.ack", "finding", "escalation", "alert", "clock")

# How far a v2 event's signed `issued_at` may be from the operator's `received_at`. A party
# signs just before it sends (the CLI reads its context, signs and posts within a second), so
# five minutes covers queueing, retries after a 503 and a slow link, while an event held back
# longer (or replayed later) is refused; re-signing it costs nothing, as a refusal burns no
# seq. Sixty seconds ahead tolerates a party whose clock is not disciplined by NTP; more
# would let a party claim to have signed in the future. Agreement events are proposed, then
# signed by every party, over days: thirty days behind, the same sixty seconds ahead. Being
# in the fold, the bounds also hold the operator: a replay refuses a receive time that is not
# within them of what the party signed.
ISSUED_AHEAD = timedelta(seconds=60)
ISSUED_BEHIND = timedelta(minutes=5)
AGREEMENT_ISSUED_BEHIND = timedelta(days=30)


def _span(d: timedelta) -> str:
    s = abs(d.total_seconds())
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 172_800:
        return f"{s / 3600:.0f} h"
    return f"{s / 86_400:.0f} days"


@dataclass(slots=True)
class Changes:
    """What one entry changed, so a store can write just those projection rows."""

    agreement: bool = False
    notices: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    escalations: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    seq: tuple[str, int] | None = None
    notice: Notice | None = None


def id_taken(notice_id: str) -> Conflict:
    """The refusal of a filing whose notice id some notice (live or history) already has."""
    return Conflict(f"notice id {notice_id!r} is already taken", field="event.body.notice",
                    accepted="a new, unique notice id")


def _filed(entry: Entry, c: NoticeContent, index: int) -> Notice:
    return Notice(id=c.id, party=entry.event.party, version=1, kind=c.kind, volumes=c.volumes,
                  filed_at=entry.received_at, updated_at=entry.received_at, entry=index,
                  title=c.title, private_digest=c.private_digest)


def filed(entry: Entry, agreement: Agreement, index: int) -> Notice:
    """The notice a `notice.file` entry would create as entry `index` under `agreement`, its
    body checked exactly as the fold checks it (its id is not checked against those taken:
    `id_taken`). For checks made on a read model, away from the writer."""
    return _filed(entry, parse_notice_body(entry.event.body, agreement, entry.received_at,
                                           amend=False, field="event.body"), index)


class Archive(Protocol):
    """Where a picture finds what has left it: notices retired from the live picture (ended
    or cancelled, owing nothing: see `accord.service.history`) and their findings. The fold
    still judges entries that name them (an acknowledgement, amendment or cancel of an ended
    notice; a notice id or finding id already taken), so it asks here when its own maps do
    not hold an id. A store's projection is one; a picture that never retires needs none."""

    def notice(self, notice_id: str) -> Notice | None:
        """The current version of a retired notice, or None if no notice had this id."""
        ...

    def has_finding(self, finding_id: str) -> bool:
        """Whether a finding with this id was ever recorded."""
        ...


@dataclass(frozen=True, slots=True)
class NoArchive:
    """The archive of a picture that keeps everything it folds (replay, verify)."""

    def notice(self, notice_id: str) -> Notice | None:
        return None

    def has_finding(self, finding_id: str) -> bool:
        return False


NO_ARCHIVE = NoArchive()


class PictureReads:
    """What a reader asks of a picture: the writer's live `Picture` and the committed read
    model the writer publishes after each batch (`accord.picture.readmodel`) alike."""

    operator_key: bytes
    origin: str
    agreement: Agreement | None
    agreement_entry: int
    agreement_leaf: bytes
    notices: Mapping[str, Notice]
    findings: Mapping[str, Finding]
    messages: Mapping[str, Message]
    escalations: Mapping[str, dict[str, Any]]
    alerts: Mapping[str, dict[str, Any]]
    open_alerts: Mapping[str, str]  # alert key -> id, while open
    seqs: Mapping[str, int]
    size: int
    last_received: datetime | None

    def require_agreement(self) -> Agreement:
        if self.agreement is None:
            raise NoAgreement("no agreement has been adopted in this deployment yet",
                              accepted="adopt an agreement signed by every party first")
        return self.agreement

    def next_seq(self, party: str) -> int:
        return self.seqs.get(party, 0) + 1

    def agreement_hash(self) -> str | None:
        """The leaf hash (base64) of the agreement in force, as events name it; None before
        the first agreement."""
        return b64(self.agreement_leaf) if self.agreement is not None else None

    def context(self, party: str) -> Context:
        """What `party`'s next event must name: this log, the agreement in force, its seq."""
        return Context(self.origin, self.agreement_hash(), self.next_seq(party))

    def notice_json(self, notice: Notice) -> dict[str, Any]:
        """`notice.to_json()`; the read model remembers it. Not to be changed: copy it."""
        return notice.to_json()

    def required_acks(self, notice: Notice) -> frozenset[str]:
        agreement = self.agreement
        if agreement is None or not agreement.kind(notice.kind).ack_required:
            return frozenset()
        return frozenset(p for p in agreement.acting_ids if p != notice.party)

    def state(self, notice: Notice, at: datetime) -> str:
        return notice.state(at, self.required_acks(notice))

    def live_notices(self, at: datetime) -> list[Notice]:
        return sorted((n for n in self.notices.values() if n.live(at)),
                      key=lambda n: (n.start, n.id))

    def is_open(self, finding: Finding, at: datetime) -> bool:
        """A finding is open while the versions it speaks of are current and still live (an
        `unacknowledged` one: until the acknowledgement arrives)."""
        if finding.notice is None:
            msg = self.messages.get(finding.details.get("message", ""))
            return msg is not None and finding.details["party"] not in msg.acks
        n = self.notices.get(finding.notice)
        if n is None or n.version != finding.version or not n.live(at):
            return False
        if finding.kind == "unacknowledged":
            return finding.details["party"] not in n.acks
        if finding.kind == "conflict":
            o = self.notices.get(finding.details["other"])
            if o is None or o.version != finding.details["other_version"] or not o.live(at):
                return False
        return True

    def open_findings(self, at: datetime) -> list[Finding]:
        return sorted((f for f in self.findings.values() if self.is_open(f, at)),
                      key=lambda f: f.entry)

    def snapshot(self) -> dict[str, Any]:
        """The whole state as plain JSON: what the store's projection must equal."""
        return {
            "size": self.size,
            "agreement_entry": self.agreement_entry,
            "agreement_leaf": base64.b64encode(self.agreement_leaf).decode(),
            "last_received": (format_time(self.last_received, micro=True)
                              if self.last_received else None),
            "notices": {k: v.to_json() for k, v in sorted(self.notices.items())},
            "findings": {k: v.to_json() for k, v in sorted(self.findings.items())},
            "messages": {k: v.to_json() for k, v in sorted(self.messages.items())},
            "escalations": dict(sorted(self.escalations.items())),
            "alerts": dict(sorted(self.alerts.items())),
            "seqs": dict(sorted(self.seqs.items())),
        }


class Picture(PictureReads):
    """Notices, findings, the agreement and each signer's last seq, as of the entries folded."""

    def __init__(self, operator_key: bytes, origin: str = "") -> None:
        self.operator_key = operator_key
        self.origin = origin  # the log's origin, which every v2 event must name
        # Version 1 events are read only as the prefix a log held before version 2; once a v2
        # entry is in the log, a v1 event is refused (and the writer refuses v1 outright).
        self.v2_seen = False
        self.agreement: Agreement | None = None
        self.agreement_entry = -1
        self.agreement_leaf = b""
        self.notices: dict[str, Notice] = {}
        self.findings: dict[str, Finding] = {}
        self.messages: dict[str, Message] = {}
        self.escalations: dict[str, dict[str, Any]] = {}
        self.pending: dict[str, Due] = {}  # acknowledgements owed, derived from the above
        self.alerts: dict[str, dict[str, Any]] = {}  # tactical alerts, latest state each
        self.open_alerts: dict[str, str] = {}  # alert key -> id, while open
        self.seqs: dict[str, int] = {}
        self.size = 0
        self.last_received: datetime | None = None
        self._memo: tuple[Entry, int, tuple[Notice, Notice | None]] | None = None
        # What was retired from `notices` and `findings` (the writer's picture only): the
        # rules below ask it about any id their maps lack, so retiring changes no decision.
        self.archive: Archive = NO_ARCHIVE

    def known_notice(self, notice_id: str) -> Notice | None:
        """The current version of a notice, live or retired; None if no notice has this id."""
        n = self.notices.get(notice_id)
        return n if n is not None else self.archive.notice(notice_id)

    # -- admission -------------------------------------------------------------------------

    def _check_seq(self, party: str, seq: int, version: int) -> None:
        last = self.seqs.get(party, 0)
        if version >= 2 and seq != last + 1:
            what = "is not after" if seq <= last else "skips ahead of"
            raise ReplayedSeq(f"seq {seq} of {party!r} {what} its last seq {last}",
                              field="event.seq", accepted=f"{last + 1} (the last seq + 1)")
        if seq <= last:  # version 1, read from old logs: gaps were allowed
            raise ReplayedSeq(f"seq {seq} of {party!r} is not after its last seq {last}",
                              field="event.seq", accepted=f"an integer greater than {last}")

    def _bind(self, entry: Entry) -> None:
        """A v2 event names this log and the agreement in force, and was signed close to when
        it was received; a v1 event is read only before the log's first v2 entry."""
        ev = entry.event
        if ev.v < 2:
            if self.v2_seen:
                raise InvalidInput(f"a version {ev.v} event after version 2 entries",
                                   field="event.v", accepted=str(EVENT_VERSION))
            return
        if ev.log != self.origin:
            raise WrongLog(f"the event was signed for log {ev.log!r}, not this one",
                           field="event.log", accepted=repr(self.origin))
        current = self.agreement_hash()
        if ev.agreement != current:
            if current is None:
                raise StaleVersion("the event names an agreement, but none is in force yet",
                                   field="event.agreement", accepted="null")
            assert self.agreement is not None
            raise StaleVersion(f"the event was signed under agreement {ev.agreement}, not the "
                               f"one in force (version {self.agreement.version}); sign it "
                               f"again", field="event.agreement", accepted=current)
        behind = AGREEMENT_ISSUED_BEHIND if ev.type == "agreement" else ISSUED_BEHIND
        lag = entry.received_at - ev.issued
        if lag > behind or -lag > ISSUED_AHEAD:
            raise InvalidTime(
                f"issued_at {ev.issued_at} is {_span(lag)} "
                f"{'before' if lag > timedelta(0) else 'after'} the receive time "
                f"{format_time(entry.received_at)}", field="event.issued_at",
                accepted=f"a time from {_span(behind)} before to {_span(ISSUED_AHEAD)} after "
                         f"the receive time (sign just before sending)")

    def _authenticate(self, entry: Entry, verify: bool) -> None:
        ev = entry.event
        if ev.type == "agreement":
            return  # checked against both the old and the new party lists in _agreement
        if entry.sig is None:
            raise BadSignature("the event carries no signature", field="sig",
                               accepted="one Ed25519 signature in sig")
        if ev.party == OPERATOR:
            key = self.operator_key
        else:
            agreement = self.require_agreement()
            key = agreement.party(ev.party, "event.party").key
            if ev.party in agreement.observers:
                raise Forbidden(f"{ev.party} observes this agreement: it reads the log and "
                                f"signs agreements, and files nothing", field="event.party",
                                accepted="an event of a party with role party")
        if verify:
            verify_event_signature(ev, entry.sig, key)

    def authenticate(self, entry: Entry, *, verify: bool = True) -> None:
        """Signature and seq, before any work is spent on the content (agreements: in apply).

        `verify=False` when the signature was already checked against the same key."""
        self._bind(entry)
        self._authenticate(entry, verify)
        if entry.event.type != "agreement":
            self._check_seq(entry.event.party, entry.event.seq, entry.event.v)

    def apply(self, entry: Entry, leaf: bytes, *, verify: bool = True) -> Changes:
        """Admit `entry` as the next entry of the log, or raise and change nothing."""
        ev = entry.event
        if ev.type not in EVENT_TYPES:
            raise InvalidInput(f"unknown event type {ev.type!r}", field="event.type",
                               accepted=", ".join(EVENT_TYPES))
        if self.last_received is not None and entry.received_at <= self.last_received:
            raise InvalidInput("receive times must strictly increase along the log",
                               field="received_at")
        self._bind(entry)
        self._authenticate(entry, verify)
        if ev.type != "agreement":
            self._check_seq(ev.party, ev.seq, ev.v)
        handler = getattr(self, "_" + ev.type.replace(".", "_"))
        changes: Changes = handler(entry, leaf, verify)
        # Admitted: now record the signer's seq and the position.
        self.seqs[ev.party] = ev.seq
        changes.seq = (ev.party, ev.seq)
        self.size += 1
        self.last_received = entry.received_at
        self.v2_seen = self.v2_seen or ev.v >= 2
        return changes

    # -- handlers: validate first, mutate last -----------------------------------------------

    def _agreement(self, entry: Entry, leaf: bytes, verify: bool) -> Changes:
        ev = entry.event
        if ev.party != ALL_PARTIES or entry.sigs is None:
            raise InvalidInput("an agreement is signed by all parties together",
                               field="event.party",
                               accepted=f"party {ALL_PARTIES!r}, one signature per party in sigs")
        new = Agreement.from_json(ev.body, "event.body")
        old = self.agreement
        expected = 1 if old is None else old.version + 1
        if new.version != expected or ev.seq != new.version:
            raise StaleVersion(f"agreement version {new.version} (seq {ev.seq}) does not follow "
                               f"version {expected - 1}", field="event.body.version",
                               accepted=f"version {expected} with seq {expected}")
        if old is not None and new.replaces != b64(self.agreement_leaf):
            raise StaleVersion("the amendment does not name the agreement in force",
                               field="event.body.replaces",
                               accepted=f"replaces = {b64(self.agreement_leaf)}")
        signers = {p.id: p.key for p in new.parties}
        if old is not None:
            signers.update({p.id: p.key for p in old.parties if p.id not in signers})
        missing = sorted(set(signers) - set(entry.sigs))
        extra = sorted(set(entry.sigs) - set(signers))
        if missing or extra:
            raise BadSignature(
                f"signatures missing from {missing}" if missing else f"unknown signers {extra}",
                field="sigs", accepted="exactly one signature per party, old and new: "
                + ", ".join(sorted(signers)))
        if verify:
            for pid, key in sorted(signers.items()):
                verify_event_signature(ev, entry.sigs[pid], key, field=f"sigs.{pid}")
        self.agreement = new
        self.agreement_entry = self.size
        self.agreement_leaf = leaf
        return Changes(agreement=True)

    def _content(self, entry: Entry, amend: bool) -> NoticeContent:
        agreement = self.require_agreement()
        return parse_notice_body(entry.event.body, agreement, entry.received_at, amend=amend,
                                 field="event.body")

    def _owned(self, notice_id: str, party: str, version: int, version_field: str) -> Notice:
        field = "event.body"
        current = self.known_notice(notice_id)
        if current is None:
            raise NotFound(f"no notice {notice_id!r}", field=f"{field}.notice",
                           accepted="the id of a notice in the picture")
        if current.party != party:
            raise UnknownParty(f"notice {notice_id!r} belongs to {current.party!r}",
                               field=f"{field}.notice", accepted="a notice of your own party")
        if current.cancelled_at is not None:
            raise Conflict(f"notice {notice_id!r} is cancelled", field=f"{field}.notice",
                           accepted="a notice that is not cancelled")
        if version != current.version:
            raise StaleVersion(f"notice {notice_id!r} is at version {current.version}, not "
                               f"{version}", field=f"{field}.{version_field}",
                               accepted=f"version {current.version}")
        return current

    def prospective(self, entry: Entry) -> tuple[Notice, Notice | None]:
        """The notice a file or amend entry would create, and the version it replaces.

        The result is remembered for this entry object, so the writer's look before the check
        and the apply after it parse the volumes once.
        """
        memo = self._memo
        if memo is not None and memo[0] is entry and memo[1] == self.size:
            return memo[2]
        result = self._prospective(entry)
        self._memo = (entry, self.size, result)
        return result

    def _prospective(self, entry: Entry) -> tuple[Notice, Notice | None]:
        ev = entry.event
        amend = ev.type == "notice.amend"
        c = self._content(entry, amend)
        if amend:
            assert c.replaces is not None
            prev = self._owned(c.id, ev.party, c.replaces, "replaces")
            prev_kind = prev.kind
            if c.kind != prev_kind:
                raise InvalidInput(f"an amendment cannot change the kind ({prev_kind} to "
                                   f"{c.kind}); cancel and file a new notice",
                                   field="event.body.kind", accepted=prev_kind)
            return Notice(id=c.id, party=ev.party, version=prev.version + 1, kind=c.kind,
                          volumes=c.volumes, filed_at=prev.filed_at,
                          updated_at=entry.received_at, entry=self.size, title=c.title,
                          private_digest=c.private_digest), prev
        if self.known_notice(c.id) is not None:
            raise id_taken(c.id)
        return _filed(entry, c, self.size), None

    def _notice_file(self, entry: Entry, leaf: bytes, verify: bool) -> Changes:
        notice, prev = self.prospective(entry)
        self.notices[notice.id] = notice
        if prev is not None:
            self._forget_dues(notice=prev.id)
        self._owe(self.notice_dues(notice))
        return Changes(notices=[notice.id], notice=notice)

    _notice_amend = _notice_file

    def _notice_cancel(self, entry: Entry, leaf: bytes, verify: bool) -> Changes:
        nid, version = parse_ref_body(entry.event.body, "event.body")
        current = self._owned(nid, entry.event.party, version, "version")
        self.notices[nid] = replace(current, cancelled_at=entry.received_at)
        self._forget_dues(notice=nid)
        return Changes(notices=[nid])

    def _notice_ack(self, entry: Entry, leaf: bytes, verify: bool) -> Changes:
        nid, version = parse_ref_body(entry.event.body, "event.body")
        party = entry.event.party
        current = self.known_notice(nid)
        if current is None:
            raise NotFound(f"no notice {nid!r}", field="event.body.notice",
                           accepted="the id of a notice in the picture")
        if current.party == party:
            raise InvalidInput("a party does not acknowledge its own notice",
                               field="event.body.notice", accepted="another party's notice")
        if version != current.version:
            raise StaleVersion(f"notice {nid!r} is at version {current.version}, not {version}",
                               field="event.body.version", accepted=f"version {current.version}")
        if party in current.acks:
            raise Conflict(f"{party} has already acknowledged {nid!r} v{version}",
                           field="event.body.notice", accepted="an unacknowledged notice")
        self.notices[nid] = current.with_ack(party)
        self.pending.pop(Due(party, entry.received_at, notice=nid, version=version).key, None)
        return Changes(notices=[nid])

    def _message(self, entry: Entry, leaf: bytes, verify: bool) -> Changes:
        agreement = self.require_agreement()
        msg = parse_message(entry.event.body, agreement, entry.event.party, entry.received_at,
                            self.size, "event.body")
        if entry.event.v >= 2 and not msg.id.startswith(entry.event.party + ":"):
            # A message is read only by its audience, so an id shared by all parties would let
            # anyone probe for others' messages ("already taken"). Each sender owns its prefix.
            raise InvalidInput(f"message id {msg.id!r} does not begin with the sender's party "
                               f"id and ':'", field="event.body.message",
                               accepted=f"{entry.event.party}:<1-63 more characters>")
        if msg.id in self.messages:
            raise Conflict(f"message id {msg.id!r} is already taken", field="event.body.message",
                           accepted="a new, unique message id")
        self.messages[msg.id] = msg
        self._owe(self.message_dues(msg))
        return Changes(messages=[msg.id])

    def _message_ack(self, entry: Entry, leaf: bytes, verify: bool) -> Changes:
        mid = parse_message_ack(entry.event.body, "event.body")
        party = entry.event.party
        msg = self.messages.get(mid)
        if msg is None or party not in msg.to:
            # One answer for both: a message not sent to you is one you cannot know of.
            raise NotFound(f"no message {mid!r} sent to {party}", field="event.body.message",
                           accepted="the id of a message sent to you")
        if party in msg.acks:
            raise Conflict(f"{party} has already acknowledged message {mid!r}",
                           field="event.body.message", accepted="an unacknowledged message")
        self.messages[mid] = msg.with_ack(party)
        self.pending.pop(Due(party, msg.deadline, message=mid).key, None)
        return Changes(messages=[mid])

    def _escalation(self, entry: Entry, leaf: bytes, verify: bool) -> Changes:
        if entry.event.party != OPERATOR:
            raise UnknownParty("only the operator escalates", field="event.party",
                               accepted=OPERATOR)
        body = entry.event.body
        try:
            eid, key = body["escalation"], body["due"]
        except (KeyError, TypeError) as exc:
            raise InvalidInput(f"malformed escalation: {exc}", field="event.body") from None
        if eid in self.escalations:
            raise Conflict(f"escalation {eid!r} already exists", field="event.body.escalation")
        self.escalations[eid] = dict(body, entry=self.size,
                                     raised_at=format_time(entry.received_at, micro=True))
        self.pending.pop(key, None)
        return Changes(escalations=[eid])

    def _alert(self, entry: Entry, leaf: bytes, verify: bool) -> Changes:
        """A tactical alert raised, updated or cleared (operator-made, from tracks)."""
        if entry.event.party != OPERATOR:
            raise UnknownParty("only the operator raises alerts", field="event.party",
                               accepted=OPERATOR)
        body = entry.event.body
        try:
            aid, change, key = body["alert"], body["change"], body["key"]
        except (KeyError, TypeError) as exc:
            raise InvalidInput(f"malformed alert: {exc}", field="event.body") from None
        held = self.alerts.get(aid)
        if change == "raised":
            if held is not None or key in self.open_alerts:
                raise Conflict(f"alert {aid!r} ({key}) is already open",
                               field="event.body.alert")
        elif held is None or held["state"] != "open" or self.open_alerts.get(key) != aid:
            raise Conflict(f"alert {aid!r} is not open", field="event.body.alert",
                           accepted="an open alert")
        elif change not in ("updated", "cleared"):
            raise InvalidInput(f"unknown alert change {change!r}", field="event.body.change",
                               accepted="raised, updated, cleared")
        when = format_time(entry.received_at, micro=True)
        state = dict(body, entry=self.size, updated_at=when,
                     raised_at=held["raised_at"] if held else when,
                     changes=(held["changes"] + 1) if held else 1,
                     state="cleared" if change == "cleared" else "open")
        self.alerts[aid] = state
        if change == "cleared":
            self.open_alerts.pop(key, None)
        else:
            self.open_alerts[key] = aid
        return Changes(alerts=[aid])

    def _clock(self, entry: Entry, leaf: bytes, verify: bool) -> Changes:
        """A step of the operator's wall clock, measured against its monotonic clock."""
        if entry.event.party != OPERATOR:
            raise UnknownParty("only the operator records clock steps", field="event.party",
                               accepted=OPERATOR)
        body = entry.event.body
        keys = {"step_us", "wall", "previous_wall", "monotonic_us", "previous_monotonic_us"}
        if set(body) != keys or not all(type(body[k]) is int for k in keys
                                        if k.endswith("_us")):
            raise InvalidInput("malformed clock step", field="event.body",
                               accepted=", ".join(sorted(keys)) + " (the *_us as integers)")
        wall = to_micros(parse_time(body["wall"], "event.body.wall"))
        before = to_micros(parse_time(body["previous_wall"], "event.body.previous_wall"))
        step = (wall - before) - (body["monotonic_us"] - body["previous_monotonic_us"])
        if body["step_us"] != step:
            raise InvalidInput(f"step_us {body['step_us']} is not the readings' difference "
                               f"{step}", field="event.body.step_us", accepted=str(step))
        return Changes()

    # -- acknowledgements owed -------------------------------------------------------------

    def notice_dues(self, notice: Notice) -> list[Due]:
        agreement = self.agreement
        if agreement is None or notice.cancelled_at is not None:
            return []
        kind = agreement.kind(notice.kind)
        if not kind.ack_required or kind.ack_deadline is None:
            return []
        deadline = notice.updated_at + kind.ack_deadline
        return [Due(p, deadline, notice=notice.id, version=notice.version)
                for p in sorted(self.required_acks(notice) - notice.acks)]

    def message_dues(self, msg: Message) -> list[Due]:
        return [Due(p, msg.deadline, message=msg.id) for p in msg.to if p not in msg.acks]

    def _owe(self, dues: list[Due]) -> None:
        escalated = {e["due"] for e in self.escalations.values()} if self.escalations else set()
        for d in dues:
            if d.key not in escalated:
                self.pending[d.key] = d

    def _forget_dues(self, *, notice: str) -> None:
        for key in [k for k, d in self.pending.items() if d.notice == notice]:
            del self.pending[key]

    def rebuild_pending(self) -> None:
        """Derive what is owed from notices, messages and escalations (after a load)."""
        self.pending = {}
        for n in self.notices.values():
            self._owe(self.notice_dues(n))
        for m in self.messages.values():
            self._owe(self.message_dues(m))

    def overdue(self, at: datetime) -> list[Due]:
        """Acknowledgements whose deadline has passed at `at`, oldest first."""
        return sorted((d for d in self.pending.values() if d.deadline <= at),
                      key=lambda d: (d.deadline, d.key))

    def next_deadline(self) -> datetime | None:
        return min((d.deadline for d in self.pending.values()), default=None)

    def _finding(self, entry: Entry, leaf: bytes, verify: bool) -> Changes:
        if entry.event.party != OPERATOR:
            raise UnknownParty("only the operator records findings", field="event.party",
                               accepted=OPERATOR)
        body = entry.event.body
        try:
            finding = Finding.from_body(body, self.size, entry.received_at)
        except (KeyError, TypeError) as exc:
            raise InvalidInput(f"malformed finding: {exc}", field="event.body") from None
        if finding.id in self.findings or self.archive.has_finding(finding.id):
            raise Conflict(f"finding {finding.id!r} already exists", field="event.body.finding")
        self.findings[finding.id] = finding
        return Changes(findings=[finding.id])
