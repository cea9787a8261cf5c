"""Signed refusal statements: round trip, tampering, and that the log key's three kinds of
signed text (checkpoints, operator entries, refusals) cannot stand for one another."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.errors import InvalidInput, ProofError
from accord.log.note import NoteSigner, open_checkpoint, sign_note
from accord.log.refusal import Refusal, event_hash, request_hash, sign_refusal, verify_refusal

LOG = NoteSigner.generate("refusal.test/log")
EVENT = {"v": 2, "type": "notice.file", "party": "A", "seq": 3, "body": {"x": 1}}
T = datetime(2026, 11, 24, 1, 2, 3, 456789, tzinfo=UTC)


def refusal(reason: str = "too late", **over: object) -> Refusal:
    fields: dict[str, object] = dict(origin=LOG.name, hash_of="event", hash=event_hash(EVENT),
                                     party="A", time=T, status=422, slug="rule-breach",
                                     reason=reason)
    fields.update(over)
    return Refusal(**fields)  # type: ignore[arg-type]


def test_round_trip_and_binding_to_the_event() -> None:
    note = sign_refusal(refusal(), LOG)
    got = verify_refusal(note, LOG.verifier(), event=EVENT)
    assert got == refusal()
    assert got.to_json()["event"] == refusal().to_json()["event"]
    with pytest.raises(ProofError, match="another event"):
        verify_refusal(note, LOG.verifier(), event={**EVENT, "seq": 4})
    with pytest.raises(ProofError, match="not signed by the log key"):
        verify_refusal(note, NoteSigner.generate(LOG.name).verifier())
    with pytest.raises(InvalidInput):
        sign_refusal(refusal(origin="other.test/log"), LOG)


@settings(max_examples=80, deadline=None)
@given(reason=st.text(max_size=80), line=st.integers(1, 6), pos=st.integers(0, 200))
def test_any_change_fails(reason: str, line: int, pos: int) -> None:
    note = sign_refusal(refusal(reason), LOG)
    assert verify_refusal(note, LOG.verifier()).reason == reason[:500]
    lines = note.split("\n")
    target = lines[line]
    i = pos % len(target)
    changed = target[:i] + ("0" if target[i] != "0" else "1") + target[i + 1:]
    lines[line] = changed
    with pytest.raises(ProofError):
        verify_refusal("\n".join(lines), LOG.verifier())


def test_reason_is_one_ascii_line_whatever_it_holds() -> None:
    nasty = "line one\nline two \x1b[31m \u202e evil \u2014 sig"
    r = refusal(nasty)
    assert r.text().count("\n") == 7 and r.text().isascii()
    assert verify_refusal(sign_refusal(r, LOG), LOG.verifier()).reason == nasty


def test_a_refusal_is_not_a_checkpoint_and_back() -> None:
    note = sign_refusal(refusal(), LOG)
    with pytest.raises(ProofError):
        open_checkpoint(note, LOG.verifier())
    cp = sign_note(f"{LOG.name}\n5\n{'A' * 43}=\n", [LOG])
    with pytest.raises(ProofError):
        verify_refusal(cp, LOG.verifier())


def test_request_hash() -> None:
    import json

    assert request_hash(json.dumps({"event": EVENT, "sig": "x"}).encode()) == \
        ("event", event_hash(EVENT))
    assert request_hash(b"{not json") == ("body", hashlib.sha256(b"{not json").digest())
    assert request_hash(b'{"event": 5}')[0] == "body"
