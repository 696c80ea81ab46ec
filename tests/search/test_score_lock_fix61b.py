"""fix61b: ``score`` keeps its finished architectures in the set's ``evaluations/KEY.json`` as ``evaluate`` keeps its
networks, and now holds the same lock while it scores (``evaluate.one_evaluation``: ``files.output_lock`` on
``evaluations/KEY.lock``). Before, two ``score`` commands on the same set, space and proxy at once each trained every
architecture the other was training (an architecture scored twice), and each wrote the whole file from what it had
read, so one's results could replace the other's. Now the second is refused in one line meanwhile, as ``evaluate`` is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from nas_proxy.files import FolderBusyError
from nas_proxy.search import ProxyConfig, score
from nas_proxy.spaces import arch_id
from nas_proxy.trainers.synthetic_set import ProxyContext
from tests import warm
from tests.conftest import copy_of

SPACE = "convnet-small"
SPECS = [
    {"family": "convnet", "depth": 1, "width": w, "activation": "relu", "normalization": "instancenorm", "pooling": "avgpooling"}
    for w in (32, 64)
]
QUICK = ProxyConfig(epochs=1, report_every=1, report_images=50)


def test_a_second_score_while_the_first_scores_is_refused(tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = copy_of(tiny_run, tmp_path / "run")
    real, trained, other = ProxyContext.score, list[str](), list[BaseException]()

    def scoring(self: ProxyContext, space: Any, spec: dict[str, Any], seed: int = 0, report: Any = None) -> Any:
        trained.append(arch_id(spec))
        if not other:  # another call on the same set, while this one trains its first architecture
            other.append(AssertionError("the other call scored too"))
            try:
                score(str(run), SPACE, SPECS, QUICK, device="cpu")
            except FolderBusyError as e:
                other[0] = e
        return real(self, space, spec, seed, report)

    monkeypatch.setattr(ProxyContext, "score", scoring)
    results = score(str(run), SPACE, SPECS, QUICK, device="cpu")
    assert isinstance(other[0], FolderBusyError), other
    assert "is being scored with this space and proxy by another nasproxy process" in str(other[0])
    assert sorted(trained) == sorted(map(arch_id, SPECS)) and results.reused == 0  # each architecture once
    assert not list((run / "evaluations").glob("*.lock"))
    assert score(str(run), SPACE, SPECS, QUICK, device="cpu").reused == 2


HOOK = """\
import os, time
from nas_proxy.trainers.synthetic_set import ProxyContext
from nas_proxy.spaces import arch_id

_real = ProxyContext.score


def _score(self, space, spec, seed=0, report=None):
    with open(os.environ["FIX61B_LOG"], "a") as f:
        f.write(arch_id(spec) + "\\n")
    hold = os.environ.get("FIX61B_HOLD")
    if hold and not os.path.exists(os.path.join(hold, "ready")):
        open(os.path.join(hold, "ready"), "w").close()
        deadline = time.monotonic() + 300
        while not os.path.exists(os.path.join(hold, "go")) and time.monotonic() < deadline:
            time.sleep(0.01)
    return _real(self, space, spec, seed, report)


ProxyContext.score = _score
"""


@pytest.mark.drill  # two processes (41 s wall -n 0 with the warm server's start); the default tier has the in-process one above
def test_two_score_commands_at_once_score_each_architecture_once(tiny_run: Path, tmp_path: Path) -> None:
    """Two processes: the first is held inside its first architecture's training (a file says so) while the second runs."""
    run = copy_of(tiny_run, tmp_path / "run")
    archs = tmp_path / "archs.json"
    archs.write_text(json.dumps(SPECS))
    site, hold = tmp_path / "site", tmp_path / "hold"
    site.mkdir()
    hold.mkdir()
    (site / "sitecustomize.py").write_text(HOOK)
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(site), root, os.environ.get("PYTHONPATH", "")) if p)}
    cmd = [sys.executable, "-m", "nas_proxy", "score", "--synthetic", str(run), "--space", SPACE, "--archs", str(archs)]
    cmd += ["--epochs", "1", "--report-every", "1", "--report-images", "50", "--device", "cpu", "--quiet", "--json"]
    first = warm.Popen(
        cmd,
        env={**env, "FIX61B_LOG": str(tmp_path / "first.log"), "FIX61B_HOLD": str(hold)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        while not (hold / "ready").exists():  # the event: the first is in its first training
            assert first.poll() is None, first.communicate()
            time.sleep(0.01)
        second = warm.run(cmd, env={**env, "FIX61B_LOG": str(tmp_path / "second.log")}, capture_output=True, text=True, timeout=300)
    finally:
        (hold / "go").touch()
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert second.returncode == 2 and second.stderr.count("\n") == 1, second.stderr  # refused in one line
    assert "is being scored with this space and proxy by another nasproxy process" in second.stderr
    assert not (tmp_path / "second.log").exists()  # it trained nothing
    assert sorted((tmp_path / "first.log").read_text().split()) == sorted(map(arch_id, SPECS))
    assert [r["arch_id"] for r in json.loads(out)] == [arch_id(s) for s in SPECS]
