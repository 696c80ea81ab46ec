"""Creating, checking and exporting a search study (its workers, repairs and budget: :mod:`nas_proxy.studies`).

A study carries its :class:`SearchConfig` in the user attribute ``nasproxy``, so a worker joins
with the study name and storage alone, and a second ``search`` with other settings is refused.

A trial's user attributes are scalars, which the dashboard lists, sorts and plots (it prints any
other as clipped JSON): the architecture a trial trained is its parameters, rebuilt into a spec by
the study's space (:func:`spec_of`, checked against the trial's ``arch_id``); studies written
before kept the spec as a JSON attribute ``spec``, which is read as it is.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState
from torch import nn

from nas_proxy import checks
from nas_proxy.data.base import data_changed
from nas_proxy.errors import DifferentRunError, InvalidArgumentError, NasProxyError, OutputConflictError, SpaceError, shown
from nas_proxy.files import make_dirs, write_json, write_text
from nas_proxy.search.config import OBJECTIVES, SAMPLERS, SearchConfig
from nas_proxy.spaces import SearchSpace, Spec, arch_id, get_space
from nas_proxy.studies import kinds
from nas_proxy.studies.identity import worker_tag
from nas_proxy.studies.kinds import StudyNotFoundError
from nas_proxy.studies.requeue import LAPSED_COPY, mark_drawn
from nas_proxy.studies.spec_attrs import spec_from_attrs
from nas_proxy.studies.workers import load_study
from nas_proxy.utils import derive_seed

KIND = "search"
DRAWN_ATTR = "arch_id"  # the objective records it as soon as a trial's candidate is drawn whole (studies.requeue.mark_drawn)
REPEAT_ATTR = "repeat_of"  # a trial answered from an earlier one of the same architecture (search.runner): that trial's number
ATTR = "nasproxy"  # study user attribute: the search's configuration and fingerprint


def create_or_check(storage: BaseStorage, name: str, config: SearchConfig, fingerprint: dict[str, Any], sampler_seed: int) -> optuna.Study:
    """The study ``name``: created with ``config``, or loaded after checking it searches the same thing.

    ``fingerprint`` holds what identifies the inputs (space description, proxy, synthetic-set hash).
    """
    sampler = DrawSeeded(SAMPLERS.get(config.sampler), sampler_seed, len(config.objectives))
    if name in {s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)}:
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=_pruner(config))
        if ATTR in study.user_attrs or study.trials or list(study.directions) != config.directions:
            _check_same(study, name, config, fingerprint)
            mark_drawn(study, DRAWN_ATTR)  # (a study of an earlier search: marked as it is resumed)
            return study
        # an empty study whose creation was interrupted before its settings were stored: adopt it
    else:
        study = optuna.create_study(study_name=name, storage=storage, directions=config.directions, sampler=sampler, pruner=_pruner(config))
    study.set_user_attr(ATTR, {"config": config.to_dict(), **fingerprint})
    kinds.mark(study, KIND)
    mark_drawn(study, DRAWN_ATTR)
    names = [OBJECTIVES.get(o).metric for o in config.objectives]
    if not fingerprint.get("proxy_trains", True):  # a training-free score is no accuracy
        names[0] = str(fingerprint["proxy"])
    study.set_metric_names(names)
    return study


class DrawSeeded(optuna.samplers.BaseSampler):
    """The study's sampler, made anew before each trial with a seed derived from the process's seed and
    the number of candidates drawn before it (trials with parameters that were not fixed and drawn whole: a re-queued
    trial's copy, a ladder's climber and a draw cut short by a kill do not count: :meth:`drawn`). A search killed and run again then draws what an
    uninterrupted one draws, and never the first run's candidates again in order; two workers (seed + k)
    draw from different streams."""

    def __init__(self, make: Any, seed: int, n_objectives: int) -> None:
        self._make, self._seed, self._n_objectives = make, seed, n_objectives
        self._sampler: optuna.samplers.BaseSampler = make(seed, n_objectives)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        # this process's identity, written as the trial is made (the objective writes it again): a kill -9
        # between the trial's creation and the objective's first write left a trial no one owned, which the
        # next run waited UNTAGGED_SECONDS for before retrying it (drill41: 60 s, a search of 0.1 s trials).
        # A trial this worker made records it as it was made (identity.born_tagged: a journal's record, a database's transaction): not written twice
        for key, value in worker_tag(study._storage).items():
            if trial.user_attrs.get(key) != value:
                study._storage.set_trial_user_attr(trial._trial_id, key, value)  # (Optuna has no public accessor)
        self._sampler = self._make(derive_seed(self._seed, "draw", self.drawn(study, trial)) % 2**31, self._n_objectives)
        self._sampler.before_trial(study, trial)

    def drawn(self, study: optuna.Study, trial: FrozenTrial) -> int:
        """The candidates drawn before ``trial``: the trials with parameters that were not queued and drawn whole. A draw cut
        short by a kill (some parameters, no DRAWN_ATTR) is none: its candidate is drawn again with its seed (chase56); but
        one whose parameters were queued again (an earlier version's repair: its copy drew the rest) counts, as that
        version counted it: before fix57 a study it had resumed so was drawn on one seed behind, from a repeat. The copy
        that a database's retry of a lapsed heartbeat queues (:data:`LAPSED_COPY`: parameters, not fixed) is its
        original's draw trained again: before fix58 it counted too, and the search drew on one seed ahead of an
        uninterrupted one (an earlier version's copy, unmarked, still counts, as that version counted it)."""
        trials = study.get_trials(deepcopy=False)
        copied = {t.user_attrs.get("retry_of") for t in trials if t.system_attrs.get("fixed_params")}
        copied |= {t.system_attrs.get("failed_trial") for t in trials}  # (Optuna's copies of a lapsed heartbeat's: params, not fixed)
        return sum(
            1
            for t in trials
            if t.number != trial.number
            and t.params
            and "fixed_params" not in t.system_attrs
            and LAPSED_COPY not in t.system_attrs
            and (DRAWN_ATTR in t.user_attrs or t.number in copied)
        )

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, Any]:
        return self._sampler.infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, Any]) -> dict[str, Any]:
        return self._sampler.sample_relative(study, trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: Any) -> Any:
        return self._sampler.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> None:
        self._sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._sampler.reseed_rng()


def _pruner(config: SearchConfig) -> optuna.pruners.BasePruner:
    from nas_proxy.search.config import PRUNERS

    return PRUNERS.get(config.pruner)(config.proxy)


def _ladder(spec: str | None) -> str | None:
    """A ladder spec in its one written form (None: no ladder)."""
    from nas_proxy.ladders import format_ladder, parse_ladder

    return None if spec is None else format_ladder(parse_ladder(spec))


def _check_same(study: optuna.Study, name: str, config: SearchConfig, fingerprint: dict[str, Any]) -> None:
    stored = study.user_attrs.get(ATTR)
    kind = kinds.kind_of(study)
    if kind not in (KIND, None):  # a ground-truth or promotion study (or one whose kind was edited) holding search settings
        raise OutputConflictError(f"study {name!r} exists and is a study of kind {shown(kind)}, not a search; choose another --study name")
    if not isinstance(stored, dict) or not isinstance(stored.get("config"), dict):
        raise OutputConflictError(f"study {name!r} exists but was not made by nasproxy search; choose another --study name")
    old = SearchConfig.from_dict(stored["config"])
    problems = []
    if old.objectives != config.objectives:
        problems.append(f"objectives {','.join(old.objectives)} there, {','.join(config.objectives)} now")
    elif list(study.directions) != config.directions:  # the same names: the study's record was edited
        problems.append(
            f"objectives {','.join(old.objectives)} optimised in directions {_directions(study.directions)} there, {_directions(config.directions)} now"
        )
    if stored.get("space_description") != fingerprint["space_description"]:
        if old.space != config.space:
            problems.append(f"space {old.space!r} there, {config.space!r} now")
        else:  # one name, other choices: the space file was edited since the search (or the study's record was)
            problems.append(f"space {old.space!r} with other choices there than now")
    was, now = (stored.get("dataset") or {}).get("name"), (fingerprint.get("dataset") or {}).get("name")
    changed = None
    if "dataset" not in fingerprint:  # checked before the data is read (check_before)
        pass
    elif was is not None and was != now:
        problems.append(f"dataset {was} there, {now} now")
    else:  # the same name, other pixels or labels (none recorded before stop 50: resumed as before)
        changed = data_changed(
            f"study {name!r} was searched on",
            (stored.get("dataset") or {}).get("content_sha256"),
            str(fingerprint["dataset"].get("content_sha256")),
            str(now),
            str(config.data_root or ""),
            otherwise="another --study name",
        )
    if "proxy" in stored and stored["proxy"] != fingerprint["proxy"]:  # studies made before it was recorded searched on a set
        problems.append(f"proxy {stored['proxy']} there, {fingerprint['proxy']} now")
    elif "synthetic_sha256" in fingerprint and (there := stored.get("synthetic_sha256")) != (here := fingerprint["synthetic_sha256"]):
        if old.synthetic is None and config.synthetic is None:  # the random subset the search drew (review51: was 'None there')
            problems.append(
                f"random subset {fingerprint['proxy']} drawn from other images there than now "
                f"(tensors_sha256 {str(there)[:12]}... there, {str(here)[:12]}... now)"
            )
        else:
            problems.append(f"synthetic set {old.synthetic} there, {config.synthetic} now (different images)")
    problems += [
        f"proxy training {key} {a!r} there, {b!r} now" for key, (a, b) in _differences(old.proxy.to_dict(), config.proxy.to_dict())
    ]
    if _ladder(old.ladder) != _ladder(config.ladder):  # one ladder however written: 'synflow,full:1' is 'synflow:1.0, full:1'
        problems.append(f"--ladder {old.ladder or 'none'!r} there, {config.ladder or 'none'!r} now")
    if old.max_params != config.max_params:
        problems.append(f"--max-params {old.max_params} there, {config.max_params} now")
    if old.seed != config.seed:
        problems.append(f"seed {old.seed} there, {config.seed} now")
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):  # before a trial more is added to them
        trial_value(study, t)
    if changed is not None:  # the data's, not a setting, said first: a random subset drawn from it differs for that reason
        raise changed  # (in the words of every content digest refusal: data_changed)
    if problems:
        raise different_settings(name, problems)


def different_settings(name: str, problems: Sequence[str]) -> DifferentRunError:
    """The refusal of study ``name``, which exists with other settings (``problems``: ``"seed 0 there, 1 now"`` each), in
    the one wording of it; its remedy apart: `run`, which names the study after its preset (and checks its set's name
    before distilling it), puts its own with :meth:`~nas_proxy.errors.NasProxyError.with_remedy`."""
    return DifferentRunError(
        f"study {name!r} already exists with other settings ({'; '.join(problems)})",
        remedy="use the same settings to resume it, or another --study name",
    )


def check_before(storage: BaseStorage, name: str, config: SearchConfig, known: dict[str, Any]) -> None:
    """Refuse study ``name``, where it exists with other settings, by what is ``known`` before its proxy is prepared (the
    space's description, the proxy's name, the data: :meth:`SearchProxy.known`, the fingerprint but a set's tensors), before
    anything is made for it: before probe51 ``search --proxy random-ipc1 --study S`` (S searched on a set) drew the random
    subset into S's folder, then was refused; before fix52b, resumed on images changed since, it drew its subset again from
    them, then was refused for them. The whole fingerprint is checked as the study is opened (:func:`create_or_check`)."""
    if name in {s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)}:
        study = optuna.load_study(study_name=name, storage=storage)
        if ATTR in study.user_attrs or study.trials:
            _check_same(study, name, config, known)


def trial_value(study: optuna.Study, t: FrozenTrial) -> float:
    """A complete trial's first value: a finite number (Optuna stores no other; a journal edited by hand may)."""
    value = (t.values or [None])[0]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidArgumentError(
            f"study {study.study_name!r}: trial {t.number}'s value is {shown(value)}, not a finite number; "
            "its storage was edited or damaged (restore it, or search again)"
        )
    return float(value)


def _directions(directions: Sequence[Any]) -> str:
    return ",".join(optuna.study.StudyDirection(d).name.lower() for d in directions)


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, tuple[Any, Any]]]:
    """``(key, (old value, new value))`` for every key whose value differs, in ``old``'s order."""
    return [(k, (old.get(k), new.get(k))) for k in dict.fromkeys([*old, *new]) if old.get(k) != new.get(k)]


def load_config(storage: BaseStorage, name: str) -> tuple[SearchConfig | None, dict[str, Any]]:
    """The configuration a search study was created with (for workers joining it); ``None`` (and
    ``{"kind": ...}``) for a study of another kind, such as a correlation's ground truth."""
    study = load_study(storage, name)
    kind = kinds.kind_of(study)
    if kind not in (KIND, None):
        return None, {"kind": kind}
    stored = study.user_attrs.get(ATTR)
    if stored is None:
        raise StudyNotFoundError(f"study {name!r} was not made by nasproxy search")
    return SearchConfig.from_dict(stored["config"]), {k: v for k, v in stored.items() if k != "config"}


def recorded_set(name: str, path: str | None) -> str | None:
    """The synthetic set study ``name`` searched on, as its search recorded it (the ``--synthetic`` it was given: a path
    from the folder that search ran in), where that path leads from here; where it leads nowhere (another folder, the
    set moved or renamed since) refused in one line that says whose path it is and what to give. Before probe51 a
    worker or ``correlate --study`` run from another folder stopped on 'syn does not exist': which set, and why, unsaid."""
    if path is None or Path(path).exists():
        return path
    raise InvalidArgumentError(
        f"study {name!r} searched on the synthetic set {path!r}, the path its search was given, and there is none at "
        f"{Path(path).absolute()} from here (another folder, or the set moved since): give the set's path on this machine "
        "with --synthetic (its images are checked against the study's)"
    )


def ranked(study: optuna.Study) -> list[FrozenTrial]:
    """Complete trials, best first (the Pareto front first for several objectives), one per
    architecture (its best; a repeat answered from an earlier trial is never listed); a ladder's
    candidates by their first rung's score (its climbers, scored by other rungs, are apart)."""
    done = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not t.user_attrs.get("rung") and REPEAT_ATTR not in t.user_attrs
    ]
    if len(study.directions) == 1:
        sign = -1 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1
        order = sorted(done, key=lambda t: (sign * float(t.value or 0.0), t.number))
    else:
        front = {t.number for t in study.best_trials}
        order = sorted(done, key=lambda t: (t.number not in front, -float((t.values or [0.0])[0]), t.number))
    distinct, seen = [], set()  # an architecture trained twice (two workers at once, a study of an older version): its best
    for t in order:
        aid = t.user_attrs.get("arch_id")
        if aid is None or aid not in seen:
            distinct.append(t)
            seen.add(aid)
    return distinct


def study_space(study: optuna.Study) -> SearchSpace | None:
    """The space search ``study`` samples (None: a study that records none)."""
    name = study.user_attrs.get(ATTR, {}).get("config", {}).get("space")
    return None if name is None else get_space(name)


def spec_of(t: FrozenTrial, space: SearchSpace | None) -> Spec | None:
    """The architecture search trial ``t`` trained: its parameters rebuilt by ``space`` (the study's,
    :func:`study_space`), refused in one line when they no longer give the ``arch_id`` it recorded
    (a space file edited since); a trial of a study written before carries it as ``spec``. None: a
    trial that sampled no architecture."""
    stored = spec_from_attrs(t.user_attrs, t.number)  # the layout before scalar attributes: a JSON ``spec``
    if stored is not None:
        return stored
    recorded = t.user_attrs.get("arch_id")
    if recorded is None or space is None:
        return None
    reason = ""
    try:
        spec = space.sample(optuna.trial.FixedTrial(t.params))
        rebuilt = arch_id(spec)
    except (ValueError, NasProxyError) as e:  # a parameter the space asks for and the trial lacks
        rebuilt, reason = None, " ".join(str(e).split())
    if rebuilt != recorded:
        got = f"give architecture {rebuilt}" if rebuilt else f"no longer fit ({reason})"
        raise SpaceError(
            f"trial {t.number}'s parameters {t.params} {got} in space {space.name!r}, but it trained {recorded}: "
            "the space changed since the search; restore the space file the search used"
        )
    return spec


def trial_summary(t: FrozenTrial, space: SearchSpace | None) -> dict[str, Any]:
    """A trial as ``best.json`` lists it (``space``: the study's, to rebuild its spec)."""
    return {
        "number": t.number,
        "values": t.values,
        "arch_id": t.user_attrs.get("arch_id"),
        "params": t.user_attrs.get("params"),
        "flops": t.user_attrs.get("flops"),
        "proxy_seconds": t.user_attrs.get("proxy_seconds"),
        "spec": spec_of(t, space),
    }


def export(study: optuna.Study, out: Path, dataset: dict[str, Any], promoted: list[dict[str, Any]] | None = None) -> dict[str, Path]:
    """Write ``trials.csv`` (every trial), ``best.json`` (best spec(s), rebuildable) into ``out``.

    ``promoted``: the candidates trained on real data, best by real validation accuracy first
    (``real_val_accuracy``, ``proxy_score``, ``proxy_rank``); ``best`` is then the first of them and
    ``top`` lists them first, then the other candidates by proxy score."""
    make_dirs(out)
    frame = study.trials_dataframe(
        attrs=("number", "value" if len(study.directions) == 1 else "values", "params", "user_attrs", "state", "duration")
    )
    for col in frame.columns[frame.columns.str.startswith("user_attrs_")]:  # a study's of the layout before: JSON values
        frame[col] = frame[col].map(lambda v: json.dumps(v) if isinstance(v, (dict, list)) else v)
    write_text(out / "trials.csv", frame.to_csv(index=False))
    space = study_space(study)
    listed = ranked(study)
    best = [trial_summary(t, space) for t in listed]
    numbers = {t.number for t in listed}
    front = [t.number for t in study.best_trials if t.number in numbers]  # one trial per architecture, as in "top"
    trained = [r for r in promoted or [] if r.get("real_val_accuracy") is not None]
    if trained:  # the rest of the promoted (failed trainings) keep their proxy place
        ids = {r["arch_id"] for r in trained}
        best = trained + [r for r in best if r["arch_id"] not in ids]
    write_json(
        out / "best.json",
        {
            "study": study.study_name,
            "objectives": study.user_attrs.get(ATTR, {}).get("config", {}).get("objectives"),
            "dataset": dataset,
            "synthetic": study.user_attrs.get(ATTR, {}).get("config", {}).get("synthetic"),  # where `nasproxy train` finds the data again
            "best": best[0] if best else None,
            "chosen_by": "real validation accuracy of the promoted candidates" if trained else "proxy score",
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
        data = checks.read_json("best.json", path)
        spec, d = data["top"][rank]["spec"], data["dataset"]
        return build_model(spec, int(d["channels"]), int(d["num_classes"]), (int(d["image_size"][0]), int(d["image_size"][1])))
    except (ValueError, KeyError, IndexError, TypeError) as e:
        raise InvalidArgumentError(f"{path} is not a best.json written by nasproxy search with {rank + 1}+ architectures ({e!r})") from None
