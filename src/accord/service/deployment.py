"""A deployment folder: the database, the operator's log key and the log's origin name.

    DIR/accord.toml   origin and creation time
    DIR/accord.db     the SQLite store (log, tree, checkpoints, projection)
    DIR/log.key       the operator's Ed25519 log key (0600)
    DIR/log.pub       the log's verifier key, to hand to every party and witness
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from accord.errors import DeploymentError, InvalidInput
from accord.keys import LOG_KEY, KeyFile
from accord.log.note import NoteSigner, valid_name
from accord.store.sqlite import SqliteStore
from accord.timefmt import Clock, SystemClock, format_time

CONFIG = "accord.toml"
DATABASE = "accord.db"
LOG_KEY_FILE = "log.key"
LOG_PUB_FILE = "log.pub"


@dataclass(frozen=True)
class Deployment:
    dir: Path
    origin: str

    @property
    def db_path(self) -> Path:
        return self.dir / DATABASE

    @property
    def verifier_key(self) -> str:
        return (self.dir / LOG_PUB_FILE).read_text().strip()

    def signer(self) -> NoteSigner:
        key = KeyFile.read(self.dir / LOG_KEY_FILE, LOG_KEY)
        return NoteSigner(self.origin, key.private_key)

    def store(self, *, readonly: bool = False) -> SqliteStore:
        return SqliteStore(self.db_path, readonly=readonly)

    @staticmethod
    def init(dir: Path, origin: str | None = None, clock: Clock | None = None) -> Deployment:
        dir = Path(dir)
        if (dir / CONFIG).exists():
            raise DeploymentError(f"{dir} already holds a deployment",
                                  accepted="an empty or new folder")
        origin = origin or f"accord.local/{_slug(dir.resolve().name)}-{secrets.token_hex(3)}"
        if not valid_name(origin):
            raise InvalidInput(f"{origin!r} cannot be a log origin", field="origin",
                               accepted="a name without spaces or '+', e.g. example.org/accord")
        dir.mkdir(parents=True, exist_ok=True)
        key = KeyFile.generate(LOG_KEY, origin)
        key.write(dir / LOG_KEY_FILE)
        signer = NoteSigner(origin, key.private_key)
        (dir / LOG_PUB_FILE).write_text(signer.verifier_key + "\n")
        store = SqliteStore(dir / DATABASE, create=True)
        with store.transaction():
            store.set_meta("origin", origin)
            store.set_meta("log_key", signer.verifier_key)
        store.close()
        now = format_time((clock or SystemClock()).now())
        (dir / CONFIG).write_text(f'# Accord deployment\norigin = "{origin}"\n'
                                  f'created = "{now}"\n')
        return Deployment(dir, origin)

    @staticmethod
    def open(dir: Path) -> Deployment:
        dir = Path(dir)
        try:
            config = tomllib.loads((dir / CONFIG).read_text())
        except FileNotFoundError:
            raise DeploymentError(f"{dir} is not an Accord deployment (no {CONFIG})",
                                  accepted="a folder made with `accord init DIR`") from None
        except tomllib.TOMLDecodeError as exc:
            raise DeploymentError(f"{dir / CONFIG}: {exc}") from None
        origin = config.get("origin")
        if not isinstance(origin, str):
            raise DeploymentError(f"{dir / CONFIG} names no origin")
        return Deployment(dir, origin)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "log"


class WriterLock:
    """One writer per deployment, across processes: an exclusive flock held while writing."""

    def __init__(self, dir: Path) -> None:
        self.path = Path(dir) / "writer.lock"
        self.fd: int | None = None

    def acquire(self, timeout: float = 10.0) -> None:
        """Take the lock, waiting up to `timeout` seconds for another writer to finish."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise DeploymentError(
                        f"another writer has held {self.path.parent} for {timeout:.0f} s",
                        accepted="stop the other writer, or send commands to the running "
                                 "service") from None
                time.sleep(0.05)
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
