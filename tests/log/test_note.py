"""C2SP signed-note, tlog-checkpoint and tlog-cosignature/v1."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accord.errors import InvalidInput, ProofError
from accord.log.note import (
    Checkpoint,
    CosignatureSigner,
    CosignatureVerifier,
    NoteSigner,
    NoteVerifier,
    add_signatures,
    cosign,
    open_checkpoint,
    open_note,
    sign_note,
    verify_cosignature,
)

DASH = "\u2014"  # em dash

# Known vectors from golang.org/x/mod/sumdb/note, note_test.go (TestNewVerifier, TestSign,
# TestOpen); the same PeterNeumann example appears in the package documentation.
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    f"{DASH} PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    f"{DASH} EnochRoot "
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
)


def _peter_signer() -> NoteSigner:
    # Go signer key: PRIVATE+KEY+<name>+<hex id>+base64(0x01 || 32-byte Ed25519 seed)
    raw = base64.b64decode(PETER_SKEY.split("+", 4)[4])  # key material may hold "+"
    assert raw[0] == 0x01
    return NoteSigner("PeterNeumann", Ed25519PrivateKey.from_private_bytes(raw[1:]))


def test_go_vector_verifies() -> None:
    v = NoteVerifier.parse(PETER_VKEY)
    assert v.name == "PeterNeumann"
    assert v.key_id == bytes.fromhex("c74f20a3")
    assert open_note(GO_TEXT + "\n" + PETER_SIG, [v]) == (GO_TEXT, ["PeterNeumann"])
    assert open_note((GO_TEXT + "\n" + PETER_SIG).encode(), [v]) == (GO_TEXT, ["PeterNeumann"])


def test_go_vector_reproduced_byte_for_byte() -> None:
    signer = _peter_signer()
    assert signer.verifier_key == PETER_VKEY
    assert signer.key_id == bytes.fromhex("c74f20a3")
    assert sign_note(GO_TEXT, [signer]) == GO_TEXT + "\n" + PETER_SIG


def test_go_vector_two_signers() -> None:
    peter, enoch = NoteVerifier.parse(PETER_VKEY), NoteVerifier.parse(ENOCH_VKEY)
    note = GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert open_note(note, [peter]) == (GO_TEXT, ["PeterNeumann"])  # Enoch's line ignored
    assert open_note(note, [peter, enoch]) == (GO_TEXT, ["PeterNeumann", "EnochRoot"])
    with pytest.raises(ProofError):
        open_note(note, [])
    # repeated lines are fine and reported once
    assert open_note(GO_TEXT + "\n" + PETER_SIG * 3, [peter])[1] == ["PeterNeumann"]
    # a known key's bad signature rejects the whole note, even next to a good one
    bad_enoch = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    assert open_note(GO_TEXT + "\n" + PETER_SIG + bad_enoch, [peter])[1] == ["PeterNeumann"]
    with pytest.raises(ProofError, match="EnochRoot"):
        open_note(GO_TEXT + "\n" + PETER_SIG + bad_enoch, [peter, enoch])


def test_go_vector_key_manglings_rejected() -> None:
    # As Go's TestNewVerifier: every proper substring and every one-byte change is refused.
    b = PETER_VKEY.encode()
    for i in range(len(b) + 1):
        for j in range(i + 1, len(b) + 1):
            if (i, j) != (0, len(b)):
                with pytest.raises(InvalidInput):
                    NoteVerifier.parse(b[i:j].decode())
    for i in range(len(b)):
        mangled = bytearray(b)
        mangled[i] += 1
        with pytest.raises(InvalidInput):
            NoteVerifier.parse(mangled.decode())
    with pytest.raises(InvalidInput):  # wrong key length, adjusted key hash
        NoteVerifier.parse(
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
        )
    with pytest.raises(InvalidInput):  # unknown algorithm, adjusted key hash
        NoteVerifier.parse("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")


@pytest.mark.parametrize(
    "note",
    [
        GO_TEXT,
        GO_TEXT + "\n",
        GO_TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + GO_TEXT + "\n" + PETER_SIG,
        GO_TEXT.replace("\n", "\r\n", 1) + "\n" + PETER_SIG,
        GO_TEXT + "\n" + f"{DASH} Bad Name " + PETER_SIG.split(" ")[2],
        GO_TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        GO_TEXT + "\n" + PETER_SIG.replace(DASH, "-"),
        GO_TEXT + "\n" + PETER_SIG.replace(f"{DASH} ", DASH),
        GO_TEXT + "\n" + PETER_SIG.replace("=\n", "\n"),  # missing padding
        GO_TEXT + "\n" + PETER_SIG + "\n" + PETER_SIG,  # blank line among signatures
        GO_TEXT + "\n" + f"{DASH} PeterNeumann AAAA\n",  # too short for key ID + signature
        GO_TEXT + "\n" + f"{DASH} Peter+Neumann " + PETER_SIG.split(" ")[2],
        GO_TEXT + "\n" + PETER_SIG * 101,
        "\ud800" + GO_TEXT + "\n" + PETER_SIG,
    ],
    ids=[
        "no-signatures",
        "blank-line-only",
        "no-final-newline",
        "control-char",
        "carriage-return",
        "space-in-name",
        "trailing-garbage",
        "hyphen-not-em-dash",
        "no-space-after-dash",
        "bad-base64",
        "blank-line-in-signatures",
        "short-signature",
        "plus-in-name",
        "too-many-signatures",
        "lone-surrogate",
    ],
)
def test_malformed_notes_rejected(note: str) -> None:
    with pytest.raises(ProofError):
        open_note(note, [NoteVerifier.parse(PETER_VKEY)])


def test_invalid_utf8_bytes_rejected() -> None:
    with pytest.raises(ProofError):
        open_note(b"\xff" + (GO_TEXT + "\n" + PETER_SIG).encode(), [NoteVerifier.parse(PETER_VKEY)])


def test_text_may_contain_blank_lines() -> None:
    s = NoteSigner.generate("example.com/log")
    text = "first\n\nthird\n"
    assert open_note(sign_note(text, [s]), [s.verifier()]) == (text, ["example.com/log"])


def test_round_trip_and_tampering() -> None:
    a, b = NoteSigner.generate("a.example/log"), NoteSigner.generate("b.example/w")
    text = "hello\nworld\n"
    note = sign_note(text, [a, b])
    assert open_note(note, [a.verifier(), b.verifier()]) == (text, ["a.example/log", "b.example/w"])
    assert note.count(f"\n{DASH} ") == 2

    with pytest.raises(ProofError):  # tampered text
        open_note(note.replace("world", "World"), [a.verifier()])
    line = note.split("\n")[3]
    raw = bytearray(base64.b64decode(line.split(" ")[2]))
    raw[10] ^= 1
    bad = note.replace(line, f"{DASH} a.example/log {base64.b64encode(raw).decode()}")
    with pytest.raises(ProofError):  # tampered signature
        open_note(bad, [a.verifier()])
    stranger = NoteSigner.generate("a.example/log")  # same name, other key: unknown, ignored
    with pytest.raises(ProofError, match="no signature from a known key"):
        open_note(note, [stranger.verifier()])
    # a line claiming a known key's name and ID but signed by another key
    forged_sig = base64.b64encode(a.key_id + stranger.sign(text)).decode()
    with pytest.raises(ProofError, match="invalid signature"):
        open_note(f"{text}\n{DASH} a.example/log {forged_sig}\n", [a.verifier()])


def test_add_signatures_keeps_existing_lines() -> None:
    a, b = NoteSigner.generate("a.example"), NoteSigner.generate("b.example")
    note = sign_note("x\n", [a])
    both = add_signatures(note, [b])
    assert both.startswith(note)
    assert open_note(both, [a.verifier(), b.verifier()])[1] == ["a.example", "b.example"]
    assert add_signatures(both, [a]).count("a.example") == 1  # same key: replaced, not doubled
    foreign = GO_TEXT + "\n" + PETER_SIG
    assert add_signatures(foreign, [a]).startswith(foreign)
    with pytest.raises(InvalidInput):
        add_signatures("x\n", [a])


def test_signing_rejects_bad_text_and_names() -> None:
    s = NoteSigner.generate("ok")
    for text in ["", "no newline", "bad\x00char\n"]:
        with pytest.raises(InvalidInput):
            sign_note(text, [s])
    with pytest.raises(InvalidInput):
        sign_note("x\n", [])
    for name in ["", "a b", "a+b", "a\u00a0b", "tab\tname", "nl\n"]:
        with pytest.raises(InvalidInput):
            NoteSigner.generate(name)


def test_key_id_and_vkey_derivation() -> None:
    s = NoteSigner.generate("example.com/log42")
    want = hashlib.sha256(b"example.com/log42\n\x01" + s.public_key).digest()[:4]
    assert s.key_id == want
    name, hex_id, material = s.verifier_key.split("+", 2)
    assert (name, hex_id) == ("example.com/log42", want.hex())
    assert base64.b64decode(material) == b"\x01" + s.public_key
    v = NoteVerifier.parse(s.verifier_key)
    assert (v.name, v.key_id) == (s.name, s.key_id)
    assert v.verify("t\n", s.sign("t\n"))
    assert not v.verify("t\n", s.sign("u\n"))
    assert not v.verify("t\n", b"short")


def test_duplicate_verifiers() -> None:
    s = NoteSigner.generate("dup")
    note = sign_note("x\n", [s])
    assert open_note(note, [s.verifier(), s.verifier()])[1] == ["dup"]


# ------------------------------------------------------------------------------------ checkpoints

ROOT = hashlib.sha256(b"root").digest()


def test_checkpoint_body_and_parse() -> None:
    cp = Checkpoint("example.com/log", 20852163, ROOT)
    body = cp.body()
    assert body == f"example.com/log\n20852163\n{base64.b64encode(ROOT).decode()}\n"
    assert Checkpoint.parse(body) == cp
    ext = Checkpoint("example.com/log", 0, ROOT, ("ext one", "ext two"))
    assert Checkpoint.parse(ext.body()) == ext
    # the tlog-checkpoint spec example body
    spec = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    assert Checkpoint.parse(spec).body() == spec


@pytest.mark.parametrize(
    "body",
    [
        "",
        "origin\n5\n",
        "origin\n5\n{root}",
        "\n5\n{root}\n",
        "origin\n05\n{root}\n",
        "origin\n-5\n{root}\n",
        "origin\n+5\n{root}\n",
        "origin\n5 \n{root}\n",
        "origin\n\u0665\n{root}\n",
        "origin\n18446744073709551616\n{root}\n",
        "origin\n5\nAAAA\n",
        "origin\n5\n{root}x\n",
        "origin\n5\n{root_nopad}\n",
        "origin\n5\n{root}\n\n",
        "origin\n5\n{root}\next\n\nmore\n",
        "ori\tgin\n5\n{root}\n",
    ],
)
def test_checkpoint_parse_rejects(body: str) -> None:
    b64 = base64.b64encode(ROOT).decode()
    text = body.format(root=b64, root_nopad=b64.rstrip("="))
    with pytest.raises(InvalidInput):
        Checkpoint.parse(text)


def test_checkpoint_constructor_validates() -> None:
    for args in [("", 1, ROOT), ("o", -1, ROOT), ("o", 1, ROOT[:31]), ("o\nx", 1, ROOT)]:
        with pytest.raises(InvalidInput):
            Checkpoint(*args)
    with pytest.raises(InvalidInput):
        Checkpoint("o", 1, ROOT, ("",))


def test_open_checkpoint() -> None:
    log = NoteSigner.generate("example.com/log")
    cp = Checkpoint("example.com/log", 7, ROOT)
    assert open_checkpoint(sign_note(cp.body(), [log]), log.verifier()) == cp
    other = Checkpoint("example.com/other", 7, ROOT)
    with pytest.raises(ProofError, match="origin"):
        open_checkpoint(sign_note(other.body(), [log]), log.verifier())
    with pytest.raises(ProofError, match="not a checkpoint"):
        open_checkpoint(sign_note("just text\n", [log]), log.verifier())


# ----------------------------------------------------------------------------------- cosignatures


def _checkpoint_note() -> tuple[NoteSigner, str]:
    log = NoteSigner.generate("example.com/log")
    return log, sign_note(Checkpoint("example.com/log", 42, ROOT).body(), [log])


def test_cosignature_round_trip() -> None:
    log, note = _checkpoint_note()
    w = CosignatureSigner.generate("witness.example/w1")
    cosigned = cosign(note, w, 1679315147)
    assert cosigned.startswith(note)
    assert verify_cosignature(cosigned, w.verifier_key) == 1679315147
    assert verify_cosignature(cosigned, w.verifier()) == 1679315147
    # the log's signature still verifies; the log verifier ignores the cosignature line
    assert open_note(cosigned, [log.verifier()])[1] == ["example.com/log"]
    both = open_note(cosigned, [log.verifier(), w.verifier()])[1]
    assert both == ["example.com/log", "witness.example/w1"]
    # re-cosigning replaces the witness's line
    again = cosign(cosigned, w, 1679315200)
    assert again.count("witness.example/w1") == 1
    assert verify_cosignature(again, w.verifier()) == 1679315200


def test_cosignature_wire_format() -> None:
    _, note = _checkpoint_note()
    w = CosignatureSigner.generate("witness.example/w1")
    key_id = hashlib.sha256(b"witness.example/w1\n\x04" + w.public_key).digest()[:4]
    assert w.key_id == key_id
    name, hex_id, material = w.verifier_key.split("+", 2)
    assert (name, hex_id) == ("witness.example/w1", key_id.hex())
    assert base64.b64decode(material) == b"\x04" + w.public_key
    line = cosign(note, w, 1679315147).split("\n")[-2]
    raw = base64.b64decode(line.split(" ")[2])
    assert len(raw) == 4 + 8 + 64
    assert raw[:4] == key_id
    assert int.from_bytes(raw[4:12], "big") == 1679315147
    text = note[: note.index("\n\n") + 1]
    message = b"cosignature/v1\ntime 1679315147\n" + text.encode()
    w.private_key.public_key().verify(raw[12:], message)  # raises if the message differs


def test_cosignature_spec_example_layout() -> None:
    # c2sp.org/tlog-cosignature example line: key ID, 8-byte timestamp 1679315147, signature.
    raw = base64.b64decode(
        "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZ"
        "qhf5nNo0xUe+mbIUBkBIfZ+qnA=="
    )
    assert len(raw) == 76
    assert int.from_bytes(raw[4:12], "big") == 1679315147


def test_cosignature_tampering_and_wrong_keys() -> None:
    log, note = _checkpoint_note()
    w = CosignatureSigner.generate("witness.example/w1")
    cosigned = cosign(note, w, 1000)
    with pytest.raises(ProofError):  # tampered checkpoint text
        verify_cosignature(cosigned.replace("\n42\n", "\n43\n"), w.verifier())
    line = cosigned.split("\n")[-2]
    raw = bytearray(base64.b64decode(line.split(" ")[2]))
    raw[11] ^= 1  # timestamp changed: no longer what was signed
    with pytest.raises(ProofError):
        verify_cosignature(
            cosigned.replace(line, f"{DASH} witness.example/w1 {base64.b64encode(raw).decode()}"),
            w.verifier(),
        )
    with pytest.raises(ProofError):  # another witness
        verify_cosignature(cosigned, CosignatureSigner.generate("witness.example/w1").verifier())
    with pytest.raises(ProofError):  # not cosigned at all
        verify_cosignature(note, w.verifier())
    # the same key as an ordinary 0x01 note key does not match the 0x04 line
    as_note_key = NoteSigner(w.name, w.private_key)
    with pytest.raises(ProofError, match="no signature from a known key"):
        open_note(cosigned, [as_note_key.verifier()])
    with pytest.raises(InvalidInput):  # vkey types are not interchangeable
        NoteVerifier.parse(w.verifier_key)
    with pytest.raises(InvalidInput):
        CosignatureVerifier.parse(log.verifier_key)


def test_cosign_rejects_bad_input() -> None:
    _, note = _checkpoint_note()
    w = CosignatureSigner.generate("w")
    for t in [-1, 2**63]:
        with pytest.raises(InvalidInput):
            cosign(note, w, t)
    with pytest.raises(InvalidInput):
        cosign("not a note", w, 1)
    s = NoteSigner.generate("n")
    with pytest.raises(InvalidInput):  # cosignatures are for checkpoints only
        cosign(sign_note("free text\n", [s]), w, 1)
