"""The one SIGINT mechanism (nas_proxy.interrupts): deferred sections for storage writes, and stop
requests for a loop that checkpoints and stops (distillation), with or without the CLI's handler;
SIGTERM and SIGHUP handled alike, told apart by the exit status."""

from __future__ import annotations

import importlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from nas_proxy import interrupts


def _not_taken(signum: int, frame: object) -> None:
    """SIGHUP's default action, which would end the test run: a failure of the test instead."""
    pytest.fail("SIGHUP reached the default action: the process would have ended without a word (a closed terminal)")


@pytest.fixture
def restored() -> Iterator[None]:
    """The test's signal handlers and the module's state put back afterwards."""
    handlers = {s: signal.getsignal(s) for s in interrupts.SIGNALS}
    signal.signal(signal.SIGHUP, _not_taken)  # for a terminal's default action (the suite may run under nohup, which ignores it)
    state = vars(interrupts._state).copy()
    yield
    for s, h in handlers.items():
        signal.signal(s, h)
    for name in ("installed", "immediate", "pending", "second_raises", "signum", "stopping", "held_since"):
        setattr(interrupts._state, name, state.get(name, getattr(type(interrupts._state), name)))


@pytest.mark.parametrize("installed", [False, True], ids=["library", "cli"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["sigint", "sigterm", "sighup"])
def test_a_first_signal_asks_the_loop_to_stop_and_a_second_ctrl_c_raises(installed: bool, sig: int, restored: None) -> None:
    if installed:
        interrupts.install()
    before = {s: signal.getsignal(s) for s in interrupts.SIGNALS}
    with interrupts.stop_requests() as requested:
        assert not requested()
        os.kill(os.getpid(), sig)
        assert requested()  # a flag, no exception: the loop finishes its step and checkpoints
        with interrupts.deferred():  # a storage write inside: even a second Ctrl-C waits
            os.kill(os.getpid(), signal.SIGINT)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert {s: signal.getsignal(s) for s in interrupts.SIGNALS} == before
    assert not interrupts._state.pending  # the request was the loop's: it does not outlive the section


@pytest.mark.parametrize(
    ("sig", "status", "by"),
    [(signal.SIGINT, 130, ""), (signal.SIGTERM, 143, " by SIGTERM"), (signal.SIGHUP, 129, " by SIGHUP")],
    ids=["sigint", "sigterm", "sighup"],
)
def test_sigterm_is_handled_as_ctrl_c_and_told_apart_by_the_exit_status(sig: int, status: int, by: str, restored: None) -> None:
    interrupts.install()
    assert interrupts.exit_status() == 130  # nothing received yet: CPython's own KeyboardInterrupt is a SIGINT
    with pytest.raises(KeyboardInterrupt), interrupts.deferred():
        os.kill(os.getpid(), sig)  # held back: a storage write is never cut, by SIGTERM either
        reached = True
    assert reached
    assert (interrupts.last_signal(), interrupts.exit_status(), interrupts.by_signal()) == (sig, status, by)
    with pytest.raises(KeyboardInterrupt):  # outside a deferred section: at once
        os.kill(os.getpid(), signal.SIGTERM)


def test_deferred_holds_a_ctrl_c_until_the_section_ends(restored: None) -> None:
    interrupts.install()
    with pytest.raises(KeyboardInterrupt), interrupts.deferred():
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)  # still held: a storage write is never cut
        reached = True
    assert reached


CALLBACK = "import sys\ndef cb(handler):\n    handler(2, sys._getframe())\n"  # as importlib's module-lock weakref callback


def test_a_ctrl_c_that_lands_in_importlibs_weakref_callback_is_not_lost(restored: None) -> None:
    """A KeyboardInterrupt raised inside a weakref callback is printed and dropped by Python ("Exception
    ignored in ... _get_module_lock.<locals>.cb"): the start-up drill of tests/cli/test_startup.py caught a
    search that then ran on. The handler re-delivers the signal instead, to land outside the callback."""
    interrupts.install()
    namespace: dict[str, object] = {}
    exec(compile(CALLBACK, "<frozen importlib._bootstrap>", "exec"), namespace)  # a frame with importlib's name
    try:
        namespace["cb"](interrupts._on_signal)  # type: ignore[operator]
    except KeyboardInterrupt:
        pytest.fail("raised inside the callback, where Python prints and drops it")
    with pytest.raises(KeyboardInterrupt):
        for _ in range(3000):  # the re-delivered SIGINT raises here, in ordinary code (10 ms later)
            time.sleep(0.01)


# A module whose import swallows everything around a call that lets the signal handler run (as a library's
# bare `except:` around an optional import does); `imported` tells that its code ran to the end
SWALLOWING = "import os, signal\ntry:\n    os.kill(os.getpid(), signal.SIGINT)\n    sum(range(1000))\nexcept BaseException:\n    pass\nimported = True\n"
LONG = "import os, signal, time\ncaught = False\ntry:\n    os.kill(os.getpid(), signal.SIGINT)\n    for _ in range(1000):\n        time.sleep(0.01)\nexcept KeyboardInterrupt:\n    caught = True\n"


def test_a_ctrl_c_inside_an_import_is_held_until_the_import_ends(restored: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Raised inside an import, a KeyboardInterrupt can be swallowed by the module's code, or abort the
    process in torch's C++ callbacks (the start-up drill saw both): the handler holds it back until the
    import has ended. Before: lost, and the command ran on."""
    interrupts.install()
    (tmp_path / "swallows_interrupts.py").write_text(SWALLOWING)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "swallows_interrupts", raising=False)
    with pytest.raises(KeyboardInterrupt):
        module = importlib.import_module("swallows_interrupts")
        assert module.imported  # nothing raised inside the module
        for _ in range(3000):  # the held-back SIGINT raises here, in ordinary code
            time.sleep(0.01)
    assert interrupts._state.held_since is None


def test_an_import_that_outlasts_the_patience_is_interrupted_anyway(
    restored: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    interrupts.install()
    monkeypatch.setattr(interrupts, "IMPORT_PATIENCE_S", 0.1)
    (tmp_path / "long_import.py").write_text(LONG)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "long_import", raising=False)
    module = importlib.import_module("long_import")
    assert module.caught  # raised inside the import after 0.1 s of holding back, not after the import's 10 s


def test_a_ctrl_c_inside_a_tensor_read_is_raised_after_it_not_reported_as_a_corrupt_file(
    restored: None, tiny_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Raised inside safetensors' read, a KeyboardInterrupt is lost in torch's C code, which reports a
    malformed file instead; `search` then said the synthetic set was "truncated or corrupt" (the
    start-up drill of tests/cli/test_startup.py caught it). The read now holds the signal to its end."""
    from nas_proxy import synthetic

    real = synthetic.load

    def lossy(data: bytes) -> dict[str, torch.Tensor]:  # what torch's C code does with an exception raised in it
        try:
            os.kill(os.getpid(), signal.SIGINT)
            return real(data)
        except KeyboardInterrupt:
            raise ValueError("could not determine the shape of object type 'torch.storage.UntypedStorage'") from None

    monkeypatch.setattr(synthetic, "load", lossy)
    interrupts.install()
    with pytest.raises(KeyboardInterrupt):
        synthetic.load_synthetic(tiny_run)


@pytest.mark.parametrize("installed", [False, True], ids=["library", "cli"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP], ids=["sigint", "sighup"])
def test_an_inherited_ignored_ctrl_c_stays_ignored_and_sigterm_still_stops(installed: bool, sig: int, restored: None) -> None:
    # a script's background job (`nasproxy worker ... &`) starts so: a Ctrl-C typed at the terminal is not for it;
    # nohup starts a command with SIGHUP ignored so that it outlives its terminal
    signal.signal(sig, signal.SIG_IGN)
    if installed:
        interrupts.install()
        os.kill(os.getpid(), sig)  # would raise at once, were it taken
    with interrupts.stop_requests() as requested:
        os.kill(os.getpid(), sig)
        assert not requested()
        assert signal.getsignal(sig) is signal.SIG_IGN
        os.kill(os.getpid(), signal.SIGTERM)
        assert requested()
    assert signal.getsignal(sig) is signal.SIG_IGN


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_that_lands_while_a_worker_process_starts_waits_for_its_handlers(sig: int, tmp_path: Path) -> None:
    """Sent as soon as the worker process exists, so while its interpreter starts (tens of milliseconds before
    nasproxy's handlers): before stop 44, killed by it, or "Fatal Python error: init_import_site ..." (drill44b).
    Started cold (a plain Popen, not the tests' warm server); the command says the line, so the worker says none."""
    import subprocess

    from nas_proxy.studies.kinds import WorkerOptions
    from nas_proxy.studies.workers import start_held, worker_command

    command = worker_command("none", str(tmp_path / "journal.log"), WorkerOptions(n_trials=1))
    worker = start_held(command, stderr=subprocess.PIPE, text=True)
    worker.send_signal(sig)
    _, err = worker.communicate(timeout=120)
    assert (worker.returncode, err) == (128 + sig, "")
    assert not (tmp_path / "journal.log").exists()
