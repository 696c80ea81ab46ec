"""Faults: Ctrl-C at every phase of a search, workers killed mid-trial and repaired by the same run,
journal locks left by killed processes, and a distillation killed while writing its checkpoint."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from nas_proxy.cli import main
from nas_proxy.correlate.archs import from_space
from nas_proxy.distill import distill
from nas_proxy.distill.runner import OWN_FILES
from nas_proxy.groundtruth import study as gt
from nas_proxy.groundtruth import trainings
from nas_proxy.search import search
from nas_proxy.search.study import create_or_check
from nas_proxy.search.target import open_proxy
from nas_proxy.spaces import get_space
from nas_proxy.spaces.base import arch_id
from nas_proxy.studies.budget import over_budget
from nas_proxy.studies.journal_beat import BeatingJournal
from nas_proxy.studies.repair import fail_dead_trials
from nas_proxy.studies.storage import open_storage
from nas_proxy.synthetic import CHECKPOINT
from tests import warm
from tests.conftest import tiny_config
from tests.gate import FULL_TRAINING, Gate
from tests.interrupt import interruptible
from tests.search.test_search import FAST_ARGS, SMALL_SPACE, config, load

ROOT = Path(__file__).resolve().parents[2]
PHASES = ["startup", "create", "ask", "training", "tell", "between", "write", "exec"]


def wait_until(condition: Callable[[], bool], what: str, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {seconds} s")


def trials_of(storage: Path, name: str, *wanted: TrialState) -> list[optuna.trial.FrozenTrial]:
    """The study's trials in ``wanted`` states ([] while the study does not exist yet)."""
    if not storage.exists():
        return []
    try:
        return load(storage, name).get_trials(states=wanted or None)
    except KeyError:
        return []


@pytest.mark.parametrize("phase", PHASES)
def test_ctrl_c_at_each_phase_exits_130_and_the_same_command_resumes(
    phase: str, tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    interrupt_search_at(phase, "SIGINT", tiny_run, tmp_path, capsys)


@pytest.mark.parametrize("phase", ["write", "training"])
def test_sigterm_inside_a_storage_write_or_a_training_exits_143_and_the_same_command_resumes(
    phase: str, tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGTERM (kill, a scheduler's pre-emption) is handled as Ctrl-C: held back until the journal
    write is whole, raised at once in training; exit 143 (128 + SIGTERM) and one line naming it."""
    interrupt_search_at(phase, "SIGTERM", tiny_run, tmp_path, capsys)


def interrupt_search_at(phase: str, sig: str, tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A search that sends itself ``sig`` at ``phase`` exits 128 + the signal with one line, leaves
    no trial RUNNING and no lock, and the same command then finishes it."""
    storage = tmp_path / "journal.log"
    args = ["search", "--synthetic", str(tiny_run), "--space", SMALL_SPACE, "--study", "i", "--storage", str(storage)]
    args += ["--out", str(tmp_path), "--n-trials", "2", "--pruner", "none", *FAST_ARGS]
    driver = [sys.executable, "-m", "tests.sigint_at", phase]  # -m: as `python -m nas_proxy` runs
    env = {**os.environ, "NASPROXY_TEST_SIGNAL": sig}
    first = interruptible([*driver, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, err = first.communicate(timeout=300)
    said = "interrupted" if sig == "SIGINT" else f"interrupted by {sig}"
    assert first.returncode == 128 + signal.Signals[sig] and said in err and "Traceback" not in err, err
    if sig != "SIGINT":
        assert err == f"nasproxy search: {said}; finished trials are stored; run the same command again to resume the study\n"
    assert not trials_of(storage, "i", TrialState.RUNNING)  # nothing left dangling
    assert not Path(f"{storage}.lock").exists()  # the journal lock was released
    assert main(args) == 0, capsys.readouterr().err  # the same command resumes
    assert len(trials_of(storage, "i", TrialState.COMPLETE)) == 2


def test_a_search_started_with_ctrl_c_ignored_ignores_it_and_sigterm_stops_it(tiny_run: Path, tmp_path: Path) -> None:
    """A script's background job (``nasproxy search ... &``) starts with SIGINT ignored, and a Ctrl-C typed
    at the terminal, which reaches the script's whole process group, is not for it: it trains on. SIGTERM
    still stops it (143, one line), and the same command finishes the study."""
    storage = tmp_path / "journal.log"
    command = [sys.executable, "-m", "nas_proxy", "search", "--synthetic", str(tiny_run), "--space", SMALL_SPACE, "--study", "b"]
    command += ["--storage", str(storage), "--out", str(tmp_path), "--n-trials", "2", "--pruner", "none", *FAST_ARGS]
    gate = Gate(tmp_path / "gate")  # its first training waits there
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a shell starts `cmd &`: the command inherits it
    try:
        run = warm.Popen(command, env=gate.env(), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    finally:
        signal.signal(signal.SIGINT, previous)
    gate.wait([run], [run.pid])  # in training: its main() has installed nasproxy's handlers
    os.kill(run.pid, signal.SIGINT)
    status = Path(f"/proc/{run.pid}/status").read_text()  # the kernel's word: which signals the process ignores
    assert int(next(line for line in status.splitlines() if line.startswith("SigIgn:")).split()[1], 16) & (1 << (signal.SIGINT - 1))
    os.kill(run.pid, signal.SIGTERM)
    _, err = run.communicate(timeout=300)
    assert run.returncode == 143 and err.startswith("nasproxy search: interrupted by SIGTERM"), err
    assert not trials_of(storage, "b", TrialState.RUNNING)
    done = warm.run(command, capture_output=True, text=True, timeout=400)  # the same command, ungated
    assert done.returncode == 0, done.stderr
    assert len(trials_of(storage, "b", TrialState.COMPLETE)) == 2


def test_a_worker_killed_mid_trial_is_retried_by_the_same_run(tiny_run: Path, tmp_path: Path) -> None:
    storage = tmp_path / "journal.log"
    command = [sys.executable, "-m", "nas_proxy", "search", "--synthetic", str(tiny_run), "--space", SMALL_SPACE, "--study", "k"]
    command += ["--storage", str(storage), "--out", str(tmp_path), "--n-trials", "2", "--workers", "2", "--pruner", "none", *FAST_ARGS]
    command += ["--sampler", "bruteforce"]  # two different candidates: one proposed while another trains it would wait, not train
    gate = Gate(tmp_path / "gate")  # the run and the second worker it starts each hold a trial there, in training
    run = warm.Popen(command, env=gate.env(), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    (other,) = gate.wait([run], [run.pid], count=2) - {run.pid}
    running = trials_of(storage, "k", TrialState.RUNNING)
    assert [t.user_attrs["worker_pid"] for t in running if t.params].count(other) == 1  # the second worker, in its trial
    os.kill(other, signal.SIGKILL)
    gate.open()
    out, err = run.communicate(timeout=400)
    assert run.returncode == 0, err
    study = load(storage, "k")
    dead = [t for t in study.get_trials(states=(TrialState.FAIL,)) if not t.user_attrs.get("beyond_budget")]
    assert len(dead) == 1 and "died during the trial" in dead[0].user_attrs["fail_reason"]
    retry = [t for t in study.trials if t.user_attrs.get("retry_of") == dead[0].number]
    assert len(retry) == 1 and retry[0].state == TrialState.COMPLETE and retry[0].params == dead[0].params
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 2 and "2 complete" in out
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))


def _running_trial(study: optuna.Study, host: str, pid: int) -> optuna.Trial:
    trial = study.ask()
    for key, value in {"worker_host": host, "worker_pid": pid}.items():
        trial.set_user_attr(key, value)
    return trial


def _gone_pid() -> int:
    dead = warm.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    return dead.pid


def test_a_dead_workers_trial_does_not_hold_the_budget(tmp_path: Path) -> None:
    import socket

    storage = open_storage(str(tmp_path / "journal.log"), "b")[0]
    study = optuna.create_study(study_name="b", storage=storage)
    _running_trial(study, socket.gethostname(), _gone_pid())
    assert not over_budget(study, 1, 1)  # trial 0 will never finish: trial 1 takes its place
    _running_trial(study, "elsewhere", 1)
    assert over_budget(study, 2, 1)  # a worker on another host may still finish trial 1


def test_a_dead_workers_process_id_given_to_another_process_does_not_keep_its_trial_alive(tmp_path: Path) -> None:
    """drill41: a trial's worker was alive when its process id was; after a reboot (ids start over) or a
    long uptime another process holds it, and the trial was waited for forever. The worker's start is
    recorded with its id (boot id and start in ticks since boot: no wall clock)."""
    import socket

    from nas_proxy.studies.identity import START_ATTR
    from nas_proxy.studies.processes import process_start

    storage = open_storage(str(tmp_path / "journal.log"), "r")[0]
    study = optuna.create_study(study_name="r", storage=storage)
    alive = os.getppid()  # a living process that is not this one: the id a dead worker's may have become
    for recorded in (process_start(alive), "another-boot:12345", None):
        trial = _running_trial(study, socket.gethostname(), alive)
        if recorded is not None:
            trial.set_user_attr(START_ATTR, recorded)
    assert process_start(alive) is not None
    assert fail_dead_trials(study, storage) == [1]  # the one whose id another process holds now; the others: alive (or not known)
    assert [t.state.name for t in study.trials[:3]] == ["RUNNING", "FAIL", "RUNNING"]


def test_a_worker_in_another_pid_namespace_is_judged_by_its_own_process(tmp_path: Path) -> None:
    """drill43: a search under ``unshare --pid`` on the same journal records its ids of its namespace (its worker
    was pid 2 there); the other search judged pid 2 as its own (a kernel thread, started at another time),
    failed the live trial ("worker vm:2 died") and trained its candidate again. Its namespace is recorded, and
    such a worker is found by its namespace and start; killed, its trial and its journal lock are free at once."""
    import json
    import socket

    from nas_proxy.studies.identity import NAMESPACE_ATTR, START_ATTR
    from nas_proxy.studies.journal_lock import _stale
    from nas_proxy.studies.liveness import is_dead
    from nas_proxy.studies.processes import pid_namespace

    script = 'echo $$; readlink /proc/self/ns/pid; cut -d" " -f22 /proc/$$/stat; read x'  # $$: 1, the namespace's first
    try:
        worker = warm.Popen(
            ["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
    except OSError:
        pytest.skip("no unshare here")
    assert worker.stdout is not None and worker.stdin is not None
    lines = [worker.stdout.readline().strip() for _ in range(3)]
    if not lines[2]:
        worker.communicate()
        pytest.skip("unshare --pid needs privileges this user lacks")
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    pid, namespace, start = int(lines[0]), lines[1], f"{boot}:{lines[2]}"
    storage = open_storage(str(tmp_path / "journal.log"), "n")[0]
    study = optuna.create_study(study_name="n", storage=storage)
    trial = _running_trial(study, socket.gethostname(), pid)
    trial.set_user_attr(START_ATTR, start)
    trial.set_user_attr(NAMESPACE_ATTR, namespace)
    lock = tmp_path / "journal.log.lock"
    lock.write_text(json.dumps({"pid": pid, "start": start, "pid_namespace": namespace, "nonce": "x"}))
    assert not is_dead(study.trials[0])  # alive in its namespace (before: this namespace's pid 1, another process)
    assert not _stale(lock, 0.0)
    readlink = os.readlink

    def refused(path: str | Path) -> str:  # as to a user's search, the worker root's
        if str(path).endswith("/ns/pid") and not str(path).startswith("/proc/self"):
            raise PermissionError(13, "Permission denied", str(path))
        return readlink(path)

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(os, "readlink", refused)
        assert not is_dead(study.trials[0])  # found by its start and its id there (review of stop 43: taken for dead)
    worker.communicate()  # its stdin closed (it ends), its stdout read to the end and closed: no pipe left open (fix62c)
    if pid_namespace() == "pid:[4026531836]":  # the kernel's first: it sees every namespace, so an ended one too
        assert is_dead(study.trials[0])
        assert _stale(lock, 0.0)  # at once, not after the grace period


def _beating_elsewhere(
    study: optuna.Study, folder: Path, name: str | None, age: float | None, depth: int, record: str = ""
) -> optuna.Trial:
    """A RUNNING trial of a worker on another host, of ``depth``; ``name``: the heartbeat file it names (None:
    a trial of before stop 44), touched ``age`` seconds ago (None: no such file), recording ``record``."""
    from nas_proxy.studies.journal_beat import BEAT_ATTR

    study.enqueue_trial({"depth": depth})
    trial = _running_trial(study, "another-host", 1)
    trial.suggest_int("depth", 1, 9)
    if name is not None:
        trial.set_user_attr(BEAT_ATTR, name)
    if name is not None and age is not None:
        folder.mkdir(exist_ok=True)
        (folder / name).write_text(record)
        then = (folder / name).stat().st_mtime_ns - int(age * 1e9)
        os.utime(folder / name, ns=(then, then))
    return trial


def test_a_journal_worker_no_process_can_judge_is_judged_by_its_heartbeat_file(tmp_path: Path, beat_clock: list[float]) -> None:
    """stop 44: a journal's trial whose worker this process cannot judge by its process (another host sharing the
    journal, an unseen pid namespace) stayed RUNNING for good, and searches waited for it. Its worker's heartbeat
    file judges it: stale or gone, it is failed and retried; fresh, it is waited for; a trial naming none (recorded
    before) is left as it was. The stale file is removed after the repair; the fresh one stays.
    drill44b: a worker beating every 20 s (its grace 60 s) judged by a search whose grace is 2 s had its live trials
    failed and trained again: its file's own grace period holds where longer. A file of a worker of this host that
    ended after its last trial (killed) stayed until it was older than the grace period (default 180 s): a command
    run again at once ended with it left; it is removed at once, found ended by the identity it records.
    fix45c: a stale file is judged once this process saw it unchanged over time (a clock moved forward: test_journal_beat)."""
    import json
    import socket

    from nas_proxy.studies.journal_beat import FOLDER_SUFFIX

    storage = open_storage(str(tmp_path / "journal.log"), "hb", 1, 2)[0]
    study = optuna.create_study(study_name="hb", storage=storage)
    folder = tmp_path / f"journal.log{FOLDER_SUFFIX}"
    cases = [("stale.beat", 60.0, ""), ("fresh.beat", 0.0, ""), (None, None, ""), ("gone.beat", None, ""), ("killed.beat", 0.0, "")]
    cases.append(("slow.beat", 10.0, json.dumps({"worker_host": "another-host", "worker_pid": 1, "grace": 60})))
    for depth, (name, age, record) in enumerate(cases, 1):
        _beating_elsewhere(study, folder, name, age, depth, record)
    ended = {"worker_host": socket.gethostname(), "worker_pid": _gone_pid(), "grace": 2}
    (folder / "ended.beat").write_text(json.dumps(ended))  # a worker of this host killed after its last trial: no trial names it
    storage.set_trial_user_attr(study.trials[4]._trial_id, "worker_host", socket.gethostname())  # this host's: found by its process
    storage.set_trial_user_attr(study.trials[4]._trial_id, "worker_pid", _gone_pid())
    assert fail_dead_trials(study, storage) == [3, 4]  # gone, and this host's by its process: at once
    beat_clock[0] += 3  # stale.beat seen unchanged for longer than the grace period; fresh.beat beats meanwhile
    os.utime(folder / "fresh.beat")
    assert fail_dead_trials(study, storage) == [0]
    assert [t.state.name for t in study.trials[:6]] == ["FAIL", "RUNNING", "RUNNING", "FAIL", "FAIL", "RUNNING"]
    assert "its heartbeat file unchanged for over 2 s" in study.trials[0].user_attrs["fail_reason"]
    retries = study.get_trials(states=(TrialState.WAITING,))
    assert [t.system_attrs["fixed_params"] for t in retries] == [{"depth": 4}, {"depth": 5}, {"depth": 1}]
    assert sorted(p.name for p in folder.glob("*.beat")) == ["fresh.beat", "slow.beat"]  # the killed ones' at once, though fresh


def test_a_lapsed_journal_worker_s_reason_names_the_grace_it_was_judged_by(tmp_path: Path, beat_clock: list[float]) -> None:
    """A worker whose file records a grace period longer than the judge's is judged by its own (drill44b), and its
    trial's fail_reason now says so: before review44 it named the judge's ('unchanged for over 2 s, the grace
    period' for a file 70 s old, judged by 60 s)."""
    import json

    from nas_proxy.studies.journal_beat import FOLDER_SUFFIX

    storage = open_storage(str(tmp_path / "journal.log"), "hb", 1, 2)[0]
    study = optuna.create_study(study_name="hb", storage=storage)
    record = json.dumps({"worker_host": "another-host", "worker_pid": 1, "grace": 60})
    _beating_elsewhere(study, tmp_path / f"journal.log{FOLDER_SUFFIX}", "slow.beat", 70.0, 1, record)
    assert fail_dead_trials(study, storage) == []  # seen
    beat_clock[0] += 61  # unchanged for longer than its grace period (its interval unknown)
    assert fail_dead_trials(study, storage) == [0]
    assert "its heartbeat file unchanged for over 60 s, the grace period" in study.trials[0].user_attrs["fail_reason"]


def test_a_journal_worker_beats_while_it_lives_and_removes_its_file_at_its_end(tmp_path: Path) -> None:
    from nas_proxy.studies import journal_beat
    from nas_proxy.studies.identity import worker_tag

    storage = open_storage(str(tmp_path / "journal.log"), "b", 1, 2)[0]
    name = worker_tag(storage)[journal_beat.BEAT_ATTR]
    path = tmp_path / f"journal.log{journal_beat.FOLDER_SUFFIX}" / name
    first = path.stat().st_mtime_ns
    os.utime(path, ns=(first - 10**9, first - 10**9))
    wait_until(lambda: path.stat().st_mtime_ns >= first, "a beat", seconds=30)
    assert worker_tag(storage)[journal_beat.BEAT_ATTR] == name  # one file a process
    record = {"worker_host": socket.gethostname(), "worker_pid": os.getpid(), "grace": 2}
    assert record.items() <= json.loads(path.read_text()).items()  # who beats, and its grace period
    path.unlink()  # drill44b: a survivor removed it (this process stopped past the grace period): made again empty

    def remade() -> bool:
        with contextlib.suppress(OSError, ValueError):
            return record.items() <= json.loads(path.read_text()).items()
        return False

    wait_until(remade, "the file made again with its record", seconds=30)
    journal_beat.end_all()
    assert not path.exists()


def test_a_search_trial_records_its_worker_as_it_is_made(tmp_path: Path) -> None:
    """drill41: a search killed between two trials (its next trial made, its objective not yet started) left
    a trial with no worker; the same command then drew on and waited UNTAGGED_SECONDS (60 s) before retrying
    it. The sampler's before_trial, which runs as Optuna makes the trial, records the worker."""
    from nas_proxy.search.study import DrawSeeded

    storage = open_storage(str(tmp_path / "journal.log"), "t")[0]
    sampler = DrawSeeded(lambda seed, n: optuna.samplers.RandomSampler(seed=seed), 0, 1)
    trial = optuna.create_study(study_name="t", storage=storage, sampler=sampler).ask()  # made, no objective run
    assert trial.study.trials[0].user_attrs["worker_pid"] == os.getpid()  # (stored: the Trial object caches what it was made with)
    # drill44b: written one at a time, the id before the namespace: a judge of another namespace reading between them
    # took the trial for one of its own namespace and failed it, live, by that id. The id is written last.
    ops = [json.loads(line) for line in (tmp_path / "journal.log").read_text().splitlines()]
    keys = [key for op in ops if op.get("trial_id") == 0 for key in op.get("user_attr", {})]
    assert keys[-1] == "worker_pid" and {"worker_start", "worker_pid_namespace", "worker_heartbeat"} <= set(keys)


def test_a_trial_whose_worker_died_before_recording_itself_is_failed_after_the_grace(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path / "journal.log"), "u")[0]
    study = optuna.create_study(study_name="u", storage=storage)
    study.ask()  # RUNNING, no worker recorded: its process was killed before the objective's first write
    assert fail_dead_trials(study, storage) == []  # just started: its worker may be about to record itself
    assert study.trials[0].state == TrialState.RUNNING
    assert fail_dead_trials(study, storage, untagged_seconds=0) == [0]
    assert study.trials[0].state == TrialState.FAIL


# a worker that takes the study's first queued trial (as study.optimize does: WAITING -> RUNNING), says so, then either
# dies at once (kill -9 before any other write) or waits for a line on stdin (alive, its trial not yet claimed)
_TAKER = (
    "import os, signal, sys, optuna\n"
    "from nas_proxy.studies.storage import open_storage\n"
    "from nas_proxy.studies.identity import born_tagged\n"
    "storage = open_storage(sys.argv[1], sys.argv[2]).backend\n"
    "born_tagged(storage)  # as every worker that runs trials\n"
    "trial = optuna.load_study(study_name=sys.argv[2], storage=storage).ask()\n"
    "print(trial.number, flush=True)\n"
    "if sys.argv[3] == 'die':\n"
    "    os.kill(os.getpid(), signal.SIGKILL)\n"
    "sys.stdin.readline()\n"
)


def _take_queued(journal: Path, study: str, then: str) -> tuple[subprocess.Popen[str], int]:
    """A worker process that took the first queued trial of ``study`` (``then``: "die" or "wait"), and that trial's number."""
    taker = warm.Popen([sys.executable, "-c", _TAKER, str(journal), study, then], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert taker.stdout is not None
    return taker, int(taker.stdout.readline())


def test_a_queued_trial_whose_worker_died_as_it_took_it_is_retried_at_once(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A queued trial (a retry, a ladder's climber, a ground-truth training) becomes RUNNING in one journal record; before
    fix47a its worker was recorded in later ones, so a worker killed between the two (or a full disk that refused the
    second) left a RUNNING trial that named no worker: the same command printed 'waiting for trials running in other
    workers' and waited UNTAGGED_SECONDS (60 s) before it retried it. The record that takes it names its worker now."""
    journal = tmp_path / "journal.log"
    args = ["search", "--synthetic", str(tiny_run), "--space", SMALL_SPACE, "--study", "q", "--storage", str(journal)]
    args += ["--out", str(tmp_path), "--pruner", "none", "--sampler", "bruteforce", *FAST_ARGS]
    assert main([*args, "--n-trials", "2"]) == 0
    study = load(journal, "q")
    trained = {t.user_attrs["arch_id"] for t in study.trials}
    space = get_space(SMALL_SPACE)
    spec = next(s for s in space.specs(6) or [] if arch_id(s) not in trained)  # a third architecture, queued
    study.enqueue_trial(space.params_of(spec))
    taker, number = _take_queued(journal, "q", "die")
    taker.communicate()  # its pipes closed (fix62c: a ResourceWarning before)
    assert taker.returncode == -signal.SIGKILL
    (left,) = load(journal, "q").get_trials(states=(TrialState.RUNNING,))
    assert left.number == number and "worker_pid" not in left.user_attrs  # its worker killed before it wrote anything more
    capsys.readouterr()
    assert main([a for a in args if a != "--quiet"] + ["--n-trials", "3"]) == 0
    err = capsys.readouterr().err
    assert "waiting for" not in err, err
    study = load(journal, "q")
    dead = study.trials[number]
    assert dead.state == TrialState.FAIL and "died during the trial" in dead.user_attrs["fail_reason"]
    assert f":{taker.pid} died" in dead.user_attrs["fail_reason"]  # the worker that took it, named
    (retry,) = [t for t in study.trials if t.user_attrs.get("retry_of") == number]
    assert retry.state == TrialState.COMPLETE and retry.params == dead.system_attrs["fixed_params"] == space.params_of(spec)


def test_a_live_worker_that_took_a_queued_trial_is_waited_for_and_once_killed_its_trial_is_retried_at_once(tmp_path: Path) -> None:
    """A worker alive between taking a queued trial and claiming it is waited for however long that takes (before fix47a
    the trial named no worker, and one running past UNTAGGED_SECONDS was failed live); killed there, its trial is
    failed and re-queued by the next judge at once (before: UNTAGGED_SECONDS, 60 s, after it was taken)."""
    journal = tmp_path / "journal.log"
    storage = open_storage(str(journal), "l")[0]
    study = optuna.create_study(study_name="l", storage=storage)
    study.enqueue_trial({"x": 1}, user_attrs={"seed": 3})
    taker, number = _take_queued(journal, "l", "wait")
    assert fail_dead_trials(study, storage, untagged_seconds=0) == []  # alive: waited for, whatever the untagged rule says
    assert study.trials[number].state == TrialState.RUNNING and "worker_pid" not in study.trials[number].user_attrs
    taker.kill()
    taker.communicate()  # its pipes closed (fix62c: a ResourceWarning before)
    assert fail_dead_trials(study, storage) == [number]  # dead: at once
    assert f":{taker.pid} died during the trial" in study.trials[number].user_attrs["fail_reason"]
    (retry,) = study.get_trials(states=(TrialState.WAITING,))
    assert retry.system_attrs["fixed_params"] == {"x": 1} and retry.user_attrs["seed"] == 3 and retry.user_attrs["retry_of"] == number


def test_a_run_waits_for_a_trial_running_elsewhere_instead_of_ending_short(tiny_run: Path, tmp_path: Path) -> None:
    storage = tmp_path / "journal.log"
    cfg = config(tiny_run)
    study = create_or_check(open_storage(str(storage), "w")[0], "w", cfg, open_proxy(cfg, tmp_path).fingerprint(get_space(SMALL_SPACE)), 0)
    elsewhere = _running_trial(study, "elsewhere", 1)  # another machine's worker, alive
    get_space(SMALL_SPACE).sample(elsewhere)

    def finish_elsewhere() -> None:  # once this run has done what it can, the other worker finishes
        wait_until(lambda: bool(trials_of(storage, "w", TrialState.COMPLETE)), "the run's own trial")
        study.tell(elsewhere, 50.0)

    other = threading.Thread(target=finish_elsewhere)
    other.start()
    result = search(cfg, "w", 2, str(storage), out=tmp_path, progress=False)
    other.join()
    assert result.trials == {"complete": 2} and result.unmet is None  # not 1 complete and 1 beyond the budget


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_database_heartbeats_repair_a_dead_worker_on_another_host(tmp_path: Path) -> None:
    storage = RDBStorage(
        f"sqlite:///{tmp_path / 'hb.db'}",
        heartbeat_interval=1,
        grace_period=1,
        heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(),
    )
    study = optuna.create_study(study_name="h", storage=storage)
    trial = _running_trial(study, "elsewhere", 1)
    trial.suggest_int("depth", 1, 3)
    storage.record_heartbeat(trial._trial_id)  # then the worker stops beating

    def repaired() -> bool:
        fail_dead_trials(study, storage)
        return study.trials[0].state == TrialState.FAIL

    wait_until(repaired, "the heartbeat repair", seconds=120)
    retry = study.get_trials(states=(TrialState.WAITING,))
    assert len(retry) == 1 and retry[0].params == study.trials[0].params


def test_an_unmet_budget_exits_non_zero_with_one_line_why(tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["search", "--synthetic", str(tiny_run), "--space", SMALL_SPACE, "--study", "u", "--storage", str(tmp_path / "j.log")]
    args += ["--out", str(tmp_path), "--n-trials", "2", "--pruner", "none", *FAST_ARGS, "--lr", "1e20"]  # every trial diverges
    code = main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "the budget of 2 trials was not met: 0 count (2 trials failed" in err[0], err


def test_a_killed_ground_truth_worker_is_retried_by_the_same_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = tmp_path / "gt.log"
    opened = open_storage(str(storage), "gt")
    url = opened.url
    # 100 training images (was the whole split): the dead worker's trial repaired is checked, not what it learns
    study = gt.open_study(opened, gt.DataRef("digits"), gt.GroundTruthConfig(epochs=2, early=(), images=100))
    specs = [a.spec for a in from_space(get_space(SMALL_SPACE), 2, seed=0)]
    gt.enqueue(study, [(spec, 0) for spec in specs])
    gate = Gate(tmp_path / "gate", at=FULL_TRAINING)  # the child's training waits there (RUNNING) until it is killed
    command = [sys.executable, "-m", "nas_proxy", "worker", "--study", study.study_name, "--storage", url, "--device", "cpu", "--quiet"]
    child = warm.Popen(command, env=gate.env(), text=True, stderr=subprocess.PIPE)
    gate.wait([child], [child.pid])
    (taken,) = study.get_trials(states=(TrialState.RUNNING,))
    backend = opened.backend
    assert isinstance(backend, BeatingJournal) and (backend.taker(taken._trial_id) or {}).get("worker_pid") == child.pid  # (fix47a)
    train_one = trainings.train_one

    def kill_the_child_then_train(*args: Any, **kwargs: Any) -> Any:
        # once this process trains (so it cannot repair the dead trial merely by starting later), the child dies
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            child.communicate()  # its stderr closed (fix62c: a ResourceWarning before)
        return train_one(*args, **kwargs)

    monkeypatch.setattr(trainings, "train_one", kill_the_child_then_train)
    gt.run_worker(study, opened, "cpu", progress=False)  # trains the other architecture, then the dead worker's
    assert child.returncode == -signal.SIGKILL
    done = study.get_trials(states=(TrialState.COMPLETE,))
    assert sorted(t.user_attrs["arch_id"] for t in done) == sorted(
        {t.user_attrs["arch_id"] for t in study.trials if "arch_id" in t.user_attrs}
    )
    assert len(done) == 2 and all(t.user_attrs["worker_pid"] == os.getpid() for t in done)


def _hold_the_lock_and_die(journal: Path) -> None:
    """A process that takes the journal's lock and is killed (-9) while holding it."""
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from nas_proxy.studies.journal_lock import HolderLock\n"
        "HolderLock(Path(sys.argv[1])).acquire()\n"
        "print('locked', flush=True)\n"
        "time.sleep(600)\n"
    )
    holder = warm.Popen([sys.executable, "-c", code, str(journal.resolve())], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    holder.send_signal(signal.SIGKILL)
    holder.communicate()  # its stdout closed (fix62c: a ResourceWarning before)


@pytest.mark.parametrize("lock", ["left by kill -9", "dangling (relative path)"])
def test_a_lock_left_by_a_killed_process_does_not_wedge_the_next_command(lock: str, tiny_run: Path, tmp_path: Path) -> None:
    journal = tmp_path / "studies" / "x" / "journal.log"
    journal.parent.mkdir(parents=True)
    journal.touch()
    lock_file = Path(f"{journal}.lock")
    if lock == "left by kill -9":
        _hold_the_lock_and_die(journal)
        os.utime(lock_file, (time.time() - 3600,) * 2, follow_symlinks=False)  # an hour old: no reason now (fix42a), its dead holder is
    else:
        lock_file.symlink_to("studies/x/journal.log")  # what a relative path made: the link dangles
    command = [sys.executable, "-m", "nas_proxy", "search", "--synthetic", str(tiny_run), "--space", SMALL_SPACE, "--study", "x"]
    command += ["--storage", "studies/x/journal.log", "--out", "out", "--n-trials", "1", "--pruner", "none", *FAST_ARGS]
    done = warm.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=240)  # wedged: spins until this timeout
    assert done.returncode == 0, done.stderr
    assert not lock_file.is_symlink() and not lock_file.exists()


@pytest.mark.parametrize("resume", [True, False])
def test_a_distillation_killed_in_its_first_checkpoint_runs_again(resume: bool, tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / f".{CHECKPOINT}.k2j4x9.tmp").write_bytes(b"half a checkpoint")  # what kill -9 inside atomic_path leaves
    result = distill(tiny_config(), out, resume=resume, progress=False)
    assert result.meta["iterations_done"] == tiny_config().iterations
    assert sorted(p.name for p in out.iterdir()) == sorted(n for n in OWN_FILES if (out / n).exists())  # its own files only
