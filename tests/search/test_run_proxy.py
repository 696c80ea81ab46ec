"""``nasproxy run`` with a preset that names its proxy (``[search] proxy_name``): a proxy that trains
on no distilled set skips the distillation and searches on the preset's dataset; a preset without
one still distils; a proxy nothing knows is refused before anything runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from nas_proxy.cli import main
from nas_proxy.errors import InvalidArgumentError
from nas_proxy.pipeline import load_preset, plan

ROOT = Path(__file__).resolve().parents[2]

RANDOM = """
name = "tiny-random"
device = "cpu"
runs = "{runs}"

[search]
space = "convnet-small"
proxy_name = "random-ipc2"
dataset = "digits"
n_trials = 3
pruner = "none"
promote = 1
promote_epochs = 1
promote_images = 200

[search.proxy]
epochs = 4
report_every = 2

[correlate]
n_archs = 3
ceiling = 0
n_boot = 100
promote = 1
proxies = ["random-ipc2", "params"]

[correlate.ground_truth]
epochs = 1
early = [0.5]
images = 200
"""


def test_a_random_subset_preset_searches_without_distilling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # studies/ is created relative to the working directory
    preset = tmp_path / "tiny.toml"
    preset.write_text(RANDOM.format(runs=tmp_path / "runs"))
    assert plan(preset).distill is None
    assert main(["run", str(preset)]) == 0
    out = capsys.readouterr().out
    assert "[1/3] distill: skipped, the search's proxy random-ipc2 needs no distilled set" in out
    assert "[2/3] search convnet-small with random-ipc2 on digits" in out
    # each stage's wall time as it ends, then all of them and the total (the demo's time by stage)
    assert re.search(r"\[2/3\] search done in \d+:\d\d \(trials \d+:\d\d, promotion \d+:\d\d\)", out)
    assert re.search(r"\[3/3\] correlate done in \d+:\d\d \(ground truth \d+:\d\d, proxies and report \d+:\d\d\)", out)
    assert re.search(r"time: +search \d+:\d\d, promotion \d+:\d\d, ground truth \d+:\d\d, correlate \d+:\d\d; total \d+:\d\d", out)
    runs = tmp_path / "runs" / "tiny-random"
    assert not list(runs.glob("synthetic-*"))  # nothing distilled
    assert plan(runs / "config.toml").tables() == plan(preset).tables()  # the saved preset plans the same run
    trials = (runs / "search" / "trials.csv").read_text()
    assert "random-ipc2" in trials  # every trial scored by the named proxy
    assert json.loads((runs / "search" / "best.json").read_text())["best"]["spec"]["family"] == "convnet"
    results = json.loads((runs / "correlate" / "results.json").read_text())
    assert set(results["proxies"]) >= {"random-ipc2", "params"}  # the searched proxy is judged in the report
    assert "synthetic set: " in out and "random-ipc2-seed0" in out  # the random subset the search made


def test_a_preset_without_proxy_still_distils(tmp_path: Path) -> None:
    text = RANDOM.replace('proxy_name = "random-ipc2"\ndataset = "digits"\n', "") + '\n[distill]\ndataset = "digits"\nipc = 2\n'
    path = tmp_path / "p.toml"
    path.write_text(text.format(runs=tmp_path / "runs"))
    p = plan(path)
    assert p.distill is not None and p.synthetic == tmp_path / "runs" / "tiny-random" / "synthetic-datadam-ipc2"
    assert p.search.synthetic == str(p.synthetic) and p.search.proxy_name is None and p.search.dataset is None


@pytest.mark.parametrize(
    ("edits", "message"),
    [
        ([('proxy_name = "random-ipc2"', 'proxy_name = "random-ipcx"')], "random-ipcN needs N >= 1"),
        ([('proxy_name = "random-ipc2"', 'proxy_name = "bogus"')], r"\[search\]: unknown proxy 'bogus'; known here: .*random-ipcN"),
        (
            [('proxy_name = "random-ipc2"', 'proxy = "random-ipc2"'), ("[search.proxy]\nepochs = 4\nreport_every = 2\n", "")],
            r"name the proxy with proxy_name = 'random-ipc2'",
        ),
        ([("[search]\n", '[distill]\ndataset = "digits"\n\n[search]\n')], r"\[distill\]: .* trains on no distilled set"),
        ([('proxy_name = "random-ipc2"\n', "")], r"key 'dataset' is the data of a proxy on real data"),
    ],
)
def test_preset_proxy_errors(edits: list[tuple[str, str]], message: str, tmp_path: Path) -> None:
    text = RANDOM.format(runs=tmp_path / "runs")
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(InvalidArgumentError, match=message):
        load_preset(path)


def test_a_ladder_preset_searches_without_distilling(tmp_path: Path) -> None:
    """``[search] ladder``: its first rung is the search's proxy (on real data: nothing is distilled)."""
    text = RANDOM.replace('proxy_name = "random-ipc2"\n', 'ladder = "random-ipc2:1.0,full:1"\n').replace("promote = 1\n", "", 1)
    path = tmp_path / "l.toml"
    path.write_text(text.format(runs=tmp_path / "runs"))
    p = plan(path)
    assert p.distill is None and p.search.ladder == "random-ipc2:1.0,full:1" and p.search.dataset == "digits"
    path.write_text(text.replace("random-ipc2:1.0,full:1", "random-ipc2:1.0,full:0").format(runs=tmp_path / "runs"))
    with pytest.raises(InvalidArgumentError, match=r"\[search\]: ladder 'random-ipc2:1.0,full:0'.*a count must be at least 1"):
        plan(path)


@pytest.mark.parametrize("distils", [False, True], ids=["real-data", "distils"])
def test_a_profile_calibrated_on_another_copy_of_the_data_is_refused_before_anything_trains(
    distils: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """fix54b: ``search --dataset D --proxy-profile P`` compares P's ``dataset_sha256`` with the data it loads since stop 53,
    but ``run PRESET --proxy-profile P`` compared the dataset's name alone: a preset searching on digits (or distilling
    them) with a profile calibrated on other digits images went on (drill: the search ran its trials, exit 0). Refused
    now in one line, before anything is distilled, drawn or trained; a profile of the same data goes on to distil."""
    from unittest import mock

    from nas_proxy import pipeline
    from nas_proxy.data import load_dataset

    monkeypatch.chdir(tmp_path)
    digits = load_dataset("digits").content_sha256()
    text = RANDOM.format(runs=tmp_path / "runs")
    if distils:
        text = text.replace('proxy_name = "random-ipc2"\ndataset = "digits"\n', "") + '\n[distill]\ndataset = "digits"\nipc = 2\n'
    preset = tmp_path / "p.toml"
    preset.write_text(text)

    def profile(sha: str) -> str:
        path = tmp_path / f"{sha[:4]}.toml"
        path.write_text(
            f'format = "nasproxy-proxy-profile"\nformat_version = 4\n[calibration]\ndataset = "digits"\ndataset_sha256 = "{sha}"\n'
        )
        return str(path)

    other = "b" * 64
    distilled = mock.patch.object(pipeline, "distill", side_effect=KeyboardInterrupt)  # stops a run that gets there
    with distilled as spy:
        assert main(["run", str(preset), "--quiet", "--proxy-profile", profile(other)]) == 2
    assert spy.call_count == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(
        f"nasproxy run: error: --proxy-profile {tmp_path / 'bbbb.toml'} was calibrated on digits images that differ from "
        f"those found now (content_sha256 {other[:12]}... there, {digits[:12]}... now)"
    )
    runs = tmp_path / "runs" / "tiny-random"
    assert not (tmp_path / "studies").exists() and not list(runs.glob("*/*"))  # no study, no set, no subset, no trial
    if distils:  # the same copy passes: on to distil (stopped there)
        with distilled as spy:
            assert main(["run", str(preset), "--quiet", "--proxy-profile", profile(digits)]) == 130
        assert spy.call_count == 1
