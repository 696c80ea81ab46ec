"""``nasproxy run PRESET``: distill -> search -> correlate from one TOML file (see ``studies/``).

A preset whose ``[search] proxy_name`` names a proxy that trains on no distilled set
(``random-ipc10``, ``early@1ep``, a training-free score) skips the distillation: the search scores
with that proxy on ``[search] dataset`` (the run's ``--dataset``), then promotion and the report as
with a set. Without ``proxy_name`` (or naming the preset's own set), distill -> search on the set.

Every stage resumes: distillation from its checkpoint, the search from its study, the correlation
from its caches; running the same preset again after an interruption continues where it stopped.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna

from nas_proxy import checks, configs
from nas_proxy.calibrate.selection import ranker
from nas_proxy.configs import CorrelateBudget, SearchBudget
from nas_proxy.correlate import CorrelateConfig, Progress, correlate, from_study
from nas_proxy.correlate.config import check_promote, data_ref
from nas_proxy.correlate.runner import folders_written
from nas_proxy.distill import DistillConfig, distill
from nas_proxy.errors import (
    ArtifactError,
    DataChangedError,
    DifferentRunError,
    DivergedError,
    InterruptedRunError,
    InvalidArgumentError,
    NasProxyError,
    NasProxyWarning,
    NothingCountedError,
    OutputConflictError,
)
from nas_proxy.files import check_writable, output_lock, watch
from nas_proxy.groundtruth.study import storage_beside
from nas_proxy.ladders import FULL, parse_ladder
from nas_proxy.protocols import GroundTruthConfig
from nas_proxy.proxies import RunSetup
from nas_proxy.proxies.choose import check_training_used, resolve
from nas_proxy.proxies.synthetic import SyntheticSetProxy
from nas_proxy.report.command import saved_tables
from nas_proxy.report.render import attach_to_study, write_reports
from nas_proxy.search import ProxyConfig, SearchConfig, promotion, search
from nas_proxy.search.config import default_pruner, promotion_epochs
from nas_proxy.search.study import different_settings, load_config
from nas_proxy.search.target import check_options_used, open_proxy
from nas_proxy.spaces import get_space
from nas_proxy.studies.kinds import StudyNotFoundError
from nas_proxy.studies.storage import artifact_dir, check_writable_storage, default_storage_url, journal_path, open_storage, study_dir
from nas_proxy.trainers.fulldata import DataRef
from nas_proxy.utils import resolve_device

if TYPE_CHECKING:
    from nas_proxy.profile import ProxyProfile

# the keys of each table of a preset: the stages' dataclass fields (see nas_proxy.configs), less
# those the pipeline sets itself (the device from the top level, the synthetic set it made, ...)
DISTILL_KEYS = configs.fields(DistillConfig) - {"device"}
SEARCH_KEYS = configs.fields(SearchConfig, SearchBudget) - {"synthetic", "device", "data_root"}
CORRELATE_KEYS = (
    configs.fields(CorrelateConfig, CorrelateBudget)
    - set(configs.CORRELATE_NOT_FROM_FILE)
    - {
        # (CORRELATE_NOT_FROM_FILE: what `correlate --config` refuses too; before stop 50 a preset's zero_cost_batch was
        # taken, and left out of the correlate/config.toml the run wrote: review50)
        "space",  # the search's
        "synthetic",  # the set distill made
        "proxy",  # the search's proxy training, so that the search scores are reused
        "dataset",  # the synthetic set's
        "data_root",
        "seed",  # the search's
        "device",  # the top level's
    }
)


PRESETS_DIR = Path("presets")  # the shipped presets, beside the working directory: `nasproxy run NAME` reads presets/NAME.toml
SEARCH_DIR, CORRELATE_DIR = "search", "correlate"  # a run's stages' folders in runs/NAME


def find_preset(given: Path | str) -> Path:
    """The preset file ``given`` names: a path, or the name of one in ``presets/`` (``demo``:
    ``presets/demo.toml``). A path under ``studies/`` where the presets were before they moved to
    ``presets/`` (``studies/`` holds only the studies' storages now) is refused in one line naming
    the new path."""
    path = Path(given)
    if checks.status("preset", path) is not None:
        return path
    named = PRESETS_DIR / f"{path}.toml"
    if len(path.parts) == 1 and not path.suffix and checks.status("preset", named) is not None:
        return named
    moved = path.parent.parent / PRESETS_DIR / path.name
    if path.parent.name == "studies" and path.suffix == ".toml" and checks.status("preset", moved) is not None:
        raise InvalidArgumentError(f"preset {path} moved to {moved} (studies/ holds the studies' storages only); run: nasproxy run {moved}")
    # the path as .missing, in checks' one wording (a dangling link said as one): before stop 53 it carried none
    raise checks.not_found("preset", path, remedy="give a preset file, or the name of one in presets/ (e.g. demo)")


def load_preset(path: Path | str) -> dict[str, Any]:
    """The preset's tables, with every value of every stage checked (see :func:`plan`)."""
    return plan(path).preset


def _read_preset(path: Path | str) -> dict[str, Any]:
    """The preset's tables, checked for unknown keys and a plain ``name`` (it names a folder)."""
    path = find_preset(path)
    preset = configs.read(path, "preset")
    configs.check_keys(f"{path}", {k: v for k, v in preset.items() if not isinstance(v, dict)}, configs.TOP_LEVEL)
    configs.check_keys(f"{path}", {k: v for k, v in preset.items() if isinstance(v, dict)}, ("distill", "search", "correlate"), "table")
    for section, keys in (("distill", DISTILL_KEYS), ("search", SEARCH_KEYS), ("correlate", CORRELATE_KEYS)):
        configs.check_keys(f"{path} [{section}]", configs.table(preset, section, f"{path} [{section}]"), keys)
    name = preset.get("name", path.stem)
    checks.text(f"{path}: 'runs'", preset.get("runs", "runs"))
    # a run made under a decomposed (NFD) name before stop 52 goes on by that name (fix53c's rule for studies)
    checks.plain_name(
        f"{path}: 'name'", name, "folder under runs/ and a study", existing=lambda: (Path(preset.get("runs", "runs")) / name).is_dir()
    )
    checks.not_home_shorthand(f"{path}: 'runs'", preset.get("runs", "runs"))
    checks.no_control_character(f"{path}: 'runs'", preset.get("runs", "runs"))  # before probe46, a folder 'r\nx' made
    if not preset.get("runs", "runs").strip():
        raise InvalidArgumentError(f"{path}: 'runs' is the folder the run goes in; give a path such as \"runs\", got {preset['runs']!r}")
    checks.text(f"{path}: 'device'", preset.get("device", "auto"))
    checks.text(f"{path}: 'description'", preset.get("description", ""))
    return {**preset, "name": name}


@dataclass
class Plan:
    """Every stage's configuration, built and validated before the first stage starts."""

    preset: dict[str, Any]  # the file's tables as read
    name: str
    runs: Path
    distill: DistillConfig | None  # None: the search's proxy trains on no distilled set (nothing is distilled)
    search: SearchConfig
    budget: SearchBudget  # trials, timeout, workers, promotion
    n_archs: int
    correlate: CorrelateConfig
    path: Path  # the preset file, as find_preset found it: a stage's refusal of a path the preset writes names it
    profile: ProxyProfile | None = None  # run --proxy-profile's, read once
    profile_path: str | None = None  # where it was read from (its refusals name it)

    @property
    def synthetic(self) -> Path | None:
        """The set distill makes; None when nothing is distilled."""
        return None if self.distill is None else _set_dir(self.runs, self.distill)

    def tables(self) -> dict[str, Any]:
        """The resolved preset, in the preset's own spelling: read back, it plans the same run."""
        c = configs.plain(self.correlate)
        s = configs.plain(self.search)
        distill = {} if self.distill is None else {"distill": {k: v for k, v in configs.plain(self.distill).items() if k in DISTILL_KEYS}}
        return {
            "name": self.name,
            "device": self.search.device,
            "runs": str(self.runs.parent),
            **distill,
            "search": {
                **{k: v for k, v in s.items() if k in SEARCH_KEYS},
                **configs.plain(self.budget),
            },
            # promote only when the preset gave it: a default one is the report's to judge, not refused (see plan)
            "correlate": {
                **{k: v for k, v in c.items() if k in CORRELATE_KEYS and (k != "promote" or k in self.preset.get("correlate", {}))},
                "n_archs": self.n_archs,
            },
        }


def plan(preset_path: Path | str, dataset: str | None = None, device: str | None = None, proxy_profile: str | None = None) -> Plan:
    """The configurations of the three stages of a preset, every value checked (one-line errors).
    ``proxy_profile`` (a file ``nasproxy calibrate`` wrote) sets the proxy training's values that
    the preset's ``[search.proxy]`` does not (defaults < profile < preset, as on ``search``), and its
    ladder (``calibrate --ladders``) when ``[search]`` names no ``proxy_name`` or ``ladder``."""
    preset = _read_preset(preset_path)
    name, dev = preset["name"], device or preset.get("device", "auto")
    resolve_device(dev)
    if dataset:
        name = f"{name}-{dataset.replace(':', '_').replace('/', '_')}"
    runs = Path(preset.get("runs", "runs")) / name
    path = find_preset(preset_path)  # as _read_preset found it: messages name the file
    table = dict(preset.get("search", {}))
    profile = None
    if proxy_profile is not None:
        from nas_proxy.profile import read_profile

        profile = read_profile(proxy_profile)  # read once: its ladder here, its proxy values in _search
    if profile is not None and not {"proxy_name", "ladder"} & set(table):
        chosen = profile.ladder
        if chosen is not None:  # the ladder calibrate --ladders chose, where the preset names no proxy or ladder
            table["ladder"] = chosen
    # a preset with a proxy on real data names its data in [search] (checked as distill checks a dataset)
    data_section = "search" if "distill" not in preset and ("proxy_name" in table or "ladder" in table) else "distill"
    with _section(path, data_section, preset):
        given_data = dataset or (table.get("dataset") if data_section == "search" else None)
        built = configs.build(DistillConfig, preset.get("distill", {}), f"{path} [distill]", dataset=given_data, device=dev)
        built.validate()
    if profile is not None:  # before branch probe41 a profile of another dataset's set was used without a word
        profile.check_dataset(built.dataset, f"this run's data is {built.dataset}", f"--proxy-profile {proxy_profile}")
    with _section(path, "search", preset):
        real = _real_data(table, runs, built, dev)
    dc: DistillConfig | None = built
    if real is not None:
        if "distill" in preset:
            raise InvalidArgumentError(
                f"{path} [distill]: [search] proxy_name = {table['proxy_name']!r} trains on no distilled set, so nothing is distilled; "
                "drop the [distill] table (the data is [search] dataset, or run --dataset)"
            )
        dc = None
        with _section(path, "search", preset):
            sc, budget = _search(table, f"{path} [search]", None, dev, real, profile)
    else:
        with _section(path, "search", preset):
            if "dataset" in table:
                raise InvalidArgumentError(
                    'key \'dataset\' is the data of a proxy on real data (proxy_name = "random-ipc10", "early@1ep"); '
                    "a search on the distilled set uses [distill] dataset: drop it, or name such a proxy"
                )
            sc, budget = _search(table, f"{path} [search]", _set_dir(runs, built), dev, profile=profile)
            _check_set_options(sc, set(configs.table(table, "proxy", f"{path} [search]")), built, _set_dir(runs, built))
    if profile is not None:  # before branch fix42a a profile calibrated on another space's architectures passed
        profile.check_space(sc.space, f"--proxy-profile {proxy_profile}")
    with _section(path, "correlate", preset):
        c = dict(preset.get("correlate", {}))
        where = f"{path} [correlate]"
        n_archs = configs.build(CorrelateBudget, {k: v for k, v in c.items() if k == "n_archs"}, where).n_archs
        checks.positive("n_archs", n_archs)
        given = configs.values(CorrelateConfig, {k: v for k, v in c.items() if k != "n_archs"}, where)
        data: dict[str, Any] = {"synthetic": [sc.synthetic]} if sc.synthetic else {"synthetic": [], "dataset": sc.dataset}
        cc = CorrelateConfig(**{**given, **data, "space": sc.space, "proxy": sc.proxy, "seed": sc.seed, "device": dev})
        if "early" not in c.get("ground_truth", {}):  # the defaults fit the epochs, as correlate's do (stop 49: refused)
            cc = dataclasses.replace(cc, ground_truth=_default_early(path, cc.ground_truth))
        cc.validate()
        if "promote" in c:  # as correlate --promote: the default (5) is left to the report, it was not asked for
            check_promote(cc.promote, n_archs, "promote")
    if dc is not None:  # last: a key misspelt anywhere in the preset is named first
        _check_distill_given(path, preset, dataset)
    if dataset:
        budget, cc = _fit_images(path, built, budget, cc)
    return Plan(preset, name, runs, dc, sc, budget, n_archs, cc, path, profile, proxy_profile)


def _check_distill_given(path: Path, preset: dict[str, Any], dataset: str | None) -> None:
    """A run that distils needs what ``distill`` needs, ``dataset`` (or ``run --dataset``) and ``ipc``: before probe49 a
    preset without a [distill] table (or with one that named neither) distilled DistillConfig's defaults, Fashion-MNIST
    at IPC 10 for 20,000 iterations (hours on a CPU), without a word."""
    table = preset.get("distill")
    if table is None:
        raise InvalidArgumentError(
            f"{path}: no [distill] table, and the search is on the set it makes (no [search] proxy_name): give [distill] "
            'with dataset and ipc, as distill asks, or search with a proxy on real data (proxy_name = "random-ipc10" and '
            "[search] dataset)"
        )
    missing = [k for k in ("dataset", "ipc") if k not in table and not (k == "dataset" and dataset)]
    if missing:
        raise InvalidArgumentError(
            f"{path} [distill]: {' and '.join(repr(k) for k in missing)} required, as distill's {' and '.join('--' + k for k in missing)}"
            + (" (or run --dataset)" if "dataset" in missing else "")
        )


def _default_early(path: Path, ground_truth: GroundTruthConfig) -> GroundTruthConfig:
    """The default early-stopping points before ``[correlate.ground_truth] epochs``, with a warning for those left
    out, as ``correlate --full-epochs`` leaves them out (a 1-epoch ground truth: no early stopping at 1 epoch)."""
    fitted, dropped = ground_truth.default_early_fitted()
    if dropped:
        shown = ", ".join(f"{f:g}" for f in dropped)
        warnings.warn(
            NasProxyWarning(
                f"{path} [correlate.ground_truth]: early stopping at {shown} epochs (the default early) is left out:"
                f" not before epochs = {ground_truth.epochs}"
            ),
            stacklevel=3,
        )
    return fitted


def _fit_images(path: Path, data: DistillConfig, budget: SearchBudget, cc: CorrelateConfig) -> tuple[SearchBudget, CorrelateConfig]:
    """``run --dataset``: the preset's image counts (``promote_images``, ``[correlate.ground_truth] images``)
    were chosen for its own data. Where the data given instead has fewer training images, every one of
    them is used, with a warning, rather than the preset refused as a typed ``--promote-images`` is
    (``make demo`` falls back to digits, 1,078 training images, under the demo's 6,000)."""
    from nas_proxy.data import load_dataset

    asked = {"promote_images": budget.promote_images, "[correlate.ground_truth] images": cc.ground_truth.images}
    if all(n is None for n in asked.values()):
        return budget, cc
    split = load_dataset(data.dataset, data.data_root, image_size=data.image_size).split(data.split_seed, data.val_fraction)
    have = int(split.train_y.numel())
    over = [f"{key} = {n}" for key, n in asked.items() if n is not None and n > have]
    if not over:
        return budget, cc
    warnings.warn(
        NasProxyWarning(f"{path}: {' and '.join(over)} is more than the {have} training images of {data.dataset}: all of them are used"),
        stacklevel=2,
    )

    def fit(n: int | None) -> int | None:
        return None if n is not None and n > have else n

    ground_truth = dataclasses.replace(cc.ground_truth, images=fit(cc.ground_truth.images))
    return dataclasses.replace(budget, promote_images=fit(budget.promote_images)), dataclasses.replace(cc, ground_truth=ground_truth)


@contextmanager
def _section(path: Path, section: str, preset: Mapping[str, Any]) -> Iterator[None]:
    """Say which table of the preset a refused value is in."""
    try:
        yield
    except NasProxyError as e:
        raise _in_preset(e, path, section, preset) from None


@contextmanager
def _preset_paths(path: Path, preset: Mapping[str, Any], typed: Sequence[str | None] = ()) -> Iterator[None]:
    """Say which table of the preset writes a path that a stage found missing (an image folder, a data root: the data
    is read by the stage, after the plan), as :func:`_section` says it of the plan's. Before stop 53 ``run sub/p.toml``
    said only "image folder pics does not exist", with neither the file, the table nor where a relative path is read
    from. A missing path the preset does not write (``run --dataset``'s, the run's own folders) is left as it is; so is
    one the command line gave (``typed``: ``run p.toml --dataset imagefolder:pics``), whatever the preset holds (before
    review54's find a preset named "pics" was said to write it)."""
    try:
        yield
    except NasProxyError as e:
        section = _table_writing(e.missing, preset)
        if section is None or (e.missing is not None and _writes([t for t in typed if t], e.missing)):
            raise
        raise _in_preset(e, path, section, preset) from None


@contextmanager
def _data_root_in_preset() -> Iterator[None]:
    """A data root that is no folder, said with the preset's key that gives it: ``run`` takes no ``--data-root``, which
    the loader's remedy names (before stop 54 run's line told the user to give that option)."""
    from nas_proxy.data.registry import DataRootError

    try:
        yield
    except DataRootError as e:
        raise e.with_remedy("give the folder that holds the dataset's files as the preset's [distill] data_root") from e


def _in_preset(error: NasProxyError, path: Path, section: str, preset: Mapping[str, Any]) -> NasProxyError:
    """``error`` said of the preset ``path``'s table ``section`` ("" for its top level), with the hint that a relative
    path is read from the working folder where that is the path missing."""
    cause = error.cause
    if path.parent.resolve() != Path.cwd() and _names_relative(error, preset):  # before probe49 a path beside the
        # preset (space = "my-space.toml" next to it) was said not to exist, whatever folder the user meant it in
        cause += f" (a preset's paths are relative to the working folder, as on the command line, not to the preset's {path.parent})"
    where = f"{path} [{section}]" if section else f"{path}"
    # its class, fields and remedy kept (before stop 50 type(e)(text): a class of other arguments could not be made so)
    return error.with_cause(cause if cause.startswith(f"{path} [") else f"{where}: {cause}")


def _names_relative(error: NasProxyError, preset: Mapping[str, Any]) -> bool:
    """Whether ``error`` is a relative path the preset writes that does not exist (``space = "my-space.toml"``,
    ``select_by = "gt.csv"``): the one a reader may have meant beside the preset. Decided by the path the error says
    is missing (:attr:`NasProxyError.missing`), compared with the preset's values as paths: before stop 52 by
    matching them in its text, so a cause worded otherwise had no hint; before stop 51 every cause that said "does
    not exist" had it, an absolute path's and a flag's too, which no folder changes."""
    if error.missing is None or Path(error.missing).expanduser().is_absolute():
        return False
    return _writes(preset, error.missing)


def _table_writing(missing: str | None, preset: Mapping[str, Any]) -> str | None:
    """The table of the preset (its name; "" for the top level) that writes the path ``missing``; None where none does."""
    if missing is None:
        return None
    tables = [(k, v) for k, v in preset.items() if isinstance(v, Mapping)]
    top = {k: v for k, v in preset.items() if not isinstance(v, Mapping) and k != "name"}  # the run's name is no path
    return next((name for name, table in [("", top), *tables] if _writes(table, missing)), None)


def _writes(value: Any, missing: str) -> bool:
    """Whether a string in ``value`` (a preset's table) is the path ``missing``: a path itself (``select_by``), or after
    its kind (``imagefolder:pics``), ``~`` expanded in both (an image folder's path is expanded before it is read)."""
    path = Path(missing).expanduser()
    return any(Path(written).expanduser() == path for v in _strings(value) for written in {v, v.partition(":")[2]} - {""})


def _strings(value: Any) -> Iterator[str]:
    """Every string in a preset's tables (and their lists and sub-tables)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _set_dir(runs: Path, dc: DistillConfig) -> Path:
    return runs / f"synthetic-{dc.method}-ipc{dc.ipc}"


def _real_data(table: dict[str, Any], runs: Path, dc: DistillConfig, device: str) -> str | None:
    """The dataset the search scores on when ``[search] proxy_name`` (or the first rung of ``[search]
    ladder``) names a proxy that trains on no
    distilled set (resolved through the proxy registry; nothing is loaded); None: the search is on
    the set distill makes (no ``proxy_name``, or the set's own name). A token that is neither is
    refused here by the registry, in one line naming what it knows."""
    if isinstance(table.get("proxy"), str):
        raise InvalidArgumentError(
            f"'proxy' is the table of the proxy's training ([search.proxy]); name the proxy with proxy_name = {table['proxy']!r}"
        )
    if "space" not in table:
        raise InvalidArgumentError("key 'space' is required: a registered space (nasproxy spaces) or a space file")
    if "ladder" in table and not isinstance(table["ladder"], str):
        raise InvalidArgumentError(
            f"ladder must be one string of rungs, e.g. 'random-ipc10:1.0,early@1ep:0.2,full:3', got {table['ladder']!r}"
        )
    token = table.get("proxy_name")
    if token is None and "ladder" in table:  # a ladder: its first rung is the search's proxy
        token = parse_ladder(table["ladder"])[0].proxy
    if token is None or token == _set_dir(runs, dc).name.removeprefix("synthetic-"):  # datadam-ipc10: the set's own proxy
        return None
    checks.text("proxy_name", token)
    # dc.dataset: the run's --dataset, else [search] dataset, else DistillConfig's default (see plan)
    resolve(RunSetup(space=get_space(table["space"]), data=DataRef(dc.dataset), out=runs, device=device), token)
    return dc.dataset


def _search(
    table: dict[str, Any], where: str, synthetic: Path | None, device: str, dataset: str | None = None, profile: ProxyProfile | None = None
) -> tuple[SearchConfig, SearchBudget]:
    """The search's configuration: on ``synthetic`` (the set distill makes), or, None, with its
    ``proxy_name`` on ``dataset`` (the run's ``--dataset``; else the table's); the proxy training
    from ``profile`` (read by :func:`plan`) where ``[search.proxy]`` sets no value."""
    if "space" not in table:
        raise InvalidArgumentError("key 'space' is required: a registered space (nasproxy spaces) or a space file")
    budget = configs.build(SearchBudget, {k: v for k, v in table.items() if k in configs.fields(SearchBudget)}, where)
    checks.count("n_trials", budget.n_trials, checks.TRIALS_MAX, checks.TRIALS_WHY)  # now: not after distilling (review59)
    checks.number("timeout", budget.timeout, 0, low_open=True, optional=True)
    checks.count("workers", budget.workers, checks.WORKERS_MAX, checks.WORKERS_WHY)
    promotion.check(budget.promote, promotion_epochs(budget.promote_epochs), budget.promote_images, budget.promote_protocol)
    given = configs.values(SearchConfig, table, where)
    given.setdefault("pruner", default_pruner(given.get("objectives")))
    if profile is not None:
        proxy_table = configs.table(table, "proxy", where)
        given["proxy"] = profile.apply(given.get("proxy", ProxyConfig()), set(proxy_table))
    data = {"synthetic": str(synthetic)} if synthetic is not None else {"synthetic": None, "dataset": dataset}
    sc = SearchConfig(**{"proxy": ProxyConfig(), **given, **data, "device": device})
    sc.validate()
    promotion.check_used(budget.promote, budget.promote_epochs, budget.promote_images, sc.ladder, budget.promote_protocol)
    get_space(sc.space)  # an unknown space or a broken space file is refused now, not after distilling
    if synthetic is None:  # a proxy on real data: what changes nothing for it is refused now (the search checks a set's own)
        rungs: list[str | None] = [r.proxy for r in parse_ladder(sc.ladder) if r.proxy != FULL] if sc.ladder else [sc.proxy_name]
        check_options_used(sc, rungs, set(configs.table(table, "proxy", where)))
    return sc, budget


def _check_set_options(sc: SearchConfig, asked: set[str], dc: DistillConfig, set_dir: Path) -> None:
    """What changes nothing for a search on the set that ``dc`` is to make in ``set_dir`` is refused
    now, not after distilling: ``hard_labels`` when the set gets no soft labels, proxy training
    options that no proxy of a ladder uses. The set's proxy is resolved from ``dc`` alone (the set
    need not exist); the ladder's other rungs by name; nothing is read or made."""
    setup = RunSetup(space=get_space(sc.space), data=DataRef(dc.dataset), out=set_dir.parent, training=sc.proxy, device=sc.device)
    own = set_dir.name.removeprefix("synthetic-")  # datadam-ipc10: the set's own proxy, as _real_data names it
    held = dc.soft_labels.teachers > 0
    made = SyntheticSetProxy(setup, own, dc.method, str(set_dir), dc.ipc, soft=held and not sc.proxy.hard_labels, has_soft_labels=held)
    tokens = [r.proxy for r in parse_ladder(sc.ladder) if r.proxy != FULL] if sc.ladder else [sc.proxy_name]
    check_training_used(sc.proxy, [made if t is None or t == own else resolve(setup, t) for t in tokens], asked, "search")


def asked_proxy_options(preset: dict[str, Any]) -> set[str]:
    """The proxy-training fields a preset's ``[search.proxy]`` sets (a proxy profile's are not asked for)."""
    table = preset.get("search", {}).get("proxy", {})
    return set(table) if isinstance(table, dict) else set()


def _check_max_params(p: Plan) -> None:
    """A ``max_params`` that excludes every architecture is refused before the distillation (the
    search would refuse it after): it needs the dataset's image shape, so the data is read once."""
    if p.search.max_params is None:
        return
    from nas_proxy.data import load_dataset
    from nas_proxy.search.runner import check_max_params

    d = p.distill
    data = load_dataset(str(p.search.dataset), None) if d is None else load_dataset(d.dataset, d.data_root, image_size=d.image_size)
    check_max_params(get_space(p.search.space), p.search.max_params, data.channels, data.num_classes, data.image_size)


def run(
    preset_path: Path | str,
    dataset: str | None = None,
    device: str | None = None,
    progress: bool = False,  # the library is silent unless asked; the CLI asks
    on_stage: Callable[[str], None] | None = None,
    proxy_profile: str | None = None,
) -> dict[str, Any]:
    """Run the three stages of a preset; returns where everything went, and ``seconds``: the wall
    time of each stage that ran, in order (``distill``, ``search``, ``promotion``, ``ground truth``,
    ``correlate``: the proxies, metrics and reports), and ``seconds_total``. ``progress`` shows the
    stages' progress bars; ``on_stage`` is told, in one line, each stage as it starts and as it ends
    (with its time). The data is read once for the plan and every stage."""
    from nas_proxy.data.registry import read_once

    t_run = time.perf_counter()
    with read_once(), _data_root_in_preset():
        p = plan(preset_path, dataset, device, proxy_profile)
        # one run of a preset at a time, as one distill of a folder: before probe47 two at once both distilled the same set,
        # searched and wrote the same report, exit 0 each
        with (
            output_lock(p.runs, busy=f"{p.runs} is being run by another nasproxy process", fix="wait for it to finish"),
            ExitStack() as held,
        ):
            # and each stage's folder, which another command may name as its own --out: before probe49 `distill --out
            # runs/p/synthetic-datadam-ipc1 --resume` beside `run p` distilled into one set with it, both exit 0 (correlate
            # --out runs/p/correlate beside its correlate stage the same), where that command alone held a lock
            for folder in stage_folders(p):
                held.enter_context(output_lock(folder))
            with _preset_paths(p.path, p.preset, (dataset, proxy_profile)):
                return _run(p, progress, on_stage, t_run)


def stage_folders(p: Plan) -> list[Path]:
    """The folders of ``p``'s stages in its run's folder: the set distill makes (when one is), the search's, the correlation's."""
    return [*([p.synthetic] if p.synthetic is not None else []), p.runs / SEARCH_DIR, p.runs / CORRELATE_DIR]


def _not_another_config(runs: Path, name: str) -> None:
    """Refuse a run folder whose config.toml is not a run's of this name (a folder made by hand, a file of the user's):
    the run writes its own there as it ends. Before probe51 ``run NAME`` over a runs/NAME/config.toml of the user's
    overwrote it, exit 0; a run's own (of an earlier run of this preset, edited or not) passes."""
    path = runs / configs.SAVED
    if not path.is_file() or configs.empty_own(path, "the resolved preset"):
        return
    try:
        doc = configs.tomllib.loads(checks.read_text("the run's", path, checks.SETTINGS_BYTES_MAX))
    except (configs.tomllib.TOMLDecodeError, InvalidArgumentError, RecursionError):
        doc = None
    # the start of one, cut short (fix59): its first line names the run, its keys are a preset's
    keys = {*configs.TOP_LEVEL, "distill", "search", "correlate"}
    first, ours = configs.dumps({"name": name}).strip(), lambda d: d.get("name") == name and set(d) <= keys
    if isinstance(doc, dict) and doc.get("name") == name and isinstance(doc.get("search"), dict):
        configs.torn_own(path, "the resolved preset", first, ours, read_whole=True)  # said where cut at a line's end (fix61b)
        return
    if configs.torn_own(path, "the resolved preset", first, ours):
        return
    raise OutputConflictError(
        f"{path} is not the resolved preset of run {name!r}, which the run would overwrite (a file of yours, or of another command's)",
        remedy="move it out of the folder, or give the preset another name (name = ...)",
    )


# what a run whose study was begun under other preset options says to do (it takes no --study: its study is its name)
STUDY_REMEDY = (
    "it is this run's study, begun with other preset options: put the preset's back as they were there to continue "
    "it, or give the preset another name (name = ...), which starts a run of its own"
)


# what a run whose study was searched on other images says to do (as STUDY_REMEDY: it takes no --study)
DATA_REMEDY = "give the data it was made from, or give the preset another name (name = ...), which starts a run of its own"


def _not_another_set(p: Plan) -> None:
    """Refuse, before its set is distilled, a run whose study was begun on another set: its preset's [distill] edited
    since (the set's folder is named after those options). Before stop 51 the new set was distilled first (hours on a
    real preset), then the search refused the study (probe51). The search checks every other setting as before."""
    syn, journal = p.synthetic, journal_path(default_storage_url(p.name))
    if p.distill is None or syn is None or (syn / "meta.json").is_file() or journal is None or not journal.is_file():
        return  # a set made (the search compares its images with the study's, wherever it is now), or no study yet
    try:
        stored, _ = load_config(open_storage(None, p.name).backend, p.name)
    except StudyNotFoundError:  # none of that name, or not a search's: the search says what it finds
        return
    was = stored.synthetic if stored is not None else None
    if was is not None and was != p.search.synthetic:  # in the search's words, with the run's remedy
        raise different_settings(p.name, [f"synthetic set {was} there, {p.search.synthetic} now"]).with_remedy(STUDY_REMEDY)


def _profile_data_check(p: Plan) -> Callable[[DataRef, str], None] | None:
    """``run --proxy-profile``'s check of the real data (a :class:`DataRef` and its content_sha256): data of the profile's
    dataset but another copy than the one it was calibrated on (``calibration.dataset_sha256``) refused
    (:meth:`~nas_proxy.profile.ProxyProfile.check_digest`), as ``search --proxy-profile`` refuses it; None without a profile."""
    return None if p.profile is None else p.profile.data_check(f"--proxy-profile {p.profile_path}")


def _check_distill_data(p: Plan, check: Callable[[DataRef, str], None] | None) -> None:
    """The data a run distils from, through ``check`` (:func:`_profile_data_check`), before it is distilled (read once:
    distill takes the same :class:`~nas_proxy.data.base.Dataset`). A search on real data is checked by the search."""
    d = p.distill
    if check is None or d is None:
        return
    from nas_proxy.data import load_dataset

    data = load_dataset(d.dataset, d.data_root, image_size=d.image_size)
    check(DataRef(d.dataset, data_root=d.data_root, image_size=d.image_size), data.content_sha256())


def _run(p: Plan, progress: bool, on_stage: Callable[[str], None] | None, t_run: float) -> dict[str, Any]:
    seconds: dict[str, float] = {}
    _check_max_params(p)
    # before stop 54 run compared a profile's dataset by name alone, and distilled or searched other images of it unsaid
    check_data = _profile_data_check(p)
    _check_distill_data(p, check_data)
    name, runs, syn = p.name, p.runs, p.synthetic
    # before the first stage writes; its stages' folders too: before perm48 a run whose runs/NAME/correlate this user may not
    # write distilled and searched, then refused there
    outputs = [runs, *([syn] if syn is not None else []), runs / SEARCH_DIR, *folders_written(runs / CORRELATE_DIR)]
    for path in (*outputs, study_dir(name), artifact_dir(default_storage_url(name), name)):
        check_writable(path)
    check_writable_storage(None, name)
    _not_another_config(runs, name)
    _not_another_set(p)
    # the run's folder (a new run's made by run's output_lock), before this command writes in it: moved or deleted
    # meanwhile, no stage makes it again (the lock watches it already; this, where the file system has no flock)
    watch(runs)
    tell = on_stage or (lambda line: None)
    if p.distill is not None and syn is not None:
        tell(f"[1/3] distill {p.distill.dataset} -> {syn}")
        t0 = time.perf_counter()
        try:
            distill(p.distill, syn, resume=(syn / "checkpoint.safetensors").is_file(), progress=progress, ranker=ranker(p.distill))
        except InterruptedRunError as e:  # its hint names the distill command; `run` resumes by itself
            raise KeyboardInterrupt from e
        except DifferentRunError as e:  # the preset's [distill] options changed since the set was begun (review50: the
            # remedy said to remove it, though putting the options back continues it, and the set may be finished)
            raise e.with_remedy(
                f"it is this run's set, begun with other [distill] options: put the preset's back as they were there to "
                f"continue it, or remove {syn} and run the same preset again, which distils it anew"
            ) from e
        except DivergedError as e:  # its remedy says distill's --force (fix50a): the set must be begun again under new options
            if e.fix is None:
                raise
            raise e.with_remedy(f"{e.fix} in the preset's [distill], remove {syn} and run the same preset again") from e
        except (ArtifactError, OutputConflictError) as e:
            # distill's remedy names distill's options (--force, --resume) or distill, which `run` does not take (before stop 49:
            # 'start again with --force'); the set is the run's own (its folder named by the preset's options): removed, the
            # same run distils it anew. Its cause is said as it is: taken from the error's field, never cut from its text
            if e.remedy is None:
                raise
            raise e.with_remedy(f"it is this run's set: remove {syn} and run the same preset again, which distils it anew") from e
        seconds["distill"] = time.perf_counter() - t0
        tell(f"[1/3] distill done in {clock(seconds['distill'])}")
    else:
        proxy = f"proxy {p.search.proxy_name}" if p.search.proxy_name else f"ladder {p.search.ladder}"
        tell(f"[1/3] distill: skipped, the search's {proxy} needs no distilled set")

    sc = p.search
    b = p.budget
    promoting = f", then the best {b.promote} trained on real data" if b.promote else ""
    on = f" with {sc.proxy_name or 'the ladder ' + str(sc.ladder)} on {sc.dataset}" if syn is None else ""
    tell(f"[2/3] search {sc.space}{on}: study {name}, {b.n_trials} trials{promoting}")
    t0 = time.perf_counter()
    try:
        found = search(  # it opens the study's storage once its own checks pass: a refusal leaves no empty journal behind
            sc,
            name,
            b.n_trials,
            None,
            b.timeout,
            b.workers,
            runs / SEARCH_DIR,
            progress=progress,
            promote=b.promote,
            promote_epochs=b.promote_epochs,
            promote_images=b.promote_images,
            promote_protocol=b.promote_protocol,
            proxy_options=asked_proxy_options(p.preset),
            check_data=check_data,  # the data it loads, before anything is drawn or trained
        )
    except DifferentRunError as e:  # the preset edited since its study was begun: before probe51 the remedy said
        # 'another --study name', an option `run` does not take (its study is named after the preset)
        raise e.with_remedy(STUDY_REMEDY) from e
    except DataChangedError as e:  # its images changed since its study was searched: before review52 the same remedy
        if e.remedy is None:
            raise
        raise e.with_remedy(DATA_REMEDY) from e
    if found.unmet_cause is not None and not found.best:  # before stop 52 the run went on to "no architectures to correlate"
        raise NothingCountedError(
            f"search {name} counted no trial: {found.unmet_cause}; each trial's reason is in {found.files['trials']}",
            remedy="once their cause is fixed, run the same preset again, which continues the study",
        )
    storage = found.opened  # once: the search, its promotion, the ground truth and the report share it
    assert storage is not None  # a search that returned ran on a storage
    searched = time.perf_counter() - t0
    promoted = float(found.promotion["seconds"]) if found.promotion else 0.0
    seconds["search"] = searched - promoted
    if found.promotion:
        seconds["promotion"] = promoted
    split = f" (trials {clock(seconds['search'])}, promotion {clock(promoted)})" if found.promotion else ""
    tell(f"[2/3] search done in {clock(searched)}{split}")
    t0 = time.perf_counter()
    cc = p.correlate
    if syn is None:  # the proxy's own set (a random subset the search made), so that its scores are reused
        made = open_proxy(sc, storage.workdir(name)).synthetic
        syn = None if made is None else Path(made)
        if syn is not None:
            cc = dataclasses.replace(cc, synthetic=[str(syn)], dataset=None)

    study = optuna.load_study(study_name=name, storage=storage.backend)
    archs = from_study(study, p.n_archs, sc.seed)  # their search scores are reused: same settings
    tell(f"[3/3] correlate {len(archs)} architectures -> {runs / CORRELATE_DIR}")

    def said(event: Progress) -> None:  # the correlation's own lines go to the same place as the stages'
        if event.message:
            tell(event.message)

    beside = None
    if cc.gt_storage is None:  # the ground truth beside its search: one dashboard shows the whole run
        beside = storage_beside(storage, data_ref(cc)[0], cc.ground_truth)
        cc = dataclasses.replace(cc, gt_storage=beside.url)
    result = correlate(
        cc, archs, runs / CORRELATE_DIR, on_progress=said if progress else None, gt_storage=beside
    )  # (a listener draws bars)
    write_reports(result)
    # correlate's own config.toml too, as `correlate --out` writes it: before stop 49 the stage's folder had none, so a
    # `correlate --out runs/NAME/correlate` after the run took the folder as a new one and left its config.toml there
    promote_given = "promote" in p.preset.get("correlate", {})
    configs.write(runs / CORRELATE_DIR / configs.SAVED, saved_tables(result, promote_given, CorrelateBudget(n_archs=p.n_archs)))
    attach_to_study(study, result, storage)
    config = configs.write(runs / "config.toml", p.tables())
    correlated = time.perf_counter() - t0
    seconds["ground truth"] = float(result.facts["ground_truth"]["wall_seconds"])
    seconds["correlate"] = correlated - seconds["ground truth"]
    tell(
        f"[3/3] correlate done in {clock(correlated)} "
        f"(ground truth {clock(seconds['ground truth'])}, proxies and report {clock(seconds['correlate'])})"
    )
    return {
        "name": name,
        "synthetic": None if syn is None else str(syn),  # the set searched on: distilled, or a random subset; None: none
        "study": name,
        "storage": found.storage,
        "search": found.files,
        "report": str(result.out / "report.html"),
        "promotion": found.promotion,
        "ladder": found.ladder,  # a ladder search: per rung planned and trained, the top rung's rows
        "config": str(config),
        "result": result,
        "seconds": seconds,
        "seconds_total": time.perf_counter() - t_run,
    }


def clock(seconds: float) -> str:
    """``83.4`` -> ``1:23``; an hour or more -> ``1:02:03``."""
    m, s = divmod(round(seconds), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"
