"""Calibration: an Optuna study over the proxy protocol, judged on held-out architectures.

The objective of a study over architectures A (exactly; ``CalibrateConfig.objective_text``)::

    J(protocol) = metric(proxy scores on A, ground truth on A) - cost_weight * log2(C(protocol, A) / C(default, A))

``metric`` is scipy's weighted Kendall tau by default (hyperbolic weigher: a swap among the best
architectures costs most, which is what a search that keeps its best candidate cares about; one
number defined on small folds, where a "top 20 %" Spearman would rest on one or two architectures).
``C`` is the proxy's compute in FLOPs (training plus validation, :class:`Score`), not its measured
seconds: those vary with the machine's load, and the same seed must give the same profile. A ratio
"fidelity per second" is not used because it is maximised by the cheapest proxy whatever it ranks;
the log penalty says instead how much fidelity a doubling of cost must buy.

The honest number is the **held-out fidelity**: the architectures are split into k folds (seeded);
for each fold a separate study chooses a protocol on the other folds only, and that protocol is
scored on the held-out fold. The profile itself comes from one more study on all architectures; its
in-sample ("tuned") number is reported beside, never instead.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from nas_proxy import checks, interrupts
from nas_proxy.calibrate.config import METRIC_NAMES, CalibrateConfig
from nas_proxy.calibrate.protocol import Protocol, Score, Scorer, sample
from nas_proxy.calibrate.truth import Truth, check_data, check_enough, check_in_space
from nas_proxy.correlate import metrics
from nas_proxy.errors import InvalidArgumentError, NasProxyWarning, OutputConflictError, shown
from nas_proxy.files import bounded_name, output_lock, shorten
from nas_proxy.profile import ProxyProfile
from nas_proxy.progress import Meter
from nas_proxy.protocols import canonical_dataset
from nas_proxy.search.study import different_settings
from nas_proxy.spaces import get_space
from nas_proxy.studies.storage import check_writable_storage, maximizing_study, may_hold, open_storage, storage_file
from nas_proxy.trainers.synthetic_set import ProxyConfig, ProxyContext
from nas_proxy.utils import derive_seed

ATTR = "nasproxy_calibration"
CACHE_STUDY = "nasproxy-proxy-scores"  # the study whose user attributes hold the cached proxy scores
METRICS: dict[str, Callable[[Any, Any], float]] = {name: getattr(metrics, name) for name in METRIC_NAMES}


def _other_calibration(study: str, there: dict[str, Any], now: dict[str, Any]) -> OutputConflictError:
    """The refusal of calibration study ``study``, recorded with ``there``'s settings and ground truth, asked with ``now``'s:
    what differs, in search's one wording of it (:func:`~nas_proxy.search.study.different_settings`; before stop 54 "exists
    with other settings or ground truth", naming none)."""
    was, asked = there.get("settings", {}), now["settings"]
    problems = [f"{k}: {shown(was.get(k))} there, {shown(asked.get(k))} now" for k in sorted({*was, *asked}) if was.get(k) != asked.get(k)]
    truth_there, truth_now = there.get("truth", {}), now["truth"]
    if truth_there != truth_now:
        same = len(truth_there.keys() & truth_now.keys())
        problems.append(
            f"ground truth of {len(truth_there)} architectures there, {len(truth_now)} now ({same} in both"
            f"{', some with other accuracies' if any(truth_there[a] != truth_now[a] for a in truth_there.keys() & truth_now.keys()) else ''})"
        )
    refused = different_settings(study, problems)
    return refused.with_cause(f"calibration {refused.cause}")


@dataclass
class FoldResult:
    fold: int
    held_out: list[str]  # architecture ids
    chosen: dict[str, Any]  # the protocol chosen on the other folds
    train_objective: float
    heldout: float  # the metric of that protocol on the held-out fold
    default_heldout: float  # the default protocol on the same fold


@dataclass
class CalibrationResult:
    profile: ProxyProfile
    folds: list[FoldResult]
    heldout: float  # mean over folds
    heldout_interval: tuple[float, float]
    default_heldout: float
    default_interval: tuple[float, float]
    gain: float  # heldout - default_heldout
    gain_interval: tuple[float, float]  # paired: the same resamples for both
    tuned: float  # the profile's metric on all architectures (in-sample: optimistic)
    cost_ratio: float  # the profile's FLOPs / the default's, on all architectures
    seconds_per_arch: float  # measured, the profile's protocol (mean over architectures)
    default_seconds_per_arch: float
    study: str
    storage: str

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["profile"] = {"proxy": self.profile.proxy, "calibration": self.profile.calibration}
        return d


def _as_recorded(config: CalibrateConfig, stored: Any) -> CalibrateConfig:
    """``config`` naming its synthetic sets as the study ``stored`` them, where each is the same folder
    named another way (``syn`` then ``/abs/syn``, ``./syn``, a link): a resumed calibration is the same
    one, and its trials' choices of a set are the recorded names."""
    recorded = stored.get("settings", {}).get("synthetic") if isinstance(stored, dict) else None
    given = config.synthetic
    if (
        not isinstance(recorded, list)
        or len(recorded) != len(given)
        or not all(isinstance(r, str) and os.path.realpath(r) == os.path.realpath(g) for r, g in zip(recorded, given, strict=True))
    ):
        return config
    return replace(config, synthetic=list(recorded))


def fold_ids(ids: list[str], folds: int, seed: int) -> list[list[str]]:
    """``ids`` (sorted first, so file order does not matter) in a seeded order, cut into ``folds``."""
    order = np.random.default_rng(derive_seed(seed, "calibrate-folds") % 2**32).permutation(len(ids))
    ordered = [sorted(ids)[i] for i in order]
    return [sorted(part) for part in np.array_split(np.array(ordered, dtype=object), folds)]


def fidelity(metric: str, scores: dict[str, Score], truth: dict[str, float], ids: list[str]) -> float:
    """The metric on ``ids``; a proxy that ranks nothing (constant scores) counts as 0."""
    value = METRICS[metric]([scores[i].accuracy for i in ids], [truth[i] for i in ids])
    return 0.0 if math.isnan(value) else float(value)


def lock_folder(url: str, study: str) -> Path | None:
    """The folder whose lock a calibration of ``study`` in storage ``url`` holds while it runs (None on a
    database server): one calibration of a study at a time (a double-click ran two: each trained its
    trials, the same protocol twice, and the last to end wrote its profile), and calibrations of other
    studies in the same storage beside it (they share its proxy trainings). It lies beside the storage's
    file, so every process of that storage finds it whatever its working directory; it is made empty
    and removed as the calibration ends (:func:`files.output_lock`; a kill -9 leaves it empty, and the
    next calibration of the study takes it and removes it as it ends). Its name is bounded (files.bounded_name):
    with a long storage file name and study name, one too long to be made ran the calibration unlocked (fix42a)."""
    file = storage_file(url)
    return None if file is None else file.with_name(bounded_name(file.parent, f"{file.name}.calibrating-{study}"))


def _remove_empty(folder: Path) -> None:
    """``folder`` removed if empty: a lock folder a calibration killed -9 left (output_lock removes only the one
    it made), so that no empty folder stays beside the storage after the calibration that took it ends."""
    with contextlib.suppress(OSError):
        folder.rmdir()


class _Calibration:
    """One calibration's state: its storage, scorer and ground truth."""

    def __init__(
        self, config: CalibrateConfig, truths: list[Truth], study: str, storage_url: str | None, progress: bool, held: contextlib.ExitStack
    ) -> None:
        self.config, self.progress = config, progress
        self.truths = {t.arch_id: t for t in truths}
        self.truth = {t.arch_id: t.accuracy for t in truths}
        space = get_space(config.space)
        check_in_space(truths, space, config.space)
        # everything a user can get wrong is checked before the storage is created
        contexts = {s: ProxyContext.load(s, config.device, ProxyConfig(), config.data_root) for s in config.synthetic}
        first = next(iter(contexts.values())).synthetic
        for s, ctx in contexts.items():
            same_data = canonical_dataset(ctx.synthetic.dataset["name"]) == canonical_dataset(first.dataset["name"])  # fix42a: as elsewhere
            if not same_data or ctx.synthetic.meta["split"] != first.meta["split"]:
                raise InvalidArgumentError(f"synthetic set {s} comes from other data or another split than {config.synthetic[0]}")
        name = str(first.dataset["name"])  # before fix51a a table of another dataset was ranked against, exit 0 (probe50)
        check_data(
            truths,
            name,
            first.dataset.get("content_sha256"),
            f"synthetic set {config.synthetic[0]}",
            f"give ground truth measured on {name}, or --synthetic sets distilled from the ground truth's data",
        )
        self.storage, self.url = open_storage(storage_url, study)
        self.name = study
        lock = lock_folder(self.url, study)
        if lock is not None:
            busy = f"calibration study {study!r} is being run by another nasproxy process"
            if not held.enter_context(output_lock(lock, busy=busy, fix="wait for it to finish, or choose another --study")):
                warnings.warn(  # never unlocked without a word (fix42a): a file in the way, a file system without flock
                    f"calibration study {study!r} runs unlocked: its lock folder {shorten(lock)} could not be made or locked "
                    "(a file in its place, or a file system without flock); run no other calibration of it meanwhile",
                    NasProxyWarning,
                    stacklevel=2,
                )
            held.callback(_remove_empty, lock)  # while still held: also the folder a killed calibration left
        with interrupts.deferred():
            main = maximizing_study(self.storage, study)
            recorded = {"settings": config.settings(), "truth": dict(sorted(self.truth.items()))}
            if ATTR not in main.user_attrs:
                main.set_user_attr(ATTR, recorded)
            # every calibration in this storage shares the proxy trainings (they depend on no setting of it)
            cache = maximizing_study(self.storage, CACHE_STUDY)
        config = _as_recorded(config, main.user_attrs[ATTR])
        recorded["settings"] = config.settings()
        if main.user_attrs[ATTR] != recorded:
            raise _other_calibration(study, main.user_attrs[ATTR], recorded)
        self.config, self.contexts = config, dict(zip(config.synthetic, contexts.values(), strict=True))
        self.scorer = Scorer(cache, space, self.contexts, config.seed, progress)
        self.space_sha256 = space.definition_sha256()  # recorded in the profile: ProxyProfile.check_space
        self.default = Protocol(config.synthetic[0], ProxyConfig())

    def scores(self, protocol: Protocol, ids: list[str]) -> dict[str, Score]:
        return self.scorer.scores(protocol, [self.truths[i] for i in ids])

    def objective(self, protocol: Protocol, ids: list[str]) -> tuple[float, float, float]:
        """(J, metric, cost ratio to the default) on ``ids``."""
        scores, default = self.scores(protocol, ids), self.scores(self.default, ids)
        ratio = sum(scores[i].cost for i in ids) / sum(default[i].cost for i in ids)
        fid = fidelity(self.config.metric, scores, self.truth, ids)
        return fid - self.config.cost_weight * math.log2(ratio), fid, ratio

    def study(self, name: str, ids: list[str], label: str) -> FrozenTrial:
        """Run (or resume) the study ``name`` on ``ids`` to ``trials`` complete trials; its best trial."""
        config = self.config
        with interrupts.deferred():
            study = maximizing_study(self.storage, name)
            default = self.default.params(config.choices)
            if not study.get_trials(deepcopy=False) and all(default[k] in v for k, v in config.choices.items()):
                study.enqueue_trial(default)  # the defaults are a candidate: calibration can keep them
        with Meter(label, config.trials, unit="trial", enabled=self.progress) as bar:
            while True:
                done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                bar.set(len(done))
                if len(done) >= config.trials:
                    break
                self._trial(study, name, len(done), ids)
        return max(done, key=lambda t: (t.value, -t.number))

    def _trial(self, study: optuna.Study, name: str, position: int, ids: list[str]) -> None:
        # a sampler seeded by the trial's position among the complete ones: a study resumed after
        # Ctrl-C proposes what an uninterrupted one would have (its failed trial aside)
        n_startup = max(2, self.config.trials // 3)
        seed = derive_seed(self.config.seed, name, position) % 2**32
        with interrupts.deferred():
            study.sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup, multivariate=True)
            with warnings.catch_warnings():  # its trial beats not, and needs not: no judge looks at a calibration's studies
                warnings.filterwarnings("ignore", "Heartbeat of storage is supposed to be used with Study.optimize", UserWarning)
                trial = study.ask()  # (on a database storage Optuna warned so at every trial: SQLite's too since fix52a)
            protocol = sample(trial, self.config.synthetic, self.config.choices)
        try:
            value, fid, ratio = self.objective(protocol, ids)
        except KeyboardInterrupt:
            with interrupts.deferred():
                study.tell(trial, state=TrialState.FAIL)
            raise
        with interrupts.deferred():
            trial.set_user_attr("fidelity", fid)
            trial.set_user_attr("cost_ratio", ratio)
            study.tell(trial, value)


def calibrate(
    config: CalibrateConfig,
    truths: list[Truth],
    data: str,
    study: str,
    storage_url: str | None = None,
    command: str = "",
    progress: bool = False,  # the library is silent unless asked; the CLI asks
) -> CalibrationResult:
    """Calibrate the proxy protocol on ``truths``; resumes the calibration ``study`` when it exists."""
    config.validate()
    # a calibration made under a decomposed (NFD) name before stop 52 goes on by that name; none is made (open_storage)
    checks.plain_name("--study", study, "calibration study", existing=lambda: may_hold(storage_url, study))
    check_enough(truths, config.folds, data)
    check_writable_storage(storage_url, study)
    with contextlib.ExitStack() as held:
        cal = _Calibration(config, truths, study, storage_url, progress, held)
        return _calibrate(cal, data, command)


def _calibrate(cal: _Calibration, data: str, command: str) -> CalibrationResult:
    study = cal.name
    config = cal.config  # its sets named as a resumed study recorded them
    ids = sorted(cal.truth)
    folds = fold_ids(ids, config.folds, config.seed)
    cal.scores(cal.default, ids)  # the baseline, and the reference cost of every study
    results = []
    for k, held in enumerate(folds):
        train = [i for i in ids if i not in held]
        best = _run(cal, f"{study}-fold{k}", train, f"fold {k + 1}/{config.folds}")
        chosen = _protocol_of(best.params, config)
        results.append(
            FoldResult(
                k,
                held,
                dict(best.params),
                float(cast(float, best.value)),  # a finished single-objective study's best has a value
                fidelity(config.metric, cal.scores(chosen, held), cal.truth, held),
                fidelity(config.metric, cal.scores(cal.default, held), cal.truth, held),
            )
        )
    final = _run(cal, f"{study}-all", ids, "all architectures")
    chosen = _protocol_of(final.params, config)
    return _result(cal, results, final, chosen, data, command)


def _run(cal: _Calibration, name: str, ids: list[str], label: str) -> FrozenTrial:
    with interrupts.deferred():
        s = maximizing_study(cal.storage, name)
        if "ids" not in s.user_attrs:
            s.set_user_attr("ids", ids)
    return cal.study(name, ids, label)


def _bootstrap(cal: _Calibration, results: list[FoldResult], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per resample, the mean over folds of (chosen, default) on that fold's held-out architectures,
    each fold resampled with replacement; the same resamples for both (paired)."""
    rng = np.random.default_rng(derive_seed(cal.config.seed, "calibrate-bootstrap") % 2**32)
    chosen, default = np.zeros(n), np.zeros(n)
    metric = METRICS[cal.config.metric]
    for r in results:
        protocol = _protocol_of(r.chosen, cal.config)
        truth = np.array([cal.truth[i] for i in r.held_out])
        a = np.array([s.accuracy for s in cal.scores(protocol, r.held_out).values()])
        b = np.array([s.accuracy for s in cal.scores(cal.default, r.held_out).values()])
        for j in range(n):
            idx = rng.integers(0, len(truth), len(truth))
            chosen[j] += np.nan_to_num(metric(a[idx], truth[idx])) / len(results)
            default[j] += np.nan_to_num(metric(b[idx], truth[idx])) / len(results)
    return chosen, default


def _protocol_of(params: dict[str, Any], config: CalibrateConfig) -> Protocol:
    return sample(optuna.trial.FixedTrial(params), config.synthetic, config.choices)  # type: ignore[arg-type]  # Trial's suggest API


def _interval(samples: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(samples, [2.5, 97.5])
    return round(float(lo), 4), round(float(hi), 4)


def _result(
    cal: _Calibration,
    results: list[FoldResult],
    final: FrozenTrial,
    chosen: Protocol,
    data: str,
    command: str,
) -> CalibrationResult:
    config, ids = cal.config, sorted(cal.truth)
    boot_chosen, boot_default = _bootstrap(cal, results, config.n_boot)
    heldout = float(np.mean([r.heldout for r in results]))
    default = float(np.mean([r.default_heldout for r in results]))
    tuned = float(final.user_attrs["fidelity"])
    ratio = float(final.user_attrs["cost_ratio"])
    mine, base = cal.scores(chosen, ids), cal.scores(cal.default, ids)
    ctx = cal.contexts[chosen.synthetic]
    calibration: dict[str, Any] = {
        "metric": config.metric,
        "objective": config.objective_text(),
        "cost_weight": config.cost_weight,
        "heldout_fidelity": round(heldout, 4),
        "heldout_interval": list(_interval(boot_chosen)),
        "default_heldout_fidelity": round(default, 4),
        "gain_over_default": round(heldout - default, 4),
        "gain_interval": list(_interval(boot_chosen - boot_default)),
        "tuned_fidelity": round(tuned, 4),
        "cost_ratio": round(ratio, 4),
        "folds": config.folds,
        "trials": config.trials,
        "data": data,
        "architectures": ids,
        "synthetic": chosen.synthetic,
        "synthetic_sha256": str(ctx.synthetic.meta.get("tensors_sha256", "")),
        "dataset": str(ctx.synthetic.dataset["name"]),  # a set of another dataset is refused (ProxyProfile.check_set)
        "space": config.space,
        "space_sha256": cal.space_sha256,  # a search of another space is refused (ProxyProfile.check_space)
        "synthetic_choices": list(config.synthetic),
        "seed": config.seed,
        "device": ctx.device.type,
        "command": command,
    }
    profile = ProxyProfile({k: getattr(chosen.proxy, k) for k in config.choices}, calibration)
    return CalibrationResult(
        profile,
        results,
        round(heldout, 4),
        _interval(boot_chosen),
        round(default, 4),
        _interval(boot_default),
        round(heldout - default, 4),
        _interval(boot_chosen - boot_default),
        round(tuned, 4),
        round(ratio, 4),
        float(np.mean([mine[i].seconds for i in ids])),
        float(np.mean([base[i].seconds for i in ids])),
        cal.name,
        cal.url,
    )


__all__ = ["METRICS", "CalibrateConfig", "CalibrationResult", "FoldResult", "calibrate", "fold_ids"]
