"""The API tests' fixtures; helpers live in `api_support.py`."""

from api_support import server

__all__ = ["server"]
