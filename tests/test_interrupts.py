"""The one SIGINT mechanism (nas_proxy.interrupts): deferred sections for storage writes, and stop
requests for a loop that checkpoints and stops (distillation), with or without the CLI's handler."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from nas_proxy import interrupts


@pytest.fixture
def restored() -> Iterator[None]:
    """The test's signal handlers and the module's state put back afterwards."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    state = vars(interrupts._state).copy()
    yield
    for s, h in handlers.items():
        signal.signal(s, h)
    for name in ("installed", "immediate", "pending", "second_raises"):
        setattr(interrupts._state, name, state.get(name, getattr(type(interrupts._state), name)))


@pytest.mark.parametrize("installed", [False, True], ids=["library", "cli"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_a_first_signal_asks_the_loop_to_stop_and_a_second_ctrl_c_raises(installed: bool, sig: int, restored: None) -> None:
    if installed:
        interrupts.install()
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with interrupts.stop_requests() as requested:
        assert not requested()
        os.kill(os.getpid(), sig)
        assert requested()  # a flag, no exception: the loop finishes its step and checkpoints
        with interrupts.deferred():  # a storage write inside: even a second Ctrl-C waits
            os.kill(os.getpid(), signal.SIGINT)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)} == before
    assert not interrupts._state.pending  # the request was the loop's: it does not outlive the section


def test_deferred_holds_a_ctrl_c_until_the_section_ends(restored: None) -> None:
    interrupts.install()
    with pytest.raises(KeyboardInterrupt), interrupts.deferred():
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)  # still held: a storage write is never cut
        reached = True
    assert reached
