"""One builder of a search's random real subset (``--proxy random-ipcN``): two ``nasproxy search`` processes
started at once on the same data need the same set in the same folder (beside their journals); one builds it
while the other waits for the folder's lock, then reads it (:func:`nas_proxy.proxies.synthetic._random_subset`).
Before fix48a both built it: two writers of one set. The drills wait for events (a process held at the gate
in the middle of writing the set, a process waiting in the kernel for the lock), never for a duration."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from nas_proxy.protocols import DataRef
from nas_proxy.proxies import RunSetup
from nas_proxy.proxies.synthetic import _random_subset
from nas_proxy.spaces import get_space
from nas_proxy.synthetic import load_synthetic
from tests import warm
from tests.gate import SAFETY_SECONDS, Gate
from tests.search.test_search import SMALL_SPACE

SAVE = "nas_proxy.synthetic:save_synthetic"  # the set's files written (its checkpoint already is): the middle of a build
SET = "random-ipc2-seed0"


def _search(tmp_path: Path, study: str, gate: Gate) -> subprocess.Popen[str]:
    """``nasproxy search --proxy random-ipc2`` on digits, its journal in ``tmp_path``, where it makes the subset."""
    command = [sys.executable, "-m", "nas_proxy", "search", "--dataset", "digits", "--proxy", "random-ipc2", "--space", SMALL_SPACE]
    command += ["--study", study, "--storage", str(tmp_path / f"{study}.log"), "--out", str(tmp_path / study), "--n-trials", "1"]
    command += ["--epochs", "1", "--pruner", "none", "--device", "cpu", "--quiet"]
    return warm.Popen(command, env=gate.env(), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _blocked_on_a_lock(pid: int) -> bool:
    """Whether process ``pid`` waits in the kernel for a flock another holds (``/proc/locks``: ``N: -> FLOCK ... PID``)."""
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[1] == "->" and fields[2] == "FLOCK" and fields[5] == str(pid):
            return True
    return False


def _wait_until_blocked(second: subprocess.Popen[str], gate: Gate) -> None:
    """Block until ``second`` waits for the lock; fail at once where it reaches the gate instead (it builds the set
    too: the fault) or ends."""
    deadline = time.monotonic() + SAFETY_SECONDS
    while not _blocked_on_a_lock(second.pid):
        assert second.pid not in gate.waiting(), "the second process builds the set too, beside the first"
        assert second.poll() is None, f"the second process ended ({second.returncode}): {second.communicate()[1]}"
        assert time.monotonic() < deadline, f"the second process neither waited for the lock nor built in {SAFETY_SECONDS} s"
        time.sleep(0.05)


def _whole(folder: Path) -> str:
    """The set in ``folder`` loaded whole, no half-written file beside it; its tensors' SHA-256."""
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]
    synthetic = load_synthetic(folder)
    assert synthetic.meta["ipc"] == 2 and synthetic.meta["method"] == "random"
    return str(synthetic.meta["tensors_sha256"])


def test_two_searches_started_at_once_build_the_random_subset_once(tmp_path: Path) -> None:
    gate = Gate(tmp_path / "gate", at=SAVE)
    first = _search(tmp_path, "a", gate)
    gate.wait([first], [first.pid])  # the first builds the set, held while writing it, its lock held
    second = _search(tmp_path, "b", gate)
    _wait_until_blocked(second, gate)
    gate.open()
    for p in (first, second):
        _, err = p.communicate(timeout=SAFETY_SECONDS)
        assert p.returncode == 0, err
    assert gate.waiting() == {first.pid}  # the second never wrote the set: it read the one the first made
    _whole(tmp_path / SET)


def test_a_builder_killed_mid_build_leaves_no_torn_file_and_the_waiting_search_builds_it(tmp_path: Path) -> None:
    gate = Gate(tmp_path / "gate", at=SAVE)
    first = _search(tmp_path, "a", gate)
    gate.wait([first], [first.pid])
    second = _search(tmp_path, "b", gate)
    _wait_until_blocked(second, gate)
    first.send_signal(signal.SIGKILL)  # its lock goes with it
    first.communicate(timeout=SAFETY_SECONDS)
    gate.wait([second], [second.pid])  # the second takes the lock and builds the set
    gate.open()
    _, err = second.communicate(timeout=SAFETY_SECONDS)
    assert second.returncode == 0, err
    reference = _random_subset(RunSetup(space=get_space(SMALL_SPACE), data=DataRef("digits"), out=tmp_path / "reference"), 2)
    assert _whole(tmp_path / SET) == _whole(Path(reference))  # the set an uninterrupted build makes
