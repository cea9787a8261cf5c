"""Receipts: offline proof that the log received an entry, and when.

A receipt carries the entry's index, its leaf hash, the entry's exact bytes (which hold the
signed event and the operator's receive time), a checkpoint signed by the operator and the
inclusion proof of the leaf in that checkpoint's tree. `prove` checks all of it with nothing
but the log's public key: checkpoint signature, inclusion, leaf = RFC 9162 leaf hash of the
entry bytes, the entry canonical, and (when the holder says which) the event inside it
byte-equal to the event the holder signed. JSON form:
`{"index", "leaf_hash": base64, "entry": base64, "checkpoint": signed note text,
"inclusion_proof": [base64]}`; `entry` may be absent only where the entry is not disclosed to
the one asking, and such a receipt proves a hash, not a receive time.

Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from accord.errors import AccordError, InvalidInput, ProofError
from accord.log.cosignature import Witnessed, WitnessPolicy, verify_witnessed
from accord.log.event import OPERATOR, Entry, Event, verify_event_signature
from accord.log.merkle import HASH_SIZE, leaf_hash, verify_consistency, verify_inclusion
from accord.log.note import Checkpoint, NoteVerifier, open_checkpoint, open_note
from accord.timefmt import parse_time

_REQUIRED = ("index", "leaf_hash", "checkpoint", "inclusion_proof")
_FIELDS = (*_REQUIRED, "entry")
MAX_ENTRY_BYTES = 4 * 1024 * 1024
"""An entry larger than this is not an entry any Accord service writes (bodies are 1 MiB)."""


def _hash_from_b64(value: object, name: str) -> bytes:
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a base64 string", field=name)
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as e:
        raise InvalidInput(f"{name} is not base64", field=name) from e
    if len(raw) != HASH_SIZE or base64.b64encode(raw).decode("ascii") != value:
        raise InvalidInput(f"{name} is not a base64 32-byte hash", field=name)
    return raw


def _entry_from_b64(value: object) -> bytes:
    if not isinstance(value, str) or len(value) > MAX_ENTRY_BYTES * 4 // 3 + 4:
        raise InvalidInput("entry must be the entry's bytes in base64", field="entry",
                           accepted=f"base64 of at most {MAX_ENTRY_BYTES} bytes")
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as e:
        raise InvalidInput("entry is not base64", field="entry") from e
    if base64.b64encode(raw).decode("ascii") != value:
        raise InvalidInput("entry is not canonical base64", field="entry")
    return raw


@dataclass(frozen=True, slots=True)
class Receipt:
    """Entry `index` with `leaf_hash` (and, when carried, bytes `entry`) is in the tree of the
    signed `checkpoint` note."""

    index: int
    leaf_hash: bytes
    checkpoint: str
    inclusion_proof: tuple[bytes, ...]
    entry: bytes | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "index": self.index,
            "leaf_hash": base64.b64encode(self.leaf_hash).decode("ascii"),
            "checkpoint": self.checkpoint,
            "inclusion_proof": [base64.b64encode(h).decode("ascii") for h in self.inclusion_proof],
        }
        if self.entry is not None:
            out["entry"] = base64.b64encode(self.entry).decode("ascii")
        return out

    @classmethod
    def from_json(cls, obj: object) -> Receipt:
        """Strict: the four fields and optionally `entry`, right types, canonical base64."""
        if not isinstance(obj, dict):
            raise InvalidInput("receipt must be a JSON object", field="receipt")
        for name in _REQUIRED:
            if name not in obj:
                raise InvalidInput(f"receipt has no {name}", field=name)
        for name in obj:
            if name not in _FIELDS:
                raise InvalidInput(f"receipt has an unknown field {name!r}", field=str(name))
        index = obj["index"]
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise InvalidInput("index must be a non-negative integer", field="index")
        checkpoint = obj["checkpoint"]
        if not isinstance(checkpoint, str) or not checkpoint:
            raise InvalidInput("checkpoint must be the signed note text", field="checkpoint")
        proof = obj["inclusion_proof"]
        if not isinstance(proof, list) or len(proof) > 64:
            raise InvalidInput("inclusion_proof must be a list of at most 64 hashes",
                               field="inclusion_proof")
        return cls(
            index=index,
            leaf_hash=_hash_from_b64(obj["leaf_hash"], "leaf_hash"),
            checkpoint=checkpoint,
            inclusion_proof=tuple(
                _hash_from_b64(h, f"inclusion_proof[{i}]") for i, h in enumerate(proof)
            ),
            entry=_entry_from_b64(obj["entry"]) if "entry" in obj else None,
        )


def verify_receipt(
    receipt: Receipt, log_verifier: NoteVerifier, entry: bytes | None = None
) -> Checkpoint:
    """Check that the receipt's leaf is in its checkpoint and return the checkpoint.

    Opens the checkpoint note with the operator's key (its origin must be the key name), checks
    index < size and the inclusion proof against the root, and that the leaf hash is that of
    `entry` (else of the receipt's own entry, when it carries one). ProofError on any failure.
    This proves a hash; `prove` also says what the entry is.
    """
    data = entry if entry is not None else receipt.entry
    if data is not None and leaf_hash(data) != receipt.leaf_hash:
        raise ProofError(f"the entry does not hash to the receipt's leaf_hash: it is not the "
                         f"entry the log holds at index {receipt.index}", field="entry")
    try:
        cp = open_checkpoint(receipt.checkpoint, log_verifier)
    except ProofError as e:
        raise ProofError(f"the receipt's checkpoint does not verify with the log key "
                         f"{log_verifier.name}: {e.detail}", field="checkpoint") from None
    if not 0 <= receipt.index < cp.size:
        raise ProofError(
            f"index {receipt.index} is not in the checkpoint's tree of size {cp.size}",
            field="index",
        )
    try:
        verify_inclusion(receipt.leaf_hash, receipt.index, cp.size, receipt.inclusion_proof,
                         cp.root)
    except ProofError as e:
        raise ProofError(f"the inclusion proof does not lead from entry {receipt.index} to the "
                         f"checkpoint's root: {e.detail}", field="inclusion_proof") from None
    return cp


@dataclass(frozen=True, slots=True)
class Proved:
    """What a receipt proves: this entry is entry `index` of the log in `checkpoint`."""

    index: int
    entry: Entry
    checkpoint: Checkpoint

    @property
    def party(self) -> str:
        return self.entry.event.party

    @property
    def type(self) -> str:
        return self.entry.event.type

    @property
    def received_at(self) -> datetime:
        return self.entry.received_at


def prove(receipt: Receipt, log_verifier: NoteVerifier, *, entry: bytes | None = None,
          event: Event | None = None,
          signature: str | Mapping[str, str] | None = None) -> Proved:
    """Check everything a receipt claims and say what it proves; ProofError naming the fault.

    The entry is the receipt's own (or `entry`, given separately, e.g. from
    `accord log entry -o`; the two must agree). Checks: checkpoint signed by the log key,
    inclusion of the leaf, leaf = leaf hash of the entry bytes, the entry canonical, an
    operator entry signed by the log key, and, given `event` (and `signature`), the event in
    the entry byte-equal (in canonical form) to the one the holder signed, with that signature.
    """
    if entry is not None and receipt.entry is not None and entry != receipt.entry:
        raise ProofError("the entry given is not the entry the receipt carries", field="entry")
    data = entry if entry is not None else receipt.entry
    if data is None:
        raise ProofError(
            f"the receipt for entry {receipt.index} carries no entry: it proves only that a "
            f"hash is in the log, not what was received or when", field="entry",
            accepted="a receipt with its entry, or the entry's bytes (`accord log entry N -o "
                     "FILE`, then --entry FILE)")
    cp = verify_receipt(receipt, log_verifier, data)
    try:
        logged = Entry.decode(data)
    except (AccordError, RecursionError) as e:
        detail = e.detail if isinstance(e, AccordError) else "nested too deeply"
        raise ProofError(f"the entry at index {receipt.index} is not a canonical Accord "
                         f"entry: {detail}", field="entry") from None
    if logged.event.party == OPERATOR:
        if logged.sig is None:
            raise ProofError("the operator's entry carries no signature", field="entry.sig")
        try:
            verify_event_signature(logged.event, logged.sig,
                                   log_verifier.public_key.public_bytes_raw())
        except AccordError as e:
            raise ProofError(f"the operator's entry is not signed by the log key: {e.detail}",
                             field="entry.sig") from None
    if event is not None and logged.event.canonical() != event.canonical():
        raise ProofError(
            f"entry {receipt.index} holds another event ({logged.event.party} "
            f"{logged.event.type} seq {logged.event.seq}), not the one you signed "
            f"({event.party} {event.type} seq {event.seq})", field="entry.event")
    if isinstance(signature, str) and logged.sig != signature:
        raise ProofError(f"entry {receipt.index} holds your event under another signature",
                         field="entry.sig")
    if signature is not None and not isinstance(signature, str) and \
            logged.sigs != dict(signature):
        raise ProofError(f"entry {receipt.index} holds the agreement with other signatures",
                         field="entry.sigs")
    return Proved(receipt.index, logged, cp)


def prove_json(receipt_json: Any, log_key: NoteVerifier | str,
               checkpoint_note: str | None = None,
               consistency: Sequence[str] | None = None, entry: bytes | None = None
               ) -> tuple[Proved, Checkpoint]:
    """Check one receipt (JSON form) with the log's verifier key alone, offline; optionally
    tie it to a later signed checkpoint by a consistency proof.

    Returns what the receipt proves and the checkpoint it is finally proved against.
    """
    receipt = Receipt.from_json(receipt_json)
    verifier = NoteVerifier.parse(log_key) if isinstance(log_key, str) else log_key
    proved = prove(receipt, verifier, entry=entry)
    own = proved.checkpoint
    if checkpoint_note is None:
        return proved, own
    try:
        text, _ = open_note(checkpoint_note, [verifier])
    except ProofError as e:
        raise ProofError(f"the later checkpoint does not verify with the log key "
                         f"{verifier.name}: {e.detail}", field="checkpoint") from None
    try:
        other = Checkpoint.parse(text)
    except InvalidInput as e:
        raise ProofError(f"the later signed note is not a checkpoint: {e.detail}",
                         field="checkpoint") from None
    if other.origin != own.origin:
        raise ProofError(f"the checkpoint is for log {other.origin!r}, the receipt for "
                         f"{own.origin!r}", field="checkpoint")
    if other.size == own.size:
        if other.root != own.root:
            raise ProofError("two checkpoints of the same size with different roots: "
                             "the log has forked", field="checkpoint")
        return proved, other
    if other.size < own.size:
        raise ProofError(f"the checkpoint (size {other.size}) is older than the receipt's "
                         f"(size {own.size})", field="checkpoint")
    if consistency is None:
        raise InvalidInput(
            f"the receipt is proved against size {own.size}; to tie it to the checkpoint of "
            f"size {other.size}, also pass a consistency proof between the two",
            field="consistency", accepted=f"the output of `accord log consistency {own.size} "
                                          f"{other.size} --json`")
    if not isinstance(consistency, list) or len(consistency) > 128:
        raise InvalidInput("the consistency proof must be a list of base64 hashes",
                           field="consistency")
    proof = [_hash_from_b64(p, f"consistency[{i}]") for i, p in enumerate(consistency)]
    verify_consistency(own.size, other.size, proof, own.root, other.root)
    return proved, other


def prove_write(answer: Mapping[str, Any], log_verifier: NoteVerifier, event: Event,
                signature: str | Mapping[str, str] | None) -> Proved:
    """Check a write's answer (`Outcome.to_json`) against what the writer signed: its receipt
    proves `event` (with `signature`) at the answer's index and receive time, and every
    finding's receipt proves that operator finding at its entry. ProofError otherwise."""
    rc = answer.get("receipt")
    if not isinstance(rc, dict):
        raise ProofError("the service's answer carries no receipt for your event",
                         field="receipt")
    proved = prove(_parse(rc, "receipt"), log_verifier, event=event, signature=signature)
    claimed = answer.get("received_at")
    if answer.get("index") != proved.index or not isinstance(claimed, str) or \
            _instant(claimed) != proved.received_at:
        raise ProofError(
            f"the answer says entry {answer.get('index')} received {claimed}, its receipt "
            f"proves entry {proved.index} received {proved.received_at.isoformat()}",
            field="received_at")
    findings = answer.get("findings") or []
    if not isinstance(findings, list):
        raise ProofError("the answer's findings are not a list", field="findings")
    for i, item in enumerate(findings):
        f = item.get("finding") if isinstance(item, dict) else None
        frc = item.get("receipt") if isinstance(item, dict) else None
        if not isinstance(f, dict) or not isinstance(frc, dict):
            raise ProofError(f"finding {i} of the answer comes without its receipt",
                             field=f"findings[{i}]")
        got = prove(_parse(frc, f"findings[{i}].receipt"), log_verifier)
        ev = got.entry.event
        if (got.index != f.get("entry") or ev.type != "finding"
                or ev.body.get("finding") != f.get("finding")):
            raise ProofError(f"the receipt of finding {f.get('finding')} proves entry "
                             f"{got.index} ({ev.type} {ev.body.get('finding')}), not the "
                             f"finding at entry {f.get('entry')}", field=f"findings[{i}]")
    return proved


def _parse(obj: Mapping[str, Any], where: str) -> Receipt:
    try:
        return Receipt.from_json(obj)
    except InvalidInput as e:
        raise ProofError(f"the {where} is malformed: {e.detail}", field=where) from None


def _instant(text: str) -> datetime | None:
    try:
        return parse_time(text, "received_at")
    except InvalidInput:
        return None


def prove_witnessed(receipt_json: Any, log_key: NoteVerifier | str, policy: WitnessPolicy,
                    checkpoint_note: str | None = None,
                    consistency: Sequence[str] | None = None, entry: bytes | None = None,
                    now: int | None = None) -> tuple[Proved, Witnessed]:
    """`prove_json`, and the checkpoint it ends at (the later one, else the receipt's own)
    cosigned by the policy's quorum of witnesses: the entry existed no later than
    `Witnessed.no_later_than`. ProofError naming what fails."""
    verifier = NoteVerifier.parse(log_key) if isinstance(log_key, str) else log_key
    proved, _ = prove_json(receipt_json, verifier, checkpoint_note, consistency, entry)
    note = checkpoint_note if checkpoint_note is not None else receipt_json["checkpoint"]
    return proved, verify_witnessed(note, verifier, policy, now=now)
