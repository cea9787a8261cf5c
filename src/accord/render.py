"""Text from other parties, made safe to show on a terminal.

Message text, titles, aircraft ids, callsigns, contacts and finding details come from other
parties (or from the service). Shown raw, `ESC [ 2 J` clears the reader's screen and a
right-to-left override makes one text read as another. Every renderer of the CLI passes such
text through `printable` (or `markup`, for Rich), which shows each terminal control character
and bidirectional control as a visible escape (`\\x1b`, `\\u202e`), and every JSON the CLI prints
goes through `json_text`, which writes the same characters as JSON `\\u` escapes (the value is
unchanged; only the bytes on the screen are). Pure: no I/O.
"""

from __future__ import annotations

import json
from typing import Any

from rich.markup import escape as _rich_escape

_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_SEPARATORS = (0x2028, 0x2029)  # line and paragraph separators: new lines on some terminals
_CONTROLS = (*range(0x00, 0x20), *range(0x7F, 0xA0))  # C0, DEL and C1 (0x9B is CSI)


def _visible(cp: int) -> str:
    return f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}"


UNSAFE = frozenset((*_CONTROLS, *_BIDI, *_SEPARATORS))
"""The code points never written raw to a terminal."""

_TEXT = {cp: _visible(cp) for cp in UNSAFE}
# json.dumps already escapes C0 (and writes its own structural newlines, which must stay).
_JSON = {cp: f"\\u{cp:04x}" for cp in UNSAFE if cp >= 0x7F}


def printable(value: object) -> str:
    """`value` as text with every control and bidi character shown as a visible escape."""
    return str(value).translate(_TEXT)


def markup(value: object) -> str:
    """`printable`, also escaped for Rich markup (so `[bold]` in a message stays text)."""
    return _rich_escape(printable(value))


def json_text(obj: Any, indent: int | None = None) -> str:
    """JSON for a terminal or a pipe: non-ASCII text kept readable, unsafe characters as
    `\\uXXXX` escapes (valid JSON, the same value)."""
    return json.dumps(obj, indent=indent, ensure_ascii=False).translate(_JSON)
