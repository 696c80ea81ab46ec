"""drill61: SIGTERM (a scheduler's pre-emption, ``docker stop``, systemd) to ``benchmarks/groundtruth/build.py``.

Before, the script caught SIGTERM only inside its training loop, and then exited 130 with Ctrl-C's line ("build.py:
interrupted; ..."), where nasproxy's commands exit 143 and say "interrupted by SIGTERM" (docs/interrupts.md): a job
script that requeues on 143 took a pre-empted build for a Ctrl-C. A SIGTERM before the loop (the imports, the data's
loading, the plan: seconds of every start) killed it with no line at all (death by SIGTERM). Now SIGTERM anywhere in
``main()`` ends it with exit 143 and one line naming it; the same command resumes as after Ctrl-C.

The signal is sent by the process to itself at an event (the data being loaded, the first worker being started), in
this process: a handler of the test's stands in for the default action, which would end pytest itself.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

HERE = Path(__file__).resolve().parents[2] / "benchmarks" / "groundtruth"


class UnhandledError(Exception):
    """The SIGTERM reached the test's handler: build.py had none in place."""


def _unhandled(signum: int, frame: object) -> None:
    raise UnhandledError("SIGTERM reached no handler of build.py (the default action would have killed it silently)")


@pytest.fixture
def build(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.syspath_prepend(str(HERE))
    sys.modules.pop("build", None)
    previous = signal.signal(signal.SIGTERM, _unhandled)
    try:
        yield importlib.import_module("build")
    finally:
        signal.signal(signal.SIGTERM, previous)


def _terminate(*args: object, **kwargs: object) -> None:
    os.kill(os.getpid(), signal.SIGTERM)  # handled at the next bytecode, in this function
    raise AssertionError("SIGTERM sent, yet the call went on")


def _main(build: ModuleType, out: Path) -> object:
    try:
        return build.main(["--dry-run", "--out", str(out), "--quiet"])
    except UnhandledError as e:
        return str(e)


def test_sigterm_while_the_data_loads_exits_143_with_one_line(
    build: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("nas_proxy.data.load_dataset", _terminate)
    code = _main(build, tmp_path / "gt")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 143 and err == [build.INTERRUPTED_BY_SIGTERM], (code, err)


def test_sigterm_in_the_training_loop_exits_143_with_one_line(
    build: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(build.Workers, "start", _terminate)
    out = tmp_path / "gt"
    code = _main(build, out)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 143 and err == [build.INTERRUPTED_BY_SIGTERM], (code, err)
