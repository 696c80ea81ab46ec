"""An unknown name's suggestion (registry._suggestion): a name too long to be close is not handed to difflib (stop 62,
perf62a), and the answer is difflib's at every length around that bound."""

from __future__ import annotations

import difflib
from typing import Any

import pytest

from nas_proxy.registry import _suggestion

KNOWN = ["convnet-cpu", "convnet-small", "nb201", "Fashion-MNIST"]


def _difflib(name: str) -> str | None:
    folded = {k.casefold(): k for k in KNOWN}
    close = difflib.get_close_matches(name.casefold(), list(folded), n=1)
    return folded[close[0]] if close else None


def test_the_suggestion_is_difflibs_at_every_length_around_the_bound() -> None:
    longest = max(map(len, KNOWN))
    names = [base + pad * n for base in ("convnet-small", "fashion-mnist", "NB201") for pad in ("-", "l") for n in range(2 * longest)]
    assert any(_difflib(n) for n in names) and any(_difflib(n) is None for n in names)  # the lengths span the bound
    assert [_suggestion(n, KNOWN) for n in names] == [_difflib(n) for n in names]


def test_a_name_longer_than_any_close_one_is_not_handed_to_difflib(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    real = difflib.get_close_matches

    def counted(word: str, *args: Any, **kwargs: Any) -> list[str]:
        asked.append(word)
        return real(word, *args, **kwargs)

    monkeypatch.setattr(difflib, "get_close_matches", counted)
    assert _suggestion("convnet-small" * 8000, KNOWN) is None
    assert _suggestion("convnet-smal", KNOWN) == "convnet-small"
    assert asked == ["convnet-smal"]
