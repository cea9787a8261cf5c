"""Built-in scenarios, run by `accord demo`."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def in_folder(keep: Path | None, prefix: str, body: Callable[[Path], int]) -> int:
    """Run `body` in `keep`, or in a temporary folder removed afterwards."""
    base = keep or Path(tempfile.mkdtemp(prefix=prefix))
    base.mkdir(parents=True, exist_ok=True)
    try:
        return body(base)
    finally:
        if keep is None:
            shutil.rmtree(base, ignore_errors=True)
