"""A deployment folder: the database, the operator's log key and the log's origin name.

    DIR/accord.toml   origin, creation time, and which database holds the store
    DIR/accord.db     the SQLite store (log, tree, checkpoints, projection), by default
    DIR/log.key       the operator's Ed25519 log key (0600)
    DIR/log.pub       the log's verifier key, to hand to every party and witness

With `database = "postgresql://user@host/db"` in accord.toml the store is that PostgreSQL
database instead (`store/postgres.py`); with `database = "env"` its URL is read from the
environment variable ACCORD_DATABASE_URL at every start. accord.toml never holds a password:
a URL with one is refused there (libpq reads it from PGPASSFILE, a service file, or the
environment).
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
from typing import Any

from accord.errors import DeploymentError, InvalidInput
from accord.keys import LOG_KEY, KeyFile
from accord.log.note import NoteSigner, valid_name
from accord.store.base import Backend, Store
from accord.store.sqlite import SqliteStore
from accord.timefmt import Clock, SystemClock, format_time

CONFIG = "accord.toml"
DATABASE = "accord.db"
LOG_KEY_FILE = "log.key"
LOG_PUB_FILE = "log.pub"
DATABASE_ENV = "ACCORD_DATABASE_URL"
FROM_ENV = "env"  # accord.toml's `database = "env"`: the URL is in DATABASE_ENV


def _conninfo(url: str) -> dict[str, Any]:
    """The URL's parts as libpq reads them; refused when it is not a PostgreSQL URL."""
    if not url.startswith(("postgresql://", "postgres://")):
        raise InvalidInput(f"{_redact(url)!r} is not a PostgreSQL URL", field="database",
                           accepted="postgresql://user@host:port/dbname (no password)")
    try:
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        raise DeploymentError("PostgreSQL needs the psycopg driver",
                              accepted="pip install 'accord[postgresql]'") from None
    try:
        return dict(conninfo_to_dict(url))
    except Exception as exc:  # psycopg.ProgrammingError: a malformed URL
        raise InvalidInput(f"{_redact(url)!r} is not a usable PostgreSQL URL: {exc}",
                           field="database", accepted="postgresql://user@host:port/dbname"
                           ) from None


def _redact(url: str) -> str:
    """The URL with any password replaced, for messages."""
    return re.sub(r"(://[^:/@?#]*:)[^@/?#]*@", r"\1***@", url)


def check_no_password(url: str, where: str) -> None:
    """A password must never be kept in accord.toml in clear text."""
    info = _conninfo(url)
    if info.get("password"):
        raise DeploymentError(f"{where} holds a database password in clear text",
                              accepted=f"the URL without it, and the password in PGPASSFILE "
                                       f"(~/.pgpass), a libpq service file, or the whole URL "
                                       f"in the {DATABASE_ENV} environment variable "
                                       f"(`--database {FROM_ENV}`)")


@dataclass(frozen=True)
class Deployment:
    dir: Path
    origin: str
    # None: SQLite in DIR/accord.db; else accord.toml's `database` (a URL, or FROM_ENV).
    database: str | None = None

    @property
    def db_path(self) -> Path:
        """The SQLite file (for a PostgreSQL deployment, where it would be: unused)."""
        return self.dir / DATABASE

    @property
    def backend(self) -> Backend:
        return "sqlite" if self.database is None else "postgresql"

    def database_url(self) -> str:
        """The PostgreSQL URL to connect with (from the environment for `env`)."""
        if self.database is None:
            raise DeploymentError(f"{self.dir} keeps its store in SQLite, not PostgreSQL")
        if self.database != FROM_ENV:
            return self.database
        url = os.environ.get(DATABASE_ENV, "")
        if not url:
            raise DeploymentError(f"{self.dir / CONFIG} takes the database URL from "
                                  f"{DATABASE_ENV}, which is not set",
                                  accepted=f"{DATABASE_ENV}=postgresql://user:pass@host/db")
        _conninfo(url)
        return url

    @property
    def verifier_key(self) -> str:
        return (self.dir / LOG_PUB_FILE).read_text().strip()

    def signer(self) -> NoteSigner:
        key = KeyFile.read(self.dir / LOG_KEY_FILE, LOG_KEY)
        return NoteSigner(self.origin, key.private_key)

    def store(self, *, readonly: bool = False) -> Store:
        """The deployment's store. A writer's PostgreSQL store applies pending migrations
        and must hold this deployment's log (the origin in the database is accord.toml's)."""
        if self.database is None:
            return SqliteStore(self.db_path, readonly=readonly)
        from accord.store.postgres import PostgresStore

        store = PostgresStore(self.database_url(), readonly=readonly)
        held = store.meta("origin")
        if not readonly and held != self.origin:
            store.close()
            raise DeploymentError(f"the PostgreSQL database holds the log {held!r}, not this "
                                  f"deployment's {self.origin!r}",
                                  accepted="the database this deployment was made with")
        return store

    @staticmethod
    def init(dir: Path, origin: str | None = None, clock: Clock | None = None,
             database: str | None = None) -> Deployment:
        """A new deployment in `dir`: keys, accord.toml, and the store (SQLite in the folder,
        or with `database` a PostgreSQL URL without password, or FROM_ENV)."""
        dir = Path(dir)
        if (dir / CONFIG).exists():
            raise DeploymentError(f"{dir} already holds a deployment",
                                  accepted="an empty or new folder")
        origin = origin or f"accord.local/{_slug(dir.resolve().name)}-{secrets.token_hex(3)}"
        if not valid_name(origin):
            raise InvalidInput(f"{origin!r} cannot be a log origin", field="origin",
                               accepted="a name without spaces or '+', e.g. example.org/accord")
        if database is not None and database != FROM_ENV:
            check_no_password(database, "the --database URL")
        if database is not None and ('"' in database or "\\" in database):
            raise InvalidInput("the database URL holds a quote or a backslash",
                               field="database", accepted="a URL with those percent-encoded")
        deployment = Deployment(dir, origin, database)
        url = deployment.database_url() if database is not None else None
        dir.mkdir(parents=True, exist_ok=True)
        key = KeyFile.generate(LOG_KEY, origin)
        signer = NoteSigner(origin, key.private_key)
        store: Store
        if url is None:
            store = SqliteStore(dir / DATABASE, create=True)
        else:
            from accord.store.postgres import PostgresStore

            store = PostgresStore(url, create=True)
            held = store.meta("origin")
            if held is not None:
                store.close()
                raise DeploymentError(f"the PostgreSQL database already holds the log {held!r}",
                                      accepted="an empty database for each deployment")
        try:
            with store.transaction():
                store.set_meta("origin", origin)
                store.set_meta("log_key", signer.verifier_key)
        finally:
            store.close()
        key.write(dir / LOG_KEY_FILE)
        (dir / LOG_PUB_FILE).write_text(signer.verifier_key + "\n")
        now = format_time((clock or SystemClock()).now())
        line = "" if database is None else f'database = "{database}"\n'
        (dir / CONFIG).write_text(f'# Accord deployment\norigin = "{origin}"\n'
                                  f'created = "{now}"\n{line}')
        return deployment

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
        database = config.get("database")
        if database is not None:
            if not isinstance(database, str):
                raise DeploymentError(f"{dir / CONFIG}: database must be a string",
                                      accepted=f'a PostgreSQL URL or "{FROM_ENV}"')
            if database != FROM_ENV:
                check_no_password(database, str(dir / CONFIG))
        return Deployment(dir, origin, database)


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
