"""Pytest's view of the shared fixtures; the helpers themselves live in `support.py`."""

from support import world

__all__ = ["world"]
