"""Signed refusals: the operator's statement that it received an event and refused it, and why.

A refusal is never logged (docs/design.md, "Refusals are not logged"), so without this a party
could not prove it tried. The statement is a C2SP signed note, signed by the log key, whose
text cannot be mistaken for anything else the log key signs: a checkpoint's first line is the
log's origin and its second a decimal size, an operator entry is an Ed25519 signature over
`accord/event/v2\\n` + JCS; a refusal's first line is the fixed `accord.dev/refusal/v1`.

    accord.dev/refusal/v1
    log <origin>
    event <base64 SHA-256 of JCS(event)>     (or: body <base64 SHA-256 of the request body>)
    party <the authenticated party>
    time <the operator's clock, RFC 3339, microseconds>
    status <HTTP status> <problem slug>
    reason <the problem's detail, as a JSON string without its quotes: ASCII, one line>

The party recomputes the hash from the event it signed (`event_hash`), so the statement proves
"this event, by this party, was refused at this time for this reason". Pure: no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from accord.errors import InvalidInput, ProofError
from accord.log.event import canonical
from accord.log.note import NoteSigner, NoteVerifier, open_note, sign_note
from accord.timefmt import format_time, parse_time

HEADER = "accord.dev/refusal/v1"
MAX_REASON = 500
_LINE = re.compile(r"(log|event|body|party|time|status|reason) (.*)")


def event_hash(event: Any) -> bytes:
    """SHA-256 of the event's canonical JSON (RFC 8785), what a refusal names."""
    return hashlib.sha256(canonical(event)).digest()


def request_hash(raw: bytes) -> tuple[str, bytes]:
    """What a refusal names for a request body: ("event", hash of its event) when the body is
    an object with an event that canonicalizes, else ("body", hash of the bytes)."""
    try:
        obj = json.loads(raw)
        if isinstance(obj, dict) and isinstance(obj.get("event"), dict):
            return "event", event_hash(obj["event"])
    except (ValueError, RecursionError, InvalidInput):
        pass
    return "body", hashlib.sha256(raw).digest()


@dataclass(frozen=True, slots=True)
class Refusal:
    origin: str
    hash_of: str  # "event" or "body"
    hash: bytes
    party: str
    time: datetime
    status: int
    slug: str
    reason: str

    def text(self) -> str:
        reason = json.dumps(self.reason[:MAX_REASON])[1:-1]
        lines = [HEADER, f"log {self.origin}",
                 f"{self.hash_of} {base64.b64encode(self.hash).decode()}",
                 f"party {self.party}", f"time {format_time(self.time, micro=True)}",
                 f"status {self.status} {self.slug}", f"reason {reason}"]
        return "".join(x + "\n" for x in lines)

    def to_json(self) -> dict[str, Any]:
        return {"log": self.origin, self.hash_of: base64.b64encode(self.hash).decode(),
                "party": self.party, "time": format_time(self.time, micro=True),
                "status": self.status, "type": self.slug, "reason": self.reason}

    @staticmethod
    def parse(text: str) -> Refusal:
        lines = text[:-1].split("\n") if text.endswith("\n") else []
        if len(lines) != 7 or lines[0] != HEADER:
            raise ProofError(f"not a refusal statement (first line {HEADER!r})",
                             field="refusal")
        got: dict[str, str] = {}
        for line in lines[1:]:
            m = _LINE.fullmatch(line)
            if m is None or m.group(1) in got:
                raise ProofError(f"malformed refusal line {line[:40]!r}", field="refusal")
            got[m.group(1)] = m.group(2)
        hash_of = "event" if "event" in got else "body"
        try:
            digest = base64.b64decode(got[hash_of], validate=True)
            status, slug = got["status"].split(" ")
            reason = json.loads('"' + got["reason"] + '"')
            refusal = Refusal(got["log"], hash_of, digest, got["party"],
                              parse_time(got["time"]), int(status), slug, reason)
        except (KeyError, ValueError, InvalidInput) as e:
            raise ProofError(f"malformed refusal statement: {e}", field="refusal") from None
        if len(digest) != 32 or refusal.text() != text:
            raise ProofError("malformed refusal statement: not in canonical form",
                             field="refusal")
        return refusal


def sign_refusal(refusal: Refusal, log: NoteSigner) -> str:
    """The signed statement (a signed note by the log key)."""
    if refusal.origin != log.name:
        raise InvalidInput("a refusal names the log whose key signs it", field="log")
    return sign_note(refusal.text(), [log])


def verify_refusal(note: str, log: NoteVerifier, *, event: Any | None = None) -> Refusal:
    """Check a refusal statement with the log's key (and, given the event the holder signed,
    that it is the event refused); ProofError naming what fails."""
    try:
        text, _ = open_note(note, [log])
    except ProofError as e:
        raise ProofError(f"the refusal is not signed by the log key {log.name}: {e.detail}",
                         field="refusal") from None
    refusal = Refusal.parse(text)
    if refusal.origin != log.name:
        raise ProofError(f"the refusal names log {refusal.origin!r}, the key is {log.name!r}",
                         field="refusal")
    if event is not None and (refusal.hash_of != "event"
                              or refusal.hash != event_hash(event)):
        raise ProofError("the refusal is for another event than the one given", field="event")
    return refusal
