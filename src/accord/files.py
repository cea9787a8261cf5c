"""Reading the files a user names on the command line: regular files only, never past a cap.

A key, a receipt or a notice is a small regular file. `/dev/zero`, a named pipe, a directory
or a 10 GB file given by mistake must give one clear error, not an endless read, a hang on a
pipe nobody writes to, or an out-of-memory kill. The file is checked with `stat` before it is
opened, opened without blocking, and checked again on the open descriptor.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from accord.errors import InvalidInput

KEY_MAX = 1024 * 1024
"""Key files and the log's public key (a key file is ~200 bytes)."""
RECEIPT_MAX = 4 * 1024 * 1024
"""Receipts, checkpoints and proofs: a receipt carries its entry (at most ~1.4 MB in base64)."""
DOCUMENT_MAX = 4 * 1024 * 1024
"""Notice, agreement and proposal documents (the service takes bodies of 1 MiB)."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "folder"), (stat.S_ISFIFO, "named pipe"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "special file"


def _check(path: Path, st: os.stat_result, limit: int, what: str) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise InvalidInput(f"{what} {path} is a {_kind(st.st_mode)}, not a regular file",
                           field=what, accepted="a regular file")
    if st.st_size > limit:
        raise InvalidInput(f"{what} {path} is {st.st_size:,} bytes, more than {limit:,}",
                           field=what, accepted=f"a file of at most {limit:,} bytes")


def read_bytes(path: Path | str, limit: int, what: str = "file") -> bytes:
    """The whole of a regular file of at most `limit` bytes; InvalidInput naming it otherwise."""
    path = Path(path)
    try:
        _check(path, os.stat(path), limit, what)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InvalidInput(f"{what} {path} does not exist", field=what,
                           accepted="the path of an existing file") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {what} {path}: {exc.strerror}", field=what) from None
    try:
        _check(path, os.fstat(fd), limit, what)  # the file opened is the file checked
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise InvalidInput(f"cannot read {what} {path}: {exc.strerror}", field=what) from None
    finally:
        os.close(fd)
    if size > limit:  # it grew while being read
        raise InvalidInput(f"{what} {path} is more than {limit:,} bytes", field=what,
                           accepted=f"a file of at most {limit:,} bytes")
    return b"".join(chunks)


def read_text(path: Path | str, limit: int, what: str = "file") -> str:
    """`read_bytes`, decoded as UTF-8."""
    data = read_bytes(path, limit, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{what} {path} is not UTF-8 text (byte {exc.start})", field=what,
                           accepted="a UTF-8 text file") from None


def mode_of(path: Path | str) -> int:
    """The permission bits of a file (0 if it cannot be read)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return 0
