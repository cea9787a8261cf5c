"""Holds the tests to the repository: a test that opens a file outside the repository, the
temporary folder and the Python installation (data in a shared folder beside the clone, which
another clone does not have) fails, naming the path. Installed by conftest.py."""

from __future__ import annotations

import os
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


TEMP_ROOTS = frozenset({os.path.realpath(tempfile.gettempdir()), "/tmp", "/var/tmp"})


def _allowed_roots() -> tuple[str, ...]:
    roots = {str(ROOT), *TEMP_ROOTS, "/dev", "/proc", "/sys", "/etc", "/usr", "/lib", "/lib64"}
    for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, *sysconfig.get_paths().values(),
              *sys.path):
        if p:
            roots.add(os.path.realpath(p))
    # Caches that libraries keep in the home folder (fonts, PROJ's grid cache): not data
    # a test could depend on being beside the clone.
    home = os.path.expanduser("~")
    roots.update(os.path.join(home, d) for d in (".cache", ".local", ".config"))
    # A folder that holds the repository (the current directory on sys.path, say) would let
    # everything beside the clone through: never an allowed root, unless it is a temporary
    # folder (a clone may well live in /tmp); `_beside` then keeps the clone's neighbours out.
    inside = str(ROOT) + "/"
    return tuple(sorted(r.rstrip("/") + "/" for r in roots
                        if r and (r == str(ROOT) or r in TEMP_ROOTS
                                  or not inside.startswith(r.rstrip("/") + "/"))))


ALLOWED = _allowed_roots()
OUTSIDE: list[str] = []  # paths opened outside ALLOWED, in the order seen


def _beside(full: str) -> bool:
    """Beside the clone: the shared folder a clone has next to it on the machine it was
    written on, or, when the clone's parent is not a temporary folder, anything in it."""
    parent = str(ROOT.parent).rstrip("/") + "/"
    if full.startswith(str(ROOT) + "/") or not full.startswith(parent):
        return False
    return parent.rstrip("/") not in TEMP_ROOTS or full.startswith(parent + "shared/")


def outside_repository(path: str) -> bool:
    full = os.path.realpath(path) + "/"
    return _beside(full) or not full.startswith(ALLOWED)


def _audit(event: str, args: tuple[object, ...]) -> None:
    if event != "open" or not args:
        return
    path = args[0]
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if isinstance(path, str) and outside_repository(path):
        OUTSIDE.append(path)


sys.addaudithook(_audit)
