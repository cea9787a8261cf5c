"""Pytest's view of the shared fixtures; the helpers themselves live in `support.py`.

It also holds the tests to the repository (`repo_guard.py`): a test that opens a file outside
it fails.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from repo_guard import OUTSIDE
from support import world

__all__ = ["world"]


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
