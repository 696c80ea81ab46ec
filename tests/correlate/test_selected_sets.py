"""A synthetic set chosen by ``distill --select-by`` on some of the architectures a correlate run reports: said, in a
warning and in the report (branch probe46: before, its correlation on them, fit on them, was given as any other)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nas_proxy.correlate.archs import Arch
from nas_proxy.correlate.runner import _chosen_on_these
from tests.conftest import copy_of

ARCHS = [Arch({"family": "convnet", "depth": d}, f"{d:012d}") for d in (1, 2, 3, 4)]


def test_a_set_chosen_on_some_of_the_architectures_is_said() -> None:
    chosen = {"selection": {"file": "truth.json", "calibration": [f"{d:012d}" for d in (2, 3, 9)]}}
    (said,) = _chosen_on_these(["chosen", "plain"], [chosen, {}], ARCHS)
    assert said.startswith("2 of these 4 architectures are calibration architectures of the synthetic set chosen (distill --select-by")
    assert "truth.json kept the iterate that ranks them best): its correlation on them is fit on them" in said


def test_a_set_chosen_on_other_architectures_or_not_chosen_is_not() -> None:
    other = {"selection": {"file": "truth.json", "calibration": ["999999999999"]}}
    assert _chosen_on_these(["other", "plain", "odd"], [other, {}, {"selection": "edited"}], ARCHS) == []


def test_correlate_says_it_on_stderr_and_in_the_report(tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from nas_proxy.cli import main
    from nas_proxy.spaces import arch_id, get_space

    specs = (get_space("convnet-cpu").specs(1000) or [])[:3]
    archs = tmp_path / "archs.json"
    archs.write_text(json.dumps(specs))
    syn = copy_of(tiny_run, tmp_path / "chosen")
    meta = json.loads((syn / "meta.json").read_text())
    meta["selection"] = {"file": "truth.json", "calibration": [arch_id(specs[0])]}  # as distill --select-by records it
    (syn / "meta.json").write_text(json.dumps(meta))
    args = ["correlate", "--archs", str(archs), "--space", "convnet-cpu", "--synthetic", str(syn), "--full-epochs", "1"]
    args += ["--full-images", "20", "--epochs", "1", "--bootstrap", "100", "--device", "cpu", "--quiet", "--out", str(tmp_path / "c")]
    args += ["--proxies", "datadam-ipc2", "--no-random-subset", "--ceiling", "0"]  # the chosen set's proxy alone: what is said is of it
    assert main(args) == 0
    said = f"1 of these 3 architectures are calibration architectures of the synthetic set {syn} (distill --select-by truth.json"
    assert said in capsys.readouterr().err
    assert said in (tmp_path / "c" / "report.md").read_text()
