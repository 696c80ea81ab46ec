"""fix61a: one rule for a batch larger than its data (``nas_proxy.checks.batch``). Before, ``evaluate`` refused it,
``distill`` capped it saying so, and ``search``/``score --batch-size``, ``--report-images`` and ``correlate
--full-batch-size`` capped it without a word, recording the batch asked for. Now every one is capped to the data, a value
set above it is said in one warning line once a command (not per network, epoch or trial; a search's worker processes
leave it to the command), and the record says the batch used."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from nas_proxy.checks import BatchCappedWarning, batch
from nas_proxy.cli import main
from nas_proxy.studies.storage import open_storage
from tests.conftest import copy_of

HUGE = 10**9
SET = 20  # tiny_run's images: 2 per class of digits' 10


@pytest.fixture
def every_warning() -> Iterator[list[warnings.WarningMessage]]:
    """Every warning issued, each call counted (Python's own filter would say a repeated one once a line of code)."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        yield seen


def capped(seen: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in seen if issubclass(w.category, BatchCappedWarning)]


def said(err: str) -> list[str]:
    """The lines a command said of a capped batch (``nasproxy: warning: ...``: the CLI shows its own warnings so)."""
    return [line.removeprefix("nasproxy: warning: ") for line in err.splitlines() if " is more than the " in line]


def test_the_rule_caps_says_a_value_set_and_keeps_the_default_quiet(every_warning: list[warnings.WarningMessage]) -> None:
    assert batch("batch_size", 500, 100, "images of syn", 256, "each step trains on all 100") == 100
    assert capped(every_warning) == ["batch_size 500 is more than the 100 images of syn: each step trains on all 100"]
    assert batch("batch_size", 256, 100, "images of syn", 256, "-") == 100  # the default: capped quietly
    assert batch("batch_size", 100, 100, "images of syn", 256, "-") == 100  # the data exactly: nothing to say
    assert batch("batch_size", 64, 100, "images of syn", 256, "-") == 64
    assert len(capped(every_warning)) == 1


def test_evaluate_caps_a_batch_above_the_set_says_it_once_and_records_the_batch_used(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], every_warning: list[warnings.WarningMessage]
) -> None:
    """Before fix61a refused ('batch_size must be between 1 and 20'), while the default 256 was capped without a word."""
    syn = copy_of(tiny_run, tmp_path / "syn")
    code = main(["evaluate", str(syn), "--runs", "2", "--epochs", "2", "--device", "cpu", "--quiet", "--json", "--batch-size", str(HUGE)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert said(err) == [f"batch_size {HUGE} is more than the {SET} images of {syn}: each step trains on all {SET}"]
    assert json.loads(out)["train"]["batch_size"] == SET


def test_evaluate_refused_for_its_memory_says_its_one_line_and_no_cap(
    tiny_run: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from nas_proxy.data import formats

    monkeypatch.setattr(formats, "memory_available", lambda: 10**9)
    args = ["evaluate", str(tiny_run), "--runs", "1", "--epochs", "1", "--device", "cpu", "--quiet", "--model", "width=10000"]
    assert main([*args, "--batch-size", str(HUGE)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is free now" in err, err


@pytest.mark.drill  # a search of two processes: make test-drills (the one-process check is the next test)
def test_search_caps_batch_and_report_images_says_each_once_and_its_trials_record_what_was_used(
    tiny_run: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    every_warning: list[warnings.WarningMessage],
) -> None:
    """Two trials, two reports each, on two processes (the command's worker process leaves it to the command): each cap said
    once. The study keeps the proxy training asked for (its identity, which
    a resumed search compares); its trials record the batch and report images used."""
    monkeypatch.chdir(tmp_path)
    args = ["search", "--synthetic", str(tiny_run), "--space", "convnet-small", "--study", "b", "--n-trials", "2", "--epochs", "2"]
    args += ["--workers", "2", "--report-every", "1", "--device", "cpu", "--quiet", "--batch-size", str(HUGE), "--report-images", str(HUGE)]
    assert main(args) == 0
    lines = said(capfd.readouterr().err)
    assert len(lines) == 2, lines
    assert lines[0] == f"proxy batch_size {HUGE} is more than the {SET} images of {tiny_run}: each step trains on all {SET}"
    assert lines[1].startswith(f"proxy report_images {HUGE} is more than the ") and "validation" in lines[1], lines[1]
    val = int(lines[1].split()[7])
    study = optuna.load_study(study_name="b", storage=open_storage("studies/b/journal.log", "b")[0])
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 2
    assert {(t.user_attrs["batch_size"], t.user_attrs["report_images"]) for t in done} == {(SET, val)}


def test_a_search_refused_after_its_set_is_read_says_its_one_line_and_no_cap(
    tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The cap is said once the study is made: a storage refused after the set and its data were read is the one line."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder").mkdir()
    args = ["search", "--synthetic", str(tiny_run), "--space", "convnet-small", "--study", "r", "--n-trials", "1", "--epochs", "1"]
    assert main([*args, "--device", "cpu", "--quiet", "--batch-size", str(HUGE), "--storage", str(tmp_path / "folder")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a directory" in err, err


@pytest.mark.drill  # a whole correlation (16 s on 2 loaded cores): make test-drills; its parts are checked below
def test_correlate_caps_the_ground_truth_batch_says_it_once_and_its_report_says_the_batch_used(
    tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Three architectures, each trained on 20 real images: the cap said once, the report's protocol says batch 20."""
    monkeypatch.chdir(tmp_path)
    args = ["correlate", "--sample", "--space", "convnet-small", "--synthetic", str(tiny_run), "--n-archs", "3", "--full-epochs", "1"]
    args += ["--full-images", "20", "--epochs", "1", "--bootstrap", "100", "--device", "cpu", "--quiet", "--out", "out"]
    assert main([*args, "--full-batch-size", str(HUGE)]) == 0
    assert said(capsys.readouterr().err) == [
        f"--full-batch-size {HUGE} is more than the 20 training images (--full-images): each step trains on all 20"
    ]
    assert "(lr 0.01, batch 20, augmentation none)" in (tmp_path / "out" / "report.md").read_text()


def test_a_proxy_context_says_its_caps_once_and_its_trials_train_with_the_batch_used(
    tiny_run: Path, every_warning: list[warnings.WarningMessage]
) -> None:
    """What a search's worker loads once and scores every trial with: two trials, two reports each, each cap said once."""
    from nas_proxy.protocols import ProxyConfig
    from nas_proxy.spaces import get_space
    from nas_proxy.trainers.synthetic_set import ProxyContext

    ctx = ProxyContext.load(tiny_run, "cpu", ProxyConfig(epochs=2, report_every=1, batch_size=HUGE, report_images=HUGE))
    val = ctx.val_x.shape[0]
    assert (ctx.batch_size, ctx.report_images, ctx.report_x.shape[0]) == (SET, val, val)
    space = get_space("convnet-small")
    for depth in (1, 2):
        spec = space.complete({"depth": depth, "width": 32, "activation": "relu", "normalization": "instancenorm", "pooling": "avgpooling"})
        assert len(ctx.score(space, spec).curve) == 2  # a report after epoch 1, the score after epoch 2
    assert capped(every_warning) == [
        f"proxy batch_size {HUGE} is more than the {SET} images of {tiny_run}: each step trains on all {SET}",
        f"proxy report_images {HUGE} is more than the {val} images of the validation split: each report scores all {val}",
    ]


def test_the_ground_truth_batch_is_capped_to_its_training_images(every_warning: list[warnings.WarningMessage]) -> None:
    from nas_proxy.protocols import DataRef, GroundTruthConfig
    from nas_proxy.trainers.fulldata import batch_used

    digits = DataRef("digits")
    assert batch_used(digits, GroundTruthConfig(images=20, batch_size=HUGE), "--full-batch-size") == 20
    assert batch_used(digits, GroundTruthConfig(images=20), "--full-batch-size") == 20  # the default: quietly
    assert batch_used(digits, GroundTruthConfig(images=300, batch_size=64), "--full-batch-size") == 64
    split = batch_used(digits, GroundTruthConfig(batch_size=HUGE), "--promote-batch")
    assert 1000 < split < 1797  # digits' training split
    assert capped(every_warning) == [
        f"--full-batch-size {HUGE} is more than the 20 training images (--full-images): each step trains on all 20",
        f"--promote-batch {HUGE} is more than the {split} training images of the digits split: each step trains on all {split}",
    ]
