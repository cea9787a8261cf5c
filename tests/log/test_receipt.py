"""Receipts verify offline against the operator's key, and nothing else does."""

from __future__ import annotations

import base64
import json
import random
from dataclasses import replace
from typing import Any

import pytest

from accord.errors import InvalidInput, ProofError
from accord.log.merkle import MemoryTree, inclusion_proof, leaf_hash, root
from accord.log.note import Checkpoint, NoteSigner, sign_note
from accord.log.receipt import Receipt, verify_receipt

ORIGIN = "accord.example/log"


def _log(n: int, seed: int = 7) -> tuple[MemoryTree, list[bytes], NoteSigner]:
    rng = random.Random(seed)
    entries = [rng.randbytes(rng.randint(0, 64)) for _ in range(n)]
    tree = MemoryTree()
    for e in entries:
        tree.append(e)
    return tree, entries, NoteSigner.generate(ORIGIN)


def _receipt(tree: MemoryTree, signer: NoteSigner, index: int, size: int) -> Receipt:
    note = sign_note(Checkpoint(ORIGIN, size, root(tree, size)).body(), [signer])
    return Receipt(index, tree.node(0, index), note, tuple(inclusion_proof(tree, index, size)))


def test_every_receipt_verifies() -> None:
    tree, entries, signer = _log(70)
    v = signer.verifier()
    for size in (1, 2, 3, 8, 33, 70):
        for index in range(size):
            r = _receipt(tree, signer, index, size)
            cp = verify_receipt(r, v, entries[index])
            assert (cp.origin, cp.size, cp.root) == (ORIGIN, size, root(tree, size))
            assert verify_receipt(r, v) == cp


def test_json_round_trip() -> None:
    tree, _, signer = _log(20)
    r = _receipt(tree, signer, 13, 20)
    obj = r.to_json()
    assert set(obj) == {"index", "leaf_hash", "checkpoint", "inclusion_proof"}
    assert obj["index"] == 13
    assert base64.b64decode(obj["leaf_hash"]) == r.leaf_hash
    assert obj["checkpoint"] == r.checkpoint
    assert [base64.b64decode(h) for h in obj["inclusion_proof"]] == list(r.inclusion_proof)
    back = Receipt.from_json(json.loads(json.dumps(obj)))
    assert back == r
    verify_receipt(back, signer.verifier())


def test_tampering_fails() -> None:
    tree, entries, signer = _log(40)
    v = signer.verifier()
    r = _receipt(tree, signer, 21, 40)
    flipped = bytes([r.leaf_hash[0] ^ 1]) + r.leaf_hash[1:]
    bad_proof = (r.inclusion_proof[0][::-1], *r.inclusion_proof[1:])
    cases = {
        "index": replace(r, index=22),
        "index beyond size": replace(r, index=40),
        "leaf": replace(r, leaf_hash=flipped),
        "proof item": replace(r, inclusion_proof=bad_proof),
        "proof truncated": replace(r, inclusion_proof=r.inclusion_proof[:-1]),
        "proof extended": replace(r, inclusion_proof=(*r.inclusion_proof, r.leaf_hash)),
        "checkpoint size": replace(r, checkpoint=r.checkpoint.replace("\n40\n", "\n41\n", 1)),
        "checkpoint unsigned": replace(r, checkpoint=r.checkpoint.split("\n\n")[0] + "\n"),
        "other checkpoint": replace(r, checkpoint=_receipt(tree, signer, 0, 39).checkpoint),
    }
    for what, bad in cases.items():
        with pytest.raises(ProofError):
            verify_receipt(bad, v)
            pytest.fail(f"{what} verified")
    with pytest.raises(ProofError):  # wrong operator key
        verify_receipt(r, NoteSigner.generate(ORIGIN).verifier())
    with pytest.raises(ProofError):  # the entry is not the one the receipt is for
        verify_receipt(r, v, entries[20])
    with pytest.raises(ProofError):
        verify_receipt(r, v, entries[21] + b" ")
    verify_receipt(r, v, entries[21])
    assert leaf_hash(entries[21]) == r.leaf_hash


def test_checkpoint_must_be_from_the_log_key_and_origin() -> None:
    tree, _, signer = _log(5)
    v = signer.verifier()
    foreign = NoteSigner.generate("elsewhere.example/log")
    note = sign_note(Checkpoint("elsewhere.example/log", 5, root(tree, 5)).body(), [foreign])
    r = Receipt(2, tree.node(0, 2), note, tuple(inclusion_proof(tree, 2, 5)))
    with pytest.raises(ProofError):
        verify_receipt(r, v)
    # right key, but the body names another log
    note = sign_note(Checkpoint("elsewhere.example/log", 5, root(tree, 5)).body(), [signer])
    with pytest.raises(ProofError, match="origin"):
        verify_receipt(replace(r, checkpoint=note), v)
    # right key, body is not a checkpoint
    with pytest.raises(ProofError, match="not a checkpoint"):
        verify_receipt(replace(r, checkpoint=sign_note("hello\n", [signer])), v)


def _good_json() -> dict[str, Any]:
    tree, _, signer = _log(6)
    return _receipt(tree, signer, 3, 6).to_json()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("index", -1),
        ("index", True),
        ("index", "3"),
        ("index", 3.0),
        ("leaf_hash", "not base64!"),
        ("leaf_hash", base64.b64encode(b"short").decode()),
        ("leaf_hash", 12),
        ("checkpoint", 5),
        ("checkpoint", ""),
        ("inclusion_proof", "AAAA"),
        ("inclusion_proof", [12]),
        ("inclusion_proof", [base64.b64encode(b"x" * 33).decode()]),
    ],
)
def test_from_json_rejects_bad_fields(field: str, value: object) -> None:
    obj = _good_json()
    obj[field] = value
    with pytest.raises(InvalidInput) as err:
        Receipt.from_json(obj)
    assert err.value.field is not None and err.value.field.startswith(field)


def test_from_json_rejects_missing_and_unknown_fields() -> None:
    for name in ("index", "leaf_hash", "checkpoint", "inclusion_proof"):
        obj = _good_json()
        del obj[name]
        with pytest.raises(InvalidInput) as err:
            Receipt.from_json(obj)
        assert err.value.field == name
    obj = _good_json()
    obj["extra"] = 1
    with pytest.raises(InvalidInput) as err:
        Receipt.from_json(obj)
    assert err.value.field == "extra"
    with pytest.raises(InvalidInput):
        Receipt.from_json([])
