"""Key files: a party's Ed25519 key, the operator's log key, a witness's key; mode 0600.

A key file is a small JSON document naming whose key it is, so a command given the wrong file
says so instead of signing as someone else.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from accord.errors import InvalidInput
from accord.files import KEY_MAX, mode_of, read_text
from accord.log.event import Event, b64, sign_event, unb64

PARTY_KEY = "accord-party-key"
LOG_KEY = "accord-log-key"
WITNESS_KEY = "accord-witness-key"


@dataclass(frozen=True)
class KeyFile:
    """A private key and the name it belongs to: a party id, or the log's origin."""

    kind: str
    name: str
    private_key: Ed25519PrivateKey = field(repr=False)

    @property
    def public_key(self) -> bytes:
        return self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def public_b64(self) -> str:
        return b64(self.public_key)

    def sign(self, event: Event) -> str:
        return sign_event(event, self.private_key)

    @staticmethod
    def generate(kind: str, name: str) -> KeyFile:
        return KeyFile(kind, name, Ed25519PrivateKey.generate())

    def to_json(self) -> dict[str, str]:
        seed = self.private_key.private_bytes_raw()
        return {"type": self.kind, "name": self.name, "ed25519_seed": b64(seed),
                "public": self.public_b64}

    def write(self, path: Path, *, overwrite: bool = False) -> None:
        """Create the file with mode 0600 from the start, never world-readable for an instant."""
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
        try:
            fd = os.open(path, flags, 0o600)
        except FileExistsError:
            raise InvalidInput(f"{path} already exists; refusing to overwrite a key",
                               field="out", accepted="a new file name, or --force") from None
        with os.fdopen(fd, "w") as fh:
            json.dump(self.to_json(), fh, indent=2)
            fh.write("\n")
        os.chmod(path, 0o600)

    @staticmethod
    def read(path: Path, kind: str | None = None,
             warn: Callable[[str], None] | None = None) -> KeyFile:
        """Read a key file (a regular file of at most 1 MiB). `warn` hears of a private key
        that group or others can read: a warning, not a refusal, so that a party whose key
        sits on a mount without Unix permissions can still file in an emergency."""
        text = read_text(path, KEY_MAX, "key")
        try:
            obj = json.loads(text)
        except ValueError as exc:
            raise InvalidInput(f"cannot read key file {path}: {exc}", field="key",
                               accepted="a key file written by `accord keygen`") from None
        if not isinstance(obj, dict) or obj.get("type") not in (PARTY_KEY, LOG_KEY, WITNESS_KEY):
            raise InvalidInput(f"{path} is not an Accord key file", field="key",
                               accepted="a key file written by `accord keygen`")
        if kind is not None and obj["type"] != kind:
            raise InvalidInput(f"{path} is a {obj['type']}, not a {kind}", field="key",
                               accepted=f"a {kind} file")
        seed = unb64(obj.get("ed25519_seed"), "key.ed25519_seed", 32)
        name = obj.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"{path} names no party or log", field="key.name")
        mode = mode_of(path)
        if warn is not None and mode & 0o077:
            warn(f"{path} is readable by {'others' if mode & 0o007 else 'its group'} "
                 f"(mode {mode:04o}): whoever can read it can sign as {name}; "
                 f"run `chmod 600 {path}`")
        return KeyFile(obj["type"], name, Ed25519PrivateKey.from_private_bytes(seed))
