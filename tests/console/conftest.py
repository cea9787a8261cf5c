"""The console tests' fixtures; helpers live in `console_support.py`."""

from console_support import browser

__all__ = ["browser"]
