"""The hotline: messages between coordination centres, their acknowledgement deadlines, and what
is overdue.

Deadlines are facts derived from the log (the message's or notice's receive time plus the
agreed delay), never timers held only in memory, so a restarted service escalates exactly what
a running one would have. Pure: imports only the core.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from accord.errors import InvalidInput, UnknownParty
from accord.rules.agreement import Agreement
from accord.rules.text import check_text
from accord.timefmt import format_time, parse_time

Priority = Literal["routine", "urgent"]
MESSAGE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
MAX_TEXT = 4000
MAX_ACK = timedelta(hours=24)
_KEYS = {"message", "to", "text", "ref", "ack_minutes", "priority"}


@dataclass(frozen=True, slots=True)
class Message:
    """A hotline message as sent, with the acknowledgements received so far."""

    id: str
    sender: str
    to: tuple[str, ...]
    text: str
    priority: Priority
    sent_at: datetime
    deadline: datetime
    entry: int
    ref: dict[str, Any] | None = None
    acks: frozenset[str] = frozenset()

    def with_ack(self, party: str) -> Message:
        return replace(self, acks=self.acks | {party})

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "from": self.sender, "to": list(self.to), "text": self.text,
            "priority": self.priority, "sent_at": format_time(self.sent_at, micro=True),
            "deadline": format_time(self.deadline, micro=True), "entry": self.entry,
            "acks": sorted(self.acks)}
        if self.ref is not None:
            out["ref"] = self.ref
        return out

    @staticmethod
    def from_json(obj: dict[str, Any]) -> Message:
        return Message(id=obj["id"], sender=obj["from"], to=tuple(obj["to"]), text=obj["text"],
                       priority=obj["priority"], sent_at=parse_time(obj["sent_at"]),
                       deadline=parse_time(obj["deadline"]), entry=obj["entry"],
                       ref=obj.get("ref"), acks=frozenset(obj["acks"]))


@dataclass(frozen=True, slots=True)
class Due:
    """One acknowledgement owed by `party`: for a notice version, or for a message."""

    party: str
    deadline: datetime
    notice: str | None = None
    version: int | None = None
    message: str | None = None

    @property
    def key(self) -> str:
        what = f"notice:{self.notice}:{self.version}" if self.notice else f"message:{self.message}"
        return f"{what}:{self.party}"

    def about(self) -> dict[str, Any]:
        if self.notice is not None:
            return {"notice": self.notice, "version": self.version}
        return {"message": self.message}


def message_id(value: Any, field: str) -> str:
    if not isinstance(value, str) or not MESSAGE_ID.match(value):
        raise InvalidInput(f"{value!r} is not a valid message id", field=field,
                           accepted="1-64 letters, digits, '_', '.', ':', '-'")
    return value


def parse_message(body: dict[str, Any], agreement: Agreement, sender: str, received_at: datetime,
                  entry: int, field: str = "body") -> Message:
    """Validate a `message` body: recipients are other parties, the deadline is bounded."""
    unknown = sorted(set(body) - _KEYS)
    if unknown:
        raise InvalidInput(f"unknown key(s) {unknown}", field=field,
                           accepted=", ".join(sorted(_KEYS)))
    mid = message_id(body.get("message"), f"{field}.message")
    others = [p for p in agreement.acting_ids if p != sender]  # observers read, never owe
    to = body.get("to", others)
    if not isinstance(to, list) or not to or not all(isinstance(p, str) for p in to):
        raise InvalidInput("to must be a non-empty list of party ids", field=f"{field}.to",
                           accepted=", ".join(others))
    for p in to:
        if p not in others:
            raise UnknownParty(f"{p!r} is not another party to the agreement",
                               field=f"{field}.to", accepted=", ".join(others))
    text = body.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
        raise InvalidInput("text must be a non-empty string", field=f"{field}.text",
                           accepted=f"1 to {MAX_TEXT} characters")
    check_text(text, f"{field}.text")
    priority = body.get("priority", "routine")
    if priority not in ("routine", "urgent"):
        raise InvalidInput(f"unknown priority {priority!r}", field=f"{field}.priority",
                           accepted="routine, urgent")
    ref = body.get("ref")
    if ref is not None and not (isinstance(ref, dict) and len(ref) == 1
                                and set(ref) <= {"notice", "finding", "message"}
                                and isinstance(next(iter(ref.values())), str)):
        raise InvalidInput("ref names one notice, finding or message", field=f"{field}.ref",
                           accepted='{"notice": id} or {"finding": id} or {"message": id}')
    if ref is not None:
        [(kind, ref_id)] = ref.items()
        check_text(ref_id, f"{field}.ref.{kind}", 64)
    minutes = body.get("ack_minutes")
    if minutes is None:
        delay = agreement.hotline.ack_deadline
    elif (isinstance(minutes, int | float) and not isinstance(minutes, bool)
          and 0 < minutes <= MAX_ACK.total_seconds() / 60):
        delay = timedelta(minutes=minutes)
    else:
        raise InvalidInput(f"ack_minutes {minutes!r} is out of range",
                           field=f"{field}.ack_minutes",
                           accepted="a number of minutes greater than 0, at most 1440")
    return Message(id=mid, sender=sender, to=tuple(sorted(set(to))), text=text,
                   priority=priority, sent_at=received_at, deadline=received_at + delay,
                   entry=entry, ref=ref)


def parse_message_ack(body: dict[str, Any], field: str = "body") -> str:
    unknown = sorted(set(body) - {"message"})
    if unknown:
        raise InvalidInput(f"unknown key(s) {unknown}", field=field, accepted="message")
    return message_id(body.get("message"), f"{field}.message")
