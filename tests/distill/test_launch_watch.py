"""A rank's watch of its launch ends with the rank's work (fix55a): before, ``launch._watching`` was set for the rest of
the process, so a second launch in one process (as the tests run them) inherited it, and a launch variable merely left
in the environment read as a launch that had ended (``launch_gone``); the watch thread ran as long as the process."""

from __future__ import annotations

import os
import threading

import pytest

from nas_proxy.distill import DistillConfig, launch, sharded
from nas_proxy.distill.launch import LAUNCHER_VARIABLE, end_watch, launch_gone, watch_launcher
from nas_proxy.errors import InvalidArgumentError


def ended(thread: threading.Thread) -> None:
    """``thread`` ends within a minute (it looks at its stop every WATCH_SECONDS): a watch that never ends fails the
    test rather than hanging it (review56: with end_watch's stop removed, a plain join waited for ever)."""
    thread.join(60)
    assert not thread.is_alive(), "the watch thread did not end"


def test_a_watch_that_ends_with_its_launch_running_is_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LAUNCHER_VARIABLE, str(os.getppid()))  # a rank of a launch: its parent the launch
    thread = watch_launcher()
    assert thread is not None and thread.is_alive() and launch._watching
    end_watch()
    ended(thread)  # it looks at its stop every WATCH_SECONDS: ends without sending this process SIGTERM
    assert not launch._watching
    monkeypatch.setenv(LAUNCHER_VARIABLE, str(os.getpid()))  # then a variable left in the environment: no launch that ended
    assert not launch_gone()


def test_a_rank_that_fails_before_it_joins_ends_its_watch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LAUNCHER_VARIABLE, str(os.getppid()))
    for name, value in (("RANK", "0"), ("WORLD_SIZE", "2"), ("LOCAL_RANK", "0"), ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "x")):
        monkeypatch.setenv(name, value)
    started = []
    monkeypatch.setattr(sharded, "watch_launcher", lambda: started.append(watch_launcher()))  # the thread it starts, kept
    with pytest.raises(InvalidArgumentError, match="MASTER_PORT is 'x'"):
        sharded.distill_sharded(DistillConfig(dataset="digits", ipc=1, device="cpu"), "unused")
    (thread,) = started
    assert thread is not None
    ended(thread)
    assert not launch._watching


def test_a_watch_whose_launch_is_gone_is_kept_for_the_rank_to_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LAUNCHER_VARIABLE, str(os.getppid()))
    monkeypatch.setattr(launch, "_watching", False)
    thread = watch_launcher()
    monkeypatch.setenv(LAUNCHER_VARIABLE, str(os.getpid()))  # as seen once the launch is gone (its rank's parent is another)
    end_watch()  # the rank's work ended on it (a collective failed on a closed peer): the command words it by launch_gone
    assert thread is not None
    ended(thread)
    assert launch_gone()
