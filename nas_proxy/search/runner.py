"""Running a search: the Optuna objective, worker processes, and scoring a list of specs.

``search`` creates or resumes a study and runs ``workers`` processes on it; ``worker`` joins an
existing study from any machine that reaches its storage; ``score`` scores specs without a study.
The objective scores every candidate with the study's proxy, a member of the proxy registry
(:mod:`nas_proxy.search.target`): one path for every kind.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from nas_proxy import checks, configs, interrupts
from nas_proxy.data.registry import read_once
from nas_proxy.errors import InvalidArgumentError, NasProxyError, shown
from nas_proxy.files import check_writable
from nas_proxy.ladders import FULL
from nas_proxy.progress import Meter
from nas_proxy.protocols import DataRef, resolve_root
from nas_proxy.proxies import Scored
from nas_proxy.search import ladder as ladders
from nas_proxy.search.config import SearchConfig
from nas_proxy.search.dashboard import attach_study_extras, save_curve_note
from nas_proxy.search.ladder import Rungs, climb_trial, rung_of
from nas_proxy.search.promotion import DEFAULT_EPOCHS
from nas_proxy.search.promotion import check as check_promotion
from nas_proxy.search.promotion import check_used as check_promotion_used
from nas_proxy.search.promotion import promote as promote_best
from nas_proxy.search.repeats import Reaper, answer, answer_given_up, given_up_before, scored_before, trained_elsewhere
from nas_proxy.search.retry import (
    BEFORE,
    FAIL_KIND_ATTR,
    OURS,
    THEIRS,
    UNBUILDABLE,
    UNBUILT,
    recording_kind,
    retried_since,
    retry_failed,
    whose,
)
from nas_proxy.search.study import ATTR, DRAWN_ATTR, REPEAT_ATTR, check_before, create_or_check, export, ranked, recorded_set, trial_summary
from nas_proxy.search.target import SearchProxy, check_options_used, open_proxy
from nas_proxy.spaces import SearchSpace, arch_id, get_space
from nas_proxy.studies import processes
from nas_proxy.studies.budget import BUDGET_ATTR, budget_held, counted, over_budget, uncounted
from nas_proxy.studies.guarded import Guarded, recording_failure, unmasked
from nas_proxy.studies.identity import START_ATTR, WORKER_KEYS, born_tagged, worker_tag
from nas_proxy.studies.journal_beat import BeatingJournal
from nas_proxy.studies.kinds import StudyNotFoundError, WorkerOptions
from nas_proxy.studies.repair import fail_dead_trials, given_up
from nas_proxy.studies.requeue import requeued_if_interrupted
from nas_proxy.studies.storage import (
    GRACE_SECONDS,
    HEARTBEAT_SECONDS,
    Storage,
    artifact_dir,
    check_writable_storage,
    default_storage_url,
    open_storage,
    storage_file,
    study_dir,
)
from nas_proxy.studies.workers import WorkerProcess, check_heartbeat, exit_words, worker_processes
from nas_proxy.trainers.fulldata import check_images, protocol_batch
from nas_proxy.trainers.synthetic_set import count_flops, count_params, ready_to_count_flops

POLL_SECONDS = 1.0  # how often a worker whose budget is held by other workers' running trials looks again


class BudgetReachedError(NasProxyError):
    """Raised inside a trial that another worker's trial already pushed past the budget."""


SEARCH_AGAIN = "run the same command again to continue"  # the remedy of a search whose budget was not met (SearchResult.unmet)


@dataclass
class SearchResult:
    study: str
    storage: str
    trials: dict[str, int]  # state -> count
    best: list[dict[str, Any]]  # best first (Pareto front first with several objectives)
    files: dict[str, str]
    seconds: float
    # why the run ended before its budget counted, if it did (the cause alone), and what to do then: apart, so that a
    # caller words its own line (run's), where before stop 54 it cut the remedy off the text
    unmet_cause: str | None = None
    unmet_remedy: str | None = None
    promotion: dict[str, Any] | None = None  # with --promote: Promotion.to_dict(), its rows best by real validation first
    ladder: dict[str, Any] | None = None  # with --ladder: ladder.summary(), per rung planned and trained, the top rung's rows
    repeats: int = 0  # trials that proposed an architecture the study had already scored (answered from it, not trained)
    # candidates whose worker died on every try (MAX_RETRY retries; out of memory, say): failed for good, never trained
    given_up: list[dict[str, Any]] = field(default_factory=list)
    # worker processes this search started that ended with an error (kill -9, a crash): index, pid, how, in words, and
    # the error line the worker handed over ("said", empty when none)
    worker_deaths: list[dict[str, Any]] = field(default_factory=list)
    metric: str = "val_accuracy"  # what the first objective's values are: the study's metric name (a training-free proxy's own)
    # the failed trials whose architectures this command queued again, once each, or whose retry it queued again after
    # the retry's worker died (nas_proxy.search.retry.retried_since)
    retried: list[int] = field(default_factory=list)
    # the storage the search opened (after its checks), for a caller that goes on with the study: never in to_dict
    opened: Storage | None = field(default=None, repr=False, compare=False)

    @property
    def unmet(self) -> str | None:
        """Why the run ended before its budget counted and what to do, in one line (the CLI's); None when it did not."""
        if self.unmet_cause is None:
            return None
        return f"{self.unmet_cause}; {self.unmet_remedy}" if self.unmet_remedy else self.unmet_cause

    def to_dict(self) -> dict[str, Any]:
        """The result as --json shows it: ``unmet`` the one line (as before its cause and remedy were apart)."""
        shown: dict[str, Any] = {}
        for k, v in self.__dict__.items():
            if k == "unmet_cause":
                shown["unmet"] = self.unmet
            elif k not in ("opened", "unmet_remedy"):
                shown[k] = v
        return shown


def check_compatible(space: SearchSpace, target: SearchProxy, name: str) -> None:
    """Refuse a space that cannot build even its first candidate for the search's images."""
    probe = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    spec = space.sample(probe)
    c, h, w = target.input_shape
    images = "the synthetic set's" if target.synthetic else f"{target.setup.data.dataset}'s"
    try:
        target.build(space, spec)
    except (NasProxyError, RuntimeError, ValueError) as e:
        raise InvalidArgumentError(
            f"space {name!r} cannot build networks for {images} {c}x{h}x{w} images ({' '.join(str(e).split())[:200]})"
        ) from None


ENUMERATE_MAX = 1000  # spaces of at most this many architectures are checked whole against --max-params before a search


def check_max_params(space: SearchSpace, max_params: int | None, channels: int, num_classes: int, image_size: tuple[int, int]) -> None:
    """Refuse a ``max_params`` that every architecture of ``space`` exceeds on these images (every
    trial would be skipped, and the search would end with no candidate). Spaces larger than
    :data:`ENUMERATE_MAX` are not checked (counting every network would take longer than a trial)."""
    if max_params is None:
        return
    counts = []
    for spec in space.specs(ENUMERATE_MAX) or []:
        try:
            with torch.device("meta"):  # shapes only: no memory, no initialisation
                counts.append(count_params(space.build(spec, channels, num_classes, image_size)))
        except (NasProxyError, RuntimeError, ValueError):
            continue  # unbuildable on these images: a trial fails it anyway
    if counts and min(counts) > max_params:
        raise InvalidArgumentError(
            f"--max-params {max_params} excludes every architecture of space {space.name!r} (the smallest has {min(counts):,} "
            f"parameters on {channels}x{image_size[0]}x{image_size[1]} images); raise it or leave it out"
        )


def make_objective(
    config: SearchConfig,
    target: SearchProxy,
    space: SearchSpace,
    total: int,
    rungs: Rungs | None = None,
    reap: Reaper | None = None,
) -> Guarded[float | tuple[float, ...]]:
    """The function Optuna calls for every trial (claiming it first, see :class:`Guarded`): the
    candidate scored by the study's proxy. A proxy that reports intermediate values (a synthetic
    set's, every ``report_every`` epochs) can be pruned; early stopping and the training-free
    scores report none, so a pruner never stops them. ``rungs``: a ladder's upper rungs, which
    score the climbers it queues (:mod:`nas_proxy.search.ladder`). A candidate the study already
    scored is answered from it; one that another worker is training is waited for, where ``reap``
    (which fails the trials of dead workers) is given (:mod:`nas_proxy.search.repeats`)."""
    multi = len(config.objectives) > 1

    def objective(trial: optuna.Trial) -> float | tuple[float, ...]:
        with requeued_if_interrupted(trial):  # a Ctrl-C held while this trial was asked for: a queued copy stays queued
            interrupts.check()
        if rungs is not None and rung_of(trial) > 0:
            with recording_failure(trial):
                return climb_trial(trial, space, rungs)
        if over_budget(trial.study, trial.number, total):
            trial.set_user_attr("fail_reason", f"the budget of {total} trials was reached by other workers")
            trial.set_user_attr("beyond_budget", True)
            trial.study.stop()
            raise BudgetReachedError(f"trial {trial.number} is beyond the budget of {total}")
        spec = space.sample(trial)
        aid = arch_id(spec)
        trial.set_user_attr(DRAWN_ATTR, aid)  # the spec is the trial's parameters (search.study.spec_of checks them against it)
        trial.set_user_attr("proxy", target.name)
        earlier = scored_before(trial.study, aid, trial.number) or trained_elsewhere(trial, aid, reap)
        if earlier is not None:  # samplers propose a candidate again (TPE often does): its score is in the study
            return answer(trial, earlier, config)
        gave_up = given_up_before(trial.study, aid, trial.number)
        if gave_up is not None:  # it killed its worker on every try: not three times more
            answer_given_up(trial, gave_up)
        try:
            model = target.build(space, spec)
        except (NasProxyError, RuntimeError, ValueError) as e:
            trial.set_user_attr("fail_reason", f"{UNBUILDABLE}: {' '.join(str(e).split())[:300]}")
            trial.set_user_attr(FAIL_KIND_ATTR, UNBUILT)
            raise
        params = count_params(model)
        trial.set_user_attr("params", params)
        if config.max_params is not None:
            trial.set_constraint("params", params - config.max_params)
            if params > config.max_params:
                trial.set_user_attr("skipped", f"{params} parameters > --max-params {config.max_params}")
                raise optuna.TrialPruned(f"{params} parameters > --max-params {config.max_params}")

        def report(step: int, value: float) -> None:
            if not multi:  # Optuna has no intermediate values for several objectives
                with interrupts.deferred():  # storage calls inside the training
                    trial.report(value, step)
                    prune = trial.should_prune()  # the proxy reports before its last value only
                if prune:
                    raise optuna.TrialPruned(f"pruned at step {step} ({value:.2f})")

        with recording_failure(trial), recording_kind(trial), requeued_if_interrupted(trial), interrupts.interruptible():
            scored = target.score(spec, aid, report)
        flops = count_flops(model, torch.zeros((1, *target.input_shape)))
        _record(trial, scored, flops, target, config)
        if rungs is not None:  # rung 0 of a ladder: the same scalars as every rung's
            for key, value in (("rung", 0), ("rung0_score", scored.value), ("rung0_seconds", round(scored.seconds, 3))):
                trial.set_user_attr(key, value)
        values = {"accuracy": scored.value, "params": float(params), "flops": float(flops)}
        return tuple(values[o] for o in config.objectives) if multi else values["accuracy"]

    return Guarded(objective)


def _record(trial: optuna.Trial, scored: Scored, flops: int, target: SearchProxy, config: SearchConfig) -> None:
    """The trial's attributes: its cost, what the proxy tells of the scoring, the seed and device;
    the proxy's last curve point as the final intermediate value (a note with several objectives)."""
    attrs = {
        "flops": flops,
        "proxy_seconds": round(scored.seconds, 3),
        **scored.details,  # a set's: seconds by phase, the curve, synthetic_sha256, seed scores (scalars, see Scored)
        "seed": config.seed,
        "device": str(target.device),
    }
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
    if not scored.curve:
        return
    if len(config.objectives) > 1:  # no intermediate values there: show the curve as a note
        save_curve_note(trial, scored.curve)
    else:
        with interrupts.deferred():
            step, value = scored.curve[-1]
            trial.report(value, step)  # the final point: reported, never pruned on


def run_worker(
    config: SearchConfig,
    study_name: str,
    opened: Storage,
    total: int,
    timeout: float | None = None,
    worker_index: int = 0,
    progress: bool = False,
    target: SearchProxy | None = None,
) -> None:
    """Run trials on the study in ``opened`` until ``total`` trials count (complete or pruned),
    ``timeout`` passes, or this worker has started ``total`` trials (a space whose trials all fail ends).

    Trials of dead workers are failed and retried. While the rest of the budget is held by other
    workers' running trials, the worker waits for them to finish or to be found dead (after the
    heartbeat grace period ``opened`` was opened with, for workers no process can judge by their process).
    """
    storage = opened.backend
    # a trial records this worker as it is made (a journal in its record, a database in its transaction): none left without it
    born_tagged(storage)
    space = get_space(config.space)
    if target is None:  # a worker joining the study: checked against it before a random subset is drawn (before fix52b, a
        with read_once():  # worker on a study whose images changed since drew its subset again, then was refused for them)
            target = open_proxy(config, opened.workdir(study_name), prepare=False)
            check_before(storage, study_name, config, target.known(space))
            ladders.check_joined(storage, study_name, config, target, opened.workdir(study_name))
            target.proxy.prepare()
            target.proxy.ready()  # what its first score loads, from the data read here (before review53: read again then)
            ready_to_count_flops(space)  # as search's own workers: a joining worker had it from the proxy's context before perf54b
    seed = config.seed + worker_index
    with interrupts.deferred():
        study = create_or_check(storage, study_name, config, target.fingerprint(space), seed)
        fail_dead_trials(study, storage)
    ladder = ladders.stored(study) if config.ladder else None
    rungs = None if ladder is None else Rungs(config, target, opened.workdir(study_name), ladder)
    if counted(study) >= total and ladder is None:
        return
    bar = Meter(f"search {study_name}", total, counted(study), unit="trial", enabled=progress)
    started = 0  # trials this worker ran within the budget

    def tick(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        nonlocal started
        started += not trial.user_attrs.get("beyond_budget") and not uncounted(trial)
        fail_dead_trials(study, storage)  # between trials: re-queue what dead workers left
        if counted(study) >= total or budget_held(study, total):  # done; or wait outside optimize rather than start a trial beyond it
            study.stop()
        if trial.state == TrialState.FAIL and not trial.user_attrs.get("beyond_budget"):
            reason = trial.user_attrs.get("fail_reason") or trial.system_attrs.get("fail_reason", "unknown error")
            bar.write(f"trial {trial.number} failed: {' '.join(str(reason).split())[:300]}")
        bar.set(counted(study), f"last={trial.values[0]:.2f}" if trial.state == TrialState.COMPLETE and trial.values else None)
        interrupts.check()  # a safe point: the trial is stored

    objective = make_objective(config, target, space, total, rungs, lambda s: fail_dead_trials(s, storage))
    deadline = None if timeout is None else time.monotonic() + timeout
    told = False
    try:
        with interrupts.deferred():  # SIGINT raises in the training and between trials, never inside ask/tell
            while counted(study) < total and started < total:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                fail_dead_trials(study, storage)
                if budget_held(study, total):
                    if not told:
                        bar.write(f"waiting for trials running in other workers (retried if their worker dies{_judged_within(storage)})")
                        told = True
                    with interrupts.interruptible():
                        time.sleep(POLL_SECONDS)
                    continue
                with unmasked(objective):
                    study.optimize(objective, n_trials=total - started, timeout=left, catch=(Exception,), callbacks=[tick])
                objective.raise_stop()  # a full disk: stop here, not fail every later trial
    finally:
        bar.close()
    if ladder is not None and counted(study) >= total:  # rung 0 met its budget: the rungs above, with the other workers
        ladders.climb(study, storage, ladder, space, objective, progress, deadline)


def _not_another_study(out: Path, study: str, searched: bool = False) -> None:
    """Refuse an ``--out`` folder whose best.json is another study's: before probe44b, search --study s3 --out studies
    (or --out studies/s2) replaced study s2's best.json, trials.csv and config.toml there with its own, exit 0.
    ``searched``: asked again as the search ends, before it writes there (another study's search may have written its
    results there meanwhile; the trials are kept in this study's storage)."""
    best = out / "best.json"
    try:
        mode = best.stat().st_mode
    except OSError:  # none: judged as before
        return
    checks.regular_file(  # before probe54, read: a FIFO there hung the search (the same command, resumed)
        mode, lambda what: f"--out {out} holds best.json, which is {what}, not a search's results; give a folder of its own"
    )
    try:
        found = checks.read_json("--out", best).get("study")
    except (InvalidArgumentError, ValueError, AttributeError):  # unreadable, or not an export of search: judged as before
        return
    if isinstance(found, str) and found != study:
        raise InvalidArgumentError(
            f"--out {out} holds the results of study {found!r} (best.json, trials.csv), which this search would replace; "
            f"give study {study!r} a folder of its own, such as {study_dir(study)} (the default)"
            + (
                f"; written there while this search ran, and nothing of this one was: its trials are kept in study {study!r}, and the "
                "same command with another --out writes them there without training again"
                if searched
                else ""
            )
        )


def search(
    config: SearchConfig,
    study_name: str,
    n_trials: int,
    storage: Storage | str | None = None,
    timeout: float | None = configs.SearchBudget.timeout,
    workers: int = configs.SearchBudget.workers,
    out: Path | None = None,
    progress: bool = False,  # the library is silent unless asked; the CLI asks
    heartbeat: tuple[int, int] = (HEARTBEAT_SECONDS, GRACE_SECONDS),
    promote: int = 0,
    promote_epochs: int | None = None,
    promote_images: int | None = None,
    promote_protocol: str | None = None,
    proxy_options: Collection[str] | None = None,
    check_data: Callable[[DataRef, str], None] | None = None,
) -> SearchResult:
    """Create or resume study ``study_name`` and run ``workers`` processes until ``n_trials`` count.

    ``storage``: the storage a caller opened (:func:`~nas_proxy.studies.storage.open_storage`), or
    the URL to open once here, after every check (None: ``studies/STUDY/journal.log``); the result's
    ``opened`` is the storage the search ran on, either way.
    ``heartbeat``: (interval, grace period) in seconds of heartbeats (a database's; a journal's files,
    :mod:`~nas_proxy.studies.journal_beat`); a trial without a heartbeat for the grace period is failed
    and retried. ``SearchResult.unmet`` says why, when the run ended before ``n_trials`` counted. ``promote``: then train the best ``promote``
    distinct candidates for ``promote_epochs`` on real data (``promote_images`` of the training split;
    None: all of it) with the real-data protocol named ``promote_protocol``
    (:data:`~nas_proxy.protocols.TRAINING_PROTOCOLS`; None: the ground truth's), see :mod:`nas_proxy.search.promotion`.
    ``proxy_options``: the fields of ``config.proxy`` the user set (None: every one off its default); those
    that change nothing for the search's proxies are refused, as is a pruner its first proxy cannot use.
    ``check_data``: called with the real data and its content_sha256 once it is loaded, before anything is drawn, trained
    or made; it raises to refuse them (the CLI's: ``--proxy-profile``'s, :func:`~nas_proxy.cli.proxy_options.profile_data_check`)."""
    config.validate()
    check_promotion_used(promote, promote_epochs, promote_images, config.ladder, promote_protocol)
    promote_epochs = DEFAULT_EPOCHS if promote_epochs is None else promote_epochs
    check_promotion(promote, promote_epochs, promote_images, promote_protocol)
    ladder = None
    if config.ladder is not None:  # its first rung is the search's proxy; --promote-epochs/-images: its full rung's protocol
        if promote:
            raise InvalidArgumentError(f"--promote {promote} and --ladder both promote; the ladder's last rung, 'full:K', is its promotion")
        ladder = ladders.plan(config, n_trials, promote_epochs, promote_images, promote_protocol)
        config.proxy_name = ladder.rungs[0].proxy
    study_dir(study_name)  # a plain name: it names a directory
    if n_trials < 1 or workers < 1:
        raise InvalidArgumentError(f"--n-trials and --workers must be at least 1, got {n_trials} and {workers}")
    checks.count("--n-trials", n_trials, checks.TRIALS_MAX, checks.TRIALS_WHY)
    checks.count("--workers", workers, checks.WORKERS_MAX, checks.WORKERS_WHY)
    checks.number("timeout", timeout, 0, low_open=True, optional=True)
    storage_url = storage.url if isinstance(storage, Storage) else storage or default_storage_url(study_name)
    if workers > 1 and storage_url.partition(":")[0].split("+")[0] == "sqlite":  # sqlite+pysqlite too; refused before the file is made
        raise InvalidArgumentError(
            "SQLite cannot take several writing processes ('database is locked'): use the default journal file or a database URL"
        )
    where = artifact_dir(storage_url, study_name)  # the artifacts; their parent holds what the proxy makes
    check_writable(out or study_dir(study_name))  # refused before the study is made (a journal left behind)
    check_writable_storage(storage_url, study_name)  # before the artifacts beside it: a journal that cannot be is the cause
    check_writable(where)
    if out is not None and out.exists() and not out.is_dir():
        raise InvalidArgumentError(f"--out {out} is {checks.file_kind(out)}; give a directory for trials.csv and best.json")
    if out is not None:
        checks.not_a_synthetic_set("--out", out)
        _not_another_study(out, study_name)
    configs.check_saved("--out", out or study_dir(study_name), "search")  # a correlation's folder: its config.toml
    check_heartbeat(heartbeat)
    t0, begun = time.perf_counter(), time.monotonic()  # seconds reported; the --timeout's clock (the workers')
    space = get_space(config.space)
    tokens: list[str | None] = [r.proxy for r in ladder.rungs if r.proxy != FULL] if ladder is not None else [config.proxy_name]
    with read_once(), checks.caps_held() as caps:  # the data read once: checked against the study, then a random subset drawn
        # from it, then scored on; a batch its settings cap is said once the study is made (not before a refusal: fix61a)
        target = open_proxy(config, where.parent, prepare=False)  # resolved: nothing made before the checks on its images
        # before anything is made; the search's proxy as resolved above (a set's: not read again, fix55a)
        check_options_used(config, tokens, proxy_options, None if ladder is not None else target.proxy)
        check_compatible(space, target, config.space)
        c, h, w = target.input_shape
        check_max_params(space, config.max_params, c, target.num_classes, (h, w))
        check_images(target.setup.data, promote_images, "--promote-images")  # the promotion's or the ladder's full rung's
        if promote or (ladder is not None and any(r.proxy == FULL for r in ladder.rungs)):  # their protocol's batch capped to
            # those images, said with the others (fix62b)
            protocol_batch(target.setup.data, promote_protocol, promote_images, "--promote-protocol", "--promote-images")
        if check_data is not None:  # the data loaded, not its name: before fix53e a profile's digest was not compared
            check_data(target.setup.data, target.setup.content_sha256())
        early = storage if isinstance(storage, Storage) else None  # an existing study's other settings: refused before prepare
        # a journal or SQLite file that is there (one that is not holds no study: not made before the checks), or a server's
        if early is None and ((file := storage_file(storage_url)) is None or file.is_file()):  # (before fix52b, journals only)
            early = open_storage(storage_url, study_name, *heartbeat)
        if early is not None:  # its data too: before fix52b a random subset was drawn again from images changed since, then
            check_before(early.backend, study_name, config, target.known(space))  # the study was refused for them
        rungs = None if ladder is None else Rungs(config, target, where.parent, ladder)
        if rungs is not None:
            rungs.check()  # every rung's, before rung 0 draws its random subset
        target.proxy.prepare()  # a random subset is made here, before the workers start
        target.proxy.ready()  # its real data loaded and checked before a study is made (worker 0 below scores with it)
        ready_to_count_flops(
            space
        )  # every trial counts FLOPs: a space's own count, or torch's one-off import here, not in trial 1's Ctrl-C
        if rungs is not None:
            rungs.prepare()  # every rung's scorer (its random subset), before a study is made
    opened = early or open_storage(storage_url, study_name, *heartbeat)
    url = opened.url
    with interrupts.deferred():
        study = create_or_check(
            opened.backend, study_name, config, target.fingerprint(space), config.seed
        )  # before workers race to create it
        if ladder is not None:
            ladders.record(study, ladder)  # or refuse another, before anything trains
        if study.user_attrs.get(BUDGET_ATTR) != n_trials:  # the same command again adds nothing to the journal
            study.set_user_attr(BUDGET_ATTR, n_trials)
        first = len(study.get_trials(deepcopy=False))  # the trials made before this command (their failures are not its)
        # but for those queued before it (a killed command's retries, a Ctrl-C's copy, a stopped retry's copy), which this
        # command trains
        queued = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,))}
        retry_failed(study, n_trials)  # each architecture that only failed, once more, first in line
        attach_study_extras(study, target, config, opened)
    caps.say()
    options = [
        WorkerOptions(n_trials, timeout, k, config.synthetic, config.device, False, config.data_root, heartbeat) for k in range(1, workers)
    ]
    with worker_processes(study_name, url, options) as children:
        ours = _processes(children)  # read while the workers are there to read
        run_worker(config, study_name, opened, n_trials, timeout, 0, progress, target)
    deaths = [
        {"worker": k, "pid": c.pid, "returncode": c.returncode, "how": exit_words(c.returncode), "said": c.said, "ended": c.ended(k)}
        for k, c in enumerate(children, 1)
        if c.returncode
    ]
    study = optuna.load_study(study_name=study_name, storage=opened.backend)
    fail_dead_trials(study, opened.backend)  # a worker killed after this process's last trial
    states = _states(study, len(deaths))
    timed_out = timeout is not None and time.monotonic() - begun >= timeout
    unmet = _unmet(study, n_trials, states, timed_out, first, queued, ours)
    promotion = None
    if promote and unmet is None:  # the K best of the whole budget, not of what happened to finish
        promotion = promote_best(
            study,
            opened,
            target.setup.data,
            config.seed,
            promote,
            promote_epochs,
            workers,
            config.device,
            config.data_root,
            progress,
            promote_images,
            promote_protocol,
        )
    climbed = ladders.summary(study, ladder) if ladder is not None else None
    if climbed is not None and unmet is None and any(r["trained"] < r["planned"] for r in climbed["rungs"]):
        short = ", ".join(
            f"rung {r['rung']} ({r['proxy']}) {r['trained']} of {r['planned']}" for r in climbed["rungs"] if r["trained"] < r["planned"]
        )
        why = " (the --timeout passed)" if timed_out else ""
        unmet = f"the ladder did not finish{why}: {short} trained"
    promoted = promotion.rows if promotion else climbed["rows"] if climbed else None
    if out is not None:  # before probe49 two searches of two studies started at once on one --out both wrote it, exit 0 each
        _not_another_study(out, study_name, searched=True)
    files = export(study, out or study_dir(study_name), target.dataset_facts(), promoted)
    best = [trial_summary(t, space) for t in ranked(study)[:10]]  # the space of config, the study's
    seconds = time.perf_counter() - t0
    return SearchResult(
        study_name,
        url,
        states,
        best,
        {k: str(v) for k, v in files.items()},
        seconds,
        unmet,
        None if unmet is None else SEARCH_AGAIN,
        promotion.to_dict() if promotion else None,
        climbed,
        sum(REPEAT_ATTR in t.user_attrs and not uncounted(t) for t in study.get_trials(deepcopy=False)),  # proposals only
        _given_up(study),
        deaths,
        study.metric_names[0] if study.metric_names else "val_accuracy",
        retried_since(study, first, queued, ours),  # queued above; a retry whose worker died or that was stopped, queued again (fix57)
        opened,
    )


def _states(study: optuna.Study, worker_errors: int) -> dict[str, int]:
    """Trial counts by state (``beyond_budget`` and ``uncounted`` apart: a retry answered by another trial's
    score holds no slot, so it is not among the ``complete`` of the budget), and ``worker_errors`` when worker
    processes failed."""
    states: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        state = "beyond_budget" if t.user_attrs.get("beyond_budget") else "uncounted" if uncounted(t) else t.state.name.lower()
        states[state] = states.get(state, 0) + 1
    if worker_errors:
        states["worker_errors"] = worker_errors
    return states


def _judged_within(storage: BaseStorage) -> str:
    """How long a worker this process cannot judge by its process may take to be found dead, in words: on a
    journal, its heartbeat file unchanged for up to the grace period seen from here (the clock-jump guard:
    :mod:`~nas_proxy.studies.journal_beat`); on a database, Optuna's grace period."""
    grace = storage.grace if isinstance(storage, BeatingJournal) else getattr(storage, "grace_period", None)
    return f"; one on another host or pid namespace after up to {grace} s without a heartbeat" if grace else ""


def _given_up(study: optuna.Study) -> list[dict[str, Any]]:
    """The candidates whose worker died on every try: their last trial, failed for good (repair.given_up)."""
    return [
        {"trial": t.number, "arch_id": t.user_attrs.get("arch_id"), "params": t.params, "reason": t.user_attrs["fail_reason"]}
        for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
        if given_up(t)
    ]


def _processes(children: Sequence[WorkerProcess]) -> list[dict[str, Any]]:
    """This command's processes as the trials they train name them (:func:`~nas_proxy.studies.identity.worker_tag`'s
    host, process id and start): this one and its worker ``children``, read while they are there (not yet waited for; a
    start that could not be read, of a worker already ended and reaped by another process, is left out and not compared)."""
    me = {k: v for k, v in worker_tag().items() if k in WORKER_KEYS}
    children_tags = ({**me, "worker_pid": c.pid, START_ATTR: processes.process_start(c.pid)} for c in children)
    return [me, *({k: v for k, v in tag.items() if v is not None} for tag in children_tags)]


def _unmet(
    study: optuna.Study,
    n_trials: int,
    states: dict[str, int],
    timed_out: bool,
    first: int = 0,
    queued: Collection[int] = (),
    ours: Sequence[Mapping[str, Any]] | None = None,
) -> str | None:
    """Why fewer than ``n_trials`` trials count (the cause, without the remedy), or None when they all do. A failure is
    this command's where it is numbered from ``first`` (this command's first trial) or was among the trials ``queued``
    before it (a killed command's retries, which it takes up: before review57 their failures here were 'no reason
    recorded'), and one of ``ours`` (:func:`_processes`) trained it (or it names no worker). The failures before it spent
    no trial this command's workers started (before stop 56 a search whose retries of 3 failed architectures failed
    again said "6 trials failed"); those that other commands' processes trained meanwhile (a queued trial a concurrent
    command took, a trial it made) are theirs (before fix59, counted as this command's)."""
    done = counted(study)
    if done >= n_trials:
        return None
    by = {BEFORE: 0, OURS: 0, THEIRS: 0}
    for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        if not (t.user_attrs.get("beyond_budget") or uncounted(t)):
            by[whose(t, first, queued, ours)] += 1
    here, before, elsewhere = by[OURS], by[BEFORE], by[THEIRS]
    also = (f", {before} more before it" if before else "") + (f", {elsewhere} more by other commands meanwhile" if elsewhere else "")
    why = (
        [f"{here} trials failed{' in this command' if also else ''}{also} (each worker starts at most --n-trials trials)"]
        if here or elsewhere
        else []
    )
    why += ["the --timeout passed"] if timed_out else []
    why += [f"{states['worker_errors']} worker processes exited with an error"] if states.get("worker_errors") else []
    why += [f"{states['running']} trials are still running elsewhere"] if states.get("running") else []
    return f"the budget of {n_trials} trials was not met: {done} count ({'; '.join(why) or 'no reason recorded'})"


def join(
    study_name: str,
    storage_url: str,
    n_trials: int | None = None,
    timeout: float | None = None,
    worker_index: int = 0,
    synthetic: str | None = None,
    device: str | None = None,
    progress: bool = False,  # the library is silent unless asked; the CLI asks
    data_root: str | None = None,
    heartbeat: tuple[int, int] = (HEARTBEAT_SECONDS, GRACE_SECONDS),
) -> None:
    """``nasproxy worker``: join an existing study of any kind (a search, a correlation's ground
    truth, a promotion) with the configuration stored in it; ``synthetic``, ``device`` and
    ``data_root`` say where things are on this machine. Without ``n_trials``, a search worker aims
    for the last ``search``'s budget. (:func:`nas_proxy.studies.join` with these as options.)"""
    from nas_proxy.studies.workers import join as join_study

    join_study(study_name, storage_url, WorkerOptions(n_trials, timeout, worker_index, synthetic, device, progress, data_root, heartbeat))


def _work(study: optuna.Study, opened: Storage, options: WorkerOptions) -> None:
    """A search worker: the stored configuration, with this machine's paths and device."""
    stored = study.user_attrs.get(ATTR)
    if not isinstance(stored, dict) or not isinstance(stored.get("config"), dict):  # a study whose user attributes were edited
        raise StudyNotFoundError(f"study {study.study_name!r} records no search settings: it was not made by nasproxy search")
    config = SearchConfig.from_dict(stored["config"])
    # the same images at another path on this machine (checked by hash)
    config.synthetic = options.synthetic or recorded_set(study.study_name, config.synthetic)
    config.device = options.device or config.device
    config.data_root = resolve_root(config.dataset or "", options.data_root, config.data_root)
    total = options.n_trials if options.n_trials is not None else _stored_budget(study)
    run_worker(config, study.study_name, opened, total, options.timeout, options.worker_index, options.progress)


def _stored_budget(study: optuna.Study) -> int:
    """The --n-trials of the last search on ``study`` (no record: no limit)."""
    budget = study.user_attrs.get(BUDGET_ATTR)
    if budget is None:
        return int(1e9)
    if isinstance(budget, bool) or not isinstance(budget, int) or not 1 <= budget <= checks.INT_MAX:
        raise InvalidArgumentError(
            f"study {study.study_name!r} records a budget of {shown(budget)} trials, not a count of at least 1 "
            "(its user attributes were edited); give the worker --n-trials"
        )
    return budget


__all__ = ["SearchResult", "join", "search"]
