"""Every registry is one ``Registry``: duplicates refused, unknown names listed; and every member of
the registries without tests of their own (families, samplers, pruners, objectives, study kinds)
exercised here, so that a new member is tested by being registered. (Datasets, spaces, methods,
proxy kinds and zero-cost proxies have theirs: tests/data/test_data, test_spaces, test_distill_methods,
test_proxies, test_zero_cost.)"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
import torch

import nas_proxy
from nas_proxy.errors import DuplicateNameError, NasProxyError
from nas_proxy.groundtruth.study import GROUND_TRUTH
from nas_proxy.groundtruth.trainings import TrainingStudy
from nas_proxy.registry import Registry
from nas_proxy.search import OBJECTIVES, PRUNERS, SAMPLERS, ProxyConfig, SearchConfig, search
from nas_proxy.search.promotion import PROMOTION
from nas_proxy.spaces import FAMILIES, SPACES, get_space
from nas_proxy.studies import WorkerOptions
from nas_proxy.studies.kinds import KINDS
from nas_proxy.studies.queue import enqueue, results
from nas_proxy.studies.storage import open_storage
from nas_proxy.trainers.fulldata import DataRef, GroundTruthConfig

optuna.logging.set_verbosity(optuna.logging.WARNING)


def all_registries() -> dict[str, Registry[Any]]:
    """Every module-level Registry of the package, found by importing every module."""
    found: dict[str, Registry[Any]] = {}
    for info in pkgutil.walk_packages(nas_proxy.__path__, "nas_proxy."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, Registry) and value.kind not in found:
                found[value.kind] = value
    return found


REGISTRIES = all_registries()


def test_every_extension_point_is_a_registry() -> None:
    expected = {
        "dataset",
        "search space",
        "model family",
        "distillation method",
        "proxy kind",
        "zero-cost proxy",
        "study kind",
        "sampler",
        "pruner",
        "objective",
        "lr schedule",
        "training protocol",
    }
    assert set(REGISTRIES) == expected
    assert all(len(r) > 0 for r in REGISTRIES.values())


@pytest.mark.parametrize("kind", sorted(REGISTRIES))
def test_a_registry_refuses_a_second_member_under_a_name(kind: str) -> None:
    registry = REGISTRIES[kind]
    name = registry.names()[0]
    first = registry.get(name)
    with pytest.raises(DuplicateNameError, match=rf"^{kind} {name!r} is registered twice \(first .+, then .+\): give the second"):
        registry.add(name, object())
    assert registry.get(name) is first  # the first stays


@pytest.mark.parametrize("kind", sorted(REGISTRIES))
def test_an_unknown_name_lists_the_known_ones(kind: str) -> None:
    registry = REGISTRIES[kind]
    name = registry.names()[0]
    assert issubclass(registry.error, NasProxyError)  # the CLI's one line, exit 2
    with pytest.raises(registry.error) as info:
        registry.get(name + "x")
    message = str(info.value)
    assert message.startswith(f"unknown {kind} {name + 'x'!r}; known: ") and f"Did you mean {name!r}?" in message
    assert all(n in message for n in registry.names())


@pytest.mark.parametrize("kind", sorted(REGISTRIES))
def test_a_name_in_other_case_is_unknown_but_suggests_the_member(kind: str) -> None:
    """probe46: 'FASHION-MNIST' or 'IMAGEFOLDER' offered no 'Did you mean' (difflib's ratio is case-sensitive)."""
    registry = REGISTRIES[kind]
    name = max(registry.names(), key=len)  # the longest: every letter upper case leaves no close match by case
    typed = name.upper() if name.upper() != name else name.lower()
    with pytest.raises(registry.error) as info:  # the name itself stays exact
        registry.get(typed)
    assert f"Did you mean {name!r}?" in str(info.value)


# ---- model families ---------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES.names())
def test_every_family_builds_a_network_that_trains(family: str) -> None:
    spaces = [get_space(n) for n in SPACES.names()]
    space = next((s for s in spaces if s.family == family), None)
    assert space is not None, f"no shipped space of the {family} family: add one to test it"
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    spec = space.sample(study.ask())
    net = space.build(spec, 3, 10, (16, 16))
    out = net(torch.randn(2, 3, 16, 16))
    assert out.shape == (2, 10)
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


# ---- samplers and pruners ---------------------------------------------------------------------


def objective(n_objectives: int, epochs: int = 3) -> Callable[[optuna.Trial], Any]:
    """A trial on the convnet-small space: a score from the spec, reported every epoch (pruning)."""
    space = get_space("convnet-small")

    def run(trial: optuna.Trial) -> Any:
        spec = space.sample(trial)
        score = float(spec["depth"]) + float(spec["width"]) / 100
        if n_objectives == 1:
            for epoch in range(1, epochs + 1):
                trial.report(score * epoch / epochs, epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned
            return score
        return score, float(spec["width"])

    return run


@pytest.mark.parametrize("n_objectives", [1, 2])
@pytest.mark.parametrize("name", SAMPLERS.names())
def test_every_sampler_drives_a_study(name: str, n_objectives: int) -> None:
    sampler = SAMPLERS.get(name)(0, n_objectives)
    directions = [optuna.study.StudyDirection.MAXIMIZE] + [optuna.study.StudyDirection.MINIMIZE] * (n_objectives - 1)
    study = optuna.create_study(directions=directions, sampler=sampler)
    study.optimize(objective(n_objectives), n_trials=4)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 4


@pytest.mark.parametrize("name", PRUNERS.names())
def test_every_pruner_judges_a_study(name: str) -> None:
    proxy = ProxyConfig(epochs=3, report_every=1)
    study = optuna.create_study(direction="maximize", sampler=SAMPLERS.get("random")(0, 1), pruner=PRUNERS.get(name)(proxy))
    study.optimize(objective(1, proxy.epochs), n_trials=10)
    states = {t.state for t in study.trials}
    assert states <= {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED}
    assert optuna.trial.TrialState.COMPLETE in states
    if name == "none":
        assert states == {optuna.trial.TrialState.COMPLETE}


# ---- objectives --------------------------------------------------------------------------------

FAST = ProxyConfig(epochs=1, report_every=1, report_images=50)


@pytest.mark.parametrize("name", OBJECTIVES.names())
def test_every_objective_is_searched(name: str, tiny_run: Path, tmp_path: Path) -> None:
    objectives = ["accuracy"] if name == "accuracy" else ["accuracy", name]
    config = SearchConfig(synthetic=str(tiny_run), space="convnet-small", objectives=objectives, pruner="none", device="cpu", proxy=FAST)
    url = str(tmp_path / "j.log")
    search(config, "s", 1, storage=url)
    study = optuna.load_study(study_name="s", storage=open_storage(url, "s")[0])
    assert study.directions == [optuna.study.StudyDirection[OBJECTIVES.get(o).direction] for o in objectives]
    assert study.metric_names == [OBJECTIVES.get(o).metric for o in objectives]
    (trial,) = study.trials
    assert len(trial.values) == len(objectives) and trial.state == optuna.trial.TrialState.COMPLETE


# ---- study kinds: a worker on a study of each ------------------------------------------------

SPEC = {"family": "convnet", "depth": 1, "width": 32, "activation": "relu", "normalization": "instancenorm", "pooling": "avgpooling"}
TRAINING = GroundTruthConfig(epochs=1, images=100, early=())  # a training of 100 digits: well under a second


def search_study(tiny_run: Path, url: str) -> optuna.Study:
    config = SearchConfig(synthetic=str(tiny_run), space="convnet-small", pruner="none", device="cpu", proxy=FAST)
    search(config, "s", 1, storage=url)
    return optuna.load_study(study_name="s", storage=open_storage(url, "s")[0])


def training_study(kind: TrainingStudy) -> Callable[[Path, str], optuna.Study]:
    def make(_: Path, url: str) -> optuna.Study:
        study = kind.open(open_storage(url, "t"), DataRef("digits"), TRAINING)
        enqueue(study, [(SPEC, 0)])
        return study

    return make


MAKERS: dict[str, Callable[[Path, str], optuna.Study]] = {
    "search": search_study,
    "groundtruth": training_study(GROUND_TRUTH),
    "promotion": training_study(PROMOTION),
}


def test_every_study_kind_has_a_study_to_work_on_here() -> None:
    assert sorted(MAKERS) == KINDS.names(), "a new study kind: add how to make a small study of it to MAKERS"


@pytest.mark.parametrize("name", KINDS.names())
def test_a_worker_works_on_a_study_of_every_kind(name: str, tiny_run: Path, tmp_path: Path) -> None:
    url = str(tmp_path / "j.log")
    study = MAKERS[name](tiny_run, url)
    KINDS.get(name).work(study, open_storage(url, study.study_name), WorkerOptions(n_trials=2, device="cpu"))
    study = optuna.load_study(study_name=study.study_name, storage=open_storage(url, study.study_name)[0])
    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    if name == "search":
        assert len(complete) == 2  # the search's first trial and the worker's
    else:
        assert len(complete) == 1 and list(results(study)) == [(complete[0].user_attrs["arch_id"], 0)]
