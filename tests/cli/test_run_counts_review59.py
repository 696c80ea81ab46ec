"""review59: ``nasproxy run``'s ``[search] n_trials`` is held to the same limit as ``search --n-trials``
(checks.TRIALS_MAX), and refused as the preset is read, before any stage writes. Before, the preset's table checked it
positive only: ``n_trials = 1000000`` distilled its set first (runs/NAME/synthetic-*/ written), then the search refused
it naming ``--n-trials``, an option the user never typed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nas_proxy import checks
from nas_proxy.cli import main


def test_a_preset_with_more_trials_than_a_study_takes_is_refused_before_any_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    preset = tmp_path / "big.toml"
    trials = checks.TRIALS_MAX + 1
    preset.write_text(
        f'name = "big"\ndevice = "cpu"\n[distill]\ndataset = "digits"\nipc = 1\niterations = 1\n[search]\nspace = "convnet-cpu"\nn_trials = {trials}\n'
    )
    code = main(["run", str(preset), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert f"n_trials {trials} is more than {checks.TRIALS_MAX:,}" in err and "--n-trials" not in err, err
    assert sorted(os.listdir(tmp_path)) == ["big.toml"]  # no stage ran: nothing written
