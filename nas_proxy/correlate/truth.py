"""The ground-truth step of a correlation run: which trainings it needs, training what is not
cached (in this process and ``workers - 1`` more, through the studies layer), waiting for those
running elsewhere."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nas_proxy.correlate.archs import Arch
from nas_proxy.correlate.config import CorrelateConfig
from nas_proxy.groundtruth import study as gt
from nas_proxy.progress import OnProgress, Progress
from nas_proxy.studies.storage import Storage
from nas_proxy.utils import derive_seed

STAGE = "ground truth"


@dataclass
class Truth:
    """The ground truth of a run: accuracy per architecture (given or trained), every training's
    record by ``(arch id, seed)``, the ceiling's architectures, and what went wrong."""

    accuracy: dict[str, float]
    results: dict[tuple[str, int], dict[str, Any]]
    trained: list[Arch]
    ceiling: list[Arch]
    study: str
    storage: str
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0  # wall time of the ground-truth step (its trainings, or reading them from the study)


def _say(on_progress: OnProgress | None, message: str) -> None:
    if on_progress is not None:
        on_progress(Progress(STAGE, message))


def _ceiling_subset(archs: list[Arch], n: int | None, seed: int) -> list[Arch]:
    """A seeded random subset for the second ground-truth seed: not the first ``n``, which a study
    lists best-by-proxy first (a narrow range would understate the ceiling)."""
    if n is None or n >= len(archs):
        return list(archs)
    rng = np.random.default_rng(derive_seed(seed, "ceiling"))
    return [archs[i] for i in sorted(rng.choice(len(archs), size=n, replace=False))]


def run_ground_truth(
    config: CorrelateConfig,
    ref: gt.DataRef,
    wanted: list[tuple[dict[str, Any], int]],
    storage: Storage,
    on_progress: OnProgress | None = None,
) -> tuple[dict[tuple[str, int], dict[str, Any]], dict[tuple[str, int], str], str, str]:
    """Train what is not cached in ``storage``, with ``config.workers`` processes; (results, failures, study, storage URL)."""
    study = gt.open_study(storage, ref, config.ground_truth)
    counts = gt.enqueue(study, wanted, config.space)
    if wanted:
        _say(
            on_progress,
            f"ground truth ({study.study_name}): {counts['cached']} cached, {counts['queued']} to train, {counts['given_up']} failed before",
        )
    gt.train(study, storage, wanted, config.workers, config.device, on_progress is not None)
    return gt.results(study), gt.failures(study), study.study_name, storage.url


def ground_truth_step(
    config: CorrelateConfig, ref: gt.DataRef, archs: list[Arch], storage: Storage, on_progress: OnProgress | None = None
) -> Truth:
    """Seed ``config.seed`` for every architecture without a given accuracy, ``seed + 1`` for the
    ceiling; a given accuracy comes from another protocol, so this training with another seed is
    no ceiling for it."""
    t0 = time.perf_counter()
    seed, seed2 = config.seed, config.seed + 1
    trained = [a for a in archs if a.truth is None]
    ceiling = _ceiling_subset(trained, config.ceiling, seed)
    wanted = [(a.spec, seed) for a in trained] + [(a.spec, seed2) for a in ceiling]
    results, failed, study, url = run_ground_truth(config, ref, wanted, storage, on_progress)
    accuracy: dict[str, float] = {}
    for a in archs:
        if a.truth is not None:
            accuracy[a.arch_id] = a.truth
        elif (a.arch_id, seed) in results:
            accuracy[a.arch_id] = float(results[(a.arch_id, seed)]["test_accuracy"])
    warnings = [
        f"the ground-truth training of {aid} (seed {s}) failed ({reason[:120]}); it is left out" for (aid, s), reason in failed.items()
    ]
    unexplained = [a.arch_id for a in trained if (a.arch_id, seed) not in results and (a.arch_id, seed) not in failed]
    if unexplained:
        warnings.append(
            f"{len(unexplained)} ground-truth trainings are still running elsewhere or were left running by a process on "
            f"another host ({', '.join(unexplained[:5])}); they are left out; run again when they are done"
        )
    return Truth(accuracy, results, trained, ceiling, study, url, warnings, time.perf_counter() - t0)
