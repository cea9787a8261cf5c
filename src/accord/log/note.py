"""C2SP signed notes (Ed25519), tlog-checkpoint bodies and tlog-cosignature/v1 witness cosignatures.

These are wire formats other parties' software reads, so they follow the specs exactly:

- signed-note: text ending in "\\n", a blank line, then lines "— <name> <base64(keyid || sig)>".
  Ed25519 key ID = SHA-256(name || 0x0A || 0x01 || pubkey)[:4]; verifier key
  "<name>+<hex keyid>+<base64(0x01 || pubkey)>". Signature lines from unknown keys are ignored; a
  bad signature from a known key rejects the whole note (the spec allows this; we choose it).
- tlog-checkpoint: "origin\\nsize\\nbase64(root)\\n" then optional non-empty extension lines.
- tlog-cosignature (Ed25519, type 0x04): key ID = SHA-256(name || 0x0A || 0x04 || pubkey)[:4];
  the line value is base64(keyid || u64 big-endian timestamp || sig) and the signed message is
  "cosignature/v1\\ntime <t>\\n" followed by the checkpoint body.

Parsing is strict (canonical base64, decimal without leading zeros, valid UTF-8, no control
characters but newline). Malformed input to a signing function raises InvalidInput; anything
that does not verify raises ProofError.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from accord.errors import InvalidInput, ProofError

SIG_ED25519 = 0x01
SIG_COSIGNATURE_V1 = 0x04
MAX_SIGNATURES = 100
"""Lines accepted in one note (the spec requires at least 16; Go's x/mod uses 100)."""

_DASH = "\u2014 "  # em dash, space: the start of every signature line
_COSIG_HEADER = "cosignature/v1\n"
_MAX_TIMESTAMP = 2**63 - 1
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_HEX8 = re.compile(r"[0-9a-fA-F]{8}")


def _b64decode(text: str) -> bytes:
    """Strict standard base64: padding required, no stray characters, canonical trailing bits."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as e:
        raise ValueError("not canonical base64") from e
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValueError("not canonical base64")
    return raw


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def valid_name(name: str) -> bool:
    """Key names: non-empty, no Unicode space, no '+', no control character, encodable UTF-8."""
    if not name or "+" in name:
        return False
    return not any(ch.isspace() or ord(ch) < 0x20 or 0xD800 <= ord(ch) <= 0xDFFF for ch in name)


def _check_name(name: str) -> None:
    if not valid_name(name):
        raise InvalidInput(
            f"invalid key name {name!r}",
            field="name",
            accepted="non-empty, no whitespace, no '+'",
        )


def _key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key).digest()[:4]


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _vkey(name: str, sig_type: int, public_key: bytes) -> str:
    key_id = _key_id(name, sig_type, public_key).hex()
    return f"{name}+{key_id}+{_b64(bytes([sig_type]) + public_key)}"


def _parse_vkey(vkey: str, sig_type: int) -> tuple[str, bytes, Ed25519PublicKey]:
    parts = vkey.split("+", 2)
    if len(parts) != 3:
        raise InvalidInput("verifier key is not name+keyid+key", field="vkey")
    name, hex_id, material = parts
    _check_name(name)
    if not _HEX8.fullmatch(hex_id):
        raise InvalidInput("verifier key ID is not 8 hex digits", field="vkey")
    try:
        raw = _b64decode(material)
    except ValueError as e:
        raise InvalidInput("verifier key material is not base64", field="vkey") from e
    if len(raw) != 33 or raw[0] != sig_type:
        raise InvalidInput(
            f"verifier key is not a type 0x{sig_type:02x} Ed25519 key",
            field="vkey",
            accepted=f"base64(0x{sig_type:02x} || 32-byte Ed25519 public key)",
        )
    key_id = _key_id(name, sig_type, raw[1:])
    if key_id != bytes.fromhex(hex_id):
        raise InvalidInput("verifier key ID does not match its name and key", field="vkey")
    try:
        public_key = Ed25519PublicKey.from_public_bytes(raw[1:])
    except ValueError as e:
        raise InvalidInput("verifier key is not an Ed25519 public key", field="vkey") from e
    return name, key_id, public_key


def _check_text(text: str) -> None:
    """A note text: non-empty, ends in newline, UTF-8, no control characters but newline."""
    if not text.endswith("\n"):
        raise InvalidInput("note text must end with a newline", field="text")
    _check_chars(text, InvalidInput)


def _check_chars(text: str, err: type[InvalidInput] | type[ProofError]) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise err("note is not valid UTF-8") from e
    if any(ord(ch) < 0x20 and ch != "\n" for ch in text):
        raise err("note contains a control character")


class Verifier(Protocol):
    """Anything `open_note` can check a signature line with."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> bytes: ...

    def verify(self, text: str, sig: bytes) -> bool:
        """Whether `sig` (the line's bytes after the key ID) signs note `text`."""
        ...


# ---------------------------------------------------------------------------------- Ed25519 notes


@dataclass(frozen=True, slots=True)
class _NamedKey:
    """An Ed25519 private key under a key name; the signature type fixes key ID and vkey."""

    SIG_TYPE: ClassVar[int] = SIG_ED25519
    name: str
    private_key: Ed25519PrivateKey = field(repr=False)

    def __post_init__(self) -> None:
        _check_name(self.name)

    @classmethod
    def generate(cls, name: str) -> Self:
        return cls(name, Ed25519PrivateKey.generate())

    @property
    def public_key(self) -> bytes:
        return _raw_public(self.private_key.public_key())

    @property
    def key_id(self) -> bytes:
        return _key_id(self.name, self.SIG_TYPE, self.public_key)

    @property
    def verifier_key(self) -> str:
        """The vkey "<name>+<hex keyid>+<base64(type || pubkey)>" verifiers are configured with."""
        return _vkey(self.name, self.SIG_TYPE, self.public_key)


@dataclass(frozen=True, slots=True)
class NoteSigner(_NamedKey):
    """An Ed25519 (type 0x01) note signing key under a key name."""

    def verifier(self) -> NoteVerifier:
        return NoteVerifier.parse(self.verifier_key)

    def sign(self, text: str) -> bytes:
        """The raw 64-byte Ed25519 signature over the note text."""
        _check_text(text)
        return self.private_key.sign(text.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class NoteVerifier:
    """An Ed25519 (type 0x01) note verifier key."""

    name: str
    key_id: bytes
    public_key: Ed25519PublicKey

    @classmethod
    def parse(cls, vkey: str) -> NoteVerifier:
        """Parse "<name>+<hex keyid>+<base64(0x01 || pubkey)>"; InvalidInput if malformed."""
        return cls(*_parse_vkey(vkey, SIG_ED25519))

    @property
    def verifier_key(self) -> str:
        """The vkey this verifier was parsed from."""
        return _vkey(self.name, SIG_ED25519, _raw_public(self.public_key))

    def verify(self, text: str, sig: bytes) -> bool:
        if len(sig) != 64:
            return False
        try:
            self.public_key.verify(sig, text.encode("utf-8"))
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True, slots=True)
class SigLine:
    """One signature line of a note: key name, key ID, the signature bytes, the line itself."""

    name: str
    key_id: bytes
    sig: bytes
    line: str


def signature_lines(block: str) -> list[SigLine]:
    """Parse a block of signature lines (each ending in newline); ProofError if malformed.

    This is also the body of a witness's add-checkpoint answer."""
    _check_chars(block, ProofError)
    if not block.endswith("\n"):
        raise ProofError("malformed note: signature lines must end with a newline")
    lines = block.split("\n")[:-1]
    if not lines:
        raise ProofError("malformed note: no signature lines")
    if len(lines) > MAX_SIGNATURES:
        raise ProofError(f"malformed note: more than {MAX_SIGNATURES} signatures")
    sigs: list[SigLine] = []
    for line in lines:
        if not line.startswith(_DASH):
            raise ProofError(f"malformed note: not a signature line: {line[:40]!r}")
        parts = line[len(_DASH) :].split(" ")
        if len(parts) != 2 or not valid_name(parts[0]):
            raise ProofError(f"malformed note: bad signature line: {line[:40]!r}")
        try:
            raw = _b64decode(parts[1])
        except ValueError as e:
            raise ProofError(f"malformed note: signature of {parts[0]} is not base64") from e
        if len(raw) < 5:
            raise ProofError(f"malformed note: signature of {parts[0]} is too short")
        sigs.append(SigLine(parts[0], raw[:4], raw[4:], line))
    return sigs


def split_note(note: str) -> tuple[str, list[SigLine]]:
    """Split a signed note into text and signature lines (unverified); ProofError if
    malformed."""
    _check_chars(note, ProofError)
    if not note.endswith("\n"):
        raise ProofError("malformed note: it must end with a newline")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise ProofError("malformed note: no blank line before the signatures")
    return note[: cut + 1], signature_lines(note[cut + 2 :])


_split_note = split_note


def _line(name: str, key_id: bytes, sig: bytes) -> str:
    return f"{_DASH}{name} {_b64(key_id + sig)}\n"


def sign_note(text: str, signers: Sequence[NoteSigner]) -> str:
    """The signed note: text, blank line, one signature line per signer (at least one)."""
    _check_text(text)
    if not signers:
        raise InvalidInput("a note needs at least one signer", field="signers")
    return text + "\n" + "".join(_line(s.name, s.key_id, s.sign(text)) for s in signers)


def add_signatures(note: str, signers: Sequence[NoteSigner]) -> str:
    """Add signers' lines to a signed note, keeping the existing lines.

    A line by the same key is replaced (as Go's x/mod does). Existing signatures are not checked;
    InvalidInput if the note is malformed.
    """
    try:
        text, existing = _split_note(note)
    except ProofError as e:
        raise InvalidInput(e.detail, field="note") from e
    mine = {(s.name, s.key_id) for s in signers}
    kept = "".join(s.line + "\n" for s in existing if (s.name, s.key_id) not in mine)
    return text + "\n" + kept + "".join(_line(s.name, s.key_id, s.sign(text)) for s in signers)


def open_note(note: str | bytes, verifiers: Sequence[Verifier]) -> tuple[str, list[str]]:
    """Verify a signed note; return (text, names of the verifiers whose signature verified).

    Lines whose (name, key ID) match no verifier are ignored. ProofError if the note is malformed
    (bytes must be UTF-8), if a known key's signature fails, or if no known key signed it.
    """
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ProofError("malformed note: not valid UTF-8") from e
    text, sigs = _split_note(note)
    known: dict[tuple[str, bytes], Verifier] = {}
    for v in verifiers:
        other = known.setdefault((v.name, v.key_id), v)
        if other is not v and other != v:
            raise InvalidInput(f"two verifiers share name and key ID {v.name}+{v.key_id.hex()}")
    good: list[str] = []
    for s in sigs:
        found = known.get((s.name, s.key_id))
        if found is None:
            continue
        if not found.verify(text, s.sig):
            raise ProofError(f"invalid signature for key {s.name}+{s.key_id.hex()}")
        if found.name not in good:
            good.append(found.name)
    if not good:
        raise ProofError("note has no signature from a known key")
    return text, good


# ------------------------------------------------------------------------------------ checkpoints


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tlog-checkpoint note body: the log's origin, tree size and root hash."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for what, line in [("origin", self.origin), *(("extensions", x) for x in self.extensions)]:
            if not line or any(ord(ch) < 0x20 for ch in line):
                raise InvalidInput(
                    f"checkpoint {what} line must be non-empty, without control characters",
                    field=what,
                )
        if not 0 <= self.size < 2**64:
            raise InvalidInput(f"checkpoint size {self.size} out of range", field="size")
        if len(self.root) != 32:
            raise InvalidInput(f"checkpoint root is {len(self.root)} bytes, not 32", field="root")

    def body(self) -> str:
        """The note text: origin, size, base64 root, extension lines, each ending in newline."""
        lines = [self.origin, str(self.size), _b64(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse a checkpoint body strictly; InvalidInput naming the bad line otherwise."""
        try:
            _check_text(text)
        except InvalidInput as e:
            raise InvalidInput(f"checkpoint: {e.detail}", field="checkpoint") from e
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise InvalidInput("checkpoint needs origin, size and root lines", field="checkpoint")
        origin, size, root, *ext = lines
        if not _DECIMAL.fullmatch(size):
            raise InvalidInput(
                f"checkpoint size {size!r} is not a decimal without leading zeros", field="size"
            )
        try:
            raw = _b64decode(root)
        except ValueError as e:
            raise InvalidInput("checkpoint root is not base64", field="root") from e
        return cls(origin, int(size), raw, tuple(ext))


def open_checkpoint(note: str, verifier: NoteVerifier) -> Checkpoint:
    """Verify a checkpoint note with the log's key and parse it; the key name must be the
    origin (DESIGN: key name = origin). ProofError on any failure."""
    text, _ = open_note(note, [verifier])
    try:
        cp = Checkpoint.parse(text)
    except InvalidInput as e:
        raise ProofError(f"signed note is not a checkpoint: {e.detail}") from e
    if cp.origin != verifier.name:
        raise ProofError(f"checkpoint origin {cp.origin!r} is not the log key {verifier.name!r}")
    return cp


# ---------------------------------------------------------------------------------- cosignatures


def _cosigned_message(text: str, timestamp: int) -> bytes:
    return f"{_COSIG_HEADER}time {timestamp}\n{text}".encode()


@dataclass(frozen=True, slots=True)
class CosignatureSigner(_NamedKey):
    """A witness's Ed25519 cosignature/v1 key (signature type 0x04)."""

    SIG_TYPE: ClassVar[int] = SIG_COSIGNATURE_V1

    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier.parse(self.verifier_key)

    def sign(self, text: str, timestamp: int) -> bytes:
        """timestamped_signature: u64 big-endian timestamp || Ed25519 signature (72 bytes)."""
        Checkpoint.parse(text)
        if not 0 <= timestamp <= _MAX_TIMESTAMP:
            raise InvalidInput(f"timestamp {timestamp} out of range", field="time")
        sig = self.private_key.sign(_cosigned_message(text, timestamp))
        return timestamp.to_bytes(8, "big") + sig


@dataclass(frozen=True, slots=True)
class CosignatureVerifier:
    """A witness's cosignature/v1 verifier key (signature type 0x04)."""

    name: str
    key_id: bytes
    public_key: Ed25519PublicKey

    @classmethod
    def parse(cls, vkey: str) -> CosignatureVerifier:
        """Parse "<name>+<hex keyid>+<base64(0x04 || pubkey)>"; InvalidInput if malformed."""
        return cls(*_parse_vkey(vkey, SIG_COSIGNATURE_V1))

    def verify(self, text: str, sig: bytes) -> bool:
        if len(sig) != 72:
            return False
        timestamp = int.from_bytes(sig[:8], "big")
        if timestamp > _MAX_TIMESTAMP:
            return False
        try:
            self.public_key.verify(sig[8:], _cosigned_message(text, timestamp))
        except InvalidSignature:
            return False
        return True


def cosign(checkpoint_note: str, witness: CosignatureSigner, time: int) -> str:
    """Append the witness's cosignature line to a signed checkpoint note (replacing its old one).

    The caller (the witness) must already have verified the log's signature and consistency.
    """
    try:
        text, existing = _split_note(checkpoint_note)
    except ProofError as e:
        raise InvalidInput(e.detail, field="note") from e
    line = _line(witness.name, witness.key_id, witness.sign(text, time))
    kept = "".join(
        s.line + "\n" for s in existing if (s.name, s.key_id) != (witness.name, witness.key_id)
    )
    return text + "\n" + kept + line


def verify_cosignature(note: str, witness: CosignatureVerifier | str) -> int:
    """Check the witness's cosignature on a checkpoint note; return its timestamp (POSIX secs).

    `witness` is a CosignatureVerifier or its vkey string. ProofError if the witness did not
    cosign, the cosignature fails, or the note is not a checkpoint.
    """
    v = CosignatureVerifier.parse(witness) if isinstance(witness, str) else witness
    text, _ = open_note(note, [v])
    try:
        Checkpoint.parse(text)
    except InvalidInput as e:
        raise ProofError(f"cosigned note is not a checkpoint: {e.detail}") from e
    _, sigs = _split_note(note)
    stamp = next(s.sig[:8] for s in sigs if (s.name, s.key_id) == (v.name, v.key_id))
    return int.from_bytes(stamp, "big")
