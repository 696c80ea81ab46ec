"""The journal's lock (nas_proxy/studies/journal_lock.py): a lock left by a process killed -9 on this
machine is taken at once, a live holder's never, and one whose holder this machine cannot judge (another
machine's over NFS, Optuna's own link) after its grace period, seen unchanged on the monotonic clock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from nas_proxy.studies import journal_lock
from nas_proxy.studies.journal import JournalFile
from nas_proxy.studies.journal_lock import HolderLock
from nas_proxy.studies.processes import process_start

RECORD = {"op_code": 0, "worker_id": "w", "study_name": "s", "directions": [1]}
SAFETY_SECONDS = 60  # how long a test waits for a lock it must get (after a grace period of 0.3 s) before it says it never came


def killed_holder() -> dict[str, object]:
    """The record of a process of this machine that was killed (-9), as journal_lock.holder() wrote it in that
    process (tests/faults/test_faults.py kills a real holder)."""
    process = subprocess.Popen(["sleep", "600"])
    record = {**journal_lock.holder(), "pid": process.pid, "start": process_start(process.pid)}
    process.send_signal(signal.SIGKILL)
    process.wait()
    return record


def left_by_kill_9(journal: Path) -> None:
    """The lock a process of this machine left when it was killed (-9) holding it."""
    Path(f"{journal}.lock").write_text(json.dumps(killed_holder()))


def test_a_lock_whose_holder_was_killed_is_taken_at_once(tmp_path: Path) -> None:
    """fix42a: every command after a kill -9 that left the lock waited Optuna's grace period (30.05 s measured)."""
    journal = tmp_path / "journal.log"
    journal.touch()
    left_by_kill_9(journal)
    assert Path(f"{journal}.lock").exists()  # left behind, naming its dead holder
    start = time.monotonic()
    JournalFile(journal).append_logs([RECORD])
    assert time.monotonic() - start < journal_lock.LOCK_GRACE_SECONDS / 2
    assert json.loads(journal.read_text()) == RECORD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["journal.log"]  # no lock, break lock or record left


def test_a_live_holder_keeps_its_lock_past_the_grace_period(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal_lock, "LOCK_GRACE_SECONDS", 0.05)
    journal = (tmp_path / "journal.log").resolve()
    held, other, got, judged = HolderLock(journal), HolderLock(journal), threading.Event(), threading.Event()
    held.acquire()
    stale, looks = journal_lock._stale, []

    def counted(path: Path, unchanged_for: float) -> bool:
        verdict = stale(path, unchanged_for)
        looks.append(unchanged_for)
        if sum(u > 0.05 for u in looks) >= 5:  # judged five times past the grace period: Optuna's rule would have broken it
            judged.set()
        return verdict

    monkeypatch.setattr(journal_lock, "_stale", counted)

    def wait_for_it() -> None:
        other.acquire()
        got.set()

    threading.Thread(target=wait_for_it, daemon=True).start()
    assert judged.wait(60) and not got.is_set()
    held.release()
    assert got.wait(60)  # the waiter takes it once it is released
    other.release()


def test_a_holder_killed_and_not_yet_reaped_is_gone(tmp_path: Path) -> None:
    """review42: a worker killed -9 holding the lock stays a zombie until its parent reaps it (search --workers reaps
    them at its end), with the same start: judged alive, the parent's next journal write waited for ever."""
    journal = (tmp_path / "journal.log").resolve()
    journal.touch()
    code = f"from nas_proxy.studies.journal_lock import HolderLock; HolderLock(__import__('pathlib').Path({str(journal)!r})).acquire(); print('held', flush=True); __import__('time').sleep(600)"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "held\n"
        os.kill(child.pid, signal.SIGKILL)
        while Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            time.sleep(0.01)  # dead, not reaped (nothing waits for it here)
        got = threading.Event()

        def take() -> None:
            HolderLock(journal).acquire()
            got.set()

        threading.Thread(target=take, daemon=True).start()
        assert got.wait(journal_lock.LOCK_GRACE_SECONDS / 2)
    finally:
        child.kill()
        child.communicate()  # its stdout closed (fix62c: a ResourceWarning before)


def test_a_holder_this_user_may_not_see_is_alive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """review42: under /proc's hidepid another user's live process has no readable start: its lock was broken."""
    from nas_proxy.studies import processes

    journal = (tmp_path / "journal.log").resolve()
    held = HolderLock(journal)
    held.acquire()

    def hidden(pid: int, signal: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    for module in (processes, journal_lock):  # wherever the holder's start is read
        monkeypatch.setattr(module, "process_start", lambda pid: None)
    monkeypatch.setattr(processes.os, "kill", hidden)
    assert not journal_lock._stale(Path(f"{journal}.lock"), 10**6)
    held.release()


def test_a_lock_is_readable_by_others_whatever_the_umask_and_an_unreadable_one_waits_its_grace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """review42: under umask 077 the record was 0600, and another user's waiter, unable to read it, spun at full CPU
    for ever without applying the grace period."""
    journal = (tmp_path / "journal.log").resolve()
    lock = Path(f"{journal}.lock")
    before = os.umask(0o077)
    try:
        held = HolderLock(journal)
        held.acquire()
    finally:
        os.umask(before)
    assert lock.stat().st_mode & 0o777 == 0o644
    held.release()
    monkeypatch.setattr(journal_lock, "LOCK_GRACE_SECONDS", 0.3)
    lock.write_text(json.dumps({"pid": os.getpid(), "start": "x", "nonce": "unreadable"}))
    read = journal_lock._read

    def refused(path: Path) -> bytes:
        if path == lock:
            raise PermissionError(13, "Permission denied")
        return read(path)

    monkeypatch.setattr(journal_lock, "_read", refused)
    start = time.monotonic()
    HolderLock(journal).acquire()
    assert time.monotonic() - start >= 0.3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["journal.log.lock"]  # no record file left aside


@pytest.mark.parametrize("left", ["Optuna's link", "another machine's"])
def test_an_unjudged_lock_is_taken_after_the_grace_period_seen_unchanged(
    left: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal_lock, "LOCK_GRACE_SECONDS", 0.3)
    journal = (tmp_path / "journal.log").resolve()
    journal.touch()
    lock = Path(f"{journal}.lock")
    if left == "Optuna's link":
        lock.symlink_to(journal)  # JournalFileSymlinkLock's (and nasproxy's before fix42a): no holder recorded
    else:  # a process id of another boot: it means nothing here
        lock.write_text(json.dumps({"pid": os.getpid(), "start": "another-boot:1", "pid_namespace": "pid:[1]", "nonce": "x"}))
    os.utime(lock, (time.time() - 3600,) * 2, follow_symlinks=False)  # old by the wall clock: no longer a reason
    start = time.monotonic()
    HolderLock(journal).acquire()
    assert time.monotonic() - start >= 0.3
    assert json.loads(lock.read_text())["pid"] == os.getpid()


def test_a_holder_whose_lock_was_broken_leaves_the_new_holders_lock(tmp_path: Path) -> None:
    """A holder another machine judged dead by the grace period (alive after all, over NFS) releases:
    the lock taken since stays (it had removed whatever lock was there by then)."""
    journal = (tmp_path / "journal.log").resolve()
    lock = Path(f"{journal}.lock")
    slow = HolderLock(journal)
    slow.acquire()
    taken_since = {**json.loads(lock.read_text()), "start": "another-boot:1", "nonce": "taken-since"}
    lock.unlink()  # broken by the other machine, which then took it
    lock.write_text(json.dumps(taken_since))
    slow.release()
    assert json.loads(lock.read_text()) == taken_since
    lock.unlink()
    mine = HolderLock(journal)
    mine.acquire()
    mine.release()  # its own lock: removed
    assert not lock.exists()


def test_the_files_a_killed_writer_left_beside_the_lock_are_removed_a_live_ones_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fix43b: a process killed between writing its record and linking it left journal.log.lock.HEX.new, and one
    killed between renaming a lock and removing it (Optuna's release too) journal.log.lockHEX.rename, for good."""
    journal = (tmp_path / "journal.log").resolve()
    journal.touch()
    dead = json.dumps(killed_holder())
    (tmp_path / "journal.log.lock.1.new").write_text(dead)  # killed before its link
    (tmp_path / "journal.log.lock2.rename").write_text(dead)  # killed before its unlink
    (tmp_path / "journal.log.lock.break.3.new").write_text(dead)  # killed while it broke a lock
    (tmp_path / "journal.log.lock.4.new").write_text(json.dumps(journal_lock.holder()))  # a live waiter's
    (tmp_path / "journal.log.lock.5.new").write_text(json.dumps({**journal_lock.holder(), "start": "another-boot:1"}))
    (tmp_path / "journal.log.lock6.rename").symlink_to(journal)  # Optuna's link, its release killed before its unlink
    JournalFile(journal).append_logs([RECORD])
    kept = ["journal.log", "journal.log.lock.4.new", "journal.log.lock.5.new", "journal.log.lock6.rename"]
    assert sorted(p.name for p in tmp_path.iterdir()) == kept  # the link: changed less than the grace period ago
    monkeypatch.setattr(journal_lock, "LOCK_GRACE_SECONDS", -1)  # as if it had been left longer
    JournalFile(journal).append_logs([RECORD])
    assert sorted(p.name for p in tmp_path.iterdir()) == kept[:3]


@pytest.mark.parametrize("pid", [-1, 0, 2**70, True], ids=repr)
def test_a_lock_naming_no_process_id_is_taken_after_the_grace_period(pid: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fix49b: a lock record whose pid is no process id (a hand edit) was judged by it: -1 and 0 went to os.kill (every
    process, this one's group: alive, so the lock was never taken and every command waited for ever), 2**70 raised
    OverflowError out of the lock. It names no holder now: taken after the grace period, as an unreadable one."""
    monkeypatch.setattr(journal_lock, "LOCK_GRACE_SECONDS", 0.3)
    journal = (tmp_path / "journal.log").resolve()
    journal.touch()
    mine = journal_lock.holder()
    Path(f"{journal}.lock").write_text(json.dumps({**mine, "pid": pid, "nonce": "edited"}))  # this boot, this namespace
    taken, failed = threading.Event(), []

    def take() -> None:
        try:
            HolderLock(journal).acquire()
        except (OverflowError, ValueError) as e:  # (the OverflowError of before)
            failed.append(e)
        finally:
            taken.set()

    threading.Thread(target=take, daemon=True).start()
    assert taken.wait(SAFETY_SECONDS), f"the lock naming pid {pid!r} was not taken in {SAFETY_SECONDS} s"
    assert failed == [] and json.loads(Path(f"{journal}.lock").read_text())["pid"] == os.getpid()
