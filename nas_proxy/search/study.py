"""Creating, joining, repairing and exporting a search study.

A study carries its :class:`SearchConfig` in the user attribute ``nasproxy``, so a worker joins
with the study name and storage alone, and a second ``search`` with other settings is refused.
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage, fail_stale_trials
from optuna.trial import FrozenTrial, TrialState
from torch import nn

from nas_proxy import interrupts
from nas_proxy.errors import DivergedError, InvalidArgumentError, NasProxyError, OutputConflictError
from nas_proxy.search.config import SAMPLERS, SearchConfig
from nas_proxy.utils import atomic_path, write_json

ATTR = "nasproxy"
BUDGET_ATTR = "nasproxy_budget"  # the latest --n-trials of `search`: what a `worker` without --n-trials aims for
MAX_RETRY = 2  # a trial whose worker died is re-queued at most this often (an OOM-killing candidate must not loop)
LIVE = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
METRIC_NAMES = {"accuracy": "val_accuracy", "params": "params", "flops": "flops"}
# a RUNNING trial still without its worker's identity this long after it started lost its worker
# between its creation and the first write of the objective (milliseconds apart; a minute leaves room
# for a loaded machine and a slow database, and bounds how long a run waits for such a trial)
UNTAGGED_SECONDS = 60.0


class StudyNotFoundError(NasProxyError):
    """A worker or dashboard named a study the storage does not hold."""


def create_or_check(storage: BaseStorage, name: str, config: SearchConfig, fingerprint: dict[str, Any], sampler_seed: int) -> optuna.Study:
    """The study ``name``: created with ``config``, or loaded after checking it searches the same thing.

    ``fingerprint`` holds what identifies the inputs (space description, synthetic-set hash).
    """
    sampler = SAMPLERS.get(config.sampler)(sampler_seed, len(config.objectives))
    if name in {s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)}:
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=_pruner(config))
        if ATTR in study.user_attrs or study.trials or list(study.directions) != config.directions:
            _check_same(study, name, config, fingerprint)
            return study
        # an empty study whose creation was interrupted before its settings were stored: adopt it
    else:
        study = optuna.create_study(study_name=name, storage=storage, directions=config.directions, sampler=sampler, pruner=_pruner(config))
    study.set_user_attr(ATTR, {"config": config.to_dict(), **fingerprint})
    study.set_metric_names([METRIC_NAMES[o] for o in config.objectives])
    return study


def _pruner(config: SearchConfig) -> optuna.pruners.BasePruner:
    from nas_proxy.search.config import PRUNERS

    return PRUNERS.get(config.pruner)(config.proxy)


def _check_same(study: optuna.Study, name: str, config: SearchConfig, fingerprint: dict[str, Any]) -> None:
    stored = study.user_attrs.get(ATTR)
    if stored is None:
        raise OutputConflictError(f"study {name!r} exists but was not made by nasproxy search; choose another --study name")
    old = SearchConfig.from_dict(stored["config"])
    problems = []
    if list(study.directions) != config.directions or old.objectives != config.objectives:
        problems.append(f"objectives {','.join(old.objectives)} there, {','.join(config.objectives)} now")
    if stored.get("space_description") != fingerprint["space_description"]:
        problems.append(f"space {old.space!r} there, {config.space!r} now")
    if stored.get("synthetic_sha256") != fingerprint["synthetic_sha256"]:
        problems.append(f"synthetic set {old.synthetic} there, {config.synthetic} now (different images)")
    problems += [
        f"proxy training {key} {a!r} there, {b!r} now" for key, (a, b) in _differences(old.proxy.to_dict(), config.proxy.to_dict())
    ]
    if old.max_params != config.max_params:
        problems.append(f"--max-params {old.max_params} there, {config.max_params} now")
    if old.seed != config.seed:
        problems.append(f"seed {old.seed} there, {config.seed} now")
    if problems:
        raise OutputConflictError(
            f"study {name!r} already exists with other settings ({'; '.join(problems)}); use the same settings to resume it, or another --study name"
        )


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, tuple[Any, Any]]]:
    """``(key, (old value, new value))`` for every key whose value differs, in ``old``'s order."""
    return [(k, (old.get(k), new.get(k))) for k in dict.fromkeys([*old, *new]) if old.get(k) != new.get(k)]


def load_config(storage: BaseStorage, name: str) -> tuple[SearchConfig | None, dict[str, Any]]:
    """The configuration a search study was created with (for workers joining it); ``None`` for a
    correlation's ground-truth study."""
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        known = sorted(s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False))
        raise StudyNotFoundError(f"no study {name!r} in that storage; it holds: {', '.join(known) or 'no studies'}") from None
    if "nasproxy_groundtruth" in study.user_attrs:
        return None, dict(study.user_attrs["nasproxy_groundtruth"])
    stored = study.user_attrs.get(ATTR)
    if stored is None:
        raise StudyNotFoundError(f"study {name!r} was not made by nasproxy search")
    return SearchConfig.from_dict(stored["config"]), {k: v for k, v in stored.items() if k != "config"}


def counted(study: optuna.Study) -> int:
    """Trials that use up the budget: complete and pruned (failed ones are retried, not counted)."""
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def over_budget(study: optuna.Study, number: int, total: int) -> bool:
    """Whether trial ``number`` is beyond the budget: ``total`` live trials were created before it.

    Trial numbers are handed out atomically by the storage, so two workers racing for the last
    slot cannot both get it. A RUNNING trial whose worker is known to be dead does not count.
    """
    earlier = [t for t in study.get_trials(deepcopy=False, states=LIVE) if t.number < number and not _dead(t)]
    return len(earlier) >= total


@contextmanager
def recording_failure(trial: optuna.Trial) -> Iterator[None]:
    """Store why a trial's training failed (``fail_reason``) before Optuna marks it FAILED."""
    try:
        yield
    except DivergedError as e:
        trial.set_user_attr("fail_reason", str(e))
        raise
    except torch.cuda.OutOfMemoryError:
        trial.set_user_attr("fail_reason", "out of GPU memory")
        torch.cuda.empty_cache()
        raise


def worker_tag() -> dict[str, Any]:
    return {"worker_host": socket.gethostname(), "worker_pid": os.getpid()}


def claim(trial: optuna.Trial) -> None:
    """Record this worker on ``trial`` (the objective's first act), so a survivor can repair the
    trial if this process dies."""
    for key, value in worker_tag().items():
        trial.set_user_attr(key, value)


def _dead(t: FrozenTrial, untagged_seconds: float = UNTAGGED_SECONDS) -> bool:
    """Whether RUNNING trial ``t`` has no living worker: one on this host whose process is gone, or
    none recorded long after it started. (Workers on other hosts: heartbeats of database storages.)"""
    if t.state != TrialState.RUNNING:
        return False
    pid = t.user_attrs.get("worker_pid")
    if pid is None:
        started = t.datetime_start or datetime.datetime.now()
        return (datetime.datetime.now() - started).total_seconds() > untagged_seconds
    return t.user_attrs.get("worker_host") == socket.gethostname() and not _alive(int(pid))


def fail_dead_trials(study: optuna.Study, storage: BaseStorage, untagged_seconds: float = UNTAGGED_SECONDS) -> list[int]:
    """Fail and re-queue RUNNING trials whose worker is gone: on this host by its process, on other
    hosts by the heartbeat of a database storage (Optuna's ``RetryHeartbeatStaleTrialCallback``
    re-queues those). Returns the numbers of the trials failed here by process."""
    with interrupts.deferred(), warnings.catch_warnings():  # failing and re-queuing belong together
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        fail_stale_trials(study)
        return [
            t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)) if _repair(study, storage, t, untagged_seconds)
        ]


def _repair(study: optuna.Study, storage: BaseStorage, t: FrozenTrial, untagged_seconds: float) -> bool:
    if not _dead(t, untagged_seconds):
        return False
    trial_id = storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(study.study_name), t.number)
    retries = int(t.user_attrs.get("retries", 0))
    pid = t.user_attrs.get("worker_pid")
    who = f"{t.user_attrs.get('worker_host')}:{pid}" if pid else "(not recorded yet)"
    reason = f"worker {who} died during the trial"
    note = reason + ("" if retries < MAX_RETRY else f"; not retried after {retries} retries")
    try:  # another worker may be repairing the same trial: whoever finishes it re-queues it
        storage.set_trial_user_attr(trial_id, "fail_reason", note)
        if not storage.set_trial_state_values(trial_id, TrialState.FAIL):
            return False
    except UpdateFinishedTrialError:
        return False
    carried: dict[str, Any] = {k: t.user_attrs[k] for k in ("spec", "seed", "arch_id") if k in t.user_attrs and not t.params}
    if (t.params or carried) and retries < MAX_RETRY:  # a search trial by its parameters, a ground-truth training by its spec
        study.enqueue_trial(t.params, user_attrs={**carried, "retry_of": t.number, "retries": retries + 1})
    return True


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (a zombie, killed but not yet reaped by its
    parent, does not: a ``search`` reaps its worker processes only at the end)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # Linux: the state follows the parenthesised command name
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def ranked(study: optuna.Study) -> list[FrozenTrial]:
    """Complete trials, best first (the Pareto front first for several objectives)."""
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(study.directions) == 1:
        sign = -1 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1
        return sorted(done, key=lambda t: (sign * float(t.value or 0.0), t.number))
    front = {t.number for t in study.best_trials}
    return sorted(done, key=lambda t: (t.number not in front, -float((t.values or [0.0])[0]), t.number))


def trial_summary(t: FrozenTrial) -> dict[str, Any]:
    return {
        "number": t.number,
        "values": t.values,
        "arch_id": t.user_attrs.get("arch_id"),
        "params": t.user_attrs.get("params"),
        "flops": t.user_attrs.get("flops"),
        "proxy_seconds": t.user_attrs.get("proxy_seconds"),
        "spec": t.user_attrs.get("spec"),
    }


def export(study: optuna.Study, out: Path, dataset: dict[str, Any]) -> dict[str, Path]:
    """Write ``trials.csv`` (every trial), ``best.json`` (best spec(s), rebuildable) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    frame = study.trials_dataframe(
        attrs=("number", "value" if len(study.directions) == 1 else "values", "params", "user_attrs", "state", "duration")
    )
    for col in ("user_attrs_spec", "user_attrs_curve", "user_attrs_seconds"):
        if col in frame:
            frame[col] = frame[col].map(lambda v: json.dumps(v) if isinstance(v, (dict, list)) else v)
    with atomic_path(out / "trials.csv") as tmp:
        frame.to_csv(tmp, index=False)
    best = [trial_summary(t) for t in ranked(study)]
    front = [t.number for t in study.best_trials] if best else []
    write_json(
        out / "best.json",
        {
            "study": study.study_name,
            "objectives": study.user_attrs.get(ATTR, {}).get("config", {}).get("objectives"),
            "dataset": dataset,
            "best": best[0] if best else None,
            "pareto_front": front,
            "top": best[:10],
        },
    )
    return {"trials": out / "trials.csv", "best": out / "best.json"}


def best_model(best_json: Path | str, rank: int = 0) -> nn.Module:
    """A fresh, untrained network of the ``rank``-th best architecture of an exported ``best.json``,
    built for the dataset the study searched on."""
    from nas_proxy.spaces import build_model

    path = Path(best_json)
    try:
        data = json.loads(path.read_text())
        spec, d = data["top"][rank]["spec"], data["dataset"]
        return build_model(spec, int(d["channels"]), int(d["num_classes"]), (int(d["image_size"][0]), int(d["image_size"][1])))
    except FileNotFoundError:
        raise InvalidArgumentError(f"{path} does not exist") from None
    except (json.JSONDecodeError, KeyError, IndexError, TypeError) as e:
        raise InvalidArgumentError(f"{path} is not a best.json written by nasproxy search with {rank + 1}+ architectures ({e!r})") from None
