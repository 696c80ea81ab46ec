"""A failed architecture is retried once by the same command (fix55a).

A trial whose scoring failed for a reason of its own (out of GPU memory, a training that diverged, an error in
the proxy, a full disk) was counted as done before: the same ``search`` or ``run`` command drew new candidates
in its place, and the architecture never got a score. Now the search, once its study is created or checked,
queues each such architecture again (:func:`retry_failed`), first in line, at most once per architecture: the
copy records the trial it retries (:data:`RETRY_ATTR`, with ``retry_of``), and an architecture that has such a
copy is never queued again, whatever became of it, so one that always fails costs one training more, not a loop.

Not queued: an architecture some trial scored, runs or has queued (a dead worker's or an interrupted trial's
copy, :mod:`~nas_proxy.studies.requeue`); one whose retries a dead worker or this process's memory limit already
spent (:data:`~nas_proxy.studies.requeue.MAX_RETRY`: given up); one that cannot be built for the images (the
spec and the image size alone decide it); a trial that drew no architecture (beyond the budget, stopped before
sampling); a ladder's climber (the ladder retries its own, ``ladder.MAX_FAILURES``). A retry is a trial as any
other of the budget: complete or pruned it counts towards ``--n-trials``, failed it does not, and it is one of
the at most ``--n-trials`` trials a worker starts in one command. Only as many are queued as the budget has
trials left, oldest failure first (a copy queued beyond it would wait in the study for a larger budget).

Optuna's ``RetryFailedTrialCallback`` (deprecated for ``RetryHeartbeatStaleTrialCallback`` since 4.9) does not
fit: it is called for a trial whose heartbeat lapsed, never for one that failed in its objective; the lapsed
ones are already queued again by :mod:`~nas_proxy.studies.heartbeat` and :mod:`~nas_proxy.studies.repair`.
"""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial, TrialState

from nas_proxy import interrupts
from nas_proxy.search.ladder import rung_of
from nas_proxy.studies.budget import LIVE, uncounted
from nas_proxy.studies.repair import given_up
from nas_proxy.studies.requeue import MAX_RETRY, carried, enqueue_once, retries_of

RETRY_ATTR = "retry_of_failed"  # a failed architecture's one retry: the number of the failed trial it retries
UNBUILDABLE = "unbuildable architecture"  # the start of the fail_reason of a candidate that cannot be built for the images


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


def _to_retry(trials: list[FrozenTrial]) -> FrozenTrial | None:
    """The last of one architecture's trials, where they all failed and it is to be retried; else None."""
    if any(t.state != TrialState.FAIL for t in trials) or any(RETRY_ATTR in t.user_attrs for t in trials):
        return None  # scored, running or queued; or retried once already
    for t in trials:
        if given_up(t) or retries_of(t.user_attrs) >= MAX_RETRY or str(t.user_attrs.get("fail_reason", "")).startswith(UNBUILDABLE):
            return None
    return trials[-1]


__all__ = ["RETRY_ATTR", "UNBUILDABLE", "retry_failed"]
