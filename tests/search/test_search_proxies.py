"""``search --proxy TOKEN``: every kind of the proxy registry drives a search through the one
objective path, the study records its proxy and refuses another, a resumed search scores nothing
twice, and a search's score of an architecture is the registry's, bit for bit."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
import torch
from optuna.trial import TrialState

from nas_proxy.cli import main
from nas_proxy.errors import InvalidArgumentError, OutputConflictError
from nas_proxy.proxies import PROXY_KINDS, RunSetup
from nas_proxy.proxies.early import EarlyStopProxy
from nas_proxy.search import ProxyConfig, SearchConfig, join, search
from nas_proxy.search.runner import make_objective
from nas_proxy.search.study import ATTR, create_or_check, spec_of
from nas_proxy.search.target import open_proxy
from nas_proxy.spaces import get_space
from nas_proxy.studies.storage import open_storage
from nas_proxy.trainers.fulldata import DataRef, GroundTruthConfig, RealData, train_one
from tests import warm
from tests.gate import Gate
from tests.search.test_search import FAST, SMALL_SPACE, load

# one token per registered kind, each a search on digits (the set itself: tests/search/test_search.py)
# early@0.2ep: a fifth of an epoch on digits (perf59a: a whole one cost ~0.6 CPU-s more a search where the length is not
# what a test checks; test_early_stopping_in_a_search_is_the_ground_truths_point_bit_for_bit scores early@1ep)
EARLY = "early@0.2ep"
TOKENS = {"synthetic": "random-ipc2", "early": EARLY, "zero-cost": "synflow"}


def real(token: str, **overrides: Any) -> SearchConfig:
    """A search on digits scored by ``token`` (FAST: 4 epochs when the proxy trains on a set; on others the
    proxy-training options change nothing and are refused)."""
    training = FAST if token.startswith("random-ipc") else ProxyConfig()
    base: dict[str, Any] = dict(
        synthetic=None, space=SMALL_SPACE, device="cpu", proxy=training, pruner="none", proxy_name=token, dataset="digits"
    )
    return SearchConfig(**{**base, **overrides})


def test_every_registered_kind_has_a_search_token_here() -> None:
    assert set(TOKENS) == set(PROXY_KINDS), "a new proxy kind: add a token of it to TOKENS, and its search is tested"


@pytest.mark.parametrize("kind", sorted(TOKENS))
def test_a_search_on_every_proxy_kind(kind: str, tmp_path: Path) -> None:
    token = TOKENS[kind]
    storage, out = tmp_path / "journal.log", tmp_path / "export"
    result = search(real(token), "p", 2, str(storage), out=out)
    assert result.trials == {"complete": 2} and result.unmet is None
    study = load(storage, "p")
    assert study.user_attrs[ATTR]["proxy"] == token and study.user_attrs[ATTR]["config"]["proxy_name"] == token
    for t in study.trials:
        a = t.user_attrs
        assert a["proxy"] == token and a["proxy_seconds"] >= 0 and a["params"] > 0 and a["flops"] > 0 and a["device"] == "cpu"
        assert t.value is not None and t.value == t.value  # a number, not NaN
    assert (out / "best.json").is_file() and (out / "trials.csv").is_file()
    from optuna_dashboard import get_note  # here: its import costs each pytest-xdist worker ~0.3 CPU-s (test_pipeline.py)

    assert f"proxy `{token}`" in get_note(study)  # the dashboard note names the proxy (a code span: never a link)
    assert study.metric_names == ["val_accuracy" if PROXY_KINDS.get(kind).trains else token] == [result.metric]


def test_the_printed_table_names_a_training_free_score_by_its_proxy(capsys: pytest.CaptureFixture[str]) -> None:
    from nas_proxy.cli.search import print_table

    row = {"number": 0, "values": [7664.54], "params": 10, "flops": 2e6, "proxy_seconds": 0.1, "arch_id": "abc", "spec": {"depth": 2}}
    print_table([row], "synflow")
    head, line = capsys.readouterr().out.splitlines()
    assert "synflow" in head and "val acc" not in head and "7664.54" in line
    print_table([row])  # a score that is an accuracy
    assert "val acc %" in capsys.readouterr().out.splitlines()[0]


def test_a_training_free_search_makes_its_first_flop_count_before_any_trial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fix43b moved the first FLOP count's import (torch._dynamo: seconds, during which a Ctrl-C is held) out of
    the first trial into the proxy's context; zero-cost and early-training proxies build none before their first
    trial, so their first trial still held a Ctrl-C for seconds (the review of stop 43): the search makes it."""
    from nas_proxy.search import runner

    calls: list[str] = []
    monkeypatch.setattr(runner, "ready_to_count_flops", lambda space=None: calls.append("ready"))

    def counted(*args: object) -> int:
        calls.append("trial")
        return 1

    monkeypatch.setattr(runner, "count_flops", counted)
    search(real("synflow"), "f", 2, str(tmp_path / "journal.log"), out=tmp_path)
    assert calls[:2] == ["ready", "trial"] and calls.count("ready") == 1  # (a repeated candidate counts nothing again)


def test_a_random_subset_is_made_once_and_shared_by_the_workers(tmp_path: Path) -> None:
    storage = tmp_path / "journal.log"
    search(real("random-ipc2"), "w", 2, str(storage), out=tmp_path / "export")
    made = tmp_path / "random-ipc2-seed0"  # beside the journal
    stamp = (made / "meta.json").stat().st_mtime_ns
    join("w", str(storage), n_trials=3, worker_index=1)  # `nasproxy worker`: the stored proxy, the same subset
    study = load(storage, "w")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    sha = study.user_attrs[ATTR]["synthetic_sha256"]
    assert sha and {t.user_attrs["synthetic_sha256"] for t in study.trials} == {sha}
    assert (made / "meta.json").stat().st_mtime_ns == stamp  # found, not made again


def test_the_study_refuses_another_proxy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    storage = tmp_path / "journal.log"
    search(real("synflow"), "r", 1, str(storage), out=tmp_path)
    with pytest.raises(OutputConflictError, match=r"proxy synflow there, early@1ep now"):
        search(real("early@1ep"), "r", 2, str(storage), out=tmp_path)
    args = ["search", "--proxy", "naswot", "--dataset", "digits", "--space", SMALL_SPACE, "--study", "r", "--storage", str(storage)]
    code = main([*args, "--n-trials", "2", "--device", "cpu", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "proxy synflow there, naswot now" in err[0], err
    assert len(load(storage, "r").trials) == 1  # nothing ran on the other proxy
    other = open_proxy(real("synflow"), tmp_path).fingerprint(get_space(SMALL_SPACE))
    other["dataset"] = {**other["dataset"], "name": "mnist"}  # the same proxy on other data (no second small dataset offline)
    with pytest.raises(OutputConflictError, match=r"dataset digits there, mnist now"):
        create_or_check(open_storage(str(storage), "r")[0], "r", real("synflow"), other, 0)


def test_resume_scores_nothing_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trainings: list[str] = []
    train = EarlyStopProxy._train

    def counted(self: EarlyStopProxy, spec: dict[str, Any]) -> dict[str, Any]:
        trainings.append(str(spec))
        return train(self, spec)

    monkeypatch.setattr(EarlyStopProxy, "_train", counted)
    storage = tmp_path / "journal.log"
    search(real(EARLY), "again", 1, str(storage), out=tmp_path)
    first = load(storage, "again").trials[0]
    search(real(EARLY), "again", 2, str(storage), out=tmp_path)
    trials = load(storage, "again").trials
    # the second trial trains unless it proposed the first one's architecture again (then it is answered from it)
    assert len(trainings) == len({t.user_attrs["arch_id"] for t in trials}) and [t.state for t in trials] == [TrialState.COMPLETE] * 2
    assert trials[0].datetime_complete == first.datetime_complete and trials[0].value == first.value


def test_early_stopping_in_a_search_is_the_ground_truths_point_bit_for_bit(tmp_path: Path) -> None:
    """The search's early@1ep of an architecture equals the validation accuracy correlate's ground-truth
    training (its protocol of 10 epochs, scored at 0.1 and 1 on the way) records after 1 epoch, and so the
    registry's score. The reference stops once that point is scored: the 9 epochs after it cannot change a
    point already scored (a full training's points are a stopped one's, bit for bit:
    tests/search/test_fast_trainer.py::test_a_stopped_training_scores_its_points_as_the_full_one_bit_for_bit)."""
    storage = tmp_path / "journal.log"
    # seed 10: the sampler's first architecture is convnet-small's cheapest (depth 1, width 32; 84 % after
    # an epoch), whose epoch takes a third of seed 3's (depth 2, width 64)
    search(real("early@1ep", seed=10), "bits", 1, str(storage), out=tmp_path)
    (trial,) = load(storage, "bits").trials
    spec, aid = spec_of(trial, get_space(SMALL_SPACE)), trial.user_attrs["arch_id"]
    assert spec is not None
    protocol = GroundTruthConfig()  # correlate's default: 10 epochs, early points 0.1 and 1
    record = train_one(spec, 10, RealData(DataRef("digits"), protocol, torch.device("cpu")), protocol, until=1.0)
    assert set(record["early"]) == {"0.1", "1"} and trial.value == record["early"]["1"]["val_accuracy"]
    setup = RunSetup(space=get_space(SMALL_SPACE), data=DataRef("digits"), out=tmp_path, early=(1.0,), seed=10, truth={(aid, 10): record})
    (proxy,) = EarlyStopProxy.offer(setup)  # as correlate has it: read from the ground truth
    assert proxy.score(spec, aid).value == trial.value


def test_only_proxies_that_report_can_be_pruned(tmp_path: Path) -> None:
    space = get_space(SMALL_SPACE)
    for token, state in (("random-ipc2", TrialState.PRUNED), (EARLY, TrialState.COMPLETE), ("synflow", TrialState.COMPLETE)):
        config = real(token)
        study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=101.0))  # prunes any report
        study.optimize(make_objective(config, open_proxy(config, tmp_path), space, 1), n_trials=1)
        (trial,) = study.trials
        assert trial.state == state, token
        assert bool(trial.intermediate_values) == (token == "random-ipc2"), token


@pytest.mark.parametrize(
    ("token", "change", "refused"),
    [
        ("synflow", {"proxy": ProxyConfig(epochs=5)}, "--epochs (proxy training on a set) changes nothing with synflow"),
        ("early@1ep", {"proxy": ProxyConfig(lr=0.1, dsa=False)}, "--lr, --no-dsa (proxy training on a set) change nothing with early@1ep"),
        (
            "random-ipc2",
            {"proxy": ProxyConfig(hard_labels=True)},
            "--hard-labels changes nothing with random-ipc2: no set it trains on has soft",
        ),
        ("synflow", {"pruner": "hyperband"}, "--pruner hyperband changes nothing with synflow, which reports no intermediate values"),
        (
            "early@1ep",
            {"ladder": "synflow:1.0,early@1ep:0.5,full:1", "proxy": ProxyConfig(seeds=2)},
            "--proxy-seeds (proxy training on a set) changes nothing with synflow, early@1ep:",
        ),
    ],
)
def test_options_that_change_nothing_for_the_proxy_are_refused_before_anything_is_made(
    token: str, change: dict[str, Any], refused: str, tmp_path: Path
) -> None:
    storage = tmp_path / "journal.log"
    overrides = {**change, "proxy_name": None} if "ladder" in change else change
    with pytest.raises(InvalidArgumentError, match=re.escape(refused)):
        search(real(token, **overrides), "idle", 1, str(storage), out=tmp_path / "out")
    assert not storage.exists() and not (tmp_path / "out").exists() and not list(tmp_path.glob("**/*.safetensors"))


def test_the_same_options_pass_where_a_proxy_uses_them(tmp_path: Path) -> None:
    """The rule's other side: a ladder one of whose rungs trains on a set takes the training options,
    and a proxy that reports takes any pruner."""
    ladder = real("synflow", proxy_name=None, proxy=FAST, ladder="synflow:1.0,random-ipc2:0.5,full:1")
    assert search(ladder, "used", 2, str(tmp_path / "a.log"), out=tmp_path / "a", promote_epochs=1, promote_images=20).unmet is None
    pruned = real("random-ipc2", pruner="hyperband")
    assert search(pruned, "pruned", 1, str(tmp_path / "b.log"), out=tmp_path / "b").unmet is None


def test_a_proxy_profiles_values_are_not_refused_where_the_proxy_ignores_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A profile serves whichever proxy it is used with (its values were not typed for this search),
    while the same value typed as a flag is refused."""
    monkeypatch.chdir(tmp_path)
    profile = tmp_path / "profile.toml"
    profile.write_text('format = "nasproxy-proxy-profile"\nformat_version = 1\n[proxy]\nepochs = 3\n')
    args = ["search", "--proxy", "synflow", "--dataset", "digits", "--space", SMALL_SPACE, "--n-trials", "1", "--device", "cpu", "--quiet"]
    assert main([*args, "--study", "prof", "--proxy-profile", str(profile)]) == 0
    assert main([*args, "--study", "flag", "--epochs", "3"]) == 2
    assert "--epochs (proxy training on a set) changes nothing with synflow" in capsys.readouterr().err
    assert not (tmp_path / "studies" / "flag").exists()


def test_a_profile_calibrated_on_another_copy_of_the_real_data_is_refused_once_the_data_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """fix53e: a ladders profile records its data's digest (calibration.dataset_sha256), but ``search --dataset digits
    --proxy-profile P`` compared the dataset's name alone, before the data was read, and searched (exit 0) on digits
    images other than those P was calibrated on. The data loaded is compared now: another copy refused in one line,
    before a study is made, the data read once; the same copy, or a profile recording no digest (before stop 53), searches."""
    from unittest import mock

    from nas_proxy.data import load_dataset, registry

    monkeypatch.chdir(tmp_path)
    digits = load_dataset("digits").content_sha256()

    def profile(name: str, sha: str | None) -> str:
        digest, version = ("", 1) if sha is None else (f'dataset_sha256 = "{sha}"\n', 4)
        path = tmp_path / f"{name}.toml"
        path.write_text(f'format = "nasproxy-proxy-profile"\nformat_version = {version}\n[calibration]\ndataset = "digits"\n{digest}')
        return str(path)

    args = ["search", "--proxy", "synflow", "--dataset", "digits", "--space", SMALL_SPACE, "--n-trials", "1", "--device", "cpu", "--quiet"]
    spy = mock.Mock(wraps=registry._load)  # each dataset the command reads from its files
    monkeypatch.setattr(registry, "_load", spy)
    other = "b" * 64
    assert main([*args, "--study", "other", "--proxy-profile", profile("other", other)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(
        f"nasproxy search: error: --proxy-profile {tmp_path / 'other.toml'} was calibrated on digits images that differ from "
        f"those found now (content_sha256 {other[:12]}... there, {digits[:12]}... now)"
    )
    assert [c.args[0] for c in spy.call_args_list] == ["digits"]  # read once, then refused
    assert not (tmp_path / "studies").exists()  # no study, journal or subset made
    assert main([*args, "--study", "same", "--proxy-profile", profile("same", digits)]) == 0
    assert main([*args, "--study", "old", "--proxy-profile", profile("old", None)]) == 0  # records none: searched as before


def test_a_set_alone_searches_on_its_own_proxy(tiny_run: Path, tmp_path: Path) -> None:
    """``--synthetic DIR`` without --proxy: the set's registry name, and the same study as --proxy with that name."""
    storage = tmp_path / "journal.log"
    config = SearchConfig(synthetic=str(tiny_run), space=SMALL_SPACE, device="cpu", proxy=FAST, pruner="none")
    search(config, "own", 1, str(storage), out=tmp_path)
    study = load(storage, "own")
    name = study.user_attrs[ATTR]["proxy"]
    assert name.endswith("-ipc2") and "proxy_name" not in study.user_attrs[ATTR]["config"]  # stored as before
    named = SearchConfig(synthetic=str(tiny_run), space=SMALL_SPACE, device="cpu", proxy=FAST, pruner="none", proxy_name=name)
    search(named, "own", 2, str(storage), out=tmp_path)  # the same proxy by name: resumed, not refused
    assert len(load(storage, "own").trials) == 2


def test_cli_search_on_early_stopping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["search", "--proxy", EARLY, "--dataset", "digits", "--space", SMALL_SPACE, "--study", "e", "--n-trials", "1"]
    assert main([*args, "--device", "cpu", "--quiet", "--json"]) == 0
    assert '"complete": 1' in capsys.readouterr().out
    assert (tmp_path / "studies" / "e" / "best.json").is_file()


def test_promotion_trains_the_best_of_a_proxy_on_real_data(tmp_path: Path) -> None:
    storage = tmp_path / "journal.log"
    result = search(real("synflow"), "promo", 2, str(storage), out=tmp_path, promote=1, promote_epochs=1, promote_images=200)
    assert result.promotion is not None
    (row,) = result.promotion["rows"]
    assert row["real_val_accuracy"] is not None and row["proxy_rank"] == 1
    assert "digits" in result.promotion["study"]  # the promotion study of the data the proxy scored on


@pytest.mark.slow  # the repair path of the drill in tests/search/test_search.py, on a --proxy study (78 s at load 10 on 2 cores)
def test_a_worker_killed_mid_trial_on_a_random_subset_is_repaired(tmp_path: Path) -> None:
    """kill -9 of a `nasproxy worker` on a --proxy study (the stored proxy, the subset found beside
    the journal): the next search fails the dead trial and trains its candidate again, once."""
    storage = tmp_path / "journal.log"
    slow = real("random-ipc2")
    create_or_check(open_storage(str(storage), "k")[0], "k", slow, open_proxy(slow, tmp_path).fingerprint(get_space(SMALL_SPACE)), 0)
    gate = Gate(tmp_path / "gate")  # the worker's training waits there: RUNNING, its worker recorded
    command = [sys.executable, "-m", "nas_proxy", "worker", "--study", "k", "--storage", str(storage), "--n-trials", "2"]
    worker = warm.Popen(command, env=gate.env(), text=True, stderr=subprocess.PIPE)
    gate.wait([worker], [worker.pid])
    worker.send_signal(signal.SIGKILL)  # the trial stays RUNNING in the journal
    worker.wait()
    result = search(slow, "k", 2, str(storage), out=tmp_path)
    study = load(storage, "k")
    (dead,) = [t for t in study.trials if t.state == TrialState.FAIL]
    (retried,) = [t for t in study.trials if t.user_attrs.get("retry_of") == dead.number]
    assert "died during the trial" in dead.user_attrs["fail_reason"] and retried.params == dead.params
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]  # (the kill may come before the dead one's attributes)
    assert result.trials == {"complete": 2, "fail": 1} and {t.user_attrs["proxy"] for t in done} == {"random-ipc2"}


def test_a_random_subset_drawn_from_images_changed_since_is_drawn_again_in_the_words_of_every_digest_comparison(
    tmp_path: Path,
) -> None:
    """fix52b: the subset found drawn from other images than found now (a new study in a search's folder, the photos
    turned since) was said in words of its own ('drawn from images that differ from those found now: content_sha256 ...'),
    not those of data.base.data_changed, which every other digest comparison says. Now in those, without a remedy: it is
    drawn again, as before."""
    import json

    from nas_proxy.data import load_dataset
    from nas_proxy.proxies.synthetic import RandomSubsetRedrawnWarning, SyntheticSetProxy
    from tests.data.test_data_changed import noisy_folder, turn

    folder = noisy_folder(tmp_path / "photos")

    def prepared() -> Path:
        setup = RunSetup(space=get_space(SMALL_SPACE), data=DataRef(f"imagefolder:{folder}", 0, 0.5), out=tmp_path / "out")
        proxy = SyntheticSetProxy.named(setup, "random-ipc1")
        assert proxy is not None
        proxy.prepare()
        return Path(str(proxy.path))  # type: ignore[attr-defined]

    path = prepared()
    there = json.loads((path / "meta.json").read_text())["dataset"]["content_sha256"]
    turn(folder / "dog" / "0.png")
    now = load_dataset(f"imagefolder:{folder}").content_sha256()
    with pytest.warns(RandomSubsetRedrawnWarning) as said:
        assert prepared() == path
    assert [str(w.message) for w in said] == [
        f"random subset {path} could not be used (it was drawn from imagefolder:{folder} images that differ from those found "
        f"now (content_sha256 {there[:12]}... there, {now[:12]}... now): not the data it was made from (its images changed "
        "since, or --data-root points at another copy)); it is drawn again"
    ]
    assert json.loads((path / "meta.json").read_text())["dataset"]["content_sha256"] == now


def test_promote_images_beyond_the_split_are_refused_before_a_random_subset_is_drawn(tmp_path: Path) -> None:
    """fix52b: `search --proxy random-ipc2 --promote 1 --promote-images 99999999` drew the random subset into the study's
    folder (random-ipc2-seed0, five files), then was refused for --promote-images; now refused before: nothing made."""
    with pytest.raises(InvalidArgumentError, match=r"--promote-images 99999999 is more than the .* training images of the digits"):
        search(real("random-ipc2"), "p", 1, str(tmp_path / "journal.log"), out=tmp_path / "out", promote=1, promote_images=99999999)
    assert list(tmp_path.iterdir()) == []


def test_a_study_in_a_sqlite_file_is_checked_before_a_random_subset_is_drawn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fix52b: a study in a journal was checked before its proxy was prepared (probe51), one in a SQLite file only after:
    `search --proxy random-ipc2 --storage sqlite:///s.db --study r` (r searched with synflow) drew random-ipc2-seed0
    into r's folder, then was refused ('proxy synflow there, random-ipc2 now'); on images changed since, drew it again.
    Now refused before: nothing made."""
    monkeypatch.chdir(tmp_path)  # a SQLite study's folder is under studies/ here
    storage = f"sqlite:///{tmp_path / 's.db'}"
    search(real("synflow"), "r", 1, storage, out=tmp_path / "out")
    made = sorted(tmp_path.rglob("*"))
    with pytest.raises(OutputConflictError, match=r"proxy synflow there, random-ipc2 now"):
        search(real("random-ipc2"), "r", 2, storage, out=tmp_path / "out")
    assert sorted(tmp_path.rglob("*")) == made


@pytest.mark.parametrize("proxy", ["synflow", "early@1ep"])
def test_a_search_on_data_too_small_to_split_is_refused_before_a_study_is_made(
    proxy: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Stop 52: a training-free or early-stopping search on an image folder of 4 photos a class (3 of them to train:
    0.1 of 3 holds none out) failed every trial on 'leaves 0 validation images', exit 1 with "budget not met", and
    `run` went on to 'no architectures to correlate'; random-ipcN was refused before its study. Now every proxy is:
    one line, with a remedy a search can take (it has no --val-fraction), and no study made."""
    from tests.fabricate import image_folder

    folder = image_folder(tmp_path / "photos", ["cat", "dog", "emu"], 4)
    storage = tmp_path / "s.log"
    args = ["search", "--proxy", proxy, "--dataset", f"imagefolder:{folder}", "--space", SMALL_SPACE, "--study", "s"]
    assert main([*args, "--storage", str(storage), "--n-trials", "2", "--device", "cpu", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "leaves 0 validation images" in err, err
    assert err.endswith("or give some class at least 6 training images"), err
    assert not storage.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["photos"]


def test_an_unmet_budget_is_said_as_its_cause_and_its_remedy_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """fix54b: SearchResult.unmet was one text ending in "; run the same command again to continue", which ``run`` cut off
    (``unmet.removesuffix(SEARCH_AGAIN)``) to word its own line. The result holds the cause and the remedy apart now;
    search's line, and --json's ``unmet``, say both as before."""
    import json

    from nas_proxy.proxies.training_free import ZeroCostProxy

    def fails(self: ZeroCostProxy, spec: dict[str, Any], arch_id: str) -> Any:
        raise RuntimeError("a candidate that cannot be scored")

    monkeypatch.setattr(ZeroCostProxy, "score", fails)
    monkeypatch.chdir(tmp_path)
    cause = "the budget of 2 trials was not met: 0 count (2 trials failed (each worker starts at most --n-trials trials))"
    config = SearchConfig(synthetic=None, proxy_name="synflow", dataset="digits", space=SMALL_SPACE, device="cpu", pruner="none")
    result = search(config, "lib", 2, str(tmp_path / "lib.log"), out=tmp_path / "lib")
    assert (result.unmet_cause, result.unmet_remedy) == (cause, "run the same command again to continue")
    args = ["search", "--proxy", "synflow", "--dataset", "digits", "--space", SMALL_SPACE, "--n-trials", "2", "--device", "cpu"]
    assert main([*args, "--study", "cli", "--quiet", "--json"]) == 1
    said = capsys.readouterr()
    line = f"{cause}; run the same command again to continue"
    assert said.err == f"nasproxy search: error: {line}\n" and json.loads(said.out)["unmet"] == line
