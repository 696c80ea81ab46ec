"""fix60: a ground-truth table's ``arch_id`` column was not read where the row has a spec (``calibrate.truth``), while
``calibrate --ladders`` reads the same table by ``arch_id`` alone: a row whose id is another architecture's (a spec
edited by hand, rows pasted together) gave the two calibrations two different architectures for one accuracy. Such a
row is refused in one line, at its line; an id that is its spec's, a name of the user's (not in the form of an id: a
ladder table's ``a01``) or no id column passes."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from nas_proxy.calibrate.truth import from_file
from nas_proxy.errors import InvalidArgumentError
from nas_proxy.spaces import arch_id

SPECS = [{"family": "convnet", "depth": d, "width": 16} for d in (1, 2, 3)]


def _table(path: Path, ids: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["arch_id", "seed", "spec", "test_accuracy"])
        w.writerows([i, 0, json.dumps(s), 50 + n] for n, (i, s) in enumerate(zip(ids, SPECS, strict=True)))
    return path


def test_ids_that_are_their_specs_pass(tmp_path: Path) -> None:
    truths = from_file(_table(tmp_path / "t.csv", [arch_id(s) for s in SPECS]))
    assert [t.arch_id for t in truths] == [arch_id(s) for s in SPECS]


@pytest.mark.parametrize("given", ["other", "swap", " padded "])
def test_an_id_that_is_not_its_specs_is_refused_at_its_line(tmp_path: Path, given: str) -> None:
    ids = [arch_id(s) for s in SPECS]
    if given == "swap":  # the id of another row's architecture
        ids[1], wrong = ids[2], ids[2]
    elif given == "other":
        ids[1] = wrong = "0123456789ab"
    else:  # blanks around a field are the file's layout: an id equal but for them passes
        ids[1] = f"  {ids[1]} "
        assert len(from_file(_table(tmp_path / "t.csv", ids))) == 3
        return
    path = _table(tmp_path / "t.csv", ids)
    with pytest.raises(
        InvalidArgumentError,
        match="^" + re.escape(f"{path} line 3: arch_id {wrong!r} is another architecture's id, not its spec's ({arch_id(SPECS[1])})"),
    ) as e:
        from_file(path)
    assert "\n" not in str(e.value)


def test_an_empty_id_or_a_name_of_the_users_is_taken_as_a_label(tmp_path: Path) -> None:
    ids = [arch_id(s) for s in SPECS]
    ids[0], ids[2] = "", "resnet-a"
    assert [t.arch_id for t in from_file(_table(tmp_path / "t.csv", ids))] == [arch_id(s) for s in SPECS]
