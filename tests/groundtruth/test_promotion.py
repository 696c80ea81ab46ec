"""Promotion (``search --promote K``) on digits: exactly K distinct candidates trained on real data,
cached across runs, resumable after Ctrl-C, never scored on the test set; ``best.json`` carries both
scores and the proxy rank."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from nas_proxy.cli import main
from nas_proxy.correlate.archs import from_space
from nas_proxy.protocols import training_protocol
from nas_proxy.search import search
from nas_proxy.search.promotion import PROMOTION, candidates
from nas_proxy.search.study import ranked
from nas_proxy.spaces import get_space
from nas_proxy.studies import WorkerOptions, join, kind_of
from nas_proxy.studies.queue import enqueue
from nas_proxy.studies.spec_attrs import spec_from_attrs
from nas_proxy.studies.storage import open_storage
from nas_proxy.trainers.fulldata import DataRef, GroundTruthConfig
from tests.gate import FULL_TRAINING, Gate
from tests.interrupt import interruptible
from tests.search.test_search import FAST_ARGS, SMALL_SPACE, config, load

ROOT = Path(__file__).resolve().parents[2]
EPOCHS = 1  # of each promoted training on the 1,078 digits training images: seconds on 2 busy cores
# --promote-images of the tests whose promotions' data is not what they check (perf59a: more promotions than candidates,
# the Ctrl-C drill); the module's `promoted` search, and the tests that run it again, train on the whole split
SUBSET = ["--promote-images", "200"]


def promoted_trials(storage: Path, name: str, *states: TrialState) -> list[optuna.trial.FrozenTrial]:
    return load(storage, name).get_trials(states=states or None)


def completed_value(trial: optuna.trial.FrozenTrial) -> float:
    """A complete trial's value (optuna types ``value`` as ``float | None``, for trials of every state)."""
    assert trial.value is not None
    return trial.value


@pytest.fixture(scope="module")
def promoted(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """A 4-trial search promoting its 2 best: (storage, export directory, SearchResult.promotion)."""
    root = tmp_path_factory.mktemp("promote")
    storage, out = root / "journal.log", root / "export"
    result = search(config(tiny_run), "p", 4, str(storage), out=out, progress=False, promote=2, promote_epochs=EPOCHS)
    assert result.promotion is not None
    return storage, out, result.promotion


def test_exactly_the_k_best_distinct_candidates_are_trained_on_real_data(promoted: tuple[Path, Path, dict]) -> None:
    storage, _, promotion = promoted
    search_study = load(storage, "p")
    done = promoted_trials(storage, promotion["study"], TrialState.COMPLETE)
    assert len(promoted_trials(storage, promotion["study"])) == 2  # none failed, none trained twice
    assert sorted(t.user_attrs["arch_id"] for t in done) == sorted(t.user_attrs["arch_id"] for t in candidates(search_study, 2))
    best_by_proxy = ranked(search_study)[0].user_attrs["arch_id"]
    assert best_by_proxy in {t.user_attrs["arch_id"] for t in done}
    for t in done:  # scored on the validation split, the test split never loaded
        assert "test_accuracy" not in t.user_attrs and t.value == t.user_attrs["val_accuracy"]
    assert kind_of(load(storage, promotion["study"])) == "promotion"


def test_best_json_is_the_best_by_real_validation_with_both_scores(promoted: tuple[Path, Path, dict]) -> None:
    storage, out, promotion = promoted
    best = json.loads((out / "best.json").read_text())
    real = {t.user_attrs["arch_id"]: completed_value(t) for t in promoted_trials(storage, promotion["study"], TrialState.COMPLETE)}
    chosen = best["best"]
    assert chosen["real_val_accuracy"] == max(real.values()) and real[chosen["arch_id"]] == chosen["real_val_accuracy"]
    trial = load(storage, "p").trials[chosen["number"]]
    assert chosen["proxy_score"] == trial.value and chosen["proxy_rank"] in (1, 2)
    distinct = [t.user_attrs["arch_id"] for t in candidates(load(storage, "p"), 2)]
    assert distinct[chosen["proxy_rank"] - 1] == chosen["arch_id"]
    assert [r["arch_id"] for r in best["top"][:2]] == [r["arch_id"] for r in promotion["rows"]]
    assert best["chosen_by"].startswith("real validation")


def test_a_second_run_trains_nothing(promoted: tuple[Path, Path, dict], tiny_run: Path, tmp_path: Path) -> None:
    storage, _, promotion = promoted
    before = [(t.number, t.state) for t in promoted_trials(storage, promotion["study"])]
    again = search(config(tiny_run), "p", 4, str(storage), out=tmp_path, progress=False, promote=2, promote_epochs=EPOCHS)
    assert [(t.number, t.state) for t in promoted_trials(storage, promotion["study"])] == before
    assert again.promotion is not None and again.promotion["rows"] == promotion["rows"]


def test_a_promotion_study_of_the_json_layout_resumes_without_training_twice(
    promoted: tuple[Path, Path, dict], tiny_run: Path, tmp_path: Path
) -> None:
    """A promotion written before scalar spec attributes (each trial's spec a JSON ``spec``) with one
    training still queued: the same search trains that one alone, keeps the finished one, and
    exports both scores."""
    from tests.studies.test_spec_attrs import copy_in_old_layout

    storage, _, promotion = promoted
    old_storage, out = tmp_path / "old.log", tmp_path / "out"
    optuna.copy_study(
        from_study_name="p", from_storage=open_storage(str(storage), "p")[0], to_storage=open_storage(str(old_storage), "p")[0]
    )
    old = copy_in_old_layout(load(storage, promotion["study"]), old_storage, untrained=1)
    (kept,) = old.get_trials(states=(TrialState.COMPLETE,))
    again = search(config(tiny_run), "p", 4, str(old_storage), out=out, progress=False, promote=2, promote_epochs=EPOCHS)
    assert again.promotion is not None and len(again.promotion["rows"]) == 2
    study = load(old_storage, promotion["study"])
    assert len(study.trials) == 2 and all(t.state == TrialState.COMPLETE for t in study.trials)  # the queued one trained, once
    assert (study.trials[kept.number].value, study.trials[kept.number].datetime_complete) == (kept.value, kept.datetime_complete)
    best = json.loads((out / "best.json").read_text())
    scores = {r["arch_id"]: r["real_val_accuracy"] for r in best["top"] if r.get("real_val_accuracy") is not None}
    assert scores == {t.user_attrs["arch_id"]: t.value for t in study.trials}
    assert {r["arch_id"]: r["spec"] for r in best["top"][:2]} == {
        t.user_attrs["arch_id"]: spec_from_attrs(t.user_attrs) for t in study.trials
    }


def test_more_promotions_than_distinct_candidates_promotes_them_all_and_says_so(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = tmp_path / "journal.log"
    args = ["search", "--synthetic", str(tiny_run), "--space", SMALL_SPACE, "--study", "m", "--storage", str(storage)]
    args += [
        "--out",
        str(tmp_path),
        "--n-trials",
        "2",
        "--pruner",
        "none",
        *FAST_ARGS,
        "--promote",
        "5",
        "--promote-epochs",
        str(EPOCHS),
        *SUBSET,
    ]
    assert main(args) == 0
    out, err = capsys.readouterr()
    distinct = {t.user_attrs["arch_id"] for t in load(storage, "m").get_trials(states=(TrialState.COMPLETE,))}
    assert f"than the {len(distinct)} distinct architectures the search completed: all {len(distinct)} were promoted" in err
    assert "real val acc %" in out and "proxy acc %" in out and "best spec:" in out  # both scores on the console
    names = [s.study_name for s in optuna.get_all_study_summaries(open_storage(str(storage), "m")[0]) if s.study_name != "m"]
    (name,) = names
    assert sorted(t.user_attrs["arch_id"] for t in promoted_trials(storage, name, TrialState.COMPLETE)) == sorted(distinct)


def test_a_negative_promote_is_refused_in_one_line(tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["search", "--synthetic", str(tiny_run), "--space", SMALL_SPACE, "--study", "n", "--storage", str(tmp_path / "j.log")]
    code = main([*args, "--n-trials", "1", *FAST_ARGS, "--promote", "-1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and "--promote" in err[0] and "-1" in err[0], err
    assert not (tmp_path / "j.log").exists()  # refused before anything was written


def test_ctrl_c_during_promotion_then_the_same_command_finishes_it(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = tmp_path / "journal.log"
    args = ["search", "--synthetic", str(tiny_run), "--space", SMALL_SPACE, "--study", "c", "--storage", str(storage)]
    args += ["--out", str(tmp_path), "--n-trials", "3", "--pruner", "none", *FAST_ARGS]
    args += [
        "--promote",
        "2",
        "--promote-epochs",
        str(EPOCHS),
        *SUBSET,
    ]  # the gate stops the first before it trains: epochs change nothing of it
    gate = Gate(tmp_path / "gate", at=FULL_TRAINING)  # the first promoted training waits there (the search's are proxy trainings)
    first = interruptible(
        [sys.executable, "-m", "nas_proxy", *args], cwd=ROOT, env=gate.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )

    def training() -> list[optuna.trial.FrozenTrial]:
        if not storage.exists():
            return []
        studies = [s.study_name for s in optuna.get_all_study_summaries(open_storage(str(storage), "c")[0]) if s.study_name != "c"]
        return [t for n in studies for t in promoted_trials(storage, n, TrialState.RUNNING) if t.user_attrs.get("worker_pid") == first.pid]

    gate.wait([first], [first.pid])
    (interrupted,) = training()
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 130 and "interrupted" in err and "Traceback" not in err, err
    study_name = next(s.study_name for s in optuna.get_all_study_summaries(open_storage(str(storage), "c")[0]) if s.study_name != "c")
    left = promoted_trials(storage, study_name)
    assert not [
        t for t in left if t.state in (TrialState.RUNNING, TrialState.WAITING) and t.user_attrs.get("worker_pid")
    ]  # nothing dangling
    assert all(t.user_attrs.get("interrupted") for t in left if t.state == TrialState.FAIL)  # not counted against the candidate
    done_before = {t.user_attrs["arch_id"] for t in promoted_trials(storage, study_name, TrialState.COMPLETE)}
    assert main(args) == 0, capsys.readouterr().err  # the same command finishes the promotion
    done = promoted_trials(storage, study_name, TrialState.COMPLETE)
    ids = [t.user_attrs["arch_id"] for t in done]
    assert len(done) == 2 and len(set(ids)) == 2 and done_before <= set(ids)  # none trained twice
    assert interrupted.user_attrs["arch_id"] in ids  # the interrupted one was trained by the second run
    best = json.loads((tmp_path / "best.json").read_text())["best"]
    assert best["real_val_accuracy"] == max(completed_value(t) for t in done)


def test_nasproxy_worker_joins_a_promotion_study_by_its_kind(tiny_run: Path, tmp_path: Path) -> None:
    meta = json.loads((tiny_run / "meta.json").read_text())
    url = str(tmp_path / "journal.log")
    study = PROMOTION.open(open_storage(url, "p"), DataRef.of_synthetic(meta), GroundTruthConfig(epochs=EPOCHS, early=()))
    spec = from_space(get_space(SMALL_SPACE), 1, seed=0)[0].spec
    enqueue(study, [(spec, 0)])
    join(study.study_name, url, WorkerOptions(device="cpu", progress=False))  # what `nasproxy worker --study NAME --storage URL` runs
    (trial,) = study.get_trials(states=(TrialState.COMPLETE,))
    assert spec_from_attrs(trial.user_attrs) == spec and 0 <= completed_value(trial) <= 100


def test_promote_images_trains_a_stated_subset_in_its_own_cache(promoted: tuple[Path, Path, dict], tiny_run: Path, tmp_path: Path) -> None:
    storage, _, promotion = promoted
    again = search(
        config(tiny_run), "p", 4, str(storage), out=tmp_path, progress=False, promote=1, promote_epochs=EPOCHS, promote_images=200
    )
    p = again.promotion
    assert p is not None and p["images"] == 200
    assert p["study"] != promotion["study"]  # another protocol: other trainings, never the full-split ones reused
    study = load(storage, p["study"])
    assert study.user_attrs[PROMOTION.attr]["protocol"]["images"] == 200
    done = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(done) == 1  # trained by a worker that builds its data from that stored protocol


def test_promote_protocol_fast_trains_with_that_protocol_in_its_own_study(
    promoted: tuple[Path, Path, dict], tiny_run: Path, tmp_path: Path
) -> None:
    """``--promote-protocol fast`` trains the same candidate with the registered fast protocol (one-cycle,
    lr 0.05, batch 512, label smoothing) in a study of its own; the default is the standard protocol,
    stored as before the option existed, so a study made then resumes under its old name."""
    storage, _, promotion = promoted
    assert promotion["protocol"] == "standard"
    standard = load(storage, promotion["study"]).user_attrs[PROMOTION.attr]["protocol"]
    assert standard == GroundTruthConfig(epochs=EPOCHS, early=()).to_dict()  # the protocol (and study name) of old promotions
    again = search(
        config(tiny_run), "p", 4, str(storage), out=tmp_path, progress=False, promote=1, promote_epochs=EPOCHS, promote_protocol="fast"
    )
    p = again.promotion
    assert p is not None and p["protocol"] == "fast" and p["study"] != promotion["study"]
    study = load(storage, p["study"])
    stored = study.user_attrs[PROMOTION.attr]["protocol"]
    assert stored == training_protocol("fast", EPOCHS).to_dict()
    assert (stored["lr"], stored["batch_size"], stored["fast"]["schedule"], stored["fast"]["label_smoothing"]) == (
        0.05,
        512,
        "onecycle",
        0.1,
    )
    (fast,) = study.get_trials(states=(TrialState.COMPLETE,))
    same = next(r for r in promotion["rows"] if r["arch_id"] == fast.user_attrs["arch_id"])  # the proxy's best, promoted both times
    assert fast.value != same["real_val_accuracy"]  # another training, not the standard one's score reused


def test_promote_protocol_without_promote_is_refused_in_one_line(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["search", "--synthetic", str(tiny_run), "--space", SMALL_SPACE, "--study", "n", "--storage", str(tmp_path / "j.log")]
    code = main([*args, "--n-trials", "1", *FAST_ARGS, "--promote-protocol", "fast"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--promote-protocol changes nothing without --promote K" in err[0], err
    assert not (tmp_path / "j.log").exists()


def test_a_training_study_opened_again_adds_nothing_to_the_journal(tiny_run: Path, tmp_path: Path) -> None:
    """``run``, ``correlate`` or ``search --promote`` again after it finished: the ground-truth or promotion
    study is found as it is (create_study with load_if_exists logged a creation in the journal at every call)."""
    meta = json.loads((tiny_run / "meta.json").read_text())
    journal = tmp_path / "journal.log"

    def open_it() -> None:
        PROMOTION.open(open_storage(str(journal), "p"), DataRef.of_synthetic(meta), GroundTruthConfig(epochs=EPOCHS, early=()))

    open_it()
    first = journal.read_bytes()
    open_it()  # the same command again
    assert journal.read_bytes() == first
