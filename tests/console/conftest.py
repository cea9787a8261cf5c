"""The console tests' fixtures; helpers live in `console_support.py`."""

from collections.abc import Iterator

import pytest
from console_support import Browser, browser

__all__ = ["browser"]


@pytest.fixture(autouse=True)
def _own_logs(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test answers for the errors and outside requests of its own pages only (a test
    without a browser starts none)."""
    if "browser" in request.fixturenames:
        b: Browser = request.getfixturevalue("browser")
        b.errors.clear()
        b.foreign.clear()
    yield
