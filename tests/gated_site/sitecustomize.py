"""Loaded by every Python process a drill starts with ``tests/gated_site`` on PYTHONPATH (see
:mod:`tests.gate`): one function of nasproxy waits at a gate, a directory's ``open`` file.

``NASPROXY_TEST_GATE`` names the directory, ``NASPROXY_TEST_GATE_AT`` the function as
``module:qualname`` (``nas_proxy.trainers.synthetic_set:ProxyContext.score``: a proxy training;
``nas_proxy.trainers.fulldata:train_one``: a full-data training) and ``NASPROXY_TEST_GATE_PASS``
how many calls of each process go through before the gate holds one. A held call first writes
``waiting.PID.N`` (its process and call number), then waits for ``open``: so a test sees a trial
RUNNING in training, kills or interrupts the process, or opens the gate, without trusting that any
training outlasts anything. Worker processes that nasproxy starts inherit the environment, so they
wait at the gate too.

Only the standard library, and nothing imported before it is needed: the function is wrapped when
its module has been executed, by a finder ahead of the others on ``sys.meta_path``; the program's
start-up is otherwise the real one.
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False  # typing's flag without importing typing into every gated process
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType
    from typing import Any

GATE = os.environ.get("NASPROXY_TEST_GATE", "")
# a held process whose test failed (an assertion before the gate was opened or the process killed) would
# wait for ever and outlive the test run: after this long it leaves. tests.gate.SAFETY_SECONDS (900)
# fails the drill first; nothing is meant to wait this long
ABANDONED_SECONDS = 1800.0


def _gated(original: Callable[..., Any], let_through: int) -> Callable[..., Any]:
    calls = 0
    opened = os.path.join(GATE, "open")

    def gated(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls > let_through and not os.path.exists(opened):
            with open(os.path.join(GATE, f"waiting.{os.getpid()}.{calls}"), "w"):
                pass
            held = time.monotonic()
            while not os.path.exists(opened):
                time.sleep(0.02)  # a Ctrl-C raises here, a SIGKILL ends the process here
                if time.monotonic() - held > ABANDONED_SECONDS:  # its test failed before opening the gate or killing it
                    sys.stderr.write(f"gated process {os.getpid()}: the gate in {GATE} was never opened; exiting\n")
                    os._exit(125)
        return original(*args, **kwargs)

    gated.__wrapped__ = original  # type: ignore[attr-defined]
    return gated


class _WrapAfterImport:
    """A meta-path finder that lets the others find the module, then wraps its function once executed."""

    def __init__(self, module: str, qualname: str, let_through: int) -> None:
        self.module, self.qualname, self.let_through = module, qualname, let_through

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> ModuleSpec | None:
        if fullname != self.module:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if finder is not self and find else None
            if spec is not None:
                break
        else:
            return None
        assert spec.loader is not None
        execute = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            execute(module)
            *owners, name = self.qualname.split(".")
            owner = module
            for part in owners:
                owner = getattr(owner, part)
            setattr(owner, name, _gated(getattr(owner, name), self.let_through))

        spec.loader.exec_module = exec_module
        return spec


if GATE:
    _module, _, _qualname = os.environ["NASPROXY_TEST_GATE_AT"].partition(":")
    sys.meta_path.insert(0, _WrapAfterImport(_module, _qualname, int(os.environ.get("NASPROXY_TEST_GATE_PASS", "0"))))
