"""The witness's decision and durable state: the tlog-witness refusals, and a state machine
that submits checkpoints of two forked branches of one log in random order, with random old
sizes and proofs, and reopens the state at random. Invariant: every pair of checkpoints the
witness cosigned is consistent (the smaller is a prefix of the larger), and sizes never go back.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from accord.errors import (
    AccordError,
    InvalidInput,
    NotSignedByLog,
    ProofError,
    SizeMismatch,
    UnknownLog,
)
from accord.log.cosignature import WitnessKey, WitnessPolicy, verify_witnessed
from accord.log.merkle import EMPTY_ROOT, MemoryTree, consistency_proof, root
from accord.log.note import Checkpoint, CosignatureSigner, NoteSigner, sign_note
from accord.timefmt import ManualClock
from accord.witness.protocol import AddCheckpoint, parse_add_checkpoint
from accord.witness.state import WitnessState

LOG = NoteSigner.generate("log.example/one")
W = CosignatureSigner.generate("witness.example/w")
T0 = datetime(2026, 11, 24, tzinfo=UTC)


class Branch:
    """A history of the log: a tree whose first `fork` leaves are shared with branch 0."""

    def __init__(self, tag: bytes, shared: list[bytes], n: int) -> None:
        self.tree = MemoryTree()
        for leaf in shared:
            self.tree.append(leaf)
        for i in range(n - len(shared)):
            self.tree.append(tag + i.to_bytes(4, "big"))

    def root(self, size: int) -> bytes:
        return root(self.tree, size) if size else EMPTY_ROOT

    def note(self, size: int, signer: NoteSigner = LOG) -> str:
        return sign_note(Checkpoint(signer.name, size, self.root(size)).body(), [signer])

    def proof(self, old: int, new: int) -> tuple[bytes, ...]:
        return tuple(consistency_proof(self.tree, old, new)) if 0 < old < new else ()


SHARED = [b"s" + bytes([i]) for i in range(5)]
A = Branch(b"a", SHARED, 40)
B = Branch(b"b", SHARED, 40)  # forks from A after 5 leaves


def state(tmp: Path) -> WitnessState:
    return WitnessState(tmp / "witness.db", W, {LOG.name: LOG.verifier()}, ManualClock(T0))


def test_the_spec_refusals(tmp_path: Path) -> None:
    s = state(tmp_path)
    with pytest.raises(InvalidInput):  # old > size: 400
        s.add(AddCheckpoint(3, (), A.note(2)))
    other = NoteSigner.generate("log.example/other")
    with pytest.raises(UnknownLog) as unknown:  # 404
        s.add(AddCheckpoint(0, (), A.note(2, other)))
    assert unknown.value.status == 404
    impostor = NoteSigner.generate(LOG.name)
    with pytest.raises(NotSignedByLog) as unsigned:  # 403
        s.add(AddCheckpoint(0, (), A.note(2, impostor)))
    assert unsigned.value.status == 403
    with pytest.raises(ProofError) as empty:  # size 0 with another root: 422
        s.add(AddCheckpoint(0, (), sign_note(Checkpoint(LOG.name, 0, A.root(1)).body(), [LOG])))
    assert empty.value.status == 422
    with pytest.raises(ProofError):  # a proof from old size 0: 422
        s.add(AddCheckpoint(0, (A.root(1),), A.note(3)))
    first = s.add(AddCheckpoint(0, (), A.note(3)))
    assert first.checkpoint.size == 3
    with pytest.raises(SizeMismatch) as stale:  # 409 with the witness's size
        s.add(AddCheckpoint(0, (), A.note(4)))
    assert (stale.value.status, stale.value.size) == (409, 3)
    with pytest.raises(ProofError):  # a proof that does not verify: 422
        s.add(AddCheckpoint(3, A.proof(2, 8), A.note(8)))
    with pytest.raises(ProofError, match="forked"):  # same size, another root: 422
        s.add(AddCheckpoint(3, (), sign_note(Checkpoint(LOG.name, 3, B.root(7)).body(), [LOG])))
    assert len(s.evidence(LOG.name)) == 4  # validly signed and refused: kept
    again = s.add(AddCheckpoint(3, (), A.note(3)))  # the same checkpoint: cosigned again
    assert again.checkpoint == first.checkpoint
    later = s.add(AddCheckpoint(3, A.proof(3, 9), A.note(9)))
    assert later.checkpoint.size == 9
    latest, note = s.latest(LOG.name) or pytest.fail("nothing stored")
    assert latest.size == 9
    # what it serves verifies as witnessed, with the log's signature and its own
    policy = WitnessPolicy((WitnessKey(W.verifier_key, W.verifier()),), 1)
    assert verify_witnessed(note, LOG.verifier(), policy).checkpoint.size == 9


def test_parse_refuses_garbage() -> None:
    ok = AddCheckpoint(5, (b"x" * 32,), A.note(6)).body()
    assert parse_add_checkpoint(ok).old_size == 5
    for bad in [b"", b"old 5\n", b"old 05\n\n" + ok.split(b"\n\n", 1)[1],
                b"old -1\n\nx", b"new 5\n\nx", b"old 5\nnot base64\n\nx",
                b"old 5\n" + b"AAAA\n" + b"\nx", b"\xff\xfe", b"old 5\n" * 70 + b"\nx",
                b"old 99999999999999999999\n\nx", b"x" * 70_000]:
        with pytest.raises(InvalidInput):
            parse_add_checkpoint(bad)


class WitnessMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="witness-sm-"))
        self.s = state(self.dir)
        self.cosigned: list[tuple[int, bytes]] = []
        self.known = 0  # what the submitter believes the witness's size is

    def teardown(self) -> None:
        self.s.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @rule(branch=st.sampled_from([A, B]), grow=st.integers(0, 12),
          old=st.one_of(st.none(), st.integers(0, 40)), bad_proof=st.booleans())
    def submit(self, branch: Branch, grow: int, old: int | None, bad_proof: bool) -> None:
        base = self.known if old is None else old
        new = min(40, base + grow)
        proof = branch.proof(base, new) if new >= base else ()
        if bad_proof and proof:
            proof = (hashlib.sha256(proof[0]).digest(), *proof[1:])
        try:
            done = self.s.add(AddCheckpoint(base, proof, branch.note(new)))
        except SizeMismatch as e:
            self.known = e.size
            return
        except AccordError:
            return
        self.cosigned.append((done.checkpoint.size, done.checkpoint.root))
        self.known = done.checkpoint.size

    @rule()
    def reopen(self) -> None:
        self.s.close()
        self.s = state(self.dir)

    @invariant()
    def never_two_inconsistent(self) -> None:
        sizes = [s for s, _ in self.cosigned]
        assert sizes == sorted(sizes), "the witness rolled back"
        for size, r in self.cosigned:
            # consistent with one branch's history, the same one as the largest
            big, big_root = max(self.cosigned)
            br = A if A.root(big) == big_root else B
            assert br.root(big) == big_root
            assert br.root(size) == r, f"cosigned size {size} off the branch of size {big}"
        held = self.s.latest(LOG.name)
        if self.cosigned:
            assert held is not None and (held[0].size, held[0].root) == self.cosigned[-1]


TestWitnessMachine = WitnessMachine.TestCase
TestWitnessMachine.settings = settings(max_examples=60, stateful_step_count=25, deadline=None,
                                       suppress_health_check=[HealthCheck.too_slow])
