"""A failed architecture is retried once by the same command (fix55a).

A trial whose scoring failed for a reason of its own (out of GPU memory, a training that diverged, an error in
the proxy, a full disk) was counted as done before: the same ``search`` or ``run`` command drew new candidates
in its place, and the architecture never got a score. Now the search, once its study is created or checked,
queues each such architecture again (:func:`retry_failed`), first in line, at most once per architecture: the
copy records the trial it retries (:data:`RETRY_ATTR`, with ``retry_of``), and an architecture that has such a
copy is never queued again, whatever became of it, so one that always fails costs one training more, not a loop.

Only what may pass the next time is queued: each trial that fails in the objective records why
(:data:`FAIL_KIND_ATTR`, ``fail_kind``, by :func:`recording_kind`): ``diverged`` (a loss gone NaN: the retry
trains with the same seed and diverges the same way), ``out_of_memory`` (the candidate's own allocation refused by
the device or the machine: a model too large for it is as large the next time) and ``unbuildable`` are never
retried; ``gpu_shared`` (out of GPU memory where CUDA's message says the request and what this process held fit in
the GPU: other processes, a search's other workers, held the rest), ``memory_limit`` (this process's ``ulimit -v``, queued again by :class:`~nas_proxy.studies.guarded.Guarded`
and given up after :data:`~nas_proxy.studies.requeue.MAX_RETRY`), ``disk_full`` and ``error`` (anything else: a
file that could not be read, a bug) are retried once, as a dead worker's (``killed``: stored by
:mod:`~nas_proxy.studies.repair` and :mod:`~nas_proxy.studies.heartbeat` as they fail it; in a study of an earlier version,
told by their ``fail_reason``, :func:`fail_kind`). Before
stop 56 every failed architecture was retried once, a diverged one too: one training wasted each. A trial without
the attribute (a study of an earlier version) is retried as before, unless its reason says it cannot be built.

Not queued either: an architecture some trial scored, runs or has queued (a dead worker's or an interrupted trial's
copy, :mod:`~nas_proxy.studies.requeue`); one whose retries a dead worker or this process's memory limit already
spent (:data:`~nas_proxy.studies.requeue.MAX_RETRY`: given up); one that cannot be built for the images (the
spec and the image size alone decide it); a trial that drew no architecture (beyond the budget, stopped before
sampling); a ladder's climber (the ladder retries its own, ``ladder.MAX_FAILURES``). A retry is a trial as any
other of the budget: complete or pruned it counts towards ``--n-trials``, failed it does not, and it is one of
the at most ``--n-trials`` trials a worker starts in one command. Only as many are queued as the budget has
trials left, oldest failure first (a copy queued beyond it would wait in the study for a larger budget).

Optuna's ``RetryFailedTrialCallback`` (deprecated for ``RetryHeartbeatStaleTrialCallback`` since 4.9) does not
fit: it is called for a trial whose heartbeat lapsed, never for one that failed in its objective; the lapsed
ones are already queued again by :mod:`~nas_proxy.studies.heartbeat` and :mod:`~nas_proxy.studies.repair`. It
knows no reason either (it retries up to ``max_retry`` times whatever the failure), and keeps no record of a copy
that a search, its workers all killed, would need to see it was retried before.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import optuna
import torch
from optuna.trial import FrozenTrial, TrialState

from nas_proxy import interrupts
from nas_proxy.errors import DivergedError, out_of_memory
from nas_proxy.files import DiskFullError
from nas_proxy.search.ladder import rung_of
from nas_proxy.studies.budget import LIVE, uncounted
from nas_proxy.studies.guarded import out_of_memory_here
from nas_proxy.studies.identity import WORKER_KEYS
from nas_proxy.studies.repair import DIED, given_up
from nas_proxy.studies.requeue import FAIL_KIND_ATTR, KILLED, LAPSED, MAX_RETRY, RETRY_ATTR, carried, enqueue_once, retries_of

UNBUILDABLE = "unbuildable architecture"  # the start of the fail_reason of a candidate that cannot be built for the images
# RETRY_ATTR: a failed architecture's one retry (carried to its copies): the number of the failed trial it retries
# FAIL_KIND_ATTR: why a trial failed, in one word (the module): whether its architecture is retried (KILLED: studies.requeue's)
DIVERGED, OUT_OF_MEMORY, MEMORY_LIMIT, DISK_FULL, ERROR = "diverged", "out_of_memory", "memory_limit", "disk_full", "error"
UNBUILT, SHARED = "unbuildable", "gpu_shared"  # gpu_shared: out of GPU memory that other processes held (a retry may fit)
RETRIED = frozenset({MEMORY_LIMIT, SHARED, DISK_FULL, ERROR, KILLED})  # the kinds of failure that may pass the next time


def kind_of(error: BaseException) -> str:
    """The :data:`FAIL_KIND_ATTR` of a trial whose objective raised ``error``."""
    if isinstance(error, DivergedError):
        return DIVERGED
    if isinstance(error, DiskFullError):
        return DISK_FULL
    if out_of_memory_here(error) is not None:  # this process's limit, not the candidate's size
        return MEMORY_LIMIT
    if isinstance(error, ImportError) and out_of_memory(error) is not None:  # a library not mapped under ulimit -v: the
        return MEMORY_LIMIT  # process's limit too, which the user may raise (its message says so) before a retry
    if isinstance(error, torch.cuda.OutOfMemoryError) or out_of_memory(error) is not None:
        return SHARED if _others_held(str(error)) else OUT_OF_MEMORY
    return ERROR


def _others_held(text: str) -> bool:
    """Whether CUDA's out-of-memory message says the request and what this process held fit in the GPU's capacity:
    other processes (a search's other workers on the same GPU) held the rest, and the candidate may fit the next time."""
    sizes = {
        key: re.search(pattern + r" ([\d.]+) (bytes|[KMGT]iB)", text)  # CUDA says "N bytes" below 1 KiB
        for key, pattern in (("asked", "[Tt]ried to allocate"), ("total", "total capacity of"), ("held", "this process has"))
    }
    if any(m is None for m in sizes.values()):
        return False
    size = {k: float(m[1]) * 1024 ** ("bKMGT".index(m[2][0]) - 1) for k, m in sizes.items() if m is not None}  # KiB
    return size["asked"] + size["held"] <= size["total"]


@contextmanager
def recording_kind(trial: optuna.Trial) -> Iterator[None]:
    """Store :func:`kind_of` the error that fails ``trial`` (a pruned trial, a Ctrl-C: none)."""
    try:
        yield
    except optuna.TrialPruned:
        raise
    except Exception as e:
        with suppress(Exception):  # a storage that cannot take it (a full disk) must not hide the error
            trial.set_user_attr(FAIL_KIND_ATTR, kind_of(e))
        raise


def fail_kind(t: FrozenTrial) -> str | None:
    """Why failed trial ``t`` failed, as :data:`FAIL_KIND_ATTR` says; in a study of an earlier version, which stored no
    kind, ``killed`` for a dead worker's and ``unbuildable`` as its ``fail_reason`` tells; None where nothing tells."""
    kind = t.user_attrs.get(FAIL_KIND_ATTR)
    if isinstance(kind, str):
        return kind
    reason = str(t.user_attrs.get("fail_reason", ""))
    if reason.startswith(UNBUILDABLE):
        return UNBUILT
    return KILLED if DIED in reason or reason.startswith(LAPSED) else None


def retry_failed(study: optuna.Study, budget: int | None = None) -> list[int]:
    """Queue once more each architecture of ``study`` whose trials all failed and that was not retried so before
    (see the module); the numbers of the failed trials whose copies were queued, oldest first. ``budget``: the
    search's ``--n-trials``: no more are queued than it has trials left (none once it is met); None: no limit."""
    by_arch: dict[str, list[FrozenTrial]] = {}
    for t in study.get_trials(deepcopy=False):
        aid = t.user_attrs.get("arch_id")
        if isinstance(aid, str) and rung_of(t) == 0:
            by_arch.setdefault(aid, []).append(t)
    wanted = sorted((last for trials in by_arch.values() if (last := _to_retry(trials)) is not None), key=lambda t: t.number)
    if budget is not None:  # the slots left: the trials that hold one (queued, running: a dead worker's is queued again) are not
        held = [t for t in study.get_trials(deepcopy=False, states=LIVE) if not uncounted(t) and not t.user_attrs.get("interrupted")]
        wanted = wanted[: max(0, budget - len(held))]
    queued = []
    with interrupts.deferred():  # a copy is queued whole or not at all
        for t in wanted:
            params = t.params | (t.system_attrs.get("fixed_params") or {})
            if enqueue_once(study, params, {**carried(t.user_attrs), "retry_of": t.number, RETRY_ATTR: t.number}):
                queued.append(t.number)
    return queued


BEFORE, OURS, THEIRS = "before", "ours", "theirs"  # whose a trial is (:func:`whose`)


def whose(t: FrozenTrial, first: int, waiting: Collection[int] = (), ours: Sequence[Mapping[str, Any]] | None = None) -> str:
    """Whose trial ``t`` is, seen by a command whose first trial was numbered ``first``, that found the trials ``waiting``
    as it began (a killed command's retries, a Ctrl-C's copy, which it takes up) and whose processes ``ours`` names as
    trials name their worker (``search.runner._processes``; None: unknown, every one counts): :data:`BEFORE` (made
    before it and not waiting then), :data:`OURS` (from ``first`` on or waiting, and trained by one of ``ours``, or naming
    no worker: not taken yet) or :data:`THEIRS` (a concurrent command's process took it). The one rule of what a command
    says is its own: the unmet budget's failures (fix59) and the retries it counts (:func:`retried_since`, fix60)."""
    if t.number < first and t.number not in waiting:
        return BEFORE
    if ours is None or "worker_pid" not in t.user_attrs:
        return OURS
    return OURS if any(all(t.user_attrs.get(k) == o[k] for k in WORKER_KEYS if k in o) for o in ours) else THEIRS


def retried_since(
    study: optuna.Study, first: int, waiting: Collection[int] = (), ours: Sequence[Mapping[str, Any]] | None = None
) -> list[int]:
    """The failed trials whose retries a command queued or took up, oldest first: the command's trials (:func:`whose`:
    :func:`retry_failed`'s copies, a retry queued again after its worker died, one ``waiting`` as it began, stopped by
    Ctrl-C and queued again by the command it stopped) that carry :data:`RETRY_ATTR`; not those a concurrent command on
    the same study took (before fix60, counted here too)."""
    trials = study.get_trials(deepcopy=False)
    marks = (t.user_attrs.get(RETRY_ATTR) for t in trials if whose(t, first, waiting, ours) == OURS)
    return sorted({m for m in marks if isinstance(m, int) and not isinstance(m, bool)})


def _to_retry(trials: list[FrozenTrial]) -> FrozenTrial | None:
    """The last of one architecture's trials, where they all failed and it is to be retried; else None."""
    if any(t.state != TrialState.FAIL for t in trials) or any(RETRY_ATTR in t.user_attrs for t in trials):
        return None  # scored, running or queued; or retried once already
    for t in trials:
        if given_up(t) or retries_of(t.user_attrs) >= MAX_RETRY or fail_kind(t) == UNBUILT:
            return None
    kind = fail_kind(trials[-1])
    return trials[-1] if kind is None or kind in RETRIED else None  # what may pass the next time (or unknown: as before)


__all__ = [
    "FAIL_KIND_ATTR",
    "KILLED",
    "RETRIED",
    "RETRY_ATTR",
    "UNBUILDABLE",
    "fail_kind",
    "kind_of",
    "recording_kind",
    "retried_since",
    "retry_failed",
    "whose",
]
