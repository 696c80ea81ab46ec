"""Workers' crash dumps (nas_proxy.studies.crashes): one a trial can be told by, and the folder's sweep."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
from contextlib import suppress
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from nas_proxy.studies import processes
from nas_proxy.studies.crashes import CRASH_ATTR, sweep_crash_folder
from nas_proxy.studies.identity import OOM_ATTR
from nas_proxy.studies.repair import NOT_COUNTED, fail_dead_trials
from nas_proxy.studies.storage import open_storage
from tests import run_code


def test_the_sweep_judges_only_files_a_process_id_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fix49b: the sweep took any name of digits for a process id: 0-x.txt was handed to os.kill (this process's
    group), 99999999999999999999-x.txt raised OverflowError and ²-x.txt ValueError out of the start of every trial.
    Such a file names no process: kept, nothing asked."""
    asked: list[object] = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: asked.append(pid))
    names = ["0-a.txt", "99999999999999999999-b.txt", "²-c.txt", "-1-d.txt"]
    for name in names:
        (tmp_path / name).write_text("\n")  # blank: what a worker killed outright leaves
    sweep_crash_folder(tmp_path)
    assert asked == [] and sorted(p.name for p in tmp_path.iterdir()) == sorted(names)


def test_the_sweep_removes_only_files_named_as_a_worker_names_them(tmp_path: Path) -> None:
    """A dead process's blank file is removed only under the name a worker gives it (str(pid)): before stop 50
    (review50), '0<pid>-y.txt' and the pid in Arabic-Indic digits ('\u0663...'), names no worker gives, were read as
    that pid (str.isdecimal, int()) and removed. Kept now; the worker's own name is still swept."""
    proc = subprocess.Popen(["true"])
    proc.wait()  # reaped: its id names no process now
    gone = str(proc.pid)
    foreign = [f"0{gone}-a.txt", "".join(chr(0x0660 + int(d)) for d in gone) + "-b.txt"]
    for name in [*foreign, f"{gone}-c.txt"]:
        (tmp_path / name).write_text("\n")  # blank: what a worker killed outright leaves
    sweep_crash_folder(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(foreign)


def test_the_sweep_neither_reads_nor_removes_a_fifo_named_as_a_gone_workers_file(tmp_path: Path) -> None:
    """probe54: a FIFO in the crash folder under a gone process's name was read as its dump file: the read waited for a
    writer, and every search stopped at its first trial, for ever (the sweep runs as a trial starts). Only a regular
    file is a worker's: the FIFO is kept, unread. Here a writer stands ready to hand it one newline (a blank file's
    content), so that, read as before, it is judged blank and removed instead of hanging the test."""
    proc = subprocess.Popen(["true"])
    proc.wait()  # reaped: its id names no process now
    fifo = tmp_path / f"{proc.pid}-x.txt"
    os.mkfifo(fifo)

    def write() -> None:  # its open waits for a reader; one that opens the FIFO to look at it (non-blocking) and closes
        with suppress(BrokenPipeError):  # it unread ends the write so: nothing read, as the test wants (a thread's
            fifo.write_bytes(b"\n")  # uncaught BrokenPipeError was a warning of the run, seen under load)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    sweep_crash_folder(tmp_path)
    kept = fifo.exists()
    if kept:  # nothing read it: be its reader, so that the writer's open returns and the thread ends
        with open(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK), "rb") as reader:
            writer.join()
            reader.read()
    writer.join()
    assert kept


# one process running two trials at once, a thread each (as benchmarks' lanes run theirs, or optimize(n_jobs=2)): both
# claimed and training, then trial 1's thread crashes in native code (a segmentation fault raised in that thread)
TWO_TRIALS_ONE_CRASH = """
import faulthandler, sys, tempfile, threading
tempfile.tempdir = sys.argv[1]
import optuna
from nas_proxy.studies.guarded import Guarded
from nas_proxy.studies.storage import open_storage

both = threading.Barrier(2)

def objective(trial):
    trial.suggest_int("x", 0, 1000)
    both.wait()  # both claimed (Guarded claims first) and training now
    if trial.number == 1:
        faulthandler._sigsegv()
    threading.Event().wait()

study = optuna.create_study(study_name="c", storage=open_storage(sys.argv[2], "c")[0])
study.optimize(Guarded(objective), n_trials=2, n_jobs=2)
"""


def test_a_crash_of_one_of_two_trials_in_one_process_counts_against_that_one_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fix49b: the trials running at once in one process named one dump file, and a crash in either was found in both:
    the bystander's candidate was counted a death (retries + 1, given up after MAX_RETRY) and its fail_reason quoted the
    other's crash. Now each trial names the thread it trained in, and a dump whose crashing thread is another trial's
    is not its own: the bystander is re-queued uncounted, the dump is kept for the crasher's reason."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the dumps go (crashes.crash_folder), here and there
    journal = tmp_path / "journal.log"
    crashed = run_code.run(TWO_TRIALS_ONE_CRASH, str(tmp_path), str(journal), capture_output=True, timeout=600)
    assert crashed.returncode == -signal.SIGSEGV, crashed.stderr
    storage = open_storage(str(journal), "c")[0]
    study = optuna.load_study(study_name="c", storage=storage)
    monkeypatch.setattr(processes, "oom_kills", lambda: study.trials[1].user_attrs[OOM_ATTR])  # no out-of-memory kill meanwhile
    assert fail_dead_trials(study, storage) == [0, 1]  # the bystander repaired first: the dump must outlive its repair
    bystander, crasher = study.trials[:2]
    dump = Path(crasher.user_attrs[CRASH_ATTR])
    assert dump.read_text().startswith("Fatal Python error: Segmentation fault")
    assert "(Fatal Python error: Segmentation fault; its dump:" in crasher.user_attrs["fail_reason"]
    assert "Segmentation fault" not in bystander.user_attrs["fail_reason"] and NOT_COUNTED in bystander.user_attrs["fail_reason"]
    copies = {t.user_attrs["retry_of"]: t.user_attrs["retries"] for t in study.get_trials(states=(TrialState.WAITING,))}
    assert copies == {0: 0, 1: 1}  # the crash counts against trial 1's candidate alone
