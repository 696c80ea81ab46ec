"""fix61d: a ladder's study holds rung 0's ``--n-trials`` candidates and every upper rung's climbers, each a trial of the
same study. Before, only ``--n-trials`` was held to the limit of one study (checks.TRIALS_MAX): a 50-rung ladder with
``--n-trials 100000`` started, heading for 5 million trials in one study."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas_proxy.checks import TRIALS_MAX
from nas_proxy.cli import main
from nas_proxy.errors import InvalidArgumentError
from nas_proxy.search import SearchConfig
from nas_proxy.search.ladder import plan

FIFTY = ",".join(f"random-ipc{i}:1.0" for i in range(1, 51)) + ",full:3"


def config(spec: str) -> SearchConfig:
    return SearchConfig(synthetic=None, space="convnet-small", device="cpu", pruner="none", dataset="digits", ladder=spec)


def test_the_limit_counts_every_rungs_trials_as_the_study_will() -> None:
    """Three rungs keeping every candidate, then 2 trained in full: 3 n + 2 trials."""
    spec = "synflow:1.0,naswot:1.0,snip:1.0,full:2"
    most = (TRIALS_MAX - 2) // 3
    assert plan(config(spec), most, 1, None).size(3, most) == 2  # the largest that fits: planned
    with pytest.raises(InvalidArgumentError) as refused:
        plan(config(spec), most + 1, 1, None)
    told = str(refused.value)
    assert f"up to {3 * (most + 1) + 2:,} trials" in told and f"more than {TRIALS_MAX:,}" in told, told
    assert "\n" not in told


def test_a_fifty_rung_ladder_of_the_most_trials_is_refused_in_one_line_before_anything_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["search", "--dataset", "digits", "--space", "convnet-small", "--study", "big", "--storage", "big.log"]
    code = main([*args, "--ladder", FIFTY, "--n-trials", str(TRIALS_MAX), "--device", "cpu", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert f"up to {50 * TRIALS_MAX + 3:,} trials" in err[0] and "--n-trials" in err[0], err
    assert sorted(p.name for p in tmp_path.rglob("*")) == []  # no study, no random subset
