"""Free text that one party writes and another party's screen shows: what it may contain.

A message, a notice title, an aircraft id or a contact name reaches other parties' terminals
and consoles. Control characters (C0, DEL, C1) can move the cursor, clear the screen or
retitle the window (`ESC [2J`), and bidirectional controls can show text in another order
than it is stored ("Trojan Source", CVE-2021-42574), so a reader sees words the sender did not
sign. Both are refused where the text enters: at the API and in the rules the fold applies,
so a local write is held to the same rule. (Output escapes them anyway, for older logs.)
Pure: imports only the core.
"""

from __future__ import annotations

import re
from typing import Any

from accord.errors import InvalidInput

# C0 (tab and newline too: every field here is one line), DEL, C1; the bidirectional marks,
# embeddings, overrides and isolates; the line and paragraph separators; lone surrogates
# (not text at all).
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e"
                        "\u2066-\u2069\ud800-\udfff]")
ACCEPTED = ("text without control characters (U+0000-U+001F, U+007F-U+009F) or "
            "bidirectional controls (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069, "
            "U+2028, U+2029)")


def unsafe_char(value: str) -> tuple[int, str] | None:
    """The position and character of the first forbidden character, or None."""
    m = _FORBIDDEN.search(value)
    return None if m is None else (m.start(), m.group())


def check_text(value: Any, field: str, max_len: int | None = None) -> str:
    """`value` as free text another party may read: a string with no control or
    bidirectional-control characters, at most `max_len` characters; else InvalidInput
    naming `field`."""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string", field=field, accepted=ACCEPTED)
    if max_len is not None and len(value) > max_len:
        raise InvalidInput(f"{field} is longer than {max_len} characters", field=field,
                           accepted=f"at most {max_len} characters")
    bad = unsafe_char(value)
    if bad is not None:
        at, ch = bad
        raise InvalidInput(f"{field} contains U+{ord(ch):04X} at position {at}; control and "
                           f"bidirectional characters are not accepted", field=field,
                           accepted=ACCEPTED)
    return value
