"""fix61d: fix61a's rule (a batch above its data capped, said in one warning line once a command) said its line before a
later refusal in ``score`` and ``distill``: a refused command then printed two lines. Now the cap is held until nothing
more is refused (:func:`nas_proxy.checks.caps_held`), as ``search`` and ``evaluate`` hold it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nas_proxy.cli import main
from tests.conftest import copy_of

HUGE = 10**9
SPEC = {"family": "convnet", "depth": 1, "width": 32, "activation": "relu", "normalization": "instancenorm", "pooling": "avgpooling"}


def test_score_refused_for_its_labels_says_its_one_line_and_no_cap(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archs = tmp_path / "archs.json"
    archs.write_text(json.dumps([SPEC]))
    run = copy_of(tiny_run, tmp_path / "run")
    args = ["score", "--synthetic", str(run), "--space", "convnet720", "--archs", str(archs), "--device", "cpu", "--quiet"]
    assert main([*args, "--batch-size", str(HUGE), "--hard-labels"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--hard-labels changes nothing" in err, err


def test_distill_refused_for_its_nets_says_its_one_line_and_no_cap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["distill", "--dataset", "digits", "--ipc", "2", "--iterations", "1", "--device", "cpu", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "o"), "--batch-real", str(HUGE), "--nets", "nb201"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--nets nb201" in err, err
    assert not (tmp_path / "o").exists()


def test_distill_that_runs_still_says_its_cap_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["distill", "--dataset", "digits", "--ipc", "2", "--iterations", "1", "--device", "cpu", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "o"), "--batch-real", str(HUGE)]) == 0
    err = capsys.readouterr().err
    assert err.count(f"batch_real {HUGE} is more than the ") == 1, err
