"""A multi-fidelity ladder climbed in one search study (``search --ladder``).

Rung 0 is the search itself: the sampler proposes ``--n-trials`` candidates and the first rung's
proxy scores each (pruning, budget and repairs as in any search). When every rung-0 trial has
finished, the best distinct architectures by that score climb: each is queued as a new trial of the
same study (Optuna's ``enqueue_trial``, its parameters fixed) carrying the scores of the rungs below
as scalar user attributes (``rung``, ``rung0_score``, ``rung0_seconds``, ...), and whichever worker
takes it scores it with the next rung's proxy. A rung starts only when the rung below has finished
(benchmarks/RESULTS.md §11: promoting as trials finish, Optuna's successive-halving rule, roughly
halves the savings), so every worker computes the same climbers from the same finished trials.

Two workers may queue the same climber at once (a storage has no transaction around "look, then
queue"): the lowest-numbered live trial of a (rung, architecture) trains it, and any other marks
itself ``duplicate`` and is pruned without training, so nothing trains twice. The last rung,
``full``, trains on the real training split with the ground-truth protocol (``--promote-epochs``
and ``--promote-images`` set it, as for a promotion) and scores on the validation split, never the
test split; ``best.json`` is its best by that validation accuracy.

Why not Optuna's pruners: a pruner decides as a trial reports, so a rung would be decided on the
trials that happened to finish first (the asynchronous rule above), and a finished trial cannot be
resumed at the next fidelity; queued trials are Optuna's own way to run a given configuration.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from nas_proxy import checks, interrupts
from nas_proxy.errors import InvalidArgumentError, OutputConflictError
from nas_proxy.ladders import FULL, Rung, parse_ladder
from nas_proxy.progress import Progress, emit
from nas_proxy.protocols import DEFAULT_PROTOCOL, training_protocol
from nas_proxy.proxies import Scored
from nas_proxy.search.config import SearchConfig
from nas_proxy.search.study import spec_of, study_space
from nas_proxy.search.target import SearchProxy, open_proxy
from nas_proxy.spaces import SearchSpace
from nas_proxy.studies.budget import uncounted
from nas_proxy.studies.guarded import Guarded, unmasked
from nas_proxy.studies.repair import DIED, fail_dead_trials
from nas_proxy.trainers.fulldata import GroundTruthConfig, RealData, train_one

LADDER_ATTR = "nasproxy_ladder"  # study user attribute: the ladder, the budget it was planned for, the full rung's protocol
MAX_FAILURES = 2  # a climber whose training failed this often for reasons of its own is left out of its rung
POLL_SECONDS = 1.0  # how often a worker waiting for the rung below (trained elsewhere) looks again
BATCH_ATTRS = ("batch_size", "report_images")  # a scoring's details an upper rung's trial records: the batch it used
Rank = Callable[[FrozenTrial], float]


@dataclass(frozen=True)
class Ladder:
    """A search's ladder: its rungs, the budget of rung 0 and the protocol of the ``full`` rung."""

    rungs: tuple[Rung, ...]
    n_trials: int
    full: GroundTruthConfig

    @property
    def spec(self) -> str:
        return ",".join(str(r) for r in self.rungs)

    def size(self, k: int, candidates: int) -> int:
        """How many climb to rung ``k`` when ``candidates`` distinct architectures finished rung 0."""
        n = candidates
        for rung in self.rungs[1 : k + 1]:
            n = rung.size(candidates, n)
        return n

    def to_dict(self) -> dict[str, Any]:
        return {"ladder": self.spec, "n_trials": self.n_trials, "full": self.full.to_dict()}


def plan(config: SearchConfig, n_trials: int, epochs: int, images: int | None, protocol: str | None = None) -> Ladder:
    """The ladder of ``config.ladder`` for ``n_trials`` candidates; one-line errors for a malformed
    one or one that cannot run here (several objectives)."""
    rungs = parse_ladder(str(config.ladder))
    if len(config.objectives) > 1:
        raise InvalidArgumentError(
            f"--ladder ranks candidates by one score; --objectives {','.join(config.objectives)} has several: drop --objectives or --ladder"
        )
    if config.proxy_name is not None and config.proxy_name != rungs[0].proxy:
        raise InvalidArgumentError(
            f"--proxy {config.proxy_name} and --ladder {config.ladder!r} both name the first proxy: drop --proxy (the ladder's first rung is it)"
        )
    full = training_protocol(protocol or DEFAULT_PROTOCOL, epochs, images)  # as a promotion's (checked there)
    ladder = Ladder(rungs, n_trials, full)
    if isinstance(n_trials, int) and 1 <= n_trials <= checks.TRIALS_MAX:  # else --n-trials' own check says it
        _within_limit(ladder)
    return ladder


def _within_limit(ladder: Ladder) -> None:
    """Refuse a ladder whose study would hold more trials than one study takes (:data:`~nas_proxy.checks.TRIALS_MAX`),
    counted as the study counts them: rung 0's ``n_trials`` and every upper rung's climbers, each a trial of the same
    study (at most, every candidate distinct). Before fix61d only ``--n-trials`` was held to it."""
    upper = [ladder.size(k, ladder.n_trials) for k in range(1, len(ladder.rungs))]
    total = ladder.n_trials + sum(upper)
    if total > checks.TRIALS_MAX:
        raise InvalidArgumentError(
            f"--ladder of {len(ladder.rungs)} rungs with --n-trials {ladder.n_trials} makes a study of up to {total:,} trials "
            f"({ladder.n_trials:,} candidates, then {sum(upper):,} climbing), more than {checks.TRIALS_MAX:,}, {checks.TRIALS_WHY}: "
            "fewer --n-trials, fewer rungs or smaller keeps"
        )


def record(study: optuna.Study, ladder: Ladder) -> None:
    """Store the study's ladder, or refuse another (one line naming both)."""
    stored = study.user_attrs.get(LADDER_ATTR)
    if stored is None:
        study.set_user_attr(LADDER_ATTR, ladder.to_dict())
        return
    if stored != ladder.to_dict():
        now = ladder.to_dict()
        diff = "; ".join(f"{k} {stored.get(k)!r} there, {now[k]!r} now" for k in now if stored.get(k) != now[k])
        raise OutputConflictError(
            f"study {study.study_name!r} climbs another ladder ({diff}); use the same --ladder, --n-trials and --promote-epochs/--promote-images/--promote-protocol, or another --study"
        )


def stored(study: optuna.Study) -> Ladder | None:
    """The ladder a study records; None for a search without one."""
    d = study.user_attrs.get(LADDER_ATTR)
    if d is None:
        return None
    return Ladder(parse_ladder(d["ladder"]), int(d["n_trials"]), GroundTruthConfig.from_dict(d["full"]))


def check_joined(storage: BaseStorage, study_name: str, config: SearchConfig, target: SearchProxy, workdir: Path) -> None:
    """A worker joining a ladder study: the study's rungs checked (:meth:`Rungs.check`) before it draws or trains anything,
    as the first ``search --ladder`` checked them (fix52f). Before stop 53 a worker did not: an upper rung its data
    cannot give (a study made before fix52f, or on other data) was refused only once a climber reached it. Reads only."""
    if not config.ladder:
        return
    ladder = stored(optuna.load_study(study_name=study_name, storage=storage))
    if ladder is not None:
        Rungs(config, target, workdir, ladder).check()


def rung_of(t: FrozenTrial | optuna.Trial) -> int:
    """The rung a trial scores (0: a candidate the sampler proposed)."""
    return int(t.user_attrs.get("rung", 0))


def _live(t: FrozenTrial) -> bool:
    return t.state in (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE) and not t.user_attrs.get("duplicate")


@dataclass
class Rungs:
    """The scorers of one worker's rungs above 0, made on first use (a random subset is found where rung 0 made it)."""

    config: SearchConfig
    target: SearchProxy  # rung 0's: its data is every rung's
    workdir: Path
    ladder: Ladder
    _made: dict[int, Callable[[dict[str, Any], str], Scored]] = field(default_factory=dict)

    def check(self) -> None:
        """Refuse a rung this data cannot give (:meth:`~nas_proxy.proxies.base.Proxy.check`: a random subset larger than
        the smallest class) before rung 0 makes anything: before fix52f an upper rung's was refused after rung 0's
        random subset was drawn, which stayed. Nothing is made."""
        self.target.proxy.check()
        for rung in self.ladder.rungs[1:]:
            if rung.proxy != FULL:
                open_proxy(self._config(rung), self.workdir, data=self.target.setup.data, prepare=False).proxy.check()

    def prepare(self) -> None:
        """Make every rung's scorer now: a token nothing knows is refused before anything trains, and a
        random subset is made before the workers start (they find it)."""
        for k in range(1, len(self.ladder.rungs)):
            if self.ladder.rungs[k].proxy != FULL:
                self._made[k] = self._make(self.ladder.rungs[k])

    def score(self, k: int, spec: dict[str, Any], aid: str) -> Scored:
        if k not in self._made:
            self._made[k] = self._make(self.ladder.rungs[k])
        return self._made[k](spec, aid)

    def _make(self, rung: Rung) -> Callable[[dict[str, Any], str], Scored]:
        data = self.target.setup.data
        if rung.proxy == FULL:
            protocol = self.ladder.full
            real = RealData(data, protocol, self.target.device, test=False)  # never the test set: the pick is made on it

            used = min(protocol.batch_size, int(real.train_x.shape[0]))  # its batch capped to the images (said: fix62b)

            def full(spec: dict[str, Any], aid: str) -> Scored:
                r = train_one(spec, self.config.seed, real, protocol)
                return Scored(float(r["val_accuracy"]), float(r["train_seconds"] + r["score_seconds"]), details={"batch_size": used})

            return full
        proxy = open_proxy(self._config(rung), self.workdir, data=data)
        return lambda spec, aid: proxy.score(spec, aid)  # no intermediate values: a pruner judges rung 0 only

    def _config(self, rung: Rung) -> SearchConfig:
        """The search's config scoring with ``rung``'s proxy on rung 0's data."""
        return replace(self.config, proxy_name=rung.proxy, synthetic=None, dataset=self.target.setup.data.dataset)


def climb_trial(trial: optuna.Trial, space: SearchSpace, rungs: Rungs) -> float:
    """The objective of a queued climber (rung >= 1): its rung's score, unless a lower-numbered live
    trial of the same (rung, architecture) exists (two workers queued it): then pruned, untrained."""
    k, aid = rung_of(trial), str(trial.user_attrs["arch_id"])
    first = min(t.number for t in _of_rung(trial.study, k) if t.user_attrs.get("arch_id") == aid and (_live(t) or t.number == trial.number))
    if first != trial.number:
        trial.set_user_attr("duplicate", True)
        raise optuna.TrialPruned(f"{aid} is trained at rung {k} by trial {first}")
    spec = space.sample(trial)  # the queued parameters: recorded as this trial's, the same spec
    trial.set_user_attr("proxy", rungs.ladder.rungs[k].proxy)
    try:
        with interrupts.interruptible():
            scored = rungs.score(k, spec, aid)
    except KeyboardInterrupt:
        trial.set_user_attr("interrupted", True)  # not the architecture's fault: queued again on the next run
        raise
    trial.set_user_attr(f"rung{k}_score", scored.value)
    trial.set_user_attr(f"rung{k}_seconds", round(scored.seconds, 3))
    for key in BATCH_ATTRS:  # the batch used, where rung 0's trials record theirs (before fix62c, none above rung 0)
        if key in scored.details:
            trial.set_user_attr(key, scored.details[key])
    return scored.value


def _of_rung(study: optuna.Study, k: int) -> list[FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False) if rung_of(t) == k]


def _done(study: optuna.Study, k: int) -> list[FrozenTrial]:
    """Rung ``k``'s finished trainings, best first (score, then trial number: every worker agrees)."""
    done = [t for t in _of_rung(study, k) if t.state == TrialState.COMPLETE and t.value is not None and not t.user_attrs.get("duplicate")]
    return sorted(done, key=lambda t: (-float(t.value or 0.0), t.number))


def _distinct(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    seen: set[str] = set()
    out = []
    for t in trials:
        aid = str(t.user_attrs.get("arch_id"))
        if aid not in seen:
            seen.add(aid)
            out.append(t)
    return out


def climbers(study: optuna.Study, ladder: Ladder, k: int) -> list[FrozenTrial]:
    """Rung ``k - 1``'s best distinct architectures that climb to rung ``k``."""
    candidates = len(_distinct(_done(study, 0)))
    return _distinct(_done(study, k - 1))[: ladder.size(k, candidates)]


def _busy(study: optuna.Study, k: int) -> list[FrozenTrial]:
    return [t for t in _of_rung(study, k) if t.state in (TrialState.WAITING, TrialState.RUNNING)]


def queue(study: optuna.Study, ladder: Ladder, k: int, space: SearchSpace) -> int:
    """Queue rung ``k``'s climbers that no live trial trains and that did not fail too often; how many were queued."""
    trials = _of_rung(study, k)
    live = {t.user_attrs.get("arch_id") for t in trials if _live(t)}
    failed: dict[str, int] = {}
    for t in trials:
        if t.state == TrialState.FAIL and DIED not in str(t.user_attrs.get("fail_reason", "")) and not t.user_attrs.get("interrupted"):
            failed[str(t.user_attrs.get("arch_id"))] = failed.get(str(t.user_attrs.get("arch_id")), 0) + 1
    queued = 0
    for below in climbers(study, ladder, k):
        aid = str(below.user_attrs["arch_id"])
        if aid in live or failed.get(aid, 0) >= MAX_FAILURES:
            continue
        carried = {key: v for key, v in below.user_attrs.items() if key.startswith("rung") and key != "rung"}
        if k == 1:  # rung 0's score is the trial's value, its seconds the proxy's
            carried |= {"rung0_score": below.value, "rung0_seconds": below.user_attrs.get("proxy_seconds")}
        attrs = {**carried, "rung": k, "candidate": int(below.user_attrs.get("candidate", below.number))}
        attrs |= {key: below.user_attrs[key] for key in ("arch_id", "seed", "space") if key in below.user_attrs}
        spec = spec_of(below, space)  # the parameters it was sampled with, rebuilt (scalar attributes only)
        assert spec is not None, f"trial {below.number} recorded an arch_id but no architecture"
        study.enqueue_trial(space.params_of(spec), user_attrs=attrs)
        queued += 1
    return queued


def climb(
    study: optuna.Study,
    storage: BaseStorage,
    ladder: Ladder,
    space: SearchSpace,
    objective: Guarded[Any],
    progress: bool,
    deadline: float | None = None,
) -> None:
    """Climb every rung above 0 with the other workers: queue the rung's climbers once the rung below
    has finished, train what is queued, wait for what runs elsewhere (re-queued if its worker dies).
    Past ``deadline`` (``time.monotonic()``, the search's --timeout) no training starts and no wait
    begins: what is queued stays queued for the same command to continue."""
    told: set[int] = set()
    with interrupts.deferred():  # SIGINT raises in the training and between trials, never inside ask/tell
        for k in range(1, len(ladder.rungs)):
            while True:
                if deadline is not None and time.monotonic() >= deadline:
                    return
                fail_dead_trials(study, storage)
                below = _busy(study, k - 1)  # the rung below still training somewhere (or re-queued)
                if not below:
                    queue(study, ladder, k, space)
                if any(t.state == TrialState.WAITING and rung_of(t) <= k for t in study.get_trials(deepcopy=False)):
                    with unmasked(objective):
                        study.optimize(objective, n_trials=1, catch=(Exception,))
                    objective.raise_stop()
                    interrupts.check()  # a safe point: the trial is stored
                    continue
                if below or _busy(study, k):
                    _wait(progress, told, k - 1 if below else k)
                    continue
                break


def _wait(progress: bool, told: set[int], k: int) -> None:
    if progress and k not in told:
        emit(Progress("ladder", f"ladder: waiting for rung {k} trainings running in other workers (retried if their worker dies)"))
        told.add(k)
    with interrupts.interruptible():
        time.sleep(POLL_SECONDS)


def summary(study: optuna.Study, ladder: Ladder) -> dict[str, Any]:
    """Per rung: its proxy, how many were planned and trained, their seconds; and the top rung's
    trainings best by validation accuracy (``rows``, for best.json)."""
    candidates = len(_distinct(_done(study, 0)))
    rungs = []
    for k, rung in enumerate(ladder.rungs):
        done = _done(study, k)
        pruned = [t for t in _of_rung(study, k) if t.state == TrialState.PRUNED and not t.user_attrs.get("duplicate")]
        seconds = sum(float(t.user_attrs.get("proxy_seconds" if k == 0 else f"rung{k}_seconds") or 0.0) for t in done)
        planned = ladder.n_trials if k == 0 else ladder.size(k, candidates)
        # rung 0's pruned trials count, as in any search's budget (a pruner judges rung 0 only); a retry answered by another's score does not
        trained = sum(not uncounted(t) for t in done + (pruned if k == 0 else []))
        rungs.append({"rung": k, "proxy": rung.proxy, "planned": planned, "trained": trained, "seconds": round(seconds, 3)})
    rows = []
    space = study_space(study)
    top = len(ladder.rungs) - 1
    for t in _done(study, top):
        rows.append(
            {
                "number": t.number,
                "values": t.values,
                "arch_id": t.user_attrs.get("arch_id"),
                "params": t.user_attrs.get("params"),
                "spec": spec_of(t, space),
                "candidate": t.user_attrs.get("candidate"),
                "proxy_score": t.user_attrs.get("rung0_score"),
                "real_val_accuracy": t.value,
                **{f"rung{j}_score": t.user_attrs.get(f"rung{j}_score") for j in range(top + 1)},
            }
        )
    return {"ladder": ladder.spec, "candidates": candidates, "rungs": rungs, "rows": rows}


def picks(study: optuna.Study, ladder: Ladder) -> list[dict[str, Any]]:
    """Per rung: what stopping there would have picked (its best by that rung's score) and the
    seconds of every rung up to it (``correlate --study`` judges each against its ground truth)."""
    climbed = summary(study, ladder)
    rungs = climbed["rungs"]
    out = []
    space = study_space(study)
    spent = 0.0
    for k, r in enumerate(rungs):
        spent += float(r["seconds"])
        done = _done(study, k)
        if not done:
            break
        out.append(
            {
                **r,
                "candidates": climbed["candidates"],
                "arch_id": done[0].user_attrs["arch_id"],
                "spec": spec_of(done[0], space),
                "seconds_through": round(spent, 3),
            }
        )
    return out


__all__ = ["LADDER_ATTR", "Ladder", "Rungs", "climb", "climbers", "picks", "plan", "record", "rung_of", "stored", "summary"]
