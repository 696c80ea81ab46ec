"""fix62b: a named training protocol's batch (``search --promote-protocol``, ``train --protocol``, a ladder's full rung)
follows fix61a's rule for every batch. Before, ``fast``'s batch 512 on 100 promoted images (or a training set of 24) was
capped without a word, and nothing recorded the batch the training stepped with. Now the cap is said in one warning line
once a command (the standard protocol's batch, the default 256, is capped quietly as every default is), and the batch
used is recorded: the training study's user attribute, the promotion's record, the trained folder's spec.json."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from nas_proxy.cli import main
from nas_proxy.protocols import DataRef, training_protocol
from nas_proxy.search.promotion import PROMOTION
from nas_proxy.studies.storage import open_storage
from tests.fabricate import image_folder

SPACE = "convnet-small"


@pytest.fixture
def every_warning() -> Iterator[list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        yield seen


def said(err: str) -> list[str]:
    return [line.removeprefix("nasproxy: warning: ") for line in err.splitlines() if " is more than the " in line]


def test_a_training_study_records_the_batch_its_trainings_step_with(tmp_path: Path, every_warning: list[warnings.WarningMessage]) -> None:
    storage = open_storage(str(tmp_path / "j.log"), "x")
    fast = PROMOTION.open(storage, DataRef("digits"), training_protocol("fast", 1, 100))
    assert fast.user_attrs[PROMOTION.attr]["batch_used"] == 100  # 512 capped to the 100 images
    whole = PROMOTION.open(storage, DataRef("digits"), training_protocol("standard", 1))
    assert whole.user_attrs[PROMOTION.attr]["batch_used"] == 256  # the 1,078 training images hold it
    assert whole.user_attrs[PROMOTION.attr]["protocol"]["batch_size"] == 256
    assert not every_warning  # the command says a cap, once; the study only records it


def test_search_promote_protocol_fast_says_its_cap_once_and_records_the_batch_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["search", "--dataset", "digits", "--proxy", "synflow", "--space", SPACE, "--study", "p", "--n-trials", "2"]
    args += ["--promote", "1", "--promote-epochs", "1", "--promote-images", "100", "--device", "cpu", "--quiet", "--json"]
    assert main([*args, "--promote-protocol", "fast"]) == 0
    out, err = capsys.readouterr()
    assert said(err) == [
        "--promote-protocol fast's batch_size 512 is more than the 100 training images (--promote-images): each step trains on all 100"
    ]
    assert json.loads(out)["promotion"]["batch_used"] == 100  # the standard protocol's 256, the default, is capped quietly:
    # its record, the training study's above; its silence, checks.batch's own test (tests/test_batch_rule_fix61a.py)


def test_train_protocol_fast_says_its_cap_once_and_spec_json_records_the_batch_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder of 30 images: 24 to train on (a fixed 20 % of every class is the test set)."""
    monkeypatch.chdir(tmp_path)
    folder = image_folder(tmp_path / "pets", ["cat", "dog", "emu"], 10)
    data = ["--dataset", f"imagefolder:{folder}"]
    search = ["search", *data, "--proxy", "synflow", "--space", SPACE, "--study", "t", "--n-trials", "1", "--device", "cpu", "--quiet"]
    assert main(search) == 0
    capsys.readouterr()
    train = ["train", "studies/t", "--epochs", "1", "--device", "cpu", "--quiet", "--json"]
    assert main([*train, "--out", "fast", "--protocol", "fast"]) == 0
    out, err = capsys.readouterr()
    assert said(err) == [
        "--protocol fast's batch_size 512 is more than the 24 training images of the whole training set: each step trains on all 24"
    ]
    assert json.loads(out)["spec"]["protocol"]["batch_used"] == 24
    assert json.loads((tmp_path / "fast" / "spec.json").read_text())["protocol"]["batch_used"] == 24
    assert main([*train, "--out", "standard"]) == 0
    out, err = capsys.readouterr()
    assert said(err) == [] and json.loads(out)["spec"]["protocol"]["batch_used"] == 24
