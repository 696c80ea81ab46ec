"""A ``--config`` file's own mistake is said before the required options it leaves missing (fix57b): a value written in
the wrong table (``[distill.distill] ipc = 1``) or under a misspelt key leaves its option missing, and "the following
arguments are required: --ipc" sent the user to the command line for a mistake that is in the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas_proxy.cli import main

# (command line without --config, the file, what the one line must name): for every command that has required options
# and reads a --config file, each missing at least one required option that the file's mistake does not explain
CASES = [
    (["distill", "--dataset", "digits", "--out", "o"], "[distill.distill]\nipc = 1\n", "[distill]: unknown key 'distill'"),
    (["distill", "--out", "o"], "[distill]\nipcc = 1\n", "unknown key 'ipcc'"),
    (["distill", "--dataset", "digits", "--out", "o"], "[distill.soft_labels]\nteacherz = 2\n", "unknown key 'teacherz'"),
    (["distill", "--dataset", "digits", "--out", "o"], '[distill]\niterations = "many"\n', "iterations"),
    (["soft-labels"], "[distill.soft_labels]\nteacherz = 2\n", "unknown key 'teacherz'"),
    (["evaluate"], "[evaluate.train]\nepoch = 1\n", "unknown key 'epoch'"),
    (["search", "--study", "s"], "[search]\nn_trial = 3\n", "unknown key 'n_trial'"),
    (["search", "--study", "s", "--space", "convnet-cpu", "--n-trials", "2"], "[search.proxy]\nepoch = 1\n", "unknown key 'epoch'"),
    (["score", "--space", "convnet-cpu"], "[search]\nsynthtic = 'x'\n", "unknown key 'synthtic'"),
    (["worker"], "[worker]\nn_trial = 3\n", "unknown key 'n_trial'"),
    (["correlate", "--study", "s"], "[correlate]\nn_arch = 3\n", "unknown key 'n_arch'"),
    (["correlate", "--study", "s"], "[correlate.ground_truth]\nepoch = 3\n", "unknown key 'epoch'"),
    (["dashboard"], "[dashboard]\nprt = 8080\n", "unknown key 'prt'"),
    (["train", "best.json"], "[train]\nepoch = 2\n", "unknown key 'epoch'"),
]


@pytest.mark.parametrize(("argv", "text", "named"), CASES, ids=[f"{c[0][0]}-{k}" for k, c in enumerate(CASES)])
def test_the_files_mistake_comes_before_a_missing_option(
    argv: list[str], text: str, named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(text)
    assert main([*argv, "--config", str(config)]) == 2
    out, err = capsys.readouterr()
    assert (out, err.count("\n")) == ("", 1), err
    assert named in err and str(config) in err, err
    assert "are required" not in err, err


def test_a_file_without_mistakes_still_says_what_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The check of the file does not replace the one of the options: a file that is right lets the missing option be
    named, its own keys counting as given (ipc), those of another command's table unchecked ([search])."""
    config = tmp_path / "c.toml"
    config.write_text("[distill]\nipc = 1\n[distill.soft_labels]\nteachers = 2\n[search]\nnot_distills = 1\n")
    assert main(["distill", "--out", "o", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "the following arguments are required: --dataset; dataset may also come from [distill]" in err, err
