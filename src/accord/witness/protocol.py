"""The tlog-witness add-checkpoint exchange, and the checks a witness makes before cosigning.

Request body (c2sp.org/tlog-witness): "old <size>\\n", zero to 63 base64 consistency-proof
lines, an empty line, then the signed checkpoint note. Answer: the witness's cosignature lines.
`check` is the whole decision, pure: given what the witness holds for the log (`Latest`), it
returns the checkpoint to cosign or raises the refusal the spec names (400 malformed or old size
above the checkpoint's, 403 not signed by the log, 404 unknown log, 409 old size is not the
witness's size, 422 empty tree with a wrong root, proof that does not verify, same size with
another root). Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from accord.errors import (
    InvalidInput,
    NotSignedByLog,
    ProofError,
    SizeMismatch,
    UnknownLog,
)
from accord.log.merkle import EMPTY_ROOT, verify_consistency
from accord.log.note import Checkpoint, NoteVerifier, open_note, signature_lines, split_note

MAX_PROOF_LINES = 63
MAX_BODY = 64 * 1024
"""A request of 63 proof lines and a checkpoint with 16 signatures is under 8 KiB."""
_OLD = re.compile(r"old (0|[1-9][0-9]{0,19})")


@dataclass(frozen=True, slots=True)
class AddCheckpoint:
    old_size: int
    proof: tuple[bytes, ...]
    note: str

    def body(self) -> bytes:
        lines = [f"old {self.old_size}", *(base64.b64encode(h).decode() for h in self.proof)]
        return ("".join(x + "\n" for x in lines) + "\n" + self.note).encode("utf-8")


@dataclass(frozen=True, slots=True)
class Latest:
    """What a witness holds for one log: the latest checkpoint it cosigned."""

    size: int
    root: bytes


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """Parse a request body strictly; InvalidInput (400) if it is not one."""
    if len(body) > MAX_BODY:
        raise InvalidInput(f"request body over {MAX_BODY} bytes", field="body")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("request body is not UTF-8", field="body") from None
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise InvalidInput("no empty line between the proof and the checkpoint", field="body",
                           accepted="old <size>, proof lines, an empty line, the checkpoint")
    lines = head.split("\n")
    m = _OLD.fullmatch(lines[0])
    if m is None or int(m.group(1)) >= 2**64:
        raise InvalidInput("the first line must be 'old <size>' (decimal, no leading zeros)",
                           field="old")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise InvalidInput(f"more than {MAX_PROOF_LINES} consistency proof lines", field="proof")
    proof: list[bytes] = []
    for i, line in enumerate(lines[1:]):
        try:
            raw = base64.b64decode(line.encode("ascii"), validate=True)
        except (UnicodeEncodeError, binascii.Error):
            raw = b""
        if len(raw) != 32 or base64.b64encode(raw).decode() != line:
            raise InvalidInput(f"proof line {i + 1} is not a base64 32-byte hash",
                               field="proof")
        proof.append(raw)
    return AddCheckpoint(int(m.group(1)), tuple(proof), note)


def origin_of(note: str) -> str:
    """The checkpoint's origin line, unverified (to find the log's key); InvalidInput if the
    note is not a checkpoint note."""
    try:
        text, _ = split_note(note)
        return Checkpoint.parse(text).origin
    except (ProofError, InvalidInput) as e:
        raise InvalidInput(f"not a signed checkpoint: {e.detail}", field="checkpoint") from None


def check(req: AddCheckpoint, logs: Mapping[str, NoteVerifier],
          latest: Latest | None) -> Checkpoint:
    """The checkpoint to cosign, or the refusal tlog-witness asks for (see the module doc)."""
    origin = origin_of(req.note)
    log = logs.get(origin)
    if log is None:
        raise UnknownLog(f"this witness does not witness the log {origin!r}", field="origin")
    try:
        text, _ = open_note(req.note, [log])
    except ProofError as e:
        raise NotSignedByLog(f"the checkpoint is not signed by the key of {origin}: "
                             f"{e.detail}", field="checkpoint") from None
    cp = Checkpoint.parse(text)
    if req.old_size > cp.size:
        raise InvalidInput(f"old size {req.old_size} is larger than the checkpoint's size "
                           f"{cp.size}", field="old")
    have = latest.size if latest is not None else 0
    if req.old_size != have:
        raise SizeMismatch(f"old size {req.old_size} is not the size of this witness's latest "
                           f"checkpoint of {origin}, {have}", size=have)
    if cp.size == 0 and cp.root != EMPTY_ROOT:
        raise ProofError("a checkpoint of size 0 must have the empty tree's root",
                         field="checkpoint")
    if req.old_size == 0:
        if req.proof:
            raise ProofError("from old size 0 the consistency proof must be empty",
                             field="proof")
        return cp
    assert latest is not None
    if cp.size == latest.size:
        if req.proof or cp.root != latest.root:
            raise ProofError(f"a checkpoint of size {cp.size} with another root than the one "
                             f"this witness cosigned: the log has forked", field="checkpoint")
        return cp
    verify_consistency(latest.size, cp.size, list(req.proof), latest.root, cp.root)
    return cp


def response_lines(body: str) -> list[str]:
    """The cosignature lines of a 200 answer (each without its newline); InvalidInput if the
    answer is not signature lines."""
    try:
        return [s.line for s in signature_lines(body)]
    except ProofError as e:
        raise InvalidInput(f"the witness's answer is not signature lines: {e.detail}",
                           field="answer") from None


def proof_lines(proof: Sequence[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in proof]
