"""Error and warning lines spell every character a terminal acts on or shows as other text (branch probe55)."""

from __future__ import annotations

import pytest

from nas_proxy.errors import one_line


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("cannot read image a/\x1b[2J\x1b[31mred.png", "cannot read image a/\\x1b[2J\\x1b[31mred.png"),  # clears the screen
        ("it holds: rtl\u202eevil, b", "it holds: rtl\\u202eevil, b"),  # reverses what follows it
        ("no\u2028where does not exist", "no\\u2028where does not exist"),  # was 'no where', a path not given
        ("a\u0085b \u2066c\u2069 d\u00a0e", "a\\x85b \\u2066c\\u2069 d\\xa0e"),
        ("a\udcffb", "a\\udcffb"),  # a byte that is not UTF-8, as os.fsdecode gives it
    ],
)
def test_a_character_a_terminal_acts_on_is_spelled(text: str, line: str) -> None:
    assert one_line(text) == line


def test_printable_text_stays_as_it_is_and_blanks_make_one_line() -> None:
    assert one_line("café  180°\tאב\r\nשלום — 'x' \\ y") == "café 180° אב שלום — 'x' \\ y"
