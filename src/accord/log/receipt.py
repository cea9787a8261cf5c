"""Receipts: offline proof that an entry is in the log.

A receipt carries the entry's index and leaf hash, a checkpoint signed by the operator and the
inclusion proof of the leaf in that checkpoint's tree. Anyone holding the operator's verifier key
can check it without the database. JSON form (DESIGN §4):
`{"index", "leaf_hash": base64, "checkpoint": signed note text, "inclusion_proof": [base64]}`.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from accord.errors import InvalidInput, ProofError
from accord.log.merkle import HASH_SIZE, leaf_hash, verify_inclusion
from accord.log.note import Checkpoint, NoteVerifier, open_checkpoint

_FIELDS = ("index", "leaf_hash", "checkpoint", "inclusion_proof")


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


@dataclass(frozen=True, slots=True)
class Receipt:
    """Entry `index` with `leaf_hash` is in the tree of the signed `checkpoint` note."""

    index: int
    leaf_hash: bytes
    checkpoint: str
    inclusion_proof: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "leaf_hash": base64.b64encode(self.leaf_hash).decode("ascii"),
            "checkpoint": self.checkpoint,
            "inclusion_proof": [base64.b64encode(h).decode("ascii") for h in self.inclusion_proof],
        }

    @classmethod
    def from_json(cls, obj: object) -> Receipt:
        """Strict: exactly the four fields, right types, canonical base64 32-byte hashes."""
        if not isinstance(obj, dict):
            raise InvalidInput("receipt must be a JSON object", field="receipt")
        for name in _FIELDS:
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
        if not isinstance(proof, list):
            raise InvalidInput("inclusion_proof must be a list", field="inclusion_proof")
        return cls(
            index=index,
            leaf_hash=_hash_from_b64(obj["leaf_hash"], "leaf_hash"),
            checkpoint=checkpoint,
            inclusion_proof=tuple(
                _hash_from_b64(h, f"inclusion_proof[{i}]") for i, h in enumerate(proof)
            ),
        )


def verify_receipt(
    receipt: Receipt, log_verifier: NoteVerifier, entry: bytes | None = None
) -> Checkpoint:
    """Check a receipt offline and return the checkpoint it is anchored in.

    Opens the checkpoint note with the operator's key (its origin must be the key name), checks
    index < size and the inclusion proof against the root, and, given the entry bytes, that the
    leaf hash is theirs. ProofError on any failure.
    """
    if entry is not None and leaf_hash(entry) != receipt.leaf_hash:
        raise ProofError("the entry does not hash to the receipt's leaf_hash", field="leaf_hash")
    cp = open_checkpoint(receipt.checkpoint, log_verifier)
    if not 0 <= receipt.index < cp.size:
        raise ProofError(
            f"index {receipt.index} is not in the checkpoint's tree of size {cp.size}",
            field="index",
        )
    verify_inclusion(receipt.leaf_hash, receipt.index, cp.size, receipt.inclusion_proof, cp.root)
    return cp
