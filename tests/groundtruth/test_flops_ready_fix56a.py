"""fix56a: correlate, calibrate and the full-data training worker make FLOP counting ready before their work loop, as
search does (``ready_to_count_flops``): for a family a user registered, whose networks torch's FlopCounterMode counts,
the first count imported torch._dynamo and sympy inside the first timed training or scoring, where a Ctrl-C waits for
an import to end (nas_proxy/interrupts.py)."""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from nas_proxy.spaces import FAMILIES, ConvNetSpace, Spec
from nas_proxy.trainers.fulldata import ready_to_count

USER_FAMILY = "fix56a-user"


class _Scaled(nn.Module):
    """A user's module (not one the layer count vouches for): FlopCounterMode counts its networks."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x) * 1.0


class UserFamily(ConvNetSpace):
    family = USER_FAMILY

    @classmethod
    def build_spec(cls, spec: Spec, channels: int, num_classes: int, image_size: tuple[int, int]) -> nn.Module:
        return _Scaled(ConvNetSpace.build_spec({**spec, "family": "convnet"}, channels, num_classes, image_size))


SPEC = {"family": USER_FAMILY, "depth": 1, "width": 4, "activation": "relu", "normalization": "none", "pooling": "avgpooling"}


@pytest.fixture
def user_family(monkeypatch: pytest.MonkeyPatch) -> Iterator[Spec]:
    """A family registered as a user would (undone after the test), a spec of it, and FlopCounterMode as in a fresh
    process (torch._disable_dynamo imports torch._dynamo at its first call, then caches on the function)."""
    from torch.utils import flop_counter  # here, not as the file is collected by every worker (~0.1 CPU-s each, perf60a)

    monkeypatch.setitem(FAMILIES._items, USER_FAMILY, UserFamily)
    dispatch = flop_counter._FlopCounterMode.__torch_dispatch__.__wrapped__  # type: ignore[attr-defined]
    monkeypatch.delattr(dispatch, "__dynamo_disable", raising=False)
    yield SPEC


def imports_of(run: Callable[[], Any]) -> list[str]:
    """The modules ``run`` asks for (import statements, also of modules already loaded)."""
    imported, real_import = list[str](), builtins.__import__

    def recording(name: str, *args: Any, **kwargs: Any) -> Any:
        imported.append(name)
        return real_import(name, *args, **kwargs)

    builtins.__import__ = recording
    try:
        run()
    finally:
        builtins.__import__ = real_import
    return imported


def test_ready_to_count_makes_a_user_familys_first_count_import_nothing(user_family: Spec) -> None:
    from nas_proxy.spaces import build_model
    from nas_proxy.trainers.synthetic_set import count_flops

    model, sample = build_model(user_family, 1, 3, (8, 8)), torch.zeros(1, 1, 8, 8)
    builtin = imports_of(lambda: ready_to_count([{"family": "convnet"}, {"family": "no such family"}, {"family": 3}]))
    assert "torch.utils.flop_counter" not in builtin, builtin  # the project's families, and specs their training refuses
    assert "torch.utils.flop_counter" in imports_of(lambda: ready_to_count([{"family": "convnet"}, user_family]))
    assert "torch._dynamo" not in imports_of(lambda: count_flops(model, sample))


def test_the_ground_truth_worker_readies_flop_counting_for_its_queued_specs_before_its_loop(
    user_family: Spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nas_proxy.groundtruth import study as gt
    from nas_proxy.groundtruth import trainings
    from nas_proxy.studies import queue
    from nas_proxy.studies.storage import open_storage

    opened = open_storage(str(tmp_path / "gt.log"), "gt")
    study = gt.open_study(opened, gt.DataRef("digits"), gt.GroundTruthConfig(epochs=1, early=(), images=40, batch_size=20))
    gt.enqueue(study, [(user_family, 0)])
    events: list[object] = []
    monkeypatch.setattr(trainings, "ready_to_count", lambda specs: events.append(list(specs)))
    monkeypatch.setattr(queue, "work", lambda *args: events.append("loop"))
    gt.run_worker(study, opened, "cpu", progress=False)
    assert events == [[user_family], "loop"], events


def test_correlate_readies_flop_counting_for_its_space_before_the_ground_truth(
    tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nas_proxy.correlate import CorrelateConfig, correlate, runner
    from nas_proxy.correlate.archs import from_space
    from nas_proxy.protocols import GroundTruthConfig, ProxyConfig
    from nas_proxy.spaces import get_space

    class StartedError(Exception):
        pass

    asked: list[object] = []

    def ground_truth_step(*args: Any) -> None:
        raise StartedError

    monkeypatch.setattr(runner, "ready_to_count_flops", asked.append)
    monkeypatch.setattr(runner, "ground_truth_step", ground_truth_step)
    config = CorrelateConfig(
        "convnet-small", synthetic=[str(tiny_run)], ground_truth=GroundTruthConfig(epochs=1, early=(0.5,)), proxy=ProxyConfig(epochs=1),
        device="cpu", gt_storage=str(tmp_path / "gt.log"),
    )  # fmt: skip
    with pytest.raises(StartedError):
        correlate(config, from_space(get_space("convnet-small"), 3, seed=0), tmp_path / "out")
    assert [type(s) for s in asked] == [type(get_space("convnet-small"))], asked


def test_calibrates_scorer_readies_flop_counting_for_its_space(monkeypatch: pytest.MonkeyPatch) -> None:
    import optuna

    from nas_proxy.calibrate import protocol

    asked: list[object] = []
    monkeypatch.setattr(protocol, "ready_to_count_flops", asked.append)
    space = UserFamily("mine")
    protocol.Scorer(optuna.create_study(), space, {}, 0, False)
    assert asked == [space]


# a `nasproxy worker` on a ground-truth study whose queued training is of a user's family (registered as a library user
# would, before calling the CLI): its loop (queue.work) is wrapped to say the modules it loaded, or to get SIGINT at once
WORKER = """
import json, os, signal, sys
import optuna
from nas_proxy import cli
from nas_proxy.groundtruth import study as gt
from nas_proxy.spaces import FAMILIES
from nas_proxy.studies import queue
from nas_proxy.studies.storage import open_storage
from tests.groundtruth.test_flops_ready_fix56a import SPEC, USER_FAMILY, UserFamily

FAMILIES.add(USER_FAMILY, UserFamily)
optuna.logging.set_verbosity(optuna.logging.WARNING)  # this script's own study's creation: not the worker's
opened = open_storage(sys.argv[1], "gt")
study = gt.open_study(opened, gt.DataRef("digits"), gt.GroundTruthConfig(epochs=1, early=(), images=40, batch_size=20))
gt.enqueue(study, [(SPEC, 0)])
work = queue.work

def loop(*args):
    before = set(sys.modules)
    if sys.argv[2] == "sigint":
        os.kill(os.getpid(), signal.SIGINT)
    work(*args)
    print(json.dumps(sorted(set(sys.modules) - before)))

queue.work = loop
sys.exit(cli.main(["worker", "--study", study.study_name, "--storage", opened.url, "--device", "cpu", "--quiet"]))
"""


@pytest.mark.drill  # a fresh process that imports torch._dynamo and sympy (~2 CPU-s): the in-process test above is make test's
def test_a_ground_truth_workers_loop_loads_no_module_for_a_user_family(tmp_path: Path) -> None:
    """Its first training counted its network's FLOPs with FlopCounterMode, loading torch._dynamo and sympy there (a
    fresh process: forked warm, torch loaded, torch._dynamo not); now the worker counts before its loop."""
    from tests import run_code

    done = run_code.run(WORKER, str(tmp_path / "gt.log"), "loop", capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert not [m for m in loaded if m.startswith(("torch._dynamo", "sympy"))], loaded


@pytest.mark.drill
def test_a_sigint_as_a_ground_truth_workers_loop_starts_is_exit_130_in_one_line(tmp_path: Path) -> None:
    from tests import run_code

    done = run_code.run(WORKER, str(tmp_path / "gt.log"), "sigint", capture_output=True, timeout=300)
    assert done.returncode == 130 and len(done.stderr.strip().splitlines()) == 1, done.stderr
