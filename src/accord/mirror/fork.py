"""Proof that a log forked: two checkpoints signed by one log key that cannot both be true.

Either the two have the same size and different roots, or (sizes n1 < n2) a consistency proof
leads from a root r1 of size n1 to the larger checkpoint's root while r1 is not the smaller
checkpoint's root: the larger tree's first n1 leaves are not the smaller tree's. Anyone holding
the log key checks it with nothing else (`check`). Pure: no I/O.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from accord.errors import InvalidInput, ProofError
from accord.log.merkle import HASH_SIZE, verify_consistency
from accord.log.note import Checkpoint, NoteVerifier, open_checkpoint

FORMAT = "accord-fork/v1"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _hash(value: object, field: str) -> bytes:
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a base64 hash", field=field)
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (UnicodeEncodeError, ValueError):
        raise InvalidInput(f"{field} is not base64", field=field) from None
    if len(raw) != HASH_SIZE or _b64(raw) != value:
        raise InvalidInput(f"{field} is not a canonical base64 32-byte hash", field=field)
    return raw


@dataclass(frozen=True, slots=True)
class Fork:
    """`smaller` and `larger` signed checkpoint notes (sizes n1 <= n2); for n1 < n2, `root1`
    (the larger tree's root at n1) and `proof` (its consistency proof from n1 to n2)."""

    log_key: str
    smaller: str
    larger: str
    root1: bytes | None = None
    proof: tuple[bytes, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": FORMAT, "log_key": self.log_key,
                               "checkpoints": [self.smaller, self.larger]}
        if self.root1 is not None:
            out["root1"] = _b64(self.root1)
            out["consistency"] = [_b64(h) for h in self.proof]
        return out

    @staticmethod
    def from_json(obj: Any) -> Fork:
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise InvalidInput("not a proof of a fork", field="format", accepted=FORMAT)
        cps = obj.get("checkpoints")
        if not (isinstance(cps, list) and len(cps) == 2 and all(isinstance(c, str) for c in cps)):
            raise InvalidInput("checkpoints must be two signed notes", field="checkpoints")
        key = obj.get("log_key")
        if not isinstance(key, str):
            raise InvalidInput("log_key must be the log's verifier key", field="log_key")
        root1 = _hash(obj["root1"], "root1") if "root1" in obj else None
        proof = obj.get("consistency", [])
        if not isinstance(proof, list) or len(proof) > 128:
            raise InvalidInput("consistency must be a list of hashes", field="consistency")
        return Fork(key, cps[0], cps[1], root1,
                    tuple(_hash(h, f"consistency[{i}]") for i, h in enumerate(proof)))

    def check(self, log_verifier: NoteVerifier | None = None) -> tuple[Checkpoint, Checkpoint]:
        """Both checkpoints signed by the log key and provably from two different trees;
        ProofError naming what does not hold."""
        verifier = log_verifier or NoteVerifier.parse(self.log_key)
        try:
            a = open_checkpoint(self.smaller, verifier)
            b = open_checkpoint(self.larger, verifier)
        except ProofError as e:
            raise ProofError(f"a checkpoint does not verify with the log key: {e.detail}",
                             field="checkpoints") from None
        if a.size > b.size:
            raise ProofError("the first checkpoint must be the smaller", field="checkpoints")
        if a.size == b.size:
            if a.root == b.root:
                raise ProofError("the two checkpoints agree: same size, same root",
                                 field="checkpoints")
            return a, b
        if self.root1 is None:
            raise ProofError("checkpoints of different sizes need root1 and a consistency "
                             "proof", field="root1")
        if self.root1 == a.root:
            raise ProofError("root1 is the smaller checkpoint's own root: no fork shown",
                             field="root1")
        try:
            verify_consistency(a.size, b.size, self.proof, self.root1, b.root)
        except ProofError as e:
            raise ProofError(f"the consistency proof does not lead from root1 to the larger "
                             f"checkpoint: {e.detail}", field="consistency") from None
        return a, b
