"""A file of architectures with both 'accuracy' and a column that looks like one ('test_accuracy'): before branch
fix61c a CSV was read from 'accuracy' without a word, while the same rows in JSON were refused; both are refused now,
in one line naming the other column (which of the two is the ground truth is not guessed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nas_proxy.correlate.archs import read_archs
from nas_proxy.errors import InvalidArgumentError

SPECS = [{"family": "convnet", "depth": 2, "width": 32}, {"family": "convnet", "depth": 3, "width": 32}]


def _csv(path: Path, header: str, rows: list[str]) -> Path:
    quoted = ['"' + json.dumps(s).replace('"', '""') + '"' for s in SPECS]
    path.write_text(header + "\n" + "".join(f"{q},{r}\n" for q, r in zip(quoted, rows, strict=True)))
    return path


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_accuracy_beside_a_lookalike_is_refused(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"archs{suffix}"
    if suffix == ".csv":
        _csv(path, "spec,accuracy,test_accuracy", ["50,60", "55,65"])
    else:
        path.write_text(
            json.dumps([{"spec": s, "accuracy": a, "test_accuracy": t} for s, a, t in zip(SPECS, (50, 55), (60, 65), strict=True)])
        )
    with pytest.raises(InvalidArgumentError, match=r"'test_accuracy' looks like an accuracy beside 'accuracy'") as e:
        read_archs(path)
    assert "\n" not in str(e.value) and "rename it to 'accuracy'" not in str(e.value)


def test_a_csv_with_accuracy_and_other_columns_is_read(tmp_path: Path) -> None:
    path = _csv(tmp_path / "archs.csv", "spec,accuracy,params", ["50,1000", "55,2000"])
    assert [a.truth for a in read_archs(path)] == [50.0, 55.0]


def test_a_lookalike_alone_is_refused_as_before(tmp_path: Path) -> None:
    path = _csv(tmp_path / "archs.csv", "spec,test_accuracy", ["60", "65"])
    with pytest.raises(InvalidArgumentError, match=r"column 'test_accuracy' looks like an accuracy, but .* rename it to 'accuracy'"):
        read_archs(path)
