"""The ground-truth step of a correlation run: which trainings it needs, training what is not
cached (in this process and ``workers - 1`` more), waiting for those running elsewhere."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from optuna.trial import TrialState

from nas_proxy.correlate import ground_truth as gt
from nas_proxy.correlate.archs import Arch
from nas_proxy.correlate.config import CorrelateConfig
from nas_proxy.correlate.result import OnProgress, Progress
from nas_proxy.search.storage import open_storage
from nas_proxy.search.study import fail_dead_trials
from nas_proxy.spaces import arch_id
from nas_proxy.utils import derive_seed

POLL_SECONDS = 10.0  # how often to look at trainings running in other workers
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


def _wait_for_others(
    study: Any, url: str, wanted: list[tuple[dict[str, Any], int]], device: str, on_progress: OnProgress | None = None
) -> None:
    """Wait while trainings this report needs run in other workers (another ``correlate`` or a
    ``nasproxy worker`` elsewhere); take over any that get re-queued (a worker died)."""
    keys = {(arch_id(spec), seed) for spec, seed in wanted}
    told = False
    while True:
        open_ = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)) if gt.key_of(t) in keys]
        if not open_:
            return
        if any(t.state == TrialState.WAITING for t in open_):
            gt.run_worker(study, url, device, on_progress is not None)
            continue
        if not told:
            _say(on_progress, f"ground truth: waiting for {len(open_)} trainings running in other workers")
            told = True
        time.sleep(POLL_SECONDS)
        fail_dead_trials(study, open_storage(url, study.study_name)[0])


def run_ground_truth(
    config: CorrelateConfig, ref: gt.DataRef, wanted: list[tuple[dict[str, Any], int]], on_progress: OnProgress | None = None
) -> tuple[dict[tuple[str, int], dict[str, Any]], dict[tuple[str, int], str], str, str]:
    """Train what is not cached, with ``config.workers`` processes; (results, failures, study, storage)."""
    study, url = gt.open_study(config.gt_storage, ref, config.ground_truth)
    counts = gt.enqueue(study, wanted)
    if wanted:
        _say(
            on_progress,
            f"ground truth ({study.study_name}): {counts['cached']} cached, {counts['queued']} to train, {counts['given_up']} failed before",
        )
    if counts["queued"]:
        cmd = [sys.executable, "-m", "nas_proxy", "worker", "--study", study.study_name, "--storage", url, "--device", config.device]
        children = [subprocess.Popen([*cmd, "--quiet"]) for _ in range(1, config.workers)]
        try:
            gt.run_worker(study, url, config.device, on_progress is not None)
        except KeyboardInterrupt:
            for child in children:
                child.send_signal(signal.SIGINT)
            raise
        finally:
            for child in children:
                child.wait()
    _wait_for_others(study, url, wanted, config.device, on_progress)
    return gt.results(study), gt.failures(study), study.study_name, url


def ground_truth_step(config: CorrelateConfig, ref: gt.DataRef, archs: list[Arch], on_progress: OnProgress | None = None) -> Truth:
    """Seed ``config.seed`` for every architecture without a given accuracy, ``seed + 1`` for the
    ceiling; a given accuracy comes from another protocol, so this training with another seed is
    no ceiling for it."""
    seed, seed2 = config.seed, config.seed + 1
    trained = [a for a in archs if a.truth is None]
    ceiling = _ceiling_subset(trained, config.ceiling, seed)
    wanted = [(a.spec, seed) for a in trained] + [(a.spec, seed2) for a in ceiling]
    results, failed, study, url = run_ground_truth(config, ref, wanted, on_progress)
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
    return Truth(accuracy, results, trained, ceiling, study, url, warnings)
