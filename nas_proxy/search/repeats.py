"""A candidate proposed again is never trained twice.

Samplers propose an architecture the study has already scored (TPE does in about a fifth of a
100-trial search, ``benchmarks/RESULTS.md`` §18), and with several workers two of them can propose
the same one while it trains. A trial whose architecture was scored takes that score
(:func:`scored_before`, :func:`answer`); one whose architecture an earlier trial is training in
another worker waits for it (:func:`trained_elsewhere`) and then takes its score, or trains it
itself when that worker dies (a trial that found none to wait for records that it trains it, so that a lower one
that recorded its architecture a moment later waits for it, as the higher waits for the lower); one whose architecture was given up (its worker died on every try)
is pruned (:func:`given_up_before`, :func:`answer_given_up`). A trial waits only for a trial of a
lower number, so two never wait for each other.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import optuna
from optuna.storages import BaseStorage
from optuna.storages._heartbeat import is_heartbeat_enabled
from optuna.trial import FrozenTrial, TrialState

from nas_proxy import interrupts
from nas_proxy.search.config import SearchConfig
from nas_proxy.search.ladder import rung_of
from nas_proxy.search.study import REPEAT_ATTR
from nas_proxy.studies.budget import UNCOUNTED_ATTR
from nas_proxy.studies.identity import WORKER_ATTRS
from nas_proxy.studies.journal_beat import BEAT_ATTR, BeatingJournal
from nas_proxy.studies.repair import given_up
from nas_proxy.studies.requeue import RETRY_ATTR

POLL_SECONDS = 1.0  # how often a trial waiting for the same architecture in another worker looks again
WAITING_ATTR = "waiting_for"  # a trial that waited for another training the same architecture: that trial's number
TRAINS_ATTR = "trains_architecture"  # a trial that found no other training its architecture: it trains it
UNDECIDED_POLL_SECONDS = 0.05  # how often a trial looks again at a later one of its architecture still deciding

Reaper = Callable[[optuna.Study], object]  # fails (and re-queues) the RUNNING trials of dead workers


def _same(t: FrozenTrial, aid: str, number: int) -> bool:
    """Whether ``t`` is another rung-0 scoring of architecture ``aid`` (not itself a repeat)."""
    return t.number != number and rung_of(t) == 0 and t.user_attrs.get("arch_id") == aid and REPEAT_ATTR not in t.user_attrs


def scored_before(study: optuna.Study, aid: str, number: int) -> FrozenTrial | None:
    """The first trial other than ``number`` whose proxy finished scoring architecture ``aid``
    (complete, or pruned), or None: a failed one is tried again."""
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        if _same(t, aid, number):
            return t
    return None


def given_up_before(study: optuna.Study, aid: str, number: int) -> FrozenTrial | None:
    """The trial that gave architecture ``aid`` up (its worker died on every try, ``repair.given_up``),
    or None: a repeat of it is pruned without training (:func:`answer_given_up`), not tried three times more."""
    for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        if _same(t, aid, number) and given_up(t):
            return t
    return None


def _watched(t: FrozenTrial, storage: BaseStorage) -> bool:
    """Whether the death of ``t``'s worker would be noticed: on this host by its process, elsewhere by
    the storage's heartbeat: a database's, or a journal's where ``t`` names its worker's heartbeat file (one
    recorded before stop 44 names none: on another host, never waited for)."""
    if is_heartbeat_enabled(storage) or t.user_attrs.get("worker_host") == socket.gethostname():
        return True
    return isinstance(storage, BeatingJournal) and BEAT_ATTR in t.user_attrs


def trained_elsewhere(trial: optuna.Trial, aid: str, reap: Reaper | None) -> FrozenTrial | None:
    """While a trial of a lower number than ``trial``'s trains ``aid`` (in another worker: this
    one runs one trial at a time), or a later one that found none to wait for, wait; then the trial that scored it, or None where none did
    (it failed, or its worker died: ``reap`` fails such trials, and ``trial`` trains the
    architecture itself). Without ``reap``, or for a worker whose death nothing would notice, no wait."""
    if reap is None:
        return None
    study, number = trial.study, trial.number
    storage = study._storage  # (a study keeps its storage there; Optuna has no public accessor)
    while True:
        others = [
            t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)) if _same(t, aid, number) and _watched(t, storage)
        ]
        # a later trial that looked before this one recorded its architecture saw none and trains it (drill43: two
        # searches of one seed drew a candidate at once as trials 5 and 6, and both trained it); one still
        # deciding is waited for briefly: it either waits for this one or trains
        training = [t for t in others if t.number < number or TRAINS_ATTR in t.user_attrs]
        deciding = [t for t in others if t.number > number and TRAINS_ATTR not in t.user_attrs and WAITING_ATTR not in t.user_attrs]
        if not training and not deciding:
            with interrupts.deferred():
                trial.set_user_attr(TRAINS_ATTR, True)
            return scored_before(study, aid, number)
        if training and WAITING_ATTR not in trial.user_attrs:
            with interrupts.deferred():
                trial.set_user_attr(WAITING_ATTR, training[0].number)  # the dashboard shows why it is idle
        with interrupts.interruptible():  # a Ctrl-C here fails this trial, which the next run retries
            time.sleep(POLL_SECONDS if training else UNDECIDED_POLL_SECONDS)
        reap(study)


def _scored_meanwhile(study: optuna.Study, retry_of: int, earlier: FrozenTrial) -> bool:
    """Whether ``earlier`` finished scoring after the first try of a retry (``retry_of``, followed back through
    its own ``retry_of``) started. Scored before that try started, the try itself would have been a repeat of
    ``earlier``, counted as any proposal is, had it not been stopped: the retry counts the same, so that the
    resumed search draws what the uninterrupted one does (drill46: a `run` killed -9 while its trial 1 drew TPE's
    repeat of trial 0 trained one more candidate than the same run uninterrupted, a slot freed for a fresh draw).

    Told without a clock where the study records the order (:func:`_order`), else by the trials' times, which are
    their workers' wall clocks (two hosts' where two workers ran them: minutes apart, the answer may be wrong, and
    the retry holds a slot it should not, or the reverse; nothing is trained twice either way). Where one is missing,
    meanwhile."""
    trials = study.get_trials(deepcopy=False)
    first = trials[retry_of] if 0 <= retry_of < len(trials) else None
    while first is not None and isinstance(back := first.user_attrs.get("retry_of"), int) and 0 <= back < first.number:
        first = trials[back]
    if first is None:
        return True
    known = _order(first, earlier)
    if known is not None:
        return known
    if first.datetime_start is None or earlier.datetime_complete is None:
        return True
    return earlier.datetime_complete > first.datetime_start


def _order(first: FrozenTrial, earlier: FrozenTrial) -> bool | None:
    """Whether ``earlier`` finished scoring after ``first`` started (after it looked for its candidate scored, which its
    start stands for), where the study tells it without a clock: ``first`` answered as ``earlier``'s repeat (it saw it
    scored: no); ``first`` looked for its candidate scored and found none (it then waited for another trial training
    it, or trained it itself: yes); or ``earlier`` was made after ``first``,
    which was made RUNNING, not queued (trial numbers are handed out by the storage in order: yes). None where none
    holds: ``earlier`` made before ``first``, which died before it looked. Before fix50b only the workers' clocks told,
    and a worker's an hour behind another's read a trial scored while the killed one trained as scored before it."""
    if first.user_attrs.get(REPEAT_ATTR) == earlier.number:
        return False
    looked = WAITING_ATTR in first.user_attrs or TRAINS_ATTR in first.user_attrs
    if looked and first.user_attrs.get("arch_id") == earlier.user_attrs.get("arch_id"):
        return True
    if earlier.number > first.number and "fixed_params" not in first.system_attrs:
        return True
    return None


# a repeat's own, or the history of the trial it repeats (a retry's mark: a proposal is no retry; fix57, as it is counted now)
_NOT_COPIED = (*WORKER_ATTRS, "retry_of", RETRY_ATTR, "fail_reason", WAITING_ATTR, TRAINS_ATTR, UNCOUNTED_ATTR)


def answer(trial: optuna.Trial, earlier: FrozenTrial, config: SearchConfig) -> float | tuple[float, ...]:
    """Trial ``trial`` proposed the architecture ``earlier`` scored: it gets ``earlier``'s outcome
    and records without training (the same values, or pruned as it was), so the sampler learns the
    same thing and nothing is trained twice. It counts as a trial of the budget, as any proposal does;
    but a retry (``retry_of``: a dead, interrupted or failed trial's queued copy, not a proposal) whose candidate
    ``earlier`` scored meanwhile (:func:`_scored_meanwhile`) holds no slot
    (:data:`~nas_proxy.studies.budget.UNCOUNTED_ATTR`): the budget draws a fresh candidate in its place."""
    if "retry_of" in trial.user_attrs and _scored_meanwhile(trial.study, trial.user_attrs["retry_of"], earlier):
        trial.set_user_attr(UNCOUNTED_ATTR, earlier.number)  # first: a worker that sees the repeat sees it frees its slot
    trial.set_user_attr(REPEAT_ATTR, earlier.number)
    for key, value in earlier.user_attrs.items():  # the score's records: not that trial's worker, history or seconds
        own = key in trial.user_attrs or key in _NOT_COPIED or "seconds" in key
        if not own and isinstance(value, (str, int, float, bool)):  # (a study's of the layout before: its JSON ``spec`` is not the score's)
            trial.set_user_attr(key, value)
    trial.set_user_attr("proxy_seconds", 0.0)
    if "rung0_score" in earlier.user_attrs:  # rung 0 of a ladder
        trial.set_user_attr("rung0_seconds", 0.0)
    params = earlier.user_attrs.get("params")
    if config.max_params is not None and params is not None:
        trial.set_constraint("params", params - config.max_params)
    if earlier.state == TrialState.PRUNED:
        if earlier.intermediate_values and len(config.objectives) == 1:  # where it stood when pruned, for the sampler
            step = max(earlier.intermediate_values)
            with interrupts.deferred():
                trial.report(earlier.intermediate_values[step], step)
        raise optuna.TrialPruned(f"trial {earlier.number} scored this architecture and was pruned")
    assert earlier.values is not None  # a complete trial has its values
    return tuple(earlier.values) if len(config.objectives) > 1 else earlier.values[0]


def answer_given_up(trial: optuna.Trial, gave_up: FrozenTrial) -> None:
    """Trial ``trial`` proposed the architecture ``gave_up`` gave up: pruned without training (it counts
    as a trial of the budget, as any repeat does, and the sampler learns it is not worth proposing)."""
    trial.set_user_attr(REPEAT_ATTR, gave_up.number)
    trial.set_user_attr("proxy_seconds", 0.0)
    raise optuna.TrialPruned(f"trial {gave_up.number} gave this architecture up: its worker died on every try")
