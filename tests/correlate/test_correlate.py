"""The correlation stage on digits: ground truth as a cached study, every proxy, reports that agree
with results.json, resuming after Ctrl-C, architecture selection, and each bad input."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import shutil
import signal
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from nas_proxy.cli import main
from nas_proxy.correlate import CorrelateConfig, GroundTruthConfig, correlate, from_space, from_study, read_archs
from nas_proxy.correlate.archs import TOP_ALWAYS, Arch
from nas_proxy.correlate.config import data_ref
from nas_proxy.correlate.result import TRUTH_SEED2
from nas_proxy.correlate.truth import _ceiling_subset
from nas_proxy.errors import InvalidArgumentError, NasProxyWarning
from nas_proxy.groundtruth.study import DataRef, enqueue, open_study, study_name
from nas_proxy.groundtruth.tables import read_data
from nas_proxy.report.render import write_reports
from nas_proxy.search import ProxyConfig
from nas_proxy.spaces import arch_id, get_space
from nas_proxy.studies.queue import record_of
from nas_proxy.studies.storage import default_storage_url, open_storage
from tests import uncapable, warm
from tests.gate import FULL_TRAINING, Gate
from tests.interrupt import interruptible

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SPACE = "convnet-small"
# ground truth on a seeded stratified 150 of the 1,198 training images, 3 batches an epoch (early stopping at 0.5 epoch
# needs more than one): what these tests check needs no more
GT = GroundTruthConfig(epochs=2, early=(0.5, 1.0), images=150, batch_size=64)
# what the tests check needs a score, not a good one; 50 report images (200 until stop 60: each report scored 200 images)
PROXY = ProxyConfig(epochs=4, report_every=2, report_images=50)
# the module's correlation: 4 of convnet-small's 6 architectures, 2 of them trained again with a second seed (6 and 3 until
# stop 57: 9 trainings and their 36 scorings on the validation and test splits, 5.8 CPU-s of the 8.8 its first test cost;
# now 6 trainings, 3.2 CPU-s): every proxy, the ceiling, the per-dimension table and the interval still have rows to read
N_ARCHS, CEILING = 4, 2


def small_config(tiny_run: Path, storage: Path, **overrides: object) -> CorrelateConfig:
    base: dict[str, object] = dict(
        space=SPACE,
        synthetic=[str(tiny_run)],
        ground_truth=GT,
        proxy=PROXY,
        device="cpu",
        n_boot=100,
        gt_storage=str(storage),
        ceiling=CEILING,
    )
    base.update(overrides)
    return CorrelateConfig(**base)  # type: ignore[arg-type]


def gt_study(storage: Path, config: CorrelateConfig) -> optuna.Study:
    ref, _ = data_ref(config)
    name = study_name(ref, config.ground_truth)
    return optuna.load_study(study_name=name, storage=open_storage(str(storage), name)[0])


@pytest.fixture(scope="module")
def finished(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, CorrelateConfig]:
    root = tmp_path_factory.mktemp("correlate")
    storage, out = root / "gt.log", root / "report"
    config = small_config(tiny_run, storage)
    write_reports(correlate(config, from_space(get_space(SPACE), N_ARCHS, seed=0), out))
    return storage, out, config


def test_every_proxy_and_the_ceiling_are_reported(finished: tuple[Path, Path, CorrelateConfig]) -> None:
    _, out, _ = finished
    results = json.loads((out / "results.json").read_text())
    names = set(results["proxies"])
    assert {"datadam-ipc2", "random-ipc2", "early@0.5ep", "early@1ep", TRUTH_SEED2} <= names
    assert {"synflow", "naswot", "grad_norm", "snip", "params", "flops"} <= names
    for name, m in results["proxies"].items():
        assert m["n"] == (CEILING if name == TRUTH_SEED2 else N_ARCHS)
        assert m["kendall"] is None or -1 <= m["kendall"] <= 1  # None: undefined (a constant score), written as null
        assert m["seconds_per_arch"] is None or m["seconds_per_arch"] >= 0
        for key in ("spearman_ci", "kendall_ci", "precision@1", "regret", "weighted_tau", "top_kendall", "speedup"):
            assert key in m
    assert results["proxies"][TRUTH_SEED2]["archs"] == CEILING
    assert any(f"only {N_ARCHS} architectures" in w and "at least 10" in w for w in results["warnings"])
    assert (out / "random-ipc2-seed0" / "meta.json").is_file()  # the random subset of the same size was made


def test_report_numbers_match_results_json(finished: tuple[Path, Path, CorrelateConfig]) -> None:
    _, out, _ = finished
    results = json.loads((out / "results.json").read_text())
    md = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    for name, m in results["proxies"].items():
        line = next(row for row in md.splitlines() if row.startswith(f"| {name} |") or row.startswith(f"| {name} ("))
        cells = [c.strip() for c in line.strip("|").split("|")]
        rho = f"{m['spearman']:.3f}" if m["spearman"] is not None else "–"
        tau = f"{m['kendall']:.3f}" if m["kendall"] is not None else "–"
        assert cells[1] == str(m["n_scored"]) and cells[2].startswith(rho) and cells[3].startswith(tau), (name, cells)
        if m["kendall_ci"][0] is not None:
            assert f"[{m['kendall_ci'][0]:.2f}, {m['kendall_ci'][1]:.2f}]" in cells[3]
        assert f"<td>{cells[3]}</td>" in html  # the HTML table holds the same cells
        if name != TRUTH_SEED2 and m["kendall"] is not None:  # gap to the best proxy, paired interval
            best = max(
                (n for n, p in results["proxies"].items() if n != TRUTH_SEED2 and p["kendall"] is not None),
                key=lambda n: results["proxies"][n]["kendall"],
            )
            assert m["kendall_gap_to"] == best
            assert m["kendall_gap"] == pytest.approx(results["proxies"][best]["kendall"] - m["kendall"], abs=1e-12)
            assert cells[9].startswith(f"{m['kendall_gap']:.3f}")
            lo, hi = m["kendall_gap_ci"] or (None, None)
            if name != best and lo is not None:
                assert lo <= hi and f"[{lo:.2f}, {hi:.2f}]" in cells[9]
    assert "data:image/png;base64," in html and (out / "scatter.png").is_file() and (out / "fidelity_cost.png").is_file()
    frame = pd.read_csv(out / "results.csv")
    rows = {r["arch_id"]: r for r in results["archs"]}
    assert len(frame) == N_ARCHS
    # every row names its data, as results.json does (before fix52d a copied results.csv named none), in the ground-truth
    # tables' column: the one reader of a table's data reads it
    assert list(frame.columns[:3]) == ["arch_id", "dataset", "spec"] and set(frame["dataset"]) == {results["facts"]["data"]["dataset"]}
    assert read_data(out / "results.csv", "results.csv").dataset == "digits"  # type: ignore[union-attr]
    for _, r in frame.iterrows():
        assert math.isclose(r["truth"], rows[r["arch_id"]]["truth"]) and 0 <= r["truth"] <= 100
        assert math.isclose(r["synflow"], rows[r["arch_id"]]["synflow"], rel_tol=1e-9)


def test_the_report_says_where_each_proxy_fails_per_dimension(finished: tuple[Path, Path, CorrelateConfig]) -> None:
    _, out, _ = finished
    results = json.loads((out / "results.json").read_text())
    md = (out / "report.md").read_text()
    assert "## Per dimension" in md
    for name, m in results["proxies"].items():
        dims = m["per_dimension"]
        assert dims, name
        for dim, values in dims.items():
            assert sum(v["n"] for v in values.values()) == m["n_scored"], (name, dim)
            if name != TRUTH_SEED2:  # over all scored architectures the rank shifts cancel
                assert sum(v["n"] * v["rank_shift"] for v in values.values() if v["n"]) == pytest.approx(0.0, abs=1e-9), (name, dim)
            for value in values:
                assert any(line.startswith(f"| {dim} | {value} |") for line in md.splitlines()), (dim, value)


def test_an_edited_row_of_a_proxy_score_cache_is_scored_again(tmp_path: Path) -> None:
    """correlate's cache/*.jsonl edited by hand (branch probe39): before, a score "x" or [1] failed the
    correlation with an internal error, and true was read as a score of 1; a row that is not one
    Cache.add writes is now ignored as a torn one is, so its architecture is scored again."""
    from nas_proxy.proxies.cache import Cache

    path = tmp_path / "proxy.jsonl"
    rows: list[Any] = [
        {"arch_id": "a", "score": 10.0, "seconds": 1.0},
        {"arch_id": "b", "score": math.nan, "seconds": 0.5},  # a zero-cost proxy's NaN: a score it gave
        {"arch_id": "c", "score": "x", "seconds": 1.0},
        {"arch_id": "d", "score": True, "seconds": 1.0},
        {"arch_id": "e", "score": [1], "seconds": 1.0},
        {"arch_id": "f", "score": 1.0, "seconds": None},
        {"arch_id": 7, "score": 1.0, "seconds": 1.0},
        [1, 2],
        {"arch_id": "a", "score": "edited", "seconds": 1.0},  # a later row of a whole one: the whole one stays
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"arch_id": "g", "sco')
    cache = Cache(path)
    assert sorted(cache.rows) == ["a", "b"] and cache.rows["a"]["score"] == 10.0


def test_a_proxy_score_changed_on_disk_is_scored_again_and_said(tmp_path: Path) -> None:
    """A cached score whose digits changed on disk (still a whole row, still a number): before stop 48 it was
    used as it was (drill48: 21.67 edited to 91.67 took correlate's Spearman from 0.80 to 0.40, exit 0, nothing
    said); now the row's sha256 no longer matches, it is ignored (scored again), and one warning says so. A row
    an earlier nasproxy wrote, without the digest, is read as before."""
    import warnings

    from nas_proxy.proxies.cache import Cache, CacheRowChangedWarning

    path = tmp_path / "proxy.jsonl"
    cache = Cache(path)
    cache.add({"arch_id": "a", "score": 21.67, "seconds": 1.0})
    cache.add({"arch_id": "b", "score": math.nan, "seconds": 0.5})
    with path.open("a") as f:
        f.write(json.dumps({"arch_id": "c", "score": 3.0, "seconds": 1.0}) + "\n")  # an earlier nasproxy's row
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = Cache(path)
    assert not caught and sorted(again.rows) == ["a", "b", "c"] and again.rows["a"] == {"arch_id": "a", "score": 21.67, "seconds": 1.0}
    path.write_text(path.read_text().replace("21.67", "91.67"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        edited = Cache(path)
    said = [str(w.message) for w in caught if issubclass(w.category, CacheRowChangedWarning)]
    assert said == [f"{path}: 1 row(s) no longer match the sha256 written with them (changed since); their architectures are scored again"]
    assert sorted(edited.rows) == ["b", "c"]


def test_ground_truth_is_a_cached_study(finished: tuple[Path, Path, CorrelateConfig], tiny_run: Path, tmp_path: Path) -> None:
    storage, out, config = finished
    study = gt_study(storage, config)
    done = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(done) == N_ARCHS + CEILING  # every architecture with seed 0, CEILING of them again with seed 1
    for t in done:
        a = record_of(t.user_attrs)  # early-stopping scores stored as scalar attributes, read back nested
        assert a["arch_id"] == arch_id(a["spec"]) and set(a["early"]) == {"0.5", "1"}
        assert t.params == get_space(SPACE).params_of(a["spec"])  # the spec's choices, for the dashboard
        assert 0 <= a["test_accuracy"] <= 100 and a["train_seconds"] > 0 and t.value == a["test_accuracy"]
    before = len(study.trials)
    archs = from_space(get_space(SPACE), N_ARCHS, seed=0)
    # the same ground truth (its seed-2 ceiling too) with one proxy: the proxies' scores are no part of what is checked
    # (scoring all of them again, the synthetic sets' trainings and a random subset, cost 3 of this test's 5.7 s)
    again = correlate(dataclasses.replace(config, proxies=["params"], random_subset=False), archs, tmp_path / "again")
    assert len(gt_study(storage, config).trials) == before  # nothing retrained
    first = json.loads((out / "results.json").read_text())
    assert [r["truth"] for r in again.rows] == [r["truth"] for r in first["archs"]]


def test_a_ground_truth_study_of_the_json_layout_resumes_exports_and_correlates(
    finished: tuple[Path, Path, CorrelateConfig], tmp_path: Path
) -> None:
    """A ground-truth study written before scalar spec attributes (each trial's spec a JSON ``spec``),
    with a training queued and one whose worker died: the next correlate trains exactly those two,
    keeps every finished training, and reads, reports and calibrates on both layouts."""
    from nas_proxy.calibrate.truth import from_study as truth_of
    from nas_proxy.studies.queue import key_of
    from tests.studies.test_spec_attrs import copy_in_old_layout

    storage, out, config = finished
    old_storage = tmp_path / "old.log"
    old = copy_in_old_layout(gt_study(storage, config), old_storage, untrained=1, died=1)
    finished_before = {t.number: (key_of(t), t.value) for t in old.get_trials(states=(TrialState.COMPLETE,))}
    assert len(finished_before) == N_ARCHS + CEILING - 2
    config = dataclasses.replace(config, gt_storage=str(old_storage), proxies=["params"], random_subset=False)
    archs = from_space(get_space(SPACE), N_ARCHS, seed=0)
    again = correlate(config, archs, tmp_path / "again")
    write_reports(again)
    study = gt_study(old_storage, config)
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert {t.number: (key_of(t), t.value) for t in complete if t.number in finished_before} == finished_before  # none lost
    assert len(complete) == len({key_of(t) for t in complete}) == N_ARCHS + CEILING  # the two missing trained, nothing twice
    (dead,) = study.get_trials(states=(TrialState.FAIL,))  # the dead worker's, failed and re-queued
    assert "died during the trial" in dead.user_attrs["fail_reason"]
    first = {r["arch_id"]: r["truth"] for r in json.loads((out / "results.json").read_text())["archs"]}
    kept = {key[0]: value for key, value in finished_before.values() if key is not None and key[1] == config.seed}
    assert {r["arch_id"]: r["truth"] for r in again.rows if r["arch_id"] in kept} == {a: first[a] for a in kept}
    assert {r["arch_id"]: r["spec"] for r in again.rows} == {a.arch_id: a.spec for a in archs}
    assert list(pd.read_csv(tmp_path / "again" / "results.csv")["arch_id"]) == [r["arch_id"] for r in again.rows]
    truths = truth_of(study.study_name, str(old_storage))  # calibrate --truth-study
    assert sorted(t.arch_id for t in truths) == sorted(r["arch_id"] for r in again.rows)
    assert all(arch_id(t.spec) == t.arch_id for t in truths)


def test_given_accuracies_skip_training_and_bad_ones_are_refused(tiny_run: Path, tmp_path: Path) -> None:
    specs = [a.spec for a in from_space(get_space(SPACE), 4, seed=1)]
    good = tmp_path / "given.json"
    good.write_text(json.dumps([{"spec": s, "accuracy": 90 - i} for i, s in enumerate(specs)]))
    archs = read_archs(good)
    assert [a.truth for a in archs] == [90, 89, 88, 87]
    config = small_config(tiny_run, tmp_path / "gt.log", ceiling=0, proxies=["params", "synflow"], random_subset=False)
    result = correlate(config, archs, tmp_path / "out")
    assert [r["truth"] for r in result.rows] == [90, 89, 88, 87] and not gt_study(tmp_path / "gt.log", config).trials
    for bad in ("abc", None, 101, float("nan")):
        rows = [{"spec": s, "accuracy": 90} for s in specs]
        rows[2]["accuracy"] = bad
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(rows).replace("NaN", '"NaN"'))
        with pytest.raises(InvalidArgumentError, match=r"architecture 2 has accuracy"):
            read_archs(path)
    csv = tmp_path / "given.csv"
    pd.DataFrame({"spec": [json.dumps(s) for s in specs], "accuracy": [1, 2, 3, 4]}).to_csv(csv, index=False)
    assert [a.truth for a in read_archs(csv)] == [1, 2, 3, 4]


def test_study_selection_keeps_the_top_and_spans_the_range() -> None:
    space = get_space("convnet720")
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    for i in range(40):
        trial = study.ask()
        spec = space.sample(trial)
        trial.set_user_attr("spec", spec)
        study.tell(trial, float(i))  # scores 0..39
    chosen = from_study(study, 10, seed=0)
    values = [a.study_value for a in chosen]
    assert len({a.arch_id for a in chosen}) == len(chosen) == 10
    assert values[:TOP_ALWAYS] == [39.0, 38.0, 37.0]  # the proxy's best are always there
    assert min(v for v in values if v is not None) <= 5.0  # and the low end of the range too
    assert from_study(study, 10, seed=0)[TOP_ALWAYS:] == chosen[TOP_ALWAYS:]  # seeded


def test_bad_inputs(tiny_run: Path, tmp_path: Path) -> None:
    storage = tmp_path / "gt.log"
    outside = Arch({"family": "convnet", "depth": 7, "width": 32}, "x")
    with pytest.raises(InvalidArgumentError, match=r"architecture 0 \(x\) is outside space 'convnet-small'"):
        correlate(small_config(tiny_run, storage), [outside], tmp_path / "o")
    with pytest.raises(InvalidArgumentError, match=r"synthetic sets are from digits, the ground truth was asked on fashion-mnist"):
        correlate(small_config(tiny_run, storage, dataset="fashion-mnist"), from_space(get_space(SPACE), 3, 0), tmp_path / "o")
    with pytest.raises(InvalidArgumentError, match=r"unknown proxies zen"):
        correlate(small_config(tiny_run, storage, proxies=["zen"]), from_space(get_space(SPACE), 3, 0), tmp_path / "o")
    with pytest.raises(InvalidArgumentError, match=r"without --synthetic sets, name the real data with --dataset"):
        correlate(small_config(tiny_run, storage, synthetic=[]), from_space(get_space(SPACE), 3, 0), tmp_path / "o")


def test_cli_bad_inputs_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[{")
    for args, needle in [
        (["--archs", str(bad), "--space", SPACE], "is not valid JSON"),
        (["--archs", str(bad)], "--archs needs --space"),
        (["--study", "nope", "--storage", str(tmp_path / "s.log")], "no study 'nope'"),
        (["--sample", "--space", SPACE, "--dataset", "digits", "--early", "0.1,x"], "--early: expected a number, got 'x'"),
        (["--sample", "--space", SPACE, "--dataset", "digits", "--full-epochs", "0"], "ground-truth epochs"),
        (["--sample", "--space", SPACE, "--dataset", "digits", "--proxies", "datadam ipc2"], "'datadam ipc2' is now 'datadam-ipc2'"),
        (["--sample", "--space", SPACE, "--dataset", "digits", "--promote", "0"], "promote must be"),
    ]:
        code = main(["correlate", *args, "--out", str(tmp_path / "o"), "--quiet"])
        err = capsys.readouterr().err.strip()
        assert code != 0 and len(err.splitlines()) == 1 and needle in err and "Traceback" not in err, err


def test_ctrl_c_then_the_same_command_reuses_the_finished_trainings(tiny_run: Path, tmp_path: Path) -> None:
    storage = tmp_path / "gt.log"
    command = [sys.executable, "-m", "nas_proxy", "correlate", "--sample", "--space", SPACE, "--n-archs", "4"]
    # one epoch on 100 images per training: what is checked (finished trainings kept, none done twice) needs no more
    command += ["--synthetic", str(tiny_run), "--proxies", "params", "--full-epochs", "1", "--full-images", "100", "--early", "0.5"]
    command += ["--ceiling", "0", "--no-random-subset"]
    command += ["--gt-storage", str(storage), "--out", str(tmp_path / "out"), "--device", "cpu", "--bootstrap", "100", "--quiet"]
    config = small_config(tiny_run, storage, ground_truth=GroundTruthConfig(epochs=1, early=(0.5,), images=100))
    gate = Gate(tmp_path / "gate", at=FULL_TRAINING, let_through=1)  # one training finishes, the next waits there
    first = interruptible(command, env=gate.env(), stderr=subprocess.PIPE)
    gate.wait([first], [first.pid])
    states = [t.state for t in gt_study(storage, config).trials]
    assert TrialState.COMPLETE in states and TrialState.RUNNING in states  # interrupted once a training has finished and another runs
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=240)
    assert first.returncode == 130 and "run the same command again to resume" in err, err
    finished_before = {t.user_attrs["arch_id"]: t.number for t in gt_study(storage, config).get_trials(states=(TrialState.COMPLETE,))}
    assert finished_before
    again = warm.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    complete = gt_study(storage, config).get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 4 and len({t.user_attrs["arch_id"] for t in complete}) == 4
    assert all({t.user_attrs["arch_id"]: t.number for t in complete}[a] == n for a, n in finished_before.items())


def test_the_ceiling_is_a_seeded_random_subset_not_the_first() -> None:
    archs = from_space(get_space("convnet720"), 30, seed=0)
    chosen = _ceiling_subset(archs, 8, seed=0)
    assert len(chosen) == 8 and chosen == _ceiling_subset(archs, 8, seed=0)
    assert chosen != archs[:8] and chosen != _ceiling_subset(archs, 8, seed=1)
    assert _ceiling_subset(archs, None, 0) == archs and _ceiling_subset(archs, 0, 0) == []


def test_interrupted_trainings_are_retried_and_real_failures_are_not(tmp_path: Path) -> None:
    study = open_study(open_storage(str(tmp_path / "gt.log"), "gt"), DataRef("digits"), GroundTruthConfig(epochs=1, early=()))
    a, b = (s.spec for s in from_space(get_space(SPACE), 2, seed=0))
    for spec, attrs in ((a, {"interrupted": True}), (b, {"fail_reason": "training diverged: the loss became nan"})):
        for _ in range(3):
            trial = study.ask()
            for key, value in {"spec": spec, "seed": 0, "arch_id": arch_id(spec), **attrs}.items():
                trial.set_user_attr(key, value)
            study.tell(trial, state=TrialState.FAIL)
    assert enqueue(study, [(a, 0), (b, 0)]) == {"cached": 0, "queued": 1, "given_up": 1}
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert [t.user_attrs["arch_id"] for t in waiting] == [arch_id(a)]


def test_early_stopping_at_the_last_epoch_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="strictly between 0 and 2 epochs"):
        GroundTruthConfig(epochs=2, early=(2.0,)).validate()


def test_a_report_waits_for_trainings_running_in_another_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from nas_proxy.groundtruth.study import train
    from nas_proxy.studies import queue
    from nas_proxy.studies.journal import JournalFile

    monkeypatch.setattr(queue, "POLL_SECONDS", 0.05)
    storage = tmp_path / "gt.log"
    opened = open_storage(str(storage), "gt")
    study = open_study(opened, DataRef("digits"), GroundTruthConfig(epochs=1, early=()))
    spec = from_space(get_space(SPACE), 1, seed=0)[0].spec
    enqueue(study, [(spec, 0)])
    other = study.ask()  # another worker (alive: this process) has taken the training
    for key, value in {"worker_host": "elsewhere", "worker_pid": 1}.items():
        other.set_user_attr(key, value)
    opens: list[object] = []  # journals opened while it trains and waits
    init = JournalFile.__init__

    def counting(self: JournalFile, *args: Any, **kwargs: Any) -> None:
        opens.append(args)
        init(self, *args, **kwargs)

    monkeypatch.setattr(JournalFile, "__init__", counting)
    timer = threading.Timer(0.5, lambda: study.tell(other, 77.0))
    timer.start()
    train(study, opened, [(spec, 0)], 1, "cpu", progress=False)  # nothing queued: it waits for what runs elsewhere
    state = study.trials[0].state  # read at once: it returned only after the other worker told (no timing involved)
    timer.join()
    assert state == TrialState.COMPLETE
    assert opens == []  # every poll read through the storage opened above: none opened per poll, nor per step


def test_specs_may_leave_out_the_family_and_use_the_short_form(tmp_path: Path) -> None:
    space = get_space(SPACE)
    full = [
        {"family": "convnet", "depth": d, "width": w, "activation": "relu", "normalization": "instancenorm", "pooling": "avgpooling"}
        for d, w in ((2, 32), (1, 64))
    ]
    given = tmp_path / "archs.json"
    given.write_text(
        json.dumps(
            [{"spec": {k: v for k, v in full[0].items() if k != "family"}, "accuracy": 70}, {"spec": "depth=1,width=64", "accuracy": 80}]
        )
    )
    archs = read_archs(given, space)
    assert (
        [a.spec for a in archs] == full
        and [a.arch_id for a in archs] == [arch_id(s) for s in full]
        and [a.truth for a in archs] == [70, 80]
    )
    csv = tmp_path / "archs.csv"
    pd.DataFrame({"spec": ["depth=2,width=32", json.dumps(full[1])]}).to_csv(csv, index=False)
    assert [a.spec for a in read_archs(csv, space)] == full
    given.write_text(json.dumps(["depth=2,width=32", "depth=2,widht=32"]))
    with pytest.raises(InvalidArgumentError, match=r"archs.json: architecture 1: .*widht"):
        read_archs(given, space)


def test_given_accuracies_get_no_second_seed_of_another_protocol(tiny_run: Path, tmp_path: Path) -> None:
    specs = [a.spec for a in from_space(get_space(SPACE), 4, seed=1)]
    given = tmp_path / "given.json"
    given.write_text(json.dumps([{"spec": s, "accuracy": 90 - i} for i, s in enumerate(specs)]))
    config = small_config(tiny_run, tmp_path / "gt.log", ceiling=None, proxies=["params"], random_subset=False)
    result = correlate(config, read_archs(given), tmp_path / "out")
    write_reports(result)
    assert TRUTH_SEED2 not in result.proxies and not gt_study(tmp_path / "gt.log", config).trials  # nothing trained
    assert "No *ground truth, 2nd seed* row: the accuracies were given" in (tmp_path / "out" / "report.md").read_text()


def test_default_early_stopping_fits_one_full_epoch(tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archs = tmp_path / "archs.json"
    no_family = {"depth": 1, "width": 64, "activation": "relu", "normalization": "instancenorm", "pooling": "avgpooling"}
    archs.write_text(json.dumps(["depth=1,width=32", "depth=2,width=32", no_family]))  # short forms, no family
    command = ["correlate", "--archs", str(archs), "--space", SPACE, "--synthetic", str(tiny_run), "--proxies", "params,early@0.1ep"]
    # one epoch on 100 images: what is checked (the default early points fitted to one epoch, and said) needs no more
    command += ["--full-epochs", "1", "--full-images", "100", "--no-random-subset", "--ceiling", "0"]
    command += ["--bootstrap", "100", "--device", "cpu"]
    code = main([*command, "--gt-storage", str(tmp_path / "gt.log"), "--out", str(tmp_path / "out"), "--quiet", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out)
    assert result["facts"]["ground_truth"]["early"] == [0.1] and set(result["proxies"]) == {"params", "early@0.1ep"}
    assert any("early stopping at 1 epochs (the default --early) is left out" in w for w in result["warnings"])
    assert len(result["archs"]) == 3


# the study's proxy: 4 epochs, not the default 50; seed 1; 50 report images (200 until stop 60: the typed --epochs 50 below
# scored 200 images at each of its 25 reports, 0.55 of that test's 2.5 CPU-s)
SEARCHED = ProxyConfig(epochs=4, report_every=2, report_images=50)


@pytest.fixture(scope="module")
def searched_study(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-trial search study made with :data:`SEARCHED` and seed 1; its journal."""
    from nas_proxy.search import SearchConfig, search

    storage = tmp_path_factory.mktemp("searched") / "journal.log"
    config = SearchConfig(synthetic=str(tiny_run), space=SPACE, device="cpu", proxy=SEARCHED, pruner="none", seed=1)
    search(config, "st", 3, str(storage), out=storage.parent / "export", progress=False)
    return storage


def _study_command(storage: Path, tmp_path: Path) -> list[str]:
    source = ["correlate", "--study", "st", "--storage", str(storage), "--proxies", "datadam-ipc2", "--no-random-subset"]
    # one epoch on 100 images per training: these tests need a ground truth, not a good one (1.2 of 4.8 CPU-s of two of them)
    ground_truth = ["--ceiling", "0", "--full-epochs", "1", "--full-images", "100", "--early", "0.5"]
    ground_truth += ["--gt-storage", str(tmp_path / "gt.log")]
    return [*source, *ground_truth, "--bootstrap", "100", "--device", "cpu"]


def test_a_study_is_correlated_with_the_proxy_it_searched(
    tiny_run: Path, searched_study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study = optuna.load_study(study_name="st", storage=open_storage(str(searched_study), "st")[0])
    values = {t.user_attrs["arch_id"]: t.value for t in study.trials}
    command = _study_command(searched_study, tmp_path)
    assert main([*command, "--out", str(tmp_path / "out"), "--quiet", "--json"]) == 0  # proxy options and seed not given
    result = json.loads(capsys.readouterr().out)
    assert result["facts"]["proxy_training"] == {**SEARCHED.to_dict(), "seed": 1} and result["facts"]["seed"] == 1
    assert {r["arch_id"]: r["datadam-ipc2"] for r in result["archs"]} == values  # the study's own scores, reused
    md = (tmp_path / "out" / "report.md").read_text()
    # the batch used: 256 capped to the set's 20 images (fix62b; before, the line said the batch asked)
    assert "each architecture trained 4 epochs on the synthetic set (lr 0.01, batch 20, DSA on), seed 1" in md and str(tiny_run) in md
    recorded = tomllib.loads((tmp_path / "out" / "config.toml").read_text())["correlate"]
    assert recorded["seed"] == 1 and recorded["proxy"]["epochs"] == 4  # config.toml records what ran, not the defaults
    # an option set wins, said so, and the others stay the study's: the next test's one command checks it


def test_a_read_only_study_is_correlated_and_its_report_written_whole(searched_study: Path, tmp_path: Path) -> None:
    """A study this user may only read (its journal 444, its folder 555: root without capabilities), the ground
    truth kept elsewhere: the report and config.toml are written, exit 0, a warning says the study's dashboard
    page does not show it. Before perm48: every training ran, then 'cannot write .../journal.log', exit 2,
    config.toml not written."""
    study = tmp_path / "study"
    shutil.copytree(searched_study.parent, study, ignore=shutil.ignore_patterns("export"))
    (study / "journal.log").chmod(0o444)
    study.chmod(0o555)
    try:
        command = [*_study_command(study / "journal.log", tmp_path), "--n-archs", "1", "--out", str(tmp_path / "out"), "--quiet"]
        done = uncapable.run(command)
    finally:
        study.chmod(0o755)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "the report is not shown on the dashboard page of study 'st' (cannot write " in done.stderr
    assert {"report.md", "report.html", "results.json", "config.toml"} <= {p.name for p in (tmp_path / "out").iterdir()}
    assert (study / "journal.log").read_bytes() == (searched_study).read_bytes()


def test_a_read_only_study_without_gt_storage_is_refused_before_any_training(searched_study: Path, tmp_path: Path) -> None:
    """Without --gt-storage, correlate --study trains its ground truth into the study's storage: one this user may
    only read is refused in one line that names --gt-storage, before anything is trained or written. Before
    perm48 the line said only 'give a folder you may write to, or change its permissions' (no folder was given)."""
    study = tmp_path / "study"
    shutil.copytree(searched_study.parent, study, ignore=shutil.ignore_patterns("export"))
    (study / "journal.log").chmod(0o444)
    command = [c for c in _study_command(study / "journal.log", tmp_path) if c != str(tmp_path / "gt.log")]
    command.remove("--gt-storage")
    done = uncapable.run([*command, "--out", str(tmp_path / "out"), "--quiet"])
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"nasproxy correlate: error: cannot write {study / 'journal.log'}: permission denied;")
    assert "give --gt-storage a journal you may write to" in done.stderr
    assert not (tmp_path / "out").exists() and (study / "journal.log").read_bytes() == searched_study.read_bytes()


def test_an_out_whose_cache_may_not_be_written_is_refused_before_the_ground_truth(searched_study: Path, tmp_path: Path) -> None:
    """--out writable but its cache/ not (555, root without capabilities): refused in one line naming it before
    any training. Before perm48 the ground truth trained (stored in --gt-storage), then 'cannot write
    out/cache/proxy-....jsonl'."""
    study = tmp_path / "study"
    shutil.copytree(searched_study.parent, study, ignore=shutil.ignore_patterns("export"))
    cache = tmp_path / "out" / "cache"
    cache.mkdir(parents=True)
    cache.chmod(0o555)
    done = uncapable.run([*_study_command(study / "journal.log", tmp_path), "--out", str(tmp_path / "out"), "--quiet"])
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"nasproxy correlate: error: cannot write {cache}: permission denied;")
    assert not (tmp_path / "gt.log").exists() and not list(cache.iterdir())


def test_a_cache_file_that_may_not_be_written_is_refused_before_the_ground_truth(searched_study: Path, tmp_path: Path) -> None:
    """A resumed correlate whose out/cache/ may be written but its proxy's cache file not (444, root without
    capabilities), with architectures left to add to it: refused in one line naming the file before any training.
    Before stop 49 the new ground truth trained (kept in --gt-storage), then 'cannot write out/cache/proxy-....jsonl'."""
    study = tmp_path / "study"
    shutil.copytree(searched_study.parent, study, ignore=shutil.ignore_patterns("export"))
    out = tmp_path / "out"
    first = [*_study_command(study / "journal.log", tmp_path), "--out", str(out), "--quiet"]
    assert main(first) == 0
    (cache,) = (out / "cache").glob("*.jsonl")
    cache.write_text(cache.read_text().splitlines(keepends=True)[0])  # one architecture's score kept, the others to add
    cache.chmod(0o444)
    again = [arg if arg != str(tmp_path / "gt.log") else str(tmp_path / "gt2.log") for arg in first]  # a ground truth to train
    done = uncapable.run(again)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"nasproxy correlate: error: cannot write {cache}: permission denied;")
    assert not (tmp_path / "gt2.log").exists()


@pytest.fixture(scope="module")
def random_subset_scored(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], Path, dict[str, float]]:
    """A correlate of 4 given architectures scored by the random subset alone (OUT/random-ipc2-seed0 drawn): its command
    without --out, its OUT, and each architecture's score; made once for the two kinds of damage below."""
    root = tmp_path_factory.mktemp("random-subset")
    specs = [{"family": "convnet", "depth": d, "width": w, "activation": "relu", "normalization": "none", "pooling": "avgpooling"}
             for d in (1, 2) for w in (16, 32)]  # fmt: skip
    given = root / "given.json"
    given.write_text(json.dumps([{"spec": s, "accuracy": 80.0 + i} for i, s in enumerate(specs)]))  # no ground truth trained
    command = ["correlate", "--archs", str(given), "--space", "convnet-cpu", "--synthetic", str(tiny_run), "--proxies", "random-ipc2"]
    command += ["--epochs", "1", "--bootstrap", "100", "--device", "cpu", "--quiet", "--json"]
    out = root / "out"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main([*command, "--out", str(out)]) == 0
    return command, out, {r["arch_id"]: r["random-ipc2"] for r in json.loads(stdout.getvalue())["archs"]}


@pytest.mark.parametrize("damage", ["edited", "torn"])
def test_a_random_subset_that_cannot_be_used_is_drawn_again_not_refused(
    random_subset_scored: tuple[list[str], Path, dict[str, float]], tmp_path: Path, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """correlate's random subset (OUT/random-ipc2-seed0), its meta.json edited (no longer JSON) or the set torn (meta.json
    and checkpoint gone): before stop 49 the same command stopped on distill's remedy, which correlate (and search) lack:
    'OUT/random-ipc2-seed0/meta.json is not valid JSON (...); the directory is corrupt, distil again' and 'OUT/random-ipc2-
    seed0 holds an incomplete run without a checkpoint; start again with --force', exit 2. Now the subset, a cache of
    the command's own (its seed draws the same images), is drawn again and said in one warning: the same scores."""
    command, first, before = random_subset_scored
    out = tmp_path / "out"
    shutil.copytree(first, out, ignore=shutil.ignore_patterns("cache"))  # scored again, on the subset drawn again
    subset = out / "random-ipc2-seed0"
    (subset / "checkpoint.safetensors").unlink()
    if damage == "edited":
        (subset / "meta.json").write_text('{"format_version": ')
    else:
        (subset / "meta.json").unlink()
    assert main([*command, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert [r for r in captured.err.splitlines() if "random subset" in r] == [
        f"nasproxy: warning: random subset {subset} could not be used ({subset} holds an incomplete run without a checkpoint); "
        "it is drawn again"
    ], captured.err
    assert {r["arch_id"]: r["random-ipc2"] for r in json.loads(captured.out)["archs"]} == before


def test_a_studys_ground_truth_goes_into_its_storage_unless_an_earlier_one_has_its_own_journal(
    tiny_run: Path, searched_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --gt-storage, correlate --study trains the ground truth in the search's storage (one
    dashboard shows the search and its ground truth); a ground truth that an earlier version kept in
    its own journal under studies/ is found there and reused, not trained again, unless the search's storage holds it
    already (then that journal is left alone)."""
    from nas_proxy.groundtruth import study as gt

    monkeypatch.chdir(tmp_path)  # studies/ is relative to the working directory
    storage = tmp_path / "search.log"
    shutil.copy(searched_study, storage)  # the module's study stays as it was
    command = [arg for arg in _study_command(storage, tmp_path) if arg != "--gt-storage" and arg != str(tmp_path / "gt.log")]
    assert main([*command, "--out", str(tmp_path / "out"), "--quiet", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    name = result["facts"]["ground_truth"]["study"]
    assert result["facts"]["ground_truth"]["storage"] == str(storage) and not (tmp_path / "studies").exists()
    held = optuna.get_all_study_summaries(open_storage(str(storage), "st")[0], include_best_trial=False)
    assert {s.study_name: s.n_trials for s in held} == {"st": 3, name: len(result["archs"])}  # one training per architecture

    ref, protocol = data_ref(CorrelateConfig(SPACE, synthetic=[str(tiny_run)]))[0], GroundTruthConfig(epochs=1, early=(0.5,), images=100)
    assert study_name(ref, protocol) == name
    earlier = default_storage_url(name)  # where an earlier version kept it (or a correlate of the same protocol)
    open_study(open_storage(earlier, name), ref, protocol)
    fresh = tmp_path / "fresh.log"  # a search's storage that holds no ground truth yet
    shutil.copy(searched_study, fresh)
    assert gt.storage_beside(open_storage(str(fresh), "st"), ref, protocol).url == earlier
    # one that holds its ground truth keeps it: before drill50 the same command, run again once that journal existed
    # (any correlate of the protocol in this folder makes it), trained the whole ground truth again there
    assert gt.storage_beside(open_storage(str(storage), "st"), ref, protocol).url == str(storage)
    assert main([*command, "--out", str(tmp_path / "out"), "--quiet", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["facts"]["ground_truth"]["storage"] == str(storage)
    assert [s.n_trials for s in optuna.get_all_study_summaries(open_storage(earlier, name)[0], include_best_trial=False)] == [0]


def test_options_typed_equal_to_their_defaults_still_override_the_study(
    searched_study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--epochs 50` and `--seed 0` are the defaults, typed: they win over the study's 4 epochs and
    seed 1 (a value equal to the default is no sign that the option was not given), each said; the options not typed
    stay the study's. One architecture: 50 epochs of a proxy's training are what this costs."""
    assert ProxyConfig().epochs == 50 and CorrelateConfig("x").seed == 0  # the premise: both are the defaults
    out = tmp_path / "out"
    command = [*_study_command(searched_study, tmp_path), "--epochs", "50", "--seed", "0", "--n-archs", "1"]
    assert main([*command, "--out", str(out), "--quiet", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["facts"]["proxy_training"]["epochs"] == 50 and result["facts"]["seed"] == 0 and len(result["archs"]) == 1
    assert result["facts"]["proxy_training"]["report_every"] == SEARCHED.report_every  # options not given stay the study's
    assert result["facts"]["proxy_training"]["lr"] == SEARCHED.lr
    assert any("proxy training epochs is 50 as asked, not the study's 4" in w for w in result["warnings"])
    assert any("seed 0 as asked, not the study's 1" in w for w in result["warnings"])
    recorded = tomllib.loads((out / "config.toml").read_text())["correlate"]
    assert recorded["seed"] == 0 and recorded["proxy"]["epochs"] == 50


def test_its_own_config_toml_runs_again_with_fewer_architectures_than_the_default_promote(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """config.toml wrote the default promote (5); read back by --config it counted as asked for, and
    a run of 4 architectures was refused ('--promote 5 is not fewer than the 4 architectures'); 2 here, as few."""
    first, again = tmp_path / "first", tmp_path / "again"
    sample = ["--sample", "--space", "convnet-small", "--dataset", "digits", "--proxies", "params,flops", "--device", "cpu", "--quiet"]
    protocol = [
        "--n-archs",
        "2",
        "--no-random-subset",
        "--full-epochs",
        "1",
        "--full-images",
        "100",
        "--ceiling",
        "0",
        "--bootstrap",
        "100",
    ]
    assert main(["correlate", *sample, *protocol, "--out", str(first)]) == 0
    assert "promote" not in tomllib.loads((first / "config.toml").read_text())["correlate"]
    assert main(["correlate", "--sample", "--config", str(first / "config.toml"), "--out", str(again), "--quiet"]) == 0, (
        capsys.readouterr().err
    )
    ran = [json.loads((out / "results.json").read_text()) for out in (first, again)]
    assert len(ran[0]["archs"]) == 2 and ran[0]["archs"] == ran[1]["archs"]


def test_n_archs_of_a_config_file_is_not_taken_for_a_typed_one(tmp_path: Path) -> None:
    """fix41b: every config.toml of run/correlate writes n_archs, so `correlate --config c.toml --archs F`
    was refused ('--n-archs 5 changes nothing with --archs'): only a typed --n-archs is idle there."""
    from nas_proxy.cli import build_parser
    from nas_proxy.cli.common import Config
    from nas_proxy.cli.correlate import resolve

    config = tmp_path / "c.toml"
    config.write_text("[correlate]\nn_archs = 5\n")
    line = ["correlate", "--config", str(config), "--archs", "a.json", "--out", str(tmp_path / "out")]
    from_file = resolve(build_parser().parse_args(line), Config(str(config)))
    assert from_file.budget.n_archs == 5 and "n_archs" not in from_file.given
    assert "n_archs" in resolve(build_parser().parse_args([*line, "--n-archs", "5"]), Config(str(config))).given


def test_a_key_not_read_and_a_spec_as_json_text_are_said(tmp_path: Path) -> None:
    """probe46: distill --select-by (and correlate --archs, calibrate --truth) read an entry with a key of no meaning
    ('acuracy', a typo) or a spec as JSON text without a word. Both are still read (as a CSV's other columns and its
    spec text are), and each is said in one warning naming the file, the entry and the key."""
    space = get_space("convnet-cpu")
    specs = [a.spec for a in from_space(space, 4, 0)]
    rows: list[dict[str, Any]] = [{"spec": s, "accuracy": 60.0 + i} for i, s in enumerate(specs)]
    path = tmp_path / "truth.json"
    path.write_text(json.dumps([*rows[:2], {**rows[2], "acuracy": 1, "note": "x"}, rows[3]]))
    with pytest.warns(NasProxyWarning) as said:
        archs = read_archs(path, space, "--select-by")
    assert [str(w.message) for w in said] == [
        f"--select-by file {path}: key 'acuracy' (architecture 2, and 1 more keys) is not read; an entry is read for spec, "
        "accuracy, arch_id only"
    ]
    assert [a.truth for a in archs] == [60.0, 61.0, 62.0, 63.0]
    path.write_text(json.dumps([rows[0], {**rows[1], "spec": json.dumps(specs[1])}, *rows[2:]]))
    with pytest.warns(NasProxyWarning, match=r"architecture 1's spec is JSON text \(a string\), read as its object") as said:
        archs = read_archs(path, space, "--select-by")
    assert len(said) == 1 and archs[1].spec == specs[1]
    path.write_text(json.dumps([{**r, "arch_id": arch_id(r["spec"])} for r in rows]))  # the keys read: no word
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(read_archs(path, space, "--select-by")) == 4


def test_scores_beside_a_spec_are_not_taken_for_a_misnamed_ground_truth(tmp_path: Path) -> None:
    """A promoted search's best.json carries 'real_val_accuracy' (the promotion's validation score) and
    was refused as 'looks like an accuracy'; a list with 'val_accuracy' beside each spec too. Only
    names a ground truth goes by ('acc', 'Accuracy', 'test_accuracy', 'top1') are refused."""
    spec = {"family": "convnet", "depth": 1, "width": 8, "activation": "relu", "normalization": "none", "pooling": "avgpooling"}
    top = [{"number": 0, "values": [50.0], "arch_id": arch_id(spec), "spec": spec, "proxy_rank": 1, "real_val_accuracy": 91.2}]
    best = tmp_path / "best.json"
    best.write_text(json.dumps({"study": "s", "best": top[0], "top": top}))
    listed = tmp_path / "listed.json"
    listed.write_text(json.dumps([{"spec": spec, "val_accuracy": 80.0}]))
    (arch,) = read_archs(best)  # a best.json's own keys, without a word
    assert arch.spec == spec and arch.truth is None  # no ground truth given: correlate trains it
    with pytest.warns(NasProxyWarning, match="key 'val_accuracy' .architecture 0. is not read"):  # read, and said (probe46)
        (arch,) = read_archs(listed)
    assert arch.spec == spec and arch.truth is None
    for key in ("acc", "Accuracy", "test_accuracy", "Top-1"):
        listed.write_text(json.dumps([{"spec": spec, key: 80.0}]))
        with pytest.raises(InvalidArgumentError, match=rf"key '{key}' looks like an accuracy"):
            read_archs(listed)


def test_a_correlate_reads_its_data_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stop 51: a correlate read its data five times, for --full-images' check, the proxies' content digest and their
    real batch, the ground truth's study (its digest alone) and its first worker's trainings: Fashion-MNIST 3.85 CPU-s
    (0.8 each). Now once, as ``run`` reads it (read_once)."""
    from nas_proxy.data import registry

    reads: dict[str, int] = {}
    read = registry._load

    def counted(name: str, *rest: Any) -> Any:  # every read of a dataset's files (read_once's are not)
        reads[name] = reads.get(name, 0) + 1
        return read(name, *rest)

    monkeypatch.setattr(registry, "_load", counted)
    args = ["--sample", "--space", SPACE, "--n-archs", "2", "--dataset", "digits", "--proxies", "params,synflow", "--no-random-subset"]
    args += ["--full-epochs", "1", "--full-images", "100", "--gt-storage", str(tmp_path / "gt.log"), "--device", "cpu"]
    assert main(["correlate", *args, "--out", str(tmp_path / "o"), "--quiet"]) == 0
    assert reads == {"digits": 1}
