"""Receipts verify offline against the operator's key, and nothing else does; a receipt
proves the entry it carries (who, what, and the receive time) or fails naming why."""

from __future__ import annotations

import base64
import json
import random
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accord.errors import InvalidInput, ProofError
from accord.log.event import OPERATOR, Entry, Event, sign_event
from accord.log.merkle import MemoryTree, consistency_proof, inclusion_proof, leaf_hash, root
from accord.log.note import Checkpoint, NoteSigner, sign_note
from accord.log.receipt import Receipt, prove, prove_json, prove_write, verify_receipt
from accord.timefmt import format_time

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


# -- receipts that prove what was received, and when -------------------------------------------

WHEN = datetime(2018, 9, 17, 18, 40, 0, 250_000, tzinfo=UTC)


def _event(party: str, seq: int, text: str = "hello") -> Event:
    return Event(type="message", party=party, seq=seq, issued_at="2018-09-17T18:40:00Z",
                 body={"message": f"{party}-M{seq}", "text": text}, log=ORIGIN)


class _Log:
    """A small log of real entries: IL and RU messages, and one operator finding."""

    def __init__(self) -> None:
        self.signer = NoteSigner.generate(ORIGIN)
        self.keys = {p: Ed25519PrivateKey.generate() for p in ("IL", "RU")}
        self.entries: list[Entry] = []
        self.tree = MemoryTree()
        for i, party in enumerate(["IL", "RU", "IL"]):
            ev = _event(party, i + 1)
            self.add(Entry(ev, WHEN.replace(second=i), sig=sign_event(ev, self.keys[party])))
        finding = Event(type="finding", party=OPERATOR, seq=1, issued_at="2018-09-17T18:40:03Z",
                        log=ORIGIN,
                        body={"finding": "F1", "kind": "late_notice"})
        self.add(Entry(finding, WHEN.replace(second=3),
                       sig=sign_event(finding, self.signer.private_key)))

    def add(self, entry: Entry) -> None:
        self.entries.append(entry)
        self.tree.append(entry.encode())

    def receipt(self, index: int, size: int | None = None) -> Receipt:
        size = size or len(self.entries)
        r = _receipt(self.tree, self.signer, index, size)
        return replace(r, entry=self.entries[index].encode())


def test_a_good_receipt_proves_the_entry_and_its_receive_time() -> None:
    log = _Log()
    r = log.receipt(1)
    proved = prove(r, log.signer.verifier(), event=log.entries[1].event,
                   signature=log.entries[1].sig)
    assert (proved.index, proved.party, proved.type) == (1, "RU", "message")
    assert proved.received_at == WHEN.replace(second=1)
    assert proved.checkpoint.size == 4
    assert r.to_json()["entry"] == base64.b64encode(log.entries[1].encode()).decode()
    assert Receipt.from_json(json.loads(json.dumps(r.to_json()))) == r
    op = prove(log.receipt(3), log.signer.verifier())
    assert op.party == OPERATOR and op.entry.event.body["finding"] == "F1"


def test_a_tampered_entry_fails() -> None:
    log = _Log()
    r = log.receipt(0)
    assert r.entry is not None
    later = r.entry.replace(b"18:40:00.250000Z", b"18:39:00.250000Z")  # an earlier receive time
    assert later != r.entry
    with pytest.raises(ProofError, match="does not hash to the receipt's leaf_hash"):
        prove(replace(r, entry=later), log.signer.verifier())


def test_a_wrong_leaf_fails() -> None:
    log = _Log()
    r = log.receipt(0)
    other = log.receipt(2)
    flipped = bytes([r.leaf_hash[0] ^ 1]) + r.leaf_hash[1:]
    with pytest.raises(ProofError, match="does not hash to the receipt's leaf_hash"):
        prove(replace(r, leaf_hash=flipped), log.signer.verifier())
    # another entry with its own leaf, under this entry's index and proof: not in the tree
    with pytest.raises(ProofError, match="inclusion proof does not lead from entry 0"):
        prove(replace(r, leaf_hash=other.leaf_hash, entry=other.entry), log.signer.verifier())


def test_a_receipt_for_another_partys_event_fails() -> None:
    log = _Log()
    mine = log.entries[0]
    with pytest.raises(ProofError, match=r"holds another event \(RU message seq 2\), not the "
                                         r"one you signed \(IL message seq 1\)"):
        prove(log.receipt(1), log.signer.verifier(), event=mine.event, signature=mine.sig)
    # the same event under another signature is not the statement the party made either
    with pytest.raises(ProofError, match="another signature"):
        prove(log.receipt(0), log.signer.verifier(), event=mine.event,
              signature=log.entries[2].sig)


def test_a_bad_checkpoint_signature_fails() -> None:
    log = _Log()
    r = log.receipt(0)
    body, sigs = r.checkpoint.split("\n\n")
    name, sig = sigs.rstrip("\n").rsplit(" ", 1)
    raw = bytearray(base64.b64decode(sig))
    raw[10] ^= 1
    bad = f"{body}\n\n{name} {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(ProofError, match=r"checkpoint does not verify with the log key "
                                         r"accord\.example/log: invalid signature"):
        prove(replace(r, checkpoint=bad), log.signer.verifier())
    with pytest.raises(ProofError, match="checkpoint does not verify with the log key"):
        prove(r, NoteSigner.generate(ORIGIN).verifier())


def test_a_receipt_without_its_entry_proves_no_receive_time() -> None:
    log = _Log()
    r = replace(log.receipt(0), entry=None)
    verify_receipt(r, log.signer.verifier())  # the hash is in the log...
    with pytest.raises(ProofError, match="carries no entry"):  # ...but what, and when?
        prove(r, log.signer.verifier())
    data = log.entries[0].encode()
    assert prove(r, log.signer.verifier(), entry=data).received_at == WHEN
    with pytest.raises(ProofError, match="not the entry the receipt carries"):
        prove(log.receipt(0), log.signer.verifier(), entry=log.entries[1].encode())


def test_an_entry_that_is_not_canonical_or_not_signed_by_the_operator_fails() -> None:
    log = _Log()
    spaced = log.entries[0].encode().replace(b'"event":', b'"event": ', 1)
    forged_ev = Event(type="finding", party=OPERATOR, seq=2, issued_at="2018-09-17T18:40:04Z",
                      log=ORIGIN,
                      body={"finding": "F2"})
    forged = Entry(forged_ev, WHEN.replace(second=4),
                   sig=sign_event(forged_ev, Ed25519PrivateKey.generate()))
    log.tree.append(spaced)
    log.entries.append(log.entries[0])  # placeholder: index 4 holds `spaced`
    log.add(forged)
    r4 = replace(log.receipt(4), entry=spaced)
    with pytest.raises(ProofError, match="not a canonical Accord entry"):
        prove(r4, log.signer.verifier())
    deep = b"[" * 100_000 + b"]" * 100_000  # in a tree, signed: still not an entry
    tree = MemoryTree()
    tree.append(deep)
    note = sign_note(Checkpoint(ORIGIN, 1, root(tree, 1)).body(), [log.signer])
    with pytest.raises(ProofError, match="nested too deeply"):
        prove(Receipt(0, leaf_hash(deep), note, (), deep), log.signer.verifier())
    with pytest.raises(ProofError, match="operator's entry is not signed by the log key"):
        prove(log.receipt(5), log.signer.verifier())


def _answer(log: _Log, index: int) -> dict[str, Any]:
    e = log.entries[index]
    return {"index": index, "received_at": format_time(e.received_at, micro=True),
            "event": e.event.to_json(), "receipt": log.receipt(index).to_json(),
            "findings": [{"finding": {"finding": "F1", "entry": 3},
                          "receipt": log.receipt(3).to_json()}]}


def test_a_write_answer_must_match_what_its_receipts_prove() -> None:
    log = _Log()
    v, e = log.signer.verifier(), log.entries[2]
    assert prove_write(_answer(log, 2), v, e.event, e.sig).index == 2
    moved = dict(_answer(log, 2), received_at="2018-09-17T18:39:00.000000Z")
    with pytest.raises(ProofError, match="the answer says entry 2 received"):
        prove_write(moved, v, e.event, e.sig)
    wrong_finding = _answer(log, 2)
    wrong_finding["findings"][0]["finding"] = {"finding": "F9", "entry": 3}
    with pytest.raises(ProofError, match="receipt of finding F9"):
        prove_write(wrong_finding, v, e.event, e.sig)
    no_receipt = dict(_answer(log, 2), receipt=None)
    with pytest.raises(ProofError, match="no receipt"):
        prove_write(no_receipt, v, e.event, e.sig)
    with pytest.raises(ProofError, match="holds another event"):
        prove_write(_answer(log, 0), v, e.event, e.sig)


def test_prove_json_ties_a_receipt_to_a_later_checkpoint() -> None:
    log = _Log()
    rj = replace(log.receipt(0, 2)).to_json()
    later = log.receipt(0).checkpoint
    proved, cp = prove_json(rj, log.signer.verifier_key)
    assert (proved.received_at, cp.size) == (WHEN, 2)
    with pytest.raises(InvalidInput, match="consistency proof"):
        prove_json(rj, log.signer.verifier_key, later)
    proof = [base64.b64encode(h).decode() for h in consistency_proof(log.tree, 2, 4)]
    _, cp = prove_json(rj, log.signer.verifier_key, later, proof)
    assert cp.size == 4
    bad = [base64.b64encode(bytes(32)).decode(), *proof[1:]]
    with pytest.raises(ProofError):
        prove_json(rj, log.signer.verifier_key, later, bad)
