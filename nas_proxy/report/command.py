"""From a ``nasproxy correlate`` request to a :func:`correlate` call (the study, the file, or the space) and its reports."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import optuna

from nas_proxy import checks, configs
from nas_proxy.configs import CorrelateBudget
from nas_proxy.correlate.archs import Arch, from_space, from_study, read_archs
from nas_proxy.correlate.config import CorrelateConfig, check_promote, data_ref
from nas_proxy.correlate.picks import ladder_regrets
from nas_proxy.correlate.result import CorrelateResult
from nas_proxy.correlate.runner import Searched, correlate
from nas_proxy.errors import InvalidArgumentError, shown
from nas_proxy.files import FileWriteError, check_writable
from nas_proxy.groundtruth import study as gt
from nas_proxy.profile import read_profile
from nas_proxy.progress import OnProgress
from nas_proxy.protocols import GroundTruthConfig
from nas_proxy.report.render import attach_to_study, write_reports
from nas_proxy.search import ladder as ladders
from nas_proxy.search.study import load_config, recorded_set
from nas_proxy.spaces import get_space
from nas_proxy.studies.storage import Storage, StorageError, check_writable_storage, hidden, open_storage, require_existing
from nas_proxy.synthetic import load_synthetic, read_meta
from nas_proxy.trainers.synthetic_set import ProxyConfig


def early_points(text: str) -> tuple[float, ...]:
    """``--early``'s comma-separated epochs (no empty item, none twice)."""
    return tuple(checks.items("--early", text, checks.parse_float, show=lambda f: f"{f:g}"))


def _early(ground_truth: GroundTruthConfig, given: bool) -> tuple[GroundTruthConfig, list[str]]:
    """The ground truth's early-stopping points, and (not ``given``: the defaults) a note for each one dropped
    because it is not before the ground truth's epochs (:meth:`GroundTruthConfig.default_early_fitted`)."""
    if given:
        return ground_truth, []
    fitted, dropped = ground_truth.default_early_fitted()
    shown = ", ".join(f"{f:g}" for f in dropped)
    note = f"early stopping at {shown} epochs (the default --early) is left out: not before --full-epochs {ground_truth.epochs}"
    return fitted, [note] if dropped else []


def saved_tables(result: CorrelateResult, promote_given: bool, budget: CorrelateBudget) -> dict[str, Any]:
    """The ``config.toml`` a correlation writes beside its report (``correlate`` and ``run``'s correlate stage alike):
    the ``[correlate]`` table of what ran, where the study or the defaults decided it (the config the run reports in
    its facts), and the number of architectures. A default ``promote`` is left out: the report's to judge, written it
    would read back as asked for."""
    ran = {k: v for k, v in result.facts["config"].items() if k not in configs.CORRELATE_NOT_FROM_FILE}
    if not promote_given:
        ran.pop("promote", None)
    return {"correlate": {**ran, **configs.plain(budget)}}


@dataclass
class CorrelateRequest:
    """What ``nasproxy correlate`` is asked: where the architectures come from (``study``, an
    ``archs`` file, or a sample of ``config.space``), the run's options (``config``), and where it goes.

    With a study, the fields of ``config`` that were not set on purpose (``given``: flags typed,
    a config file's keys) are the study's: its space, synthetic set and seed, and the proxy training
    fields outside ``proxy_given``. A value equal to its default is no sign of either."""

    out: Path
    config: CorrelateConfig  # the options; ``space`` may be "" (the study's), ``ground_truth.early`` see ``given``
    study: str | None = None  # take the architectures from this search study
    archs: str | None = None  # or from this JSON/CSV file
    storage: str | None = None  # the search study's storage (None: the default journal)
    budget: CorrelateBudget = field(default_factory=CorrelateBudget)  # how many architectures
    # the CorrelateConfig fields set on purpose: "space", "synthetic", "seed", "early" (the ground
    # truth's early-stopping points; not given: the defaults before the full epochs, given: all checked)
    given: frozenset[str] = frozenset()
    # the fields of ``config.proxy`` set on purpose (flags typed, a config file's keys, a profile's)
    proxy_given: frozenset[str] = frozenset()
    # those of them typed or in --config's [correlate.proxy]: refused when no proxy of the run uses
    # them, as search refuses its own (a profile's never: it may serve other runs)
    proxy_asked: frozenset[str] = frozenset()
    # the --proxy-profile file the proxy's values came from: checked against the sets used, typed or the study's
    proxy_profile: str | None = None


def _study_proxy(stored: ProxyConfig, given: ProxyConfig, names: frozenset[str]) -> tuple[ProxyConfig, list[str]]:
    """The proxy a study searched with, but for the fields in ``names`` (set on purpose): those
    are ``given``'s, with a note for each that differs from the study's."""
    chosen = {k: getattr(given, k) for k in sorted(names)}
    notes = [
        f"proxy training {k} is {v!r} as asked, not the study's {getattr(stored, k)!r}: the study's proxy scores are not reused"
        for k, v in chosen.items()
        if v != getattr(stored, k)
    ]
    return replace(stored, **chosen), notes


@dataclass
class _FromStudy:
    """What ``--study`` decides: the architectures, and what the study searched with."""

    archs: list[Arch]
    space: str
    synthetic: list[str]
    proxy: ProxyConfig
    seed: int
    study: optuna.Study
    storage: Storage  # the study's, opened once for the whole command
    notes: list[str]
    dataset: str | None = None  # the real data of a study searched on a proxy without a set (search --dataset)
    ladder: list[dict[str, Any]] | None = None  # a ladder study's pick at every rung (search.ladder.picks), judged in the verdict
    searched: dict[str, Any] = field(default_factory=dict)  # its record's data (name, content_sha256): correlate checks it


def _from_study(r: CorrelateRequest, name: str, proxy: ProxyConfig) -> _FromStudy:
    """The study's best architectures, scored with the proxy training and the seed it searched with
    where the request left them at their defaults (its own scores reused when made the same way)."""
    require_existing(r.storage, name)
    storage = open_storage(r.storage, name)
    search_config, found = load_config(storage.backend, name)
    if search_config is None:
        kind = "a ground-truth study" if found["kind"] == "groundtruth" else f"a study of kind {shown(found['kind'])}"
        raise InvalidArgumentError(f"{name!r} is {kind}; --study takes a search study")
    c = r.config
    space = c.space if "space" in r.given else search_config.space
    if "synthetic" in r.given:
        synthetic = list(c.synthetic)
    else:  # the study's set, by the path its search was given; none: a proxy on real data
        synthetic = [s] if (s := recorded_set(name, search_config.synthetic)) is not None else []
    _same_data(name, (found.get("dataset") or {}).get("name"), synthetic)
    proxy, notes = _study_proxy(search_config.proxy, proxy, r.proxy_given)
    study = optuna.load_study(study_name=name, storage=storage.backend)
    seed = c.seed if "seed" in r.given else search_config.seed  # not given: the same networks as in the search
    if seed != search_config.seed:
        notes.append(f"seed {seed} as asked, not the study's {search_config.seed}: the study's proxy scores are not reused")
    archs = from_study(study, r.budget.n_archs, seed)
    if not archs:
        raise InvalidArgumentError(f"study {name!r} has no finished trials yet; run the search first")
    climbed = ladders.stored(study)
    ladder = None if climbed is None else ladders.picks(study, climbed)
    have = {a.arch_id for a in archs}
    for pick in ladder or []:  # every rung's pick gets a ground truth, so the verdict can say what each rung bought
        if pick["arch_id"] not in have:
            archs.append(Arch(pick["spec"], pick["arch_id"]))
            have.add(pick["arch_id"])
    reusable = search_config.proxy == proxy and search_config.seed == seed and search_config.space == space
    sha = load_synthetic(synthetic[0]).meta.get("tensors_sha256") if synthetic else None
    for a in archs:  # search scores are reused only when made the same way on the same images
        if not (reusable and a.study_sha256 is not None and a.study_sha256 == sha):
            a.study_value = None
    searched = found.get("dataset") or {}
    return _FromStudy(archs, space, synthetic, proxy, seed, study, storage, notes, search_config.dataset, ladder, searched)


def _same_data(name: str, searched: str | None, synthetic: list[str]) -> None:
    """The sets correlated on a study's architectures are of the data the study searched (``searched``, its record's
    dataset; None in studies made before it was recorded): before probe50 ``correlate --study S --synthetic SET`` with
    S a digits search and SET a Fashion-MNIST set trained the ground truth on Fashion-MNIST, exit 0, and attached that
    report to the digits study's dashboard page."""
    for path in synthetic:
        there = read_meta(Path(path))["dataset"]["name"]  # its meta.json alone: the set is loaded whole later
        if searched is not None and there != searched:
            raise InvalidArgumentError(
                f"study {name!r} searched {searched} data, and --synthetic {path} is a set of {there}: its ground truth would be "
                f"{there}'s, in a report attached to that study; give sets of {searched}, or correlate {path} apart "
                "(--archs with the study's best.json, and --space)"
            )


def _unattachable(found: _FromStudy) -> str | None:
    """Why the report cannot be shown on the study's dashboard page (its journal or artifacts folder
    may not be written), as a warning; None when it can. Reading a study needs no write: before perm48
    a read-only study's journal, the ground truth kept elsewhere (--gt-storage), failed 'cannot write'
    after every training, exit 2 and the run's config.toml not written."""
    name = found.study.study_name
    try:
        check_writable_storage(found.storage.url, name)
        check_writable(found.storage.artifacts(name))
    except (FileWriteError, StorageError) as e:
        return f"the report is not shown on the dashboard page of study {name!r} ({e})"
    return None


def correlate_command(r: CorrelateRequest, on_progress: OnProgress | None = None) -> CorrelateResult:
    """`nasproxy correlate`: the run ``r`` asks for, its reports written to ``r.out`` (and its
    summary to the search study's dashboard with ``r.study``).

    With ``r.study`` the synthetic set is scored with the proxy training and the seed the study
    searched with; an option given (``r.given``, ``r.proxy_given``) overrides it, whatever its value."""
    c = r.config
    n_archs = r.budget.n_archs
    ground_truth, notes = _early(c.ground_truth, "early" in r.given)
    c = replace(c, ground_truth=ground_truth)
    checks.positive("--n-archs", n_archs)
    if r.storage is not None and not r.study:
        raise InvalidArgumentError(
            f"--storage {shown(hidden(r.storage))} changes nothing without --study: it is the search study's storage "
            "(the ground truth's is --gt-storage): drop it"
        )
    c.validate()  # before any file is touched
    if r.archs:
        checks.existing_file("--archs", r.archs)
        if "n_archs" in r.given:  # before branch probe41 ignored: every architecture of the file was used, without a word
            raise InvalidArgumentError(
                f"--n-archs {n_archs} changes nothing with --archs {r.archs}: every architecture of the file is used; "
                "drop it, or keep the first N rows in the file"
            )
    synthetic, seed, space_name, proxy, dataset = list(c.synthetic), c.seed, c.space, c.proxy, c.dataset
    found = None
    archs: list[Arch]
    if r.study:
        found = _from_study(r, r.study, proxy)
        archs, space_name, synthetic, proxy, seed = found.archs, found.space, found.synthetic, found.proxy, found.seed
        notes += found.notes
        if dataset is None and not synthetic:  # searched with --proxy on --dataset: the same data
            dataset = found.dataset
    elif r.archs:
        if not space_name:
            raise InvalidArgumentError("--archs needs --space: the space the architectures belong to")
        archs = read_archs(r.archs, get_space(space_name))
    else:
        if not space_name:
            raise InvalidArgumentError("--sample needs --space")
        space = get_space(space_name)
        archs = from_space(space, n_archs, seed)
        if len(archs) < n_archs and len(archs) == space.size():
            notes.append(f"space {space_name!r} holds {len(archs)} architectures, fewer than --n-archs {n_archs}: all of them are used")
    check_data = None
    if r.proxy_profile:  # before fix41b the sets typed only, not a --config's or the study's
        profile = read_profile(r.proxy_profile)
        notes += profile.check_sets(synthetic, f"--proxy-profile {r.proxy_profile}")
        profile.check_space(space_name, f"--proxy-profile {r.proxy_profile}")  # before fix42a any space passed
        check_data = profile.data_check(f"--proxy-profile {r.proxy_profile}")  # the data's digest, once loaded
    if "promote" in r.given:  # the default (5) is left to the report: it was not asked for
        check_promote(c.promote, len(archs))
    config = replace(c, space=space_name, synthetic=synthetic, proxy=proxy, seed=seed, dataset=dataset)
    beside = None
    if found is not None and config.gt_storage is None:  # the ground truth beside its search: one dashboard shows both
        beside = gt.storage_beside(found.storage, data_ref(config)[0], config.ground_truth)
        config = replace(config, gt_storage=beside.url)
        try:
            check_writable_storage(beside.url, found.study.study_name)
        except FileWriteError as e:  # before perm48 only "give a folder you may write to": the user gave no folder
            raise FileWriteError(
                f"{e}; or give --gt-storage a journal you may write to: without it, correlate --study keeps the ground truth in the study's storage"
            ) from None
    unattached = None if found is None else _unattachable(found)
    if unattached is not None:
        notes.append(unattached)
    searched = None if found is None else Searched(found.study.study_name, found.searched)  # its images, checked
    result = correlate(
        config,
        archs,
        r.out,
        on_progress=on_progress,
        notes=notes,
        gt_storage=beside,
        proxy_asked=r.proxy_asked,
        searched=searched,
        check_data=check_data,
    )
    if found is not None and found.ladder:
        result.facts["ladder"] = ladder_regrets(found.ladder, result.rows)
    write_reports(result)
    if found is not None and unattached is None:
        attach_to_study(found.study, result, found.storage)
    return result
