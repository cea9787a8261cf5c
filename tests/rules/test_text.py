"""Free text another party's screen shows: control and bidirectional characters refused."""

from __future__ import annotations

import pytest

from accord.errors import InvalidInput
from accord.rules.text import check_text, unsafe_char

BAD = ["\x1b[2J", "a\x00b", "line\nbreak", "tab\there", "del\x7f", "c1\x85", "c1\x9b31m",
       "\u202eevil", "\u202a", "\u202c", "\u2066x\u2069", "\u2067", "\u2068", "\u200f",
       "\u200e", "\u061c", "\u2028", "\u2029", "\ud800"]
GOOD = ["Strike at Hmeimim", "Удар по Хмеймиму", "ضربة جوية", "空袭", "café ✈ 🛩",
        "O'Neil & Sons <ops@example.org>", "zero\u200dwidth joiner", ""]


@pytest.mark.parametrize("text", BAD)
def test_control_and_bidi_characters_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        check_text(text, "event.body.text")
    assert exc.value.field == "event.body.text"
    assert "U+" in str(exc.value.detail)


@pytest.mark.parametrize("text", GOOD)
def test_ordinary_text_in_any_script_passes(text: str) -> None:
    assert check_text(text, "f") == text and unsafe_char(text) is None


def test_every_code_point_in_the_forbidden_ranges() -> None:
    ranges = [(0x00, 0x1F), (0x7F, 0x9F), (0x202A, 0x202E), (0x2066, 0x2069)]
    for lo, hi in ranges:
        for cp in range(lo, hi + 1):
            assert unsafe_char(f"ok{chr(cp)}") == (2, chr(cp)), hex(cp)
    assert unsafe_char(" ~\xa0\u2030\u2070") is None  # the neighbours are fine


def test_not_a_string_and_too_long() -> None:
    with pytest.raises(InvalidInput):
        check_text(5, "f")
    with pytest.raises(InvalidInput):
        check_text("x" * 11, "f", 10)
