"""The console tests' fixtures; helpers live in `console_support.py`."""

from collections.abc import Iterator

import pytest
from console_support import Browser, browser

__all__ = ["browser"]


@pytest.fixture(autouse=True)
def _own_logs(browser: Browser) -> Iterator[None]:
    """Each test answers for the errors and outside requests of its own pages only."""
    browser.errors.clear()
    browser.foreign.clear()
    yield
