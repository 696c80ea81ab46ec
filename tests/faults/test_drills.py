"""Faults found by the kill drills (scratch drivers that kill every command at random moments and
compare the rerun with an uninterrupted run): each test puts the process at the moment that broke."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import torch

from nas_proxy import synthetic
from nas_proxy.cli.worker_process import AGAIN
from nas_proxy.configs import EmptyOutputWarning
from nas_proxy.distill import distill, runner
from nas_proxy.distill.config import SoftLabelConfig
from nas_proxy.distill.soft_labels import add_soft_labels
from nas_proxy.errors import ArtifactError
from nas_proxy.search import ProxyConfig, SearchConfig, search
from nas_proxy.search.target import SearchProxy
from nas_proxy.search.winner import WEIGHTS, TrainBestConfig, train_best
from nas_proxy.studies.storage import open_storage
from nas_proxy.synthetic import load_synthetic
from tests import warm
from tests.conftest import tiny_config
from tests.gate import Gate
from tests.search.test_search import FAST_ARGS, SMALL_SPACE, load


def test_a_continued_run_killed_after_its_last_checkpoint_finishes_its_set(
    tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``distill --resume --iterations 6`` of a finished 3-iteration run, killed once its last
    checkpoint (iteration 6) is written but before the set: the same command must write the
    6-iteration set, not return the 3-iteration one whose meta.json is still there."""
    out = tmp_path / "run"
    distill(tiny_config(iterations=3), out)

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # the process ends here: the checkpoint says 6, meta.json still 3

    with monkeypatch.context() as m:
        m.setattr(runner, "save_synthetic", killed)
        with pytest.raises(KeyboardInterrupt):
            distill(tiny_config(), out, resume=True)
    result = distill(tiny_config(), out, resume=True)
    assert result.meta["iterations_done"] == 6
    assert torch.equal(load_synthetic(out).images, load_synthetic(tiny_run).images)


@pytest.mark.parametrize("torn", ["meta.json", "synthetic.safetensors", "grid.png", "losses.csv"])
def test_a_finished_set_cut_short_is_written_again_by_the_same_command(torn: str, tiny_run: Path, tmp_path: Path) -> None:
    """A file of a finished set cut short (a torn last write): the same command used to take the set
    as finished (a cut synthetic.safetensors: exit 0 and 'wrote', then every reader refused it) or
    stop on the JSON (a cut meta.json); the checkpoint holds the finished pixels, so it writes the set again.
    Its picture or its losses.csv cut (drills of stop 52: outside the tensors' hash, they were kept torn, 'wrote ...') are
    written again."""
    out = tmp_path / "run"
    shutil.copytree(tiny_run, out)
    with open(out / torn, "r+b") as f:
        f.truncate(f.seek(0, 2) // 3)
    result = distill(tiny_config(), out)
    assert result.meta["iterations_done"] == 6
    assert torch.equal(load_synthetic(out).images, load_synthetic(tiny_run).images)
    for name in (synthetic.GRID, "losses.csv"):
        assert (out / name).read_bytes() == (tiny_run / name).read_bytes(), name


def test_a_finished_sets_checkpoint_cut_short_leaves_the_set_to_the_same_command(tiny_run: Path, tmp_path: Path) -> None:
    """The checkpoint of a finished, whole set cut short: the same command (and ``run``, which resumes
    its distillation every time) stopped on it and asked for --force, which distils the set again; the
    checkpoint only continues a run further, so the set is taken as it is. Other options, or more
    iterations (which need the checkpoint's momentum), are still refused."""
    out = tmp_path / "run"
    shutil.copytree(tiny_run, out)
    with open(out / "checkpoint.safetensors", "r+b") as f:
        f.truncate(f.seek(0, 2) - 10)
    before = (out / "synthetic.safetensors").read_bytes()
    for resume in (False, True):
        assert distill(tiny_config(), out, resume=resume).meta["iterations_done"] == 6
    assert (out / "synthetic.safetensors").read_bytes() == before
    for config in (tiny_config(seed=1), tiny_config(iterations=8)):
        with pytest.raises(ArtifactError, match="is unreadable"):
            distill(config, out, resume=True)


def test_soft_labels_in_place_killed_between_the_tensors_and_meta_json_are_finished_by_the_same_command(
    tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``nasproxy soft-labels SET`` rewrites the set in place: the tensors (now with the labels), then
    meta.json. Killed in between, the set's tensors no longer matched its meta.json: every reader,
    the same command included, refused it ('distil again'). The pending meta.json finishes it."""
    labelled = tmp_path / "set"
    shutil.copytree(tiny_run, labelled)
    config = SoftLabelConfig(teachers=1, space="convnet-small", epochs=2, images=600)

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # the process ends after the tensors are replaced, before meta.json

    with monkeypatch.context() as m:
        m.setattr(synthetic, "save_grid", killed)
        with pytest.raises(KeyboardInterrupt):
            add_soft_labels(labelled, config, device="cpu")
    meta = add_soft_labels(labelled, config, device="cpu")  # the same command: the pending meta.json completes the set
    loaded = load_synthetic(labelled)
    assert loaded.soft_labels is not None and loaded.meta == meta and "soft_labels" in meta
    assert torch.equal(loaded.images, load_synthetic(tiny_run).images)
    assert not (labelled / synthetic.PENDING).exists()


@pytest.fixture(scope="module")
def best_json(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-trial search's best.json."""
    where = tmp_path_factory.mktemp("study")
    proxy = ProxyConfig(epochs=1, report_every=1)
    search(
        SearchConfig(synthetic=str(tiny_run), space="convnet-small", device="cpu", pruner="none", proxy=proxy),
        "s",
        1,
        str(where / "journal.log"),
        out=where,
    )
    return where / "best.json"


# drill tier: "cut". A file whose hash no longer matches spec.json is retrained or replaced in make test by
# test_train_best.py's test_whole_weights_of_this_training_are_not_trained_again_and_torn_ones_are (its torchscript cut
# short); "missing" drills here the other way a recorded file is not whole (trained_folder.whole: it cannot be read)
@pytest.mark.parametrize("torn", [pytest.param("cut", marks=pytest.mark.drill), "missing"])
def test_train_whose_weights_were_cut_short_trains_again(torn: str, best_json: Path, tmp_path: Path) -> None:
    """``nasproxy train BEST --out DIR`` finds DIR finished by its spec.json (written last); with
    model.safetensors cut short or gone it used to say 'already holds this training' and exit 0 over
    weights nothing can load. spec.json now records each file's hash: the same command trains again."""
    one, out = TrainBestConfig(epochs=1, device="cpu"), tmp_path / "model"
    first = train_best(best_json, out, one)
    weights = (out / WEIGHTS).read_bytes()
    if torn == "cut":
        (out / WEIGHTS).write_bytes(weights[:-10])
    else:
        (out / WEIGHTS).unlink()
    said = "no longer matches the sha256 spec.json records (cut short or changed)" if torn == "cut" else "is missing"
    with pytest.warns(EmptyOutputWarning, match=f"holds this training, but its {WEIGHTS} {re.escape(said)}: written again$"):
        again = train_best(best_json, out, one)
    assert not again.reused and (out / WEIGHTS).read_bytes() == weights
    assert again.spec["test_accuracy"] == first.spec["test_accuracy"]
    assert train_best(best_json, out, one).reused  # whole now: not trained a third time


# drill tier: SIGTERM. The worker says nothing on either signal (one code path, nas_proxy/cli/worker_process.py), which
# SIGINT drills here; the command's SIGTERM line is drilled by test_faults.py's SIGTERM tests (a search, 143, this line)
@pytest.mark.parametrize("sig", [signal.SIGINT, pytest.param(signal.SIGTERM, marks=pytest.mark.drill)])
def test_ctrl_c_to_a_search_and_its_workers_prints_one_line(sig: signal.Signals, tiny_run: Path, tmp_path: Path) -> None:
    """Ctrl-C in a terminal reaches ``search --workers 2`` and the worker it started (one process
    group); a scheduler's SIGTERM to the group too. Each used to print its own line ('nasproxy worker:
    interrupted' above 'nasproxy search: interrupted'): the command's line is the one."""
    command = [sys.executable, "-m", "nas_proxy", "search", "--synthetic", str(tiny_run), "--space", SMALL_SPACE, "--study", "w"]
    command += ["--storage", str(tmp_path / "journal.log"), "--out", str(tmp_path), "--n-trials", "2", "--workers", "2", "--pruner", "none"]
    command += ["--sampler", "bruteforce"]  # two different candidates: one proposed while another trains it would wait, not train
    gate = Gate(tmp_path / "gate")  # both processes hold a trial there, in training
    run = warm.Popen([*command, *FAST_ARGS], env=gate.env(), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    waiting = gate.wait([run], [run.pid], count=2)
    for pid in sorted(waiting, key=lambda p: p != run.pid):  # as the terminal sends it: to every process of the group
        os.kill(pid, sig)
    gate.open()
    _, err = run.communicate(timeout=400)
    said = "interrupted" if sig == signal.SIGINT else "interrupted by SIGTERM"
    assert run.returncode == 128 + sig, err
    assert err == f"nasproxy search: {said}; finished trials are stored; run the same command again to resume the study\n"


def test_a_worker_stops_once_its_command_ended_though_that_is_not_its_parent_nor_reaped(tmp_path: Path) -> None:
    """A worker process started for its command by another process (the tests' server forks a forked search's
    workers, tests/warm.py), its command killed -9 and not yet reaped by its own parent (a zombie, its id still
    taken): before stop 54 the worker looked at its own parent, unchanged, and at the command's id, which a zombie
    answers (``os.kill(pid, 0)``), and ran on. It now watches that process (a pidfd) and stops as on SIGTERM."""
    import json

    from nas_proxy.studies.kinds import WorkerOptions
    from nas_proxy.studies.workers import WORKER_MODULE

    command = subprocess.Popen(["sleep", "600"])  # the worker's command; the worker's parent is this process, or the server
    gate = Gate(tmp_path / "gate", at="nas_proxy.studies.workers:join")  # held before it looks for its study
    options = json.dumps(WorkerOptions(progress=False).to_dict())
    args = [sys.executable, "-m", WORKER_MODULE, "s", str(tmp_path / "journal.log"), options, str(command.pid)]
    worker = warm.Popen(args, env=gate.env(), stderr=subprocess.PIPE, text=True)
    try:
        gate.wait([worker], [worker.pid])
        command.kill()  # not reaped: a zombie until command.wait() below
        _, err = worker.communicate(timeout=ORPHAN_SECONDS)
    finally:
        command.kill()
        command.wait()
    assert worker.returncode == 143, err
    assert err == f"nasproxy worker: stopped, the command that started it ended; finished trials are stored; {AGAIN}\n"
    assert not (tmp_path / "journal.log").exists()


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_a_resumed_search_draws_what_an_uninterrupted_one_draws_and_nothing_twice(
    sampler: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same command after a kill (here: a larger --n-trials, and a Ctrl-C inside trial 4, whose
    candidate is re-queued) must not propose the first run's candidates again (a sampler seeded as the
    first run's did, in order), and must end with the candidates an uninterrupted run draws: a sampler
    seeded anew from the trials there (the interrupted one and its re-queued copy counted) drew others,
    so a killed ``run`` correlated other architectures than an uninterrupted one (drill39)."""
    config = SearchConfig(
        synthetic=None, proxy_name="params", dataset="digits", space="convnet720", sampler=sampler, device="cpu", pruner="none"
    )

    def archs(journal: Path) -> list[str]:
        study = optuna.load_study(study_name="r", storage=open_storage(str(journal), "r").backend)
        return [t.user_attrs["arch_id"] for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]

    search(config, "r", 6, str(tmp_path / "ref.log"), out=tmp_path / "ref", progress=False)
    journal = tmp_path / "journal.log"
    search(config, "r", 3, str(journal), out=tmp_path, progress=False)
    calls: list[int] = []

    def interrupted(*args: object, **kwargs: object) -> None:
        calls.append(1)
        raise KeyboardInterrupt  # Ctrl-C in the candidate's scoring: it is re-queued

    with monkeypatch.context() as m:
        m.setattr(SearchProxy, "score", interrupted)
        with pytest.raises(KeyboardInterrupt):
            search(config, "r", 6, str(journal), out=tmp_path, progress=False)
    assert calls
    search(config, "r", 6, str(journal), out=tmp_path, progress=False)
    got = archs(journal)
    assert len(got) == 6 and not set(got[3:]) & set(got[:3]), got
    assert got == archs(tmp_path / "ref.log")


AT_EXIT = """
import atexit, os, signal, sys
from nas_proxy.cli import main
sys.argv = ["nasproxy", "spaces"]
code = main()
atexit.register(lambda: os.kill(os.getpid(), signal.SIGINT))  # Ctrl-C while the interpreter exits, the command done
sys.exit(code)
"""


def test_ctrl_c_after_the_command_finished_leaves_its_exit_status(tmp_path: Path) -> None:
    """A Ctrl-C in the last moments, the command's work done and its last line printed, landed in the
    interpreter's exit (atexit, torch's finalisers): the process died by SIGINT without a word (8 of
    10 'nasproxy train' runs signalled after their last line) or printed a traceback and exited 0.
    Now the program ignores signals once its command is done: exit 0, nothing on stderr."""
    done = subprocess.run([sys.executable, "-c", AT_EXIT], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert "convnet720" in done.stdout


ORPHAN_SECONDS = 120  # fails a worker that outlives its killed search; it stops in about a second (generous for a loaded machine)


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie counts as ended: its new parent reaps it when it likes)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def test_kill_9_of_a_search_stops_its_workers_and_the_same_command_finishes(tiny_run: Path, tmp_path: Path) -> None:
    """SIGKILL to the parent of ``search --workers 2`` alone (an OOM killer, ``kill -9 PID``): its worker
    used to run on, orphaned, until the study was done. It now stops as on SIGTERM (its trial failed,
    not left RUNNING), and the same command finishes the study: what finished is kept, no architecture
    is trained twice. Started cold, as a user starts it: its worker is its child, started cold (a forked search forks
    its workers from the tests' server, whose worker's command is not its parent: the test below)."""
    storage = tmp_path / "journal.log"
    command = [sys.executable, "-m", "nas_proxy", "search", "--synthetic", str(tiny_run), "--space", SMALL_SPACE, "--study", "o"]
    command += ["--storage", str(storage), "--out", str(tmp_path), "--n-trials", "4", "--workers", "2", "--pruner", "none", *FAST_ARGS]
    command += ["--sampler", "bruteforce"]  # proposes no architecture another worker is training (TPE may: two trainings of one)
    gate = Gate(tmp_path / "gate", let_through=1)  # each process finishes one trial, then holds its second in training
    run = warm.Popen(command, env=gate.env(), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cold=True)
    (worker,) = gate.wait([run], [run.pid], count=2) - {run.pid}
    try:
        finished = {t.number: t.values for t in load(storage, "o").trials if t.state == optuna.trial.TrialState.COMPLETE}
        os.kill(run.pid, signal.SIGKILL)  # the parent only: its worker holds a trial at the gate
        assert run.wait(timeout=60) == -signal.SIGKILL
        deadline = time.monotonic() + ORPHAN_SECONDS
        while not _gone(worker):
            assert time.monotonic() < deadline, f"worker {worker} still runs {ORPHAN_SECONDS} s after its search was killed"
            time.sleep(0.1)
        _, err = run.communicate(timeout=60)  # the worker held the pipes it inherited: read once it is gone
    finally:
        if not _gone(worker):
            os.kill(worker, signal.SIGKILL)
    assert "nasproxy worker: stopped, the command that started it ended; finished trials are stored" in err, err
    study = load(storage, "o")
    assert [t.number for t in study.trials if t.state == optuna.trial.TrialState.RUNNING and t.user_attrs.get("worker_pid") == worker] == []
    done = warm.run(command, capture_output=True, text=True, timeout=400)  # the same command, without the gate
    assert done.returncode == 0, done.stderr
    study = load(storage, "o")
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert {n: v for n, v in ((t.number, t.values) for t in complete) if n in finished} == finished  # nothing finished lost
    trained = [t.user_attrs["arch_id"] for t in complete if "repeat_of" not in t.user_attrs]
    assert len(complete) == 4 and len(trained) == len(set(trained)), trained  # each architecture scored once
    assert not study.get_trials(states=(optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.WAITING))
