"""Pytest's view of the shared fixtures; the helpers themselves live in `support.py`.

It also holds the tests to the repository (`repo_guard.py`): a test that opens a file outside
it fails.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import pg
from repo_guard import OUTSIDE
from support import world

__all__ = ["world"]


@pytest.fixture(scope="session")
def pg_server() -> pg.PgServer:
    """One PostgreSQL for the whole session (see pg.py); its failure to start fails the
    tests that need it."""
    return pg.start()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Each store-touching test runs once per engine."""
    return str(request.param)


@pytest.fixture
def database(backend: str, request: pytest.FixtureRequest) -> Iterator[str | None]:
    """What `Deployment.init(..., database=)` takes: None for SQLite, else the URL of a fresh
    PostgreSQL database of the test's own."""
    if backend == "sqlite":
        yield None
        return
    server: pg.PgServer = request.getfixturevalue("pg_server")
    with server.database() as url:
        yield url


def pytest_collection_finish(session: pytest.Session) -> None:
    if OUTSIDE:
        raise pytest.UsageError(f"collecting the tests opened files outside the repository: "
                                f"{sorted(set(OUTSIDE))}")


@pytest.fixture(autouse=True)
def _stay_in_the_repository() -> Iterator[None]:
    seen = len(OUTSIDE)
    yield
    opened = sorted(set(OUTSIDE[seen:]))
    del OUTSIDE[seen:]
    assert not opened, f"the test opened files outside the repository: {opened}"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_database(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """`database` for module-scoped deployments (a running server shared by a module)."""
    if request.param == "sqlite":
        yield None
        return
    server: pg.PgServer = request.getfixturevalue("pg_server")
    with server.database() as url:
        yield url
