"""Studies of queued trainings: one enqueued trial per (architecture, seed), trained by whichever
worker takes it (ground truth, promotion).

Finished trainings stay in the storage: a later run asking for the same (architecture, seed) finds
them there (the study's name carries the training protocol) and trains only what is missing. A
training that failed :data:`MAX_FAILURES` times for reasons of its own is reported, not retried.

A queued trial carries its spec as scalar ``arch.*`` user attributes beside ``arch_id`` and
``seed`` (:mod:`nas_proxy.studies.spec_attrs`); trials queued before carry it as the JSON attribute
``spec``, and both are read, so a study of either layout or both resumes without training anything twice.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from nas_proxy import interrupts
from nas_proxy.errors import NasProxyError
from nas_proxy.progress import Meter, say
from nas_proxy.spaces import arch_id, get_space
from nas_proxy.studies.guarded import Guarded, fail_reason, recording_failure, unmasked
from nas_proxy.studies.identity import born_tagged
from nas_proxy.studies.kinds import WorkerOptions
from nas_proxy.studies.repair import DIED, fail_dead_trials, given_up
from nas_proxy.studies.spec_attrs import spec_attrs, spec_from_attrs, without_spec
from nas_proxy.studies.storage import Storage
from nas_proxy.studies.workers import WorkerStoppedWarning, worker_processes

MAX_FAILURES = 2  # an (architecture, seed) that failed this often is reported, not retried
EARLY = "early."  # prefix of the user attributes of early-stopping scores: early.<epochs>.<val_accuracy|seconds>
POLL_SECONDS = 10.0  # how often to look at trainings running in other workers
Key = tuple[str, int]  # (arch id, seed)
Wanted = list[tuple[dict[str, Any], int]]  # (spec, seed) to train


def key_of(t: FrozenTrial) -> Key | None:
    """The (arch id, seed) a queued trial trains; None for a trial that trains nothing."""
    spec, seed = spec_from_attrs(t.user_attrs, t.number), t.user_attrs.get("seed")
    return None if spec is None or seed is None else (arch_id(spec), int(seed))


def enqueue(study: optuna.Study, wanted: Wanted, space: str | None = None) -> dict[str, int]:
    """Queue the (spec, seed) trainings not done, queued or running; counts of what was found.

    ``space``: the search space the specs belong to; each training then records the spec's choices
    as its trial parameters (the dashboard plots and ranks parameters; a study of trials without
    any makes its importance view fail)."""
    done: set[Key] = set()
    pending: set[Key] = set()
    failed: dict[Key, int] = {}
    for t in study.get_trials(deepcopy=False):
        key = key_of(t)
        if key is None:
            continue
        if t.state == TrialState.COMPLETE:
            done.add(key)
        elif t.state in (TrialState.WAITING, TrialState.RUNNING):
            pending.add(key)
        elif t.state == TrialState.FAIL and not _not_its_fault(t):
            failed[key] = failed.get(key, 0) + 1
    queued = given_up = 0
    for spec, seed in wanted:
        key = (arch_id(spec), seed)
        if key in done or key in pending:
            continue
        if failed.get(key, 0) >= MAX_FAILURES:
            given_up += 1
            continue
        # identity first: the dashboard lists attributes in this order
        attrs = {"arch_id": key[0], "seed": seed} | ({"space": space} if space else {}) | spec_attrs(spec)
        study.enqueue_trial(get_space(space).params_of(spec) if space else {}, user_attrs=attrs)
        pending.add(key)
        queued += 1
    return {"cached": sum(1 for s, d in wanted if (arch_id(s), d) in done), "queued": queued, "given_up": given_up}


def _not_its_fault(t: FrozenTrial) -> bool:
    """A failure from Ctrl-C or a dead worker, which says nothing about the architecture."""
    reason = str(t.user_attrs.get("fail_reason", ""))
    died = DIED in reason and not given_up(t)  # retries exhausted: counted
    return bool(t.user_attrs.get("interrupted")) or died


def objective(train: Callable[[dict[str, Any], int], dict[str, Any]], value: str, extra: dict[str, Any]) -> Guarded[float]:
    """The objective of a queued trial: ``train(spec, seed)``'s record (and ``extra``) stored as user
    attributes, its ``value`` entry the trial's value."""

    def run(trial: optuna.Trial) -> float:
        spec, seed = spec_from_attrs(trial.user_attrs, trial.number), trial.user_attrs.get("seed")
        if spec is None or seed is None:  # another worker took the last queued training first
            trial.set_user_attr("idle", True)
            raise optuna.TrialPruned("nothing left to train")
        record_params(trial)
        try:
            interrupts.check()
            with recording_failure(trial), interrupts.interruptible():
                result = train(spec, int(seed))
        except KeyboardInterrupt:
            trial.set_user_attr("interrupted", True)  # not the architecture's fault: retried without limit
            raise
        for key, v in flat_record({**result, **extra}).items():
            trial.set_user_attr(key, v)
        return float(result[value])

    return Guarded(run)


def record_params(trial: optuna.Trial) -> None:
    """The queued spec's choices as the trial's parameters: its space sampled with the parameters
    fixed at :func:`enqueue`. Kept out when the study already holds a parameter of that name with
    other choices (specs of two spaces in one study): parameters are for showing, the spec trains."""
    name = trial.user_attrs.get("space")
    if not name:
        return  # queued without its space (before parameters were recorded)
    try:
        get_space(str(name)).sample(trial)
    except ValueError:  # optuna: "CategoricalDistribution does not support dynamic value space"
        trial.set_user_attr("params_left_out", "another space's parameter of the same name is in this study")


def flat_record(record: dict[str, Any]) -> dict[str, Any]:
    """A training's record as the trial's user attributes: the nested ``early`` scores (epochs ->
    {val_accuracy, seconds}) as one scalar each, ``early.<epochs>.<what>`` (the dashboard lists,
    sorts and plots scalar attributes and prints any other as clipped JSON). :func:`record_of`
    reads them back."""
    out = {k: v for k, v in record.items() if k != "early"}
    for epochs, scores in (record.get("early") or {}).items():
        out |= {f"{EARLY}{epochs}.{what}": v for what, v in scores.items()}
    return out


def record_of(attrs: dict[str, Any]) -> dict[str, Any]:
    """A training's record from its trial's user attributes (:func:`flat_record` undone; a trial
    stored with the nested ``early`` dict is read as it is), with its ``spec`` rebuilt from either
    layout (:func:`~nas_proxy.studies.spec_attrs.spec_from_attrs`)."""
    spec = spec_from_attrs(attrs)
    out: dict[str, Any] = {} if spec is None else {"spec": spec}
    early: dict[str, dict[str, Any]] = {}
    for key, v in without_spec(attrs).items():
        if key.startswith(EARLY) and key.count(".") >= 2:
            epochs, what = key[len(EARLY) :].rsplit(".", 1)
            early.setdefault(epochs, {})[what] = v
        else:
            out[key] = v
    if early:
        out["early"] = {**out.get("early", {}), **early}
    return out


def waiting(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))


def work(study: optuna.Study, storage: BaseStorage, run: Guarded[float], label: str, progress: bool) -> None:
    """Train queued trials with objective ``run`` until the queue is empty (several workers may
    share it); the trainings of workers found dead are re-queued and trained too."""
    born_tagged(storage)  # a training records this worker as it is taken from the queue (a journal's record, a database's transaction)
    bar = Meter(label, waiting(study), unit="arch", enabled=progress)

    def report(study: optuna.Study, trial: FrozenTrial) -> None:  # this worker's own trial
        if trial.state == TrialState.FAIL:
            bar.write(f"{label} of {trial.user_attrs.get('arch_id')} failed: {' '.join(fail_reason(trial).split())[:200]}")
        bar.update(1)

    try:
        with interrupts.deferred():  # SIGINT raises in the training and between trials, never inside ask/tell
            while True:
                fail_dead_trials(study, storage)  # before each training: re-queue what dead workers left
                if not waiting(study):
                    break
                with unmasked(run):
                    study.optimize(run, n_trials=1, catch=(NasProxyError, RuntimeError, ValueError), callbacks=[report])
                run.raise_stop()  # a full disk: stop here, not fail every queued training
    finally:
        bar.close()


def train_all(
    study: optuna.Study,
    storage: Storage,
    wanted: Wanted,
    workers: int,
    options: WorkerOptions,
    work_here: Callable[[], None],
    label: str,
    progress: bool = False,  # the library is silent unless asked; the CLI asks
) -> None:
    """Train the queued trials of ``wanted`` with ``workers`` processes (this one, ``work_here``,
    and ``workers - 1`` started with ``options``, each opening ``storage.url`` once), then wait for
    those running in other workers elsewhere, taking over any that get re-queued (a worker died)."""
    if waiting(study):
        with worker_processes(study.study_name, storage.url, [options] * (workers - 1)) as children:
            work_here()
        for k, child in enumerate(children, 1):
            if child.returncode:  # its training, if any, is re-queued and trained below; its error line said here, once
                warnings.warn(WorkerStoppedWarning(child.ended(k)), stacklevel=2)
    keys = {(arch_id(spec), seed) for spec, seed in wanted}
    told = False
    while True:
        open_ = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)) if key_of(t) in keys]
        if not open_:
            return
        if any(t.state == TrialState.WAITING for t in open_):
            work_here()
            continue
        if not told:
            say(label, f"{label}: waiting for {len(open_)} trainings running in other workers", enabled=progress)
            told = True
        time.sleep(POLL_SECONDS)
        fail_dead_trials(study, storage.backend)  # through the storage the caller opened: no new one per poll


def results(study: optuna.Study) -> dict[Key, dict[str, Any]]:
    """(arch id, seed) -> the finished training's record."""
    out = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        key = key_of(t)
        if key is not None:
            out[key] = record_of(t.user_attrs)
    return out


def failures(study: optuna.Study) -> dict[Key, str]:
    """(arch id, seed) -> the last failure reason of trainings that never completed."""
    done = set(results(study))
    out = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        key = key_of(t)
        if key is not None and key not in done:
            out[key] = fail_reason(t)
    return out


__all__ = ["MAX_FAILURES", "enqueue", "failures", "key_of", "objective", "results", "train_all", "work"]
