"""checks.plain_name's refusal of a name not in Unicode's composed form (NFC) says what is true of the name: a
decomposed one (NFD, as macOS keeps file names) is to be typed; one no keyboard decomposed is told its characters and
the composed form to write."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas_proxy import checks
from nas_proxy.cli import main
from nas_proxy.errors import InvalidArgumentError


def test_a_compatibility_ideograph_or_a_singleton_is_told_its_composed_form_not_of_macos(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """fix53e: U+F900 (what Korean hanja input gives for 豈) and U+212B ANGSTROM SIGN are not decomposed, yet the refusal
    said 'a decomposed name, NFD, is how macOS keeps file names ...; type the name', and typing it again gave the same
    refused name. Now it names the character, what NFC replaces it by, and the name to write; nothing is made."""
    monkeypatch.chdir(tmp_path)
    argv = ["search", "--proxy", "synflow", "--dataset", "digits", "--space", "convnet-cpu", "--n-trials", "1", "--quiet"]
    assert main([*argv, "--study", "\uf900"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "nasproxy search: error: study name '\uf900' is '\\uf900', not in Unicode's composed form (NFC): U+F900 CJK "
        "COMPATIBILITY IDEOGRAPH-F900, which NFC replaces by U+8C48 CJK UNIFIED IDEOGRAPH-8C48: it would name another "
        "study (and its folder under studies/) than '\\u8c48' does, though both print '\u8c48'; write it as '\\u8c48'\n"
    )
    assert "macOS" not in err and list(tmp_path.iterdir()) == []
    with pytest.raises(InvalidArgumentError) as angstrom:
        checks.plain_name("--out", "\u212b-run")
    assert str(angstrom.value) == (
        "--out '\u212b-run' is '\\u212b-run', not in Unicode's composed form (NFC): U+212B ANGSTROM SIGN, which NFC replaces "
        "by U+00C5 LATIN CAPITAL LETTER A WITH RING ABOVE: it would name another directory than '\\xc5-run' does, though "
        "both print '\xc5-run'; write it as '\\xc5-run'"
    )
    with pytest.raises(InvalidArgumentError, match=r"\(NFC composes or reorders its characters\): .*; write it as '\\u1ea1\\u0301'$"):
        checks.plain_name("--out", "a\u0301\u0323")  # combining marks out of Unicode's order: no character changed alone


@pytest.mark.parametrize("nfd", ["cafe\u0301", "\u1100\u1161"])  # é and 가 as macOS keeps them
def test_a_decomposed_name_keeps_the_macos_words(nfd: str) -> None:
    with pytest.raises(InvalidArgumentError) as refused:
        checks.plain_name("--out", nfd)
    assert "(a decomposed name, NFD, is how macOS keeps file names)" in str(refused.value)
    assert str(refused.value).endswith("; type the name, or write it composed (NFC)")
