"""From a ``nasproxy correlate`` request to a :func:`correlate` call (the study, the file, or the space) and its reports."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import optuna

from nas_proxy import checks
from nas_proxy.configs import CorrelateBudget
from nas_proxy.correlate import ground_truth as gt
from nas_proxy.correlate.archs import Arch, from_space, from_study, read_archs
from nas_proxy.correlate.config import CorrelateConfig, data_ref
from nas_proxy.correlate.ground_truth import GroundTruthConfig
from nas_proxy.correlate.report import attach_to_study, write_reports
from nas_proxy.correlate.result import CorrelateResult, OnProgress
from nas_proxy.correlate.runner import correlate
from nas_proxy.errors import InvalidArgumentError
from nas_proxy.search.study import load_config
from nas_proxy.spaces import get_space
from nas_proxy.studies.storage import open_storage, require_existing
from nas_proxy.synthetic import load_synthetic
from nas_proxy.trainers.synthetic_set import ProxyConfig


def early_points(text: str) -> tuple[float, ...]:
    """``--early``'s comma-separated epochs (no empty item, none twice)."""
    return tuple(checks.items("--early", text, checks.parse_float, show=lambda f: f"{f:g}"))


def _early(points: tuple[float, ...] | None, epochs: int) -> tuple[tuple[float, ...], list[str]]:
    """The early-stopping points (None: the default ones), and a note for each default one dropped
    because it is not before the ground truth's epochs (the defaults must fit each other; points
    given are checked, even when they equal the defaults)."""
    if points is not None:
        return points, []
    points = GroundTruthConfig().early
    dropped = [f"{f:g}" for f in points if f >= epochs]
    note = f"early stopping at {', '.join(dropped)} epochs (the default --early) is left out: not before --full-epochs {epochs}"
    return tuple(f for f in points if f < epochs), [note] if dropped else []


@dataclass
class CorrelateRequest:
    """What ``nasproxy correlate`` is asked: where the architectures come from (``study``, an
    ``archs`` file, or a sample of ``space``), the options of the run, and where it goes."""

    out: Path
    study: str | None = None  # take the architectures from this search study
    archs: str | None = None  # or from this JSON/CSV file
    storage: str | None = None  # the search study's storage (None: the default journal)
    space: str | None = None  # None: the study's
    synthetic: list[str] | None = None  # None: the study's synthetic set (none without a study)
    dataset: str | None = None  # the real data, when no synthetic set is given
    data_root: str | None = None
    proxies: list[str] | None = None  # proxy tokens or families; None: all
    random_subset: bool = True  # add a random real subset of the synthetic sets' size
    n_archs: int = CorrelateBudget.n_archs  # from the study or the space (the one default: configs.CorrelateBudget)
    ground_truth: GroundTruthConfig = field(default_factory=GroundTruthConfig)  # its ``early`` is replaced by ``early``
    early: tuple[float, ...] | None = None  # early-stopping points; None: the defaults before the full epochs (given: all checked)
    ceiling: int | None = None  # architectures trained with a second seed; None: all
    gt_storage: str | None = None  # the ground-truth study's storage (None: a journal under studies/)
    workers: int = CorrelateConfig.workers  # ground-truth processes on this machine
    n_boot: int = CorrelateConfig.n_boot  # bootstrap resamples (the one default: CorrelateConfig)
    seed: int | None = None  # None: with a study, the study's seed; else CorrelateConfig's default
    device: str = CorrelateConfig.device
    promote: int = CorrelateConfig.promote  # "proxy + promote K" in the report (the one default: CorrelateConfig)
    proxy: ProxyConfig = field(default_factory=ProxyConfig)  # how a synthetic-set proxy trains
    # the fields of ``proxy`` set on purpose (flags typed, a config file's keys, a profile's), whatever
    # their value; with a study the others are the study's own (a value equal to the default is no sign)
    proxy_given: frozenset[str] = frozenset()


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


def default_seed() -> int:
    """CorrelateConfig's seed default (the seed of a correlation without a study and without --seed)."""
    return next(f.default for f in fields(CorrelateConfig) if f.name == "seed")  # type: ignore[return-value]


def _config(
    r: CorrelateRequest, proxy: ProxyConfig, ground_truth: GroundTruthConfig, space: str, synthetic: list[str], seed: int | None
) -> CorrelateConfig:
    return CorrelateConfig(
        space=space,
        synthetic=synthetic,
        proxies=r.proxies,
        ground_truth=ground_truth,
        proxy=proxy,
        dataset=r.dataset,
        data_root=r.data_root,
        seed=default_seed() if seed is None else seed,
        ceiling=r.ceiling,
        random_subset=r.random_subset,
        n_boot=r.n_boot,
        device=r.device,
        workers=r.workers,
        gt_storage=r.gt_storage,
        promote=r.promote,
    )


@dataclass
class _FromStudy:
    """What ``--study`` decides: the architectures, and what the study searched with."""

    archs: list[Arch]
    space: str
    synthetic: list[str]
    proxy: ProxyConfig
    seed: int
    study: optuna.Study
    url: str
    notes: list[str]
    dataset: str | None = None  # the real data of a study searched on a proxy without a set (search --dataset)


def _from_study(r: CorrelateRequest, name: str, proxy: ProxyConfig) -> _FromStudy:
    """The study's best architectures, scored with the proxy training and the seed it searched with
    where the request left them at their defaults (its own scores reused when made the same way)."""
    require_existing(r.storage, name)
    storage, url = open_storage(r.storage, name)
    search_config, _ = load_config(storage, name)
    if search_config is None:
        raise InvalidArgumentError(f"{name!r} is a ground-truth study; --study takes a search study")
    space = r.space or search_config.space
    searched_on = [search_config.synthetic] if search_config.synthetic is not None else []  # none: a proxy on real data
    synthetic = searched_on if r.synthetic is None else list(r.synthetic)
    proxy, notes = _study_proxy(search_config.proxy, proxy, r.proxy_given)
    study = optuna.load_study(study_name=name, storage=storage)
    seed = search_config.seed if r.seed is None else r.seed  # not given: the same networks as in the search
    if seed != search_config.seed:
        notes.append(f"seed {seed} as asked, not the study's {search_config.seed}: the study's proxy scores are not reused")
    archs = from_study(study, r.n_archs, seed)
    if not archs:
        raise InvalidArgumentError(f"study {name!r} has no finished trials yet; run the search first")
    reusable = search_config.proxy == proxy and search_config.seed == seed and search_config.space == space
    sha = load_synthetic(synthetic[0]).meta.get("tensors_sha256") if synthetic else None
    for a in archs:  # search scores are reused only when made the same way on the same images
        if not (reusable and a.study_sha256 is not None and a.study_sha256 == sha):
            a.study_value = None
    return _FromStudy(archs, space, synthetic, proxy, seed, study, url, notes, search_config.dataset)


def correlate_command(r: CorrelateRequest, on_progress: OnProgress | None = None) -> CorrelateResult:
    """`nasproxy correlate`: the run ``r`` asks for, its reports written to ``r.out`` (and its
    summary to the search study's dashboard with ``r.study``).

    With ``r.study`` the synthetic set is scored with the proxy training and the seed the study
    searched with; an option given (``r.proxy_given``, ``r.seed``) overrides it, whatever its value."""
    early, notes = _early(r.early, r.ground_truth.epochs)
    ground_truth = replace(r.ground_truth, early=early)
    proxy = r.proxy
    checks.positive("--n-archs", r.n_archs)
    _config(r, proxy, ground_truth, r.space or "", list(r.synthetic or []), r.seed).validate()  # before any file is touched
    if r.archs:
        checks.existing_file("--archs", r.archs)
    synthetic, seed, space_name = list(r.synthetic or []), default_seed() if r.seed is None else r.seed, r.space
    found = None
    archs: list[Arch]
    if r.study:
        found = _from_study(r, r.study, proxy)
        archs, space_name, synthetic, proxy, seed = found.archs, found.space, found.synthetic, found.proxy, found.seed
        notes += found.notes
        if r.dataset is None and not synthetic:  # searched with --proxy on --dataset: the same data
            r = replace(r, dataset=found.dataset)
    elif r.archs:
        if not space_name:
            raise InvalidArgumentError("--archs needs --space: the space the architectures belong to")
        archs = read_archs(r.archs, get_space(space_name))
    else:
        if not space_name:
            raise InvalidArgumentError("--sample needs --space")
        space = get_space(space_name)
        archs = from_space(space, r.n_archs, seed)
        if len(archs) < r.n_archs and len(archs) == space.size():
            notes.append(f"space {space_name!r} holds {len(archs)} architectures, fewer than --n-archs {r.n_archs}: all of them are used")
    config = _config(r, proxy, ground_truth, space_name or "", synthetic, seed)
    if found is not None and config.gt_storage is None:  # the ground truth beside its search: one dashboard shows both
        config = replace(config, gt_storage=gt.storage_beside(found.url, data_ref(config)[0], config.ground_truth))
    result = correlate(config, archs, r.out, on_progress=on_progress, notes=notes)
    write_reports(result)
    if found is not None:
        attach_to_study(found.study, result, found.url)
    return result
