"""Events and entries: the exact bytes a party signs and the exact bytes the log stores.

An event is `{"v":2, "log", "agreement", "type", "party", "seq", "issued_at", "body"}`; its
signature is Ed25519 over `b"accord/event/v2\\n" + JCS(event)` (RFC 8785). `log` is the log's
origin and `agreement` the leaf hash of the agreement in force when it was signed, so a
signature is valid in one log, under one agreement. Version 1 (`{"v":1, "type", "party",
"seq", "issued_at", "body"}` over `b"accord/event/v1\\n" + JCS(event)`) is still read, so
logs written before version 2 still verify; the writer no longer admits it. An entry, the
Merkle leaf, is `JCS({"event", "sig" | "sigs", "received_at"})`. These formats are a contract
with other parties' verifiers (docs/design.md, Events). Pure: no I/O, no adapters.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from accord.errors import BadSignature, InvalidInput
from accord.limits import check_depth
from accord.timefmt import format_time, parse_time

EVENT_DOMAINS = {1: b"accord/event/v1\n", 2: b"accord/event/v2\n"}
EVENT_VERSION = 2  # the version the writer admits; older ones are read on replay only
PRIVATE_DOMAIN = b"accord/private/v1\n"
OPERATOR = "operator"
ALL_PARTIES = "*"
_EVENT_KEYS = {1: {"v", "type", "party", "seq", "issued_at", "body"},
               2: {"v", "log", "agreement", "type", "party", "seq", "issued_at", "body"}}
_ACCEPTED_EVENT = '{"v":2,"log","agreement","type","party","seq","issued_at","body"}'
MAX_SEQ = 2**53 - 1


_INT_LIMIT = 2**53 - 1


class _Slow(Exception):
    """The value needs the reference encoder (unusual floats, non-ASCII keys, big integers)."""


def _plain(obj: Any) -> Any:
    """A copy that the C json encoder writes exactly as RFC 8785 would, or raise _Slow.

    RFC 8785 is json.dumps with sorted keys and no spaces, except for numbers (ES6 formatting)
    and key order (UTF-16 code units). Integral floats become ints, floats Python writes
    without an exponent are written the same by ES6, and ASCII keys sort the same either way;
    everything else goes to the `rfc8785` package. A property test holds the two equal.
    """
    t = type(obj)
    if t is str or t is bool or obj is None:
        return obj
    if t is int:
        if -_INT_LIMIT <= obj <= _INT_LIMIT:
            return obj
        raise _Slow
    if t is float:
        if obj.is_integer():
            if -_INT_LIMIT <= obj <= _INT_LIMIT:
                return int(obj)
            raise _Slow
        if "e" in repr(obj) or not math.isfinite(obj):
            raise _Slow
        return obj
    if t is dict:
        out = {}
        for k, v in obj.items():
            if type(k) is not str or not k.isascii():
                raise _Slow
            out[k] = _plain(v)
        return out
    if t is list or t is tuple:
        return [_plain(v) for v in obj]
    raise _Slow


def canonical(obj: Any, field: str = "event") -> bytes:
    """RFC 8785 canonical JSON; refuses NaN and infinities, which JSON cannot carry, and
    values nested deeper than `accord.limits.MAX_DEPTH`."""
    try:
        return json.dumps(_plain(obj), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False).encode("utf-8")
    except (_Slow, UnicodeEncodeError):
        pass
    except RecursionError:
        check_depth(obj, field)  # raises TooDeep (iterative: no recursion left to spend)
        raise
    try:
        return bytes(rfc8785.dumps(obj))
    except RecursionError:
        check_depth(obj, field)
        raise
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        _reject_floats_nan(obj, field)  # names the field when a number is at fault
        raise InvalidInput(f"cannot be encoded as canonical JSON: {exc}", field=field,
                           accepted="JSON values: objects, arrays, strings, finite numbers, "
                                    "true, false, null") from None


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: object, field: str, length: int | None = None) -> bytes:
    """Strict standard base64; `length` pins the decoded size (keys, hashes, signatures)."""
    if not isinstance(text, str):
        raise InvalidInput("expected a base64 string", field=field, accepted="standard base64")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("not valid base64", field=field, accepted="standard base64") from None
    if length is not None and len(raw) != length:
        raise InvalidInput(f"decodes to {len(raw)} bytes, expected {length}", field=field,
                           accepted=f"base64 of exactly {length} bytes")
    return raw


def _reject_floats_nan(obj: Any, where: str) -> None:
    if isinstance(obj, float) and not math.isfinite(obj):
        raise InvalidInput("NaN and infinity are not JSON", field=where, accepted="finite numbers")
    if isinstance(obj, dict):
        for k, v in obj.items():
            _reject_floats_nan(v, f"{where}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _reject_floats_nan(v, f"{where}[{i}]")


@dataclass(frozen=True, slots=True)
class Context:
    """What a party's next event must name: the log, the agreement in force and its seq.

    A party reads it from the service (`GET /v1/me`) or the store, and signs events with it;
    `seq` is the signer's next one (last + 1)."""

    log: str
    agreement: str | None
    seq: int

    def event(self, type: str, party: str, issued_at: str, body: dict[str, Any]) -> Event:
        return Event(type=type, party=party, seq=self.seq, issued_at=issued_at, body=body,
                     log=self.log, agreement=self.agreement)

    def next(self) -> Context:
        """The context of the event after this one (events signed ahead, sent in order)."""
        return Context(self.log, self.agreement, self.seq + 1)

    def at(self, seq: int) -> Context:
        """The same log and agreement with another seq (events signed ahead)."""
        return Context(self.log, self.agreement, seq)

    def to_json(self) -> dict[str, Any]:
        return {"log": self.log, "agreement": self.agreement, "next_seq": self.seq}

    @staticmethod
    def from_json(obj: Any, field: str = "context") -> Context:
        """From `GET /v1/me` (`log`, `agreement`, `next_seq`)."""
        if (not isinstance(obj, dict) or not isinstance(obj.get("log"), str)
                or not isinstance(obj.get("agreement"), str | None)
                or not isinstance(obj.get("next_seq"), int)):
            raise InvalidInput("the service did not say which log, agreement and seq to sign "
                               "for", field=field,
                               accepted='{"log": str, "agreement": str|null, "next_seq": int}')
        return Context(obj["log"], obj["agreement"], obj["next_seq"])


@dataclass(frozen=True, slots=True)
class Event:
    """One change, as the party (or the operator, or all parties jointly) signed it.

    Version 2 names the log (`log`, its origin) and the agreement in force when it was signed
    (`agreement`, base64 leaf hash; null only before the first agreement). Version 1 carries
    neither and is read only from logs written before version 2."""

    type: str
    party: str
    seq: int
    issued_at: str
    body: dict[str, Any] = field(hash=False)
    log: str | None = None
    agreement: str | None = None
    v: int = EVENT_VERSION
    _jcs: list[bytes] = field(default_factory=list, compare=False, hash=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        if self.v == 1:
            return {"v": 1, "type": self.type, "party": self.party, "seq": self.seq,
                    "issued_at": self.issued_at, "body": self.body}
        return {"v": self.v, "log": self.log, "agreement": self.agreement, "type": self.type,
                "party": self.party, "seq": self.seq, "issued_at": self.issued_at,
                "body": self.body}

    def canonical(self) -> bytes:
        """JCS of the event, computed once: it is both signed and stored inside the entry."""
        if not self._jcs:
            self._jcs.append(canonical(self.to_json()))
        return self._jcs[0]

    def signing_bytes(self) -> bytes:
        return EVENT_DOMAINS[self.v] + self.canonical()

    @property
    def issued(self) -> datetime:
        return parse_time(self.issued_at, "event.issued_at")

    @staticmethod
    def from_json(obj: Any, field: str = "event") -> Event:
        if not isinstance(obj, dict):
            raise InvalidInput("an event must be a JSON object", field=field,
                               accepted=_ACCEPTED_EVENT)
        v = obj.get("v")
        if type(v) is not int or v not in _EVENT_KEYS:
            raise InvalidInput(f"unsupported event version {v!r}", field=f"{field}.v",
                               accepted=str(EVENT_VERSION))
        keys = _EVENT_KEYS[v]
        missing = keys - obj.keys()
        extra = obj.keys() - keys
        if missing or extra:
            what = (f"missing {sorted(missing)}" if missing else "") + (
                f"{' and ' if missing else ''}unknown {sorted(extra)}" if extra else "")
            raise InvalidInput(f"event v{v} has {what}", field=field,
                               accepted="exactly " + ", ".join(sorted(keys)))
        for key in ("type", "party"):
            if not isinstance(obj[key], str) or not obj[key] or len(obj[key]) > 64:
                raise InvalidInput(f"{key} must be a non-empty string", field=f"{field}.{key}",
                                   accepted="a string of 1 to 64 characters")
        seq = obj["seq"]
        if not isinstance(seq, int) or isinstance(seq, bool) or not 0 < seq <= MAX_SEQ:
            raise InvalidInput(f"seq must be a positive integer, got {seq!r}",
                               field=f"{field}.seq", accepted="an integer from 1 to 2^53-1")
        parse_time(obj["issued_at"], f"{field}.issued_at")
        if not isinstance(obj["body"], dict):
            raise InvalidInput("body must be a JSON object", field=f"{field}.body",
                               accepted="a JSON object")
        _reject_floats_nan(obj["body"], f"{field}.body")
        log = agreement = None
        if v >= 2:
            log, agreement = obj["log"], obj["agreement"]
            if not isinstance(log, str) or not 0 < len(log) <= 255:
                raise InvalidInput("log must name the log (its origin)", field=f"{field}.log",
                                   accepted="the log's origin, as in its checkpoints")
            if agreement is not None:
                unb64(agreement, f"{field}.agreement", 32)
        return Event(type=obj["type"], party=obj["party"], seq=seq, issued_at=obj["issued_at"],
                     body=obj["body"], log=log, agreement=agreement, v=v)


def sign_event(event: Event, key: Ed25519PrivateKey) -> str:
    return b64(key.sign(event.signing_bytes()))


def verify_event_signature(event: Event, sig: str, public_key: bytes, field: str = "sig") -> None:
    """Raise BadSignature unless `sig` is the signer's Ed25519 signature over the event."""
    raw = unb64(sig, field, 64)
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(raw, event.signing_bytes())
    except InvalidSignature:
        domain = EVENT_DOMAINS[event.v].decode().replace("\n", "\\n")
        raise BadSignature(f"the signature does not verify for party {event.party!r} "
                           f"({event.type}, seq {event.seq})", field=field,
                           accepted=f"Ed25519 over b'{domain}' + JCS(event), "
                                    "made with the key in the agreement") from None


@dataclass(frozen=True, slots=True)
class Entry:
    """An event as stored in the log: the signed event plus the operator's receive time."""

    event: Event
    received_at: datetime
    sig: str | None = None
    sigs: dict[str, str] | None = field(default=None, hash=False)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event": self.event.to_json(),
                               "received_at": format_time(self.received_at, micro=True)}
        if self.sigs is not None:
            out["sigs"] = dict(self.sigs)
        else:
            out["sig"] = self.sig
        return out

    def encode(self) -> bytes:
        """JCS of the entry. "event" sorts first, so the event's own JCS is spliced in."""
        rest = self.to_json()
        del rest["event"]
        tail = canonical(rest, "entry")
        return b'{"event":' + self.event.canonical() + b"," + tail[1:]

    @staticmethod
    def decode(data: bytes) -> Entry:
        """Parse stored leaf bytes; refuses anything that is not exactly canonical."""
        try:
            obj = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"entry is not JSON: {exc}", field="entry") from None
        if not isinstance(obj, dict) or set(obj) not in ({"event", "sig", "received_at"},
                                                         {"event", "sigs", "received_at"}):
            raise InvalidInput("entry must have event, sig or sigs, received_at", field="entry")
        event = Event.from_json(obj["event"], "entry.event")
        received = parse_time(obj["received_at"], "entry.received_at")
        sigs = obj.get("sigs")
        if sigs is not None and (not isinstance(sigs, dict)
                                 or not all(isinstance(v, str) for v in sigs.values())):
            raise InvalidInput("sigs must map party to signature", field="entry.sigs")
        sig = obj.get("sig")
        if "sig" in obj and not isinstance(sig, str):
            raise InvalidInput("sig must be a string", field="entry.sig")
        entry = Entry(event=event, received_at=received, sig=sig, sigs=sigs)
        if entry.encode() != data:
            raise InvalidInput("entry bytes are not in canonical form", field="entry")
        return entry


def private_digest(salt: bytes, data: Any) -> str:
    """Commitment to a notice's private part: the log holds only this, the store the reveal."""
    return b64(hashlib.sha256(PRIVATE_DOMAIN + salt + canonical(data)).digest())
