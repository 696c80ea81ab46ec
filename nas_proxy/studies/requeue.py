"""Queuing a trial's candidate again, first to train when its command resumes: after Ctrl-C or SIGTERM, after
its process ran out of memory or its storage failed, or after its worker died (:mod:`~nas_proxy.studies.repair`).
A copy keeps the attributes that make it the same training (:func:`carried`), is queued once however often it is
asked for (:func:`enqueue_once`), and a candidate that may itself be the cause is retried at most
:data:`MAX_RETRY` times, so that one that kills its worker does not loop.
"""

from __future__ import annotations

import enum
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from nas_proxy import interrupts
from nas_proxy.studies.spec_attrs import JSON_ATTR, PREFIX

MAX_RETRY = 2  # a trial whose worker died is re-queued at most this often (an OOM-killing candidate must not loop)
# user attributes a re-queued trial carries over (a queued training's identity; its parameters only show it):
# its spec in either layout (nas_proxy.studies.spec_attrs: the JSON "spec" before, one "arch." attribute per leaf now)
# and a failed architecture's retry mark (RETRY_ATTR, nas_proxy.search.retry's): a retry whose worker died, queued again,
# is still that retry (before fix57 its copy lost it, and the command that trained it did not count it as retried)
RETRY_ATTR = "retry_of_failed"  # the number of the failed trial whose architecture a trial retries
CARRIED = (JSON_ATTR, "seed", "arch_id", "space", "candidate", RETRY_ATTR)
# and those named with these prefixes: a queued training's spec, a ladder's climber's rung and the
# scores of the rungs below (nas_proxy.search.ladder)
CARRIED_PREFIXES = (PREFIX, "rung")
# study user attribute: the trial user attribute its objective records once a sampled trial's candidate is drawn whole
# (a search's arch_id, search.study.create_or_check): one killed before has no candidate to queue (candidate_params)
DRAWN_MARK = "nasproxy_drawn_attr"
# trial user attribute: why a trial failed, in one word (what nas_proxy.search.retry retries by); KILLED: its worker died
# (written where the trial is failed for it: the repair, a database's lapsed heartbeat), never carried to a copy
FAIL_KIND_ATTR, KILLED = "fail_kind", "killed"
# trial system attribute of a copy that Optuna's retry of a lapsed heartbeat queued (nas_proxy.studies.heartbeat.RetryLapsedTrial):
# its original's candidate, trained again, which DrawSeeded does not count as a draw (fix58: it did, and a search whose worker
# was lost drew on one seed ahead of an uninterrupted one); an earlier version's copy, unmarked, counts as it counted it
LAPSED_COPY = "nasproxy_lapsed_copy"
# begins the fail_reason of a trial failed for a lapsed heartbeat (nas_proxy.studies.heartbeat): here, not there, so that
# search.retry reads it without importing heartbeat's SQLAlchemy (~0.25 CPU-s of every search and worker on a journal)
LAPSED = "worker lost: no heartbeat"


@contextmanager
def requeued_if_interrupted(trial: optuna.Trial) -> Iterator[None]:
    """A training stopped by Ctrl-C or SIGTERM is not the candidate's fault: the trial is marked
    ``interrupted`` and its parameters queued again (``retry_of``), so the same command trains it first
    when it resumes. Without this the candidate was lost to a sampler that never proposes a failed
    point again (``--sampler bruteforce`` would finish the space one architecture short)."""
    try:
        yield
    except KeyboardInterrupt:
        with interrupts.deferred(), suppress(Exception):  # a storage that cannot take it must not hide the Ctrl-C
            params, kept = _candidate(trial)
            if params or kept:
                trial.set_user_attr("interrupted", True)  # first: a worker that sees the copy sees this (budget.over_budget)
                enqueue_once(trial.study, params, {**kept, "retry_of": trial.number})
        raise


def _candidate(trial: optuna.Trial) -> tuple[dict[str, Any], dict[str, Any]]:
    """What a copy of ``trial`` is queued with: the parameters it had, with those it was queued with (one stopped
    before sampling had none yet), and its :func:`carried` attributes (a queued training's spec, for a study of
    trainings queued without a space's parameters, ``{}``: before stop 48 such a training stopped by Ctrl-C, or
    whose storage failed, was not queued again, and ``requeued`` said it was)."""
    return candidate_params(trial.study, trial.study.get_trials(deepcopy=False)[trial.number]), carried(trial.user_attrs)


def candidate_params(study: optuna.Study, t: FrozenTrial) -> dict[str, Any]:
    """The parameters a copy of ``t`` is queued with: those it had, with those it was queued with (one killed while
    recording them had only some). A sampled trial (none queued) of a study that names its mark of a whole draw
    (:data:`DRAWN_MARK`: a search's ``arch_id``) without that mark was cut short between two of its parameters'
    writes: it has none. Before chase56 its copy was queued with those it had and drew the rest with the next draw's
    seed, a candidate the uninterrupted search never drew (drill56's SQLite episode); the sampler now draws it anew
    with the seed it had (:class:`~nas_proxy.search.study.DrawSeeded` counts whole draws only)."""
    if cut_draw(study, t):
        return {}
    return t.params | (t.system_attrs.get("fixed_params") or {})


def cut_draw(study: optuna.Study, t: FrozenTrial) -> bool:
    """Whether ``t`` is a sampled trial (none queued) of a study that names its mark of a whole draw (:data:`DRAWN_MARK`)
    without that mark: a draw cut short between two of its parameters' writes (:func:`candidate_params`)."""
    return cut_short(study.user_attrs.get(DRAWN_MARK), t)


def cut_short(mark: str | None, t: FrozenTrial) -> bool:
    """:func:`cut_draw` with the study's :data:`DRAWN_MARK` read already (``mark``): for a loop over a study's trials,
    which would otherwise read the study's attributes once a trial (a query each on a database)."""
    return mark is not None and t.system_attrs.get("fixed_params") is None and mark not in t.user_attrs


def mark_drawn(study: optuna.Study, attr: str) -> None:
    """Record in ``study`` that its objective sets the trial user attribute ``attr`` once a candidate is drawn whole
    (:data:`DRAWN_MARK`; written once)."""
    if study.user_attrs.get(DRAWN_MARK) != attr:
        study.set_user_attr(DRAWN_MARK, attr)


def carried(user_attrs: dict[str, Any]) -> dict[str, Any]:
    """The attributes a queued copy of a trial keeps (``CARRIED``, ``CARRIED_PREFIXES``)."""
    return {k: v for k, v in user_attrs.items() if k in CARRIED or k.startswith(CARRIED_PREFIXES)}


def enqueue_once(study: optuna.Study, params: dict[str, Any], user_attrs: dict[str, Any]) -> bool:
    """Queue ``params`` unless a waiting trial already has them and the same :func:`carried` attributes (a
    candidate stopped twice, or stopped and then found dead, is trained once); whether it was queued. Before
    review48 the parameters alone were compared: a queued training whose worker died was not queued again while
    another seed of its architecture waited (the same parameters), and its command ended without it."""
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    same = carried(user_attrs)
    if any((t.system_attrs.get("fixed_params") or {}) == params and carried(t.user_attrs) == same for t in waiting):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.enqueue_trial(params, user_attrs=user_attrs)
    return True


def retries_of(user_attrs: Mapping[str, Any]) -> int:
    """How often a trial (its user attributes) was retried after a death that counted: its ``retries``, 0 where it
    records none or no count (a hand-edited journal's "abc", -1, 1.5: before fix49b, "abc" raised out of the repair)."""
    retries = user_attrs.get("retries", 0)
    return retries if isinstance(retries, int) and not isinstance(retries, bool) and retries >= 0 else 0


class Requeued(enum.Enum):
    """What :func:`requeued` did. True (a copy of the candidate waits in the queue) for :attr:`QUEUED` and
    :attr:`WAITING` alone."""

    QUEUED = "queued"  # a copy queued
    WAITING = "waiting"  # the same copy already waited (asked twice): none added
    NOTHING = "nothing"  # no candidate to queue (a sampled trial stopped before its draw was whole: the sampler draws anew)
    SPENT = "spent"  # retried MAX_RETRY times already: not queued (it may be the candidate after all)
    REFUSED = "refused"  # the storage could not take the copy

    def __bool__(self) -> bool:
        return self in (Requeued.QUEUED, Requeued.WAITING)


def requeued(trial: optuna.Trial, counted: bool = True) -> Requeued:
    """Queue ``trial``'s candidate again (retried first when the command resumes) after its process ran out of
    memory, or its storage failed (not ``counted``: the database's doing, not the candidate's), and say what was done
    (:class:`Requeued`): not once it was retried :data:`MAX_RETRY` times so (it may be the candidate after all: it then
    fails for good, and the search goes on), nor where the storage cannot take it (the trial then stays RUNNING or
    fails, as before). Before fix57 it said True also where it queued nothing (no candidate to queue)."""
    retries = retries_of(trial.user_attrs)
    if counted and retries >= MAX_RETRY:
        return Requeued.SPENT
    with interrupts.deferred(), suppress(Exception):
        params, kept = _candidate(trial)
        if not (params or kept):  # (a sampled trial stopped before sampling has no candidate to keep: the sampler proposes anew)
            return Requeued.NOTHING
        queued = enqueue_once(trial.study, params, {**kept, "retry_of": trial.number, "retries": retries + counted})
        return Requeued.QUEUED if queued else Requeued.WAITING
    return Requeued.REFUSED


__all__ = [
    "CARRIED",
    "CARRIED_PREFIXES",
    "DRAWN_MARK",
    "FAIL_KIND_ATTR",
    "KILLED",
    "LAPSED_COPY",
    "MAX_RETRY",
    "RETRY_ATTR",
    "Requeued",
    "candidate_params",
    "carried",
    "cut_draw",
    "cut_short",
    "enqueue_once",
    "mark_drawn",
    "requeued",
    "requeued_if_interrupted",
    "retries_of",
]
