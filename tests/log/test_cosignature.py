"""Witness cosignatures and the agreement's witness policy.

The cosignatures Accord's witness makes are checked here by a second implementation written
from the C2SP texts alone (tlog-cosignature, signed-note; C2SP/C2SP at 5ba5ee8, 2026-07-22),
which builds the key ID, the signed message and the line by hand and uses only `hashlib` and
`cryptography`: if both sides misread the spec the same way this would not catch it, but a
change to either side's bytes does.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.errors import InvalidInput, ProofError
from accord.log.cosignature import (
    WitnessKey,
    WitnessPolicy,
    cosignatures,
    merge_cosignatures,
    verify_witnessed,
)
from accord.log.note import (
    Checkpoint,
    CosignatureSigner,
    CosignatureVerifier,
    NoteSigner,
    cosign,
    sign_note,
)
from accord.rules.agreement import Agreement
from support import agreement_doc

ROOT = hashlib.sha256(b"root").digest()


# ------------------------------------------------------ an independent reading of the C2SP text


def spec_key_id(name: str, public_key: bytes) -> bytes:
    # tlog-cosignature: SHA-256(<name> || "\n" || 0x04 || 32-byte Ed25519 public key)[:4]
    return hashlib.sha256(name.encode("utf-8") + b"\n" + b"\x04" + public_key).digest()[:4]


def spec_message(body: str, timestamp: int) -> bytes:
    # "cosignature/v1\n", "time <decimal>\n", then the whole checkpoint note body
    return b"cosignature/v1\n" + b"time " + str(timestamp).encode("ascii") + b"\n" + \
        body.encode("utf-8")


def spec_line(name: str, private: Ed25519PrivateKey, body: str, timestamp: int) -> str:
    public = private.public_key().public_bytes_raw()
    sig = private.sign(spec_message(body, timestamp))
    value = spec_key_id(name, public) + timestamp.to_bytes(8, "big") + sig
    return "\u2014 " + name + " " + base64.b64encode(value).decode("ascii") + "\n"


def spec_verify(note: str, name: str, public: bytes) -> int:
    """Return the timestamp of `name`'s valid cosignature on the note; raise otherwise."""
    body, _, sigs = note.rpartition("\n\n")
    body += "\n"
    want = spec_key_id(name, public)
    for line in sigs.split("\n")[:-1]:
        dash, who, value = line.split(" ")
        assert dash == "\u2014"
        raw = base64.b64decode(value, validate=True)
        if who != name or raw[:4] != want:
            continue
        assert len(raw) == 4 + 8 + 64
        stamp = int.from_bytes(raw[4:12], "big")
        Ed25519PublicKey.from_public_bytes(public).verify(raw[12:], spec_message(body, stamp))
        return stamp
    raise LookupError("no cosignature by that key")


def spec_vkey(name: str, public: bytes) -> str:
    # signed-note verifier key: name+hex(key ID)+base64(type || key)
    material = base64.b64encode(bytes([0x04]) + public).decode()
    return f"{name}+{spec_key_id(name, public).hex()}+{material}"


# ------------------------------------------------------------------------------------ fixtures


def log_note(size: int = 42, root: bytes = ROOT, origin: str = "example.com/log",
             ext: tuple[str, ...] = ()) -> tuple[NoteSigner, str]:
    log = NoteSigner(origin, Ed25519PrivateKey.from_private_bytes(b"L" * 32))
    return log, sign_note(Checkpoint(origin, size, root, ext).body(), [log])


def witnesses(n: int) -> list[CosignatureSigner]:
    return [CosignatureSigner(f"witness.example/w{i}",
                              Ed25519PrivateKey.from_private_bytes(bytes([i + 1]) * 32))
            for i in range(n)]


def policy(ws: list[CosignatureSigner], quorum: int) -> WitnessPolicy:
    return WitnessPolicy(tuple(WitnessKey(w.verifier_key, w.verifier()) for w in ws), quorum)


# ------------------------------------------------------------------ ours agrees with the spec's


def test_our_cosignature_verifies_with_the_spec_reading() -> None:
    _, note = log_note()
    w = witnesses(1)[0]
    cosigned = cosign(note, w, 1679315147)
    assert spec_verify(cosigned, w.name, w.public_key) == 1679315147
    assert w.verifier_key == spec_vkey(w.name, w.public_key)


def test_the_spec_reading_verifies_with_ours() -> None:
    log, note = log_note()
    ws = witnesses(2)
    body = note[: note.index("\n\n") + 1]
    lines = [spec_line(w.name, w.private_key, body, 1700000000 + i) for i, w in enumerate(ws)]
    cosigned = merge_cosignatures(note, lines)
    got = verify_witnessed(cosigned, log.verifier(), policy(ws, 2))
    assert sorted((c.witness, c.timestamp) for c in got.cosignatures) == [
        ("witness.example/w0", 1700000000), ("witness.example/w1", 1700000001)]
    assert got.no_later_than == 1700000001
    assert verify_witnessed(cosigned, log.verifier(), policy(ws, 1)).no_later_than == 1700000000


_bodies = st.tuples(
    st.integers(0, 2**63), st.binary(min_size=32, max_size=32),
    st.lists(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2FF), min_size=1,
                     max_size=10), max_size=2))


@settings(max_examples=150, deadline=None)
@given(body=_bodies, stamp=st.integers(0, 2**63 - 1), change=st.sampled_from(
    ["size", "root", "origin", "extension", "timestamp", "key", "name"]),
       delta=st.integers(1, 2**32))
def test_any_change_to_body_timestamp_or_key_fails(
        body: tuple[int, bytes, list[str]], stamp: int, change: str, delta: int) -> None:
    size, root, ext = body
    _, note = log_note(size, root, ext=tuple(ext))
    w = witnesses(1)[0]
    cosigned = cosign(note, w, stamp)
    assert spec_verify(cosigned, w.name, w.public_key) == stamp
    text, _, sigs = cosigned.rpartition("\n\n")
    cp = Checkpoint.parse(text + "\n")
    name, public = w.name, w.public_key
    if change == "size":
        text = Checkpoint(cp.origin, (cp.size + delta) % 2**64, cp.root, cp.extensions).body()
        text = text[:-1]
    elif change == "root":
        r = bytearray(cp.root)
        r[delta % 32] ^= 1 + delta % 255
        text = Checkpoint(cp.origin, cp.size, bytes(r), cp.extensions).body()[:-1]
    elif change == "origin":
        text = Checkpoint(cp.origin + "x", cp.size, cp.root, cp.extensions).body()[:-1]
    elif change == "extension":
        text = Checkpoint(cp.origin, cp.size, cp.root, (*cp.extensions, "ext")).body()[:-1]
    elif change == "timestamp":
        line = sigs.split("\n")[-2]
        raw = bytearray(base64.b64decode(line.split(" ")[2]))
        new = (stamp + delta) % 2**63
        raw[4:12] = new.to_bytes(8, "big")
        sigs = sigs.replace(line.split(" ")[2], base64.b64encode(raw).decode())
    elif change == "key":
        public = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    else:
        name = w.name + "x"
    tampered = text + "\n\n" + sigs
    with pytest.raises((InvalidSignature, LookupError)):
        spec_verify(tampered, name, public)
    # and ours agrees: the tampered note is not cosigned by that witness
    wk = WitnessKey(spec_vkey(name, public), CosignatureVerifier.parse(spec_vkey(name, public)))
    try:
        _, good = cosignatures(tampered, WitnessPolicy((wk,), 1))
    except ProofError:
        good = []
    assert good == []


# ----------------------------------------------------------------------------- the policy


def test_quorum_counts_only_named_valid_witnesses() -> None:
    log, note = log_note()
    ws = witnesses(3)
    stranger = CosignatureSigner.generate("witness.example/stranger")
    p = policy(ws, 2)
    one = cosign(note, ws[0], 100)
    with pytest.raises(ProofError, match=r"1 valid cosignature.*asks for 2 of 3"):
        verify_witnessed(one, log.verifier(), p)
    with pytest.raises(ProofError, match="asks for 2"):  # a stranger does not count
        verify_witnessed(cosign(one, stranger, 101), log.verifier(), p)
    two = cosign(one, ws[2], 103)
    assert verify_witnessed(two, log.verifier(), p).no_later_than == 103
    # a line whose name and key ID are a named witness's but whose signature fails rejects
    # the note (signed-note: clients SHOULD reject the whole note)
    forged = bytearray(base64.b64decode(two.split("\n")[-2].split(" ")[2]))
    forged[-1] ^= 1
    line = two.split("\n")[-2]
    broken = two.replace(line, f"{line.split(' ')[0]} {line.split(' ')[1]} "
                               f"{base64.b64encode(forged).decode()}")
    with pytest.raises(ProofError, match="does not verify"):
        verify_witnessed(broken, log.verifier(), p)


def test_the_log_key_must_sign_and_future_times_are_refused() -> None:
    log, note = log_note()
    ws = witnesses(1)
    other = NoteSigner.generate("example.com/log")
    cosigned = cosign(note, ws[0], 10_000)
    with pytest.raises(ProofError, match="log key"):
        verify_witnessed(cosigned, other.verifier(), policy(ws, 1))
    with pytest.raises(ProofError, match="in the future"):
        verify_witnessed(cosigned, log.verifier(), policy(ws, 1), now=1_000)
    assert verify_witnessed(cosigned, log.verifier(), policy(ws, 1), now=10_000).quorum == 1


def test_merge_replaces_a_witness_line_and_keeps_the_log_signature() -> None:
    log, note = log_note()
    w = witnesses(1)[0]
    body = note[: note.index("\n\n") + 1]
    a = merge_cosignatures(note, [spec_line(w.name, w.private_key, body, 1)])
    b = merge_cosignatures(a, [spec_line(w.name, w.private_key, body, 2)])
    assert b.count(w.name) == 1
    assert verify_witnessed(b, log.verifier(), policy([w], 1)).no_later_than == 2
    with pytest.raises(InvalidInput):
        merge_cosignatures(note, ["not a line"])


# ------------------------------------------------------------------------- in the agreement


def _agreement(**over: Any) -> dict[str, Any]:
    from accord.keys import PARTY_KEY, KeyFile
    keys = {p: KeyFile.generate(PARTY_KEY, p) for p in ("A", "B")}
    return agreement_doc(keys, **over)


def test_agreement_names_witnesses_and_quorum() -> None:
    ws = witnesses(3)
    doc = _agreement(witnesses={"quorum": 2, "list": [
        {"key": ws[0].verifier_key, "url": "http://127.0.0.1:8401"},
        {"key": ws[1].verifier_key, "url": "https://w.example/prefix/"},
        {"key": ws[2].verifier_key}]})
    a = Agreement.from_json(doc)
    assert a.witnesses is not None
    assert a.witnesses.quorum == 2
    assert [w.name for w in a.witnesses.witnesses] == [w.name for w in ws]
    assert a.witnesses.witnesses[1].url == "https://w.example/prefix"
    assert Agreement.from_json(_agreement()).witnesses is None  # old agreements stay valid


@pytest.mark.parametrize("bad,field", [
    ({"quorum": 2, "list": "W0"}, "witnesses.list"),
    ({"quorum": 4, "list": ["W0", "W1"]}, "witnesses.quorum"),
    ({"quorum": 0, "list": ["W0"]}, "witnesses.quorum"),
    ({"quorum": True, "list": ["W0"]}, "witnesses.quorum"),
    ({"list": ["W0", "W0"]}, "witnesses.list"),
    ({"list": [{"key": "nope"}]}, "witnesses.list[0].key"),
    ({"list": ["LOG"]}, "witnesses.list[0].key"),
    ({"list": [{"key": "W0", "url": "ftp://x"}]}, "witnesses.list[0].url"),
    ({"list": [{"key": "W0", "url": "http://x/\u202e"}]}, "witnesses.list[0].url"),
    ({"list": [{"key": "W0", "extra": 1}]}, "witnesses.list[0]"),
    ({"list": ["W0"], "k": 1}, "witnesses"),
    ([], "witnesses"),
])
def test_agreement_refuses_bad_witnesses(bad: Any, field: str) -> None:
    ws = witnesses(2)
    log, _ = log_note()
    subst = {"W0": ws[0].verifier_key, "W1": ws[1].verifier_key, "LOG": log.verifier_key}

    def fill(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: fill(x) for k, x in v.items()}
        if isinstance(v, list):
            return [{"key": subst[x]} if isinstance(x, str) and x in subst else fill(x)
                    for x in v]
        return subst.get(v, v) if isinstance(v, str) else v

    with pytest.raises(InvalidInput) as exc:
        Agreement.from_json(_agreement(witnesses=fill(bad)))
    assert exc.value.field == f"agreement.{field}"


def test_two_witnesses_with_one_key_are_refused() -> None:
    w = witnesses(1)[0]
    twin = CosignatureSigner("witness.example/twin", w.private_key)
    with pytest.raises(InvalidInput, match="own key"):
        Agreement.from_json(_agreement(witnesses={"list": [{"key": w.verifier_key},
                                                           {"key": twin.verifier_key}]}))
