"""A gate that holds one function of nasproxy in the processes a drill starts, until the test opens it.

A drill that must act while a trial is in training (kill its worker, press Ctrl-C) waits for the
event, never for a duration that some machine will beat: the processes run with
``tests/gated_site`` on PYTHONPATH (its ``sitecustomize`` wraps the function, see there), each held
call announces itself with a file, and the test sees exactly which processes are in training, acts,
then opens the gate so that the rest runs at full speed. Nothing in ``nas_proxy`` exists for this.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

SITE = Path(__file__).resolve().parent / "gated_site"
PROXY_TRAINING = "nas_proxy.trainers.synthetic_set:ProxyContext.score"  # a candidate trained on the synthetic set (search, calibrate)
FULL_TRAINING = "nas_proxy.trainers.fulldata:train_one"  # an architecture trained on real data (ground truth, promotion)
CHECKPOINT = "nas_proxy.distill.checkpoint:write_checkpoint"  # a distillation writing its checkpoint (mid-loop)
TEACHER = "nas_proxy.distill.soft_labels:train_teacher"  # one soft-label teacher trained (or read from its cache)
SAFETY_SECONDS = 900  # fails a drill whose processes never reach the gate; not a duration anything must outlast


class Gate:
    """The gate in directory ``where`` on function ``at`` (``module:qualname``); ``let_through``
    calls of each process pass before it holds one."""

    def __init__(self, where: Path, at: str = PROXY_TRAINING, let_through: int = 0) -> None:
        self.where, self.at, self.let_through = where, at, let_through
        where.mkdir(parents=True, exist_ok=True)

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """The environment of a process that waits at this gate (``base``: this process's)."""
        env = dict(os.environ if base is None else base)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SITE), env.get("PYTHONPATH", "")) if p)
        env.update(NASPROXY_TEST_GATE=str(self.where), NASPROXY_TEST_GATE_AT=self.at, NASPROXY_TEST_GATE_PASS=str(self.let_through))
        return env

    def waiting(self) -> set[int]:
        """The processes that reached the gate (their pids)."""
        return {int(p.name.split(".")[1]) for p in self.where.glob("waiting.*")}

    def wait(self, running: Sequence[subprocess.Popen[str]], pids: Iterable[int] = (), count: int = 0) -> set[int]:
        """Block until every process of ``pids``, and at least ``count`` processes, wait at the gate;
        the pids waiting. Fails at once when one of ``running`` ends first (it printed why)."""
        wanted = set(pids)
        deadline = time.monotonic() + SAFETY_SECONDS
        while not (wanted <= (waiting := self.waiting()) and len(waiting) >= count):
            ended = [p for p in running if p.poll() is not None]
            assert not ended, f"{ended[0].args!r} ended ({ended[0].returncode}) before reaching the gate: {ended[0].communicate()[1]}"
            assert time.monotonic() < deadline, f"{wanted - waiting or count} did not reach the gate in {SAFETY_SECONDS} s"
            time.sleep(0.05)
        return waiting

    def open(self) -> None:
        """Let every held call, and every later one, go on."""
        (self.where / "open").touch()
