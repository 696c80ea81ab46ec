"""JSON files nasproxy wrote and reads back (a search's best.json, a training's spec.json, a set's kept evaluations,
a selection's state), replaced by one nested deeper than Python's parser recurses: each reader treats it as it treats
any unreadable file (refused in one line, or computed again), not as an internal error (review61: "internal error:
RecursionError" from ``search --out`` holding such a best.json, and from ``train``'s spec.json). checks.loads says it
as a ValueError, which every reader already catches."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from nas_proxy import checks
from nas_proxy.errors import InvalidArgumentError

DEEP = "[" * 100_000 + "]" * 100_000


def test_loads_says_too_deep_as_a_value_error() -> None:
    with pytest.raises(checks.TooDeepError, match="nested too deeply"):
        checks.loads(DEEP)
    with pytest.raises(InvalidArgumentError, match=r"^x\.json is nested too deeply"):  # parse_json's own wording kept
        checks.parse_json("x.json", DEEP)


def test_a_deep_spec_json_is_no_record(tmp_path: Path) -> None:
    from nas_proxy.search.trained_folder import read_record

    (tmp_path / "spec.json").write_text(DEEP)
    assert read_record(tmp_path / "spec.json") is None


def test_a_deep_best_json_is_refused_in_one_line(tmp_path: Path) -> None:
    from nas_proxy.search.study import best_model

    (tmp_path / "best.json").write_text(DEEP)
    with pytest.raises(InvalidArgumentError, match=r"is not a best\.json written by nasproxy search"):
        best_model(tmp_path / "best.json")


def test_search_out_holding_a_deep_best_json_is_judged_as_an_unreadable_one(tmp_path: Path) -> None:
    from nas_proxy.search import runner

    (tmp_path / "best.json").write_text(DEEP)
    runner._not_another_study(tmp_path, "s")  # before: RecursionError


def test_deep_kept_evaluations_are_computed_again(tmp_path: Path) -> None:
    from nas_proxy.evaluate import Kept, KeptRedoneWarning

    kept = Kept(tmp_path, {"what": "x"})
    kept.path.parent.mkdir(parents=True, exist_ok=True)
    kept.path.write_text(DEEP)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        again = Kept(tmp_path, {"what": "x"})
    assert again.entries == {}
    assert [w for w in said if issubclass(w.category, KeptRedoneWarning)], [str(w.message) for w in said]
