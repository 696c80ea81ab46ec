"""``nasproxy run PRESET``: distill -> search -> correlate from one TOML file (see ``studies/``).

Every stage resumes: distillation from its checkpoint, the search from its study, the correlation
from its caches; running the same preset again after an interruption continues where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from nas_proxy import checks, configs
from nas_proxy.calibrate.selection import ranker
from nas_proxy.configs import CorrelateBudget, SearchBudget
from nas_proxy.correlate import CorrelateConfig, Progress, correlate, from_study
from nas_proxy.correlate.report import attach_to_study, write_reports
from nas_proxy.distill import DistillConfig, distill
from nas_proxy.errors import InterruptedRunError, InvalidArgumentError, NasProxyError
from nas_proxy.files import check_writable
from nas_proxy.search import ProxyConfig, SearchConfig, promotion, search
from nas_proxy.spaces import get_space
from nas_proxy.studies.storage import artifact_dir, check_writable_storage, default_storage_url, open_storage, study_dir
from nas_proxy.utils import resolve_device

# the keys of each table of a preset: the stages' dataclass fields (see nas_proxy.configs), less
# those the pipeline sets itself (the device from the top level, the synthetic set it made, ...)
DISTILL_KEYS = configs.fields(DistillConfig) - {"device"}
SEARCH_KEYS = configs.fields(SearchConfig, SearchBudget) - {"synthetic", "device", "data_root"}
CORRELATE_KEYS = configs.fields(CorrelateConfig, CorrelateBudget) - {
    "space",  # the search's
    "synthetic",  # the set distill made
    "proxy",  # the search's proxy training, so that the search scores are reused
    "dataset",  # the synthetic set's
    "data_root",
    "split_seed",
    "val_fraction",
    "seed",  # the search's
    "device",  # the top level's
}


def load_preset(path: Path | str) -> dict[str, Any]:
    """The preset's tables, with every value of every stage checked (see :func:`plan`)."""
    return plan(path).preset


def _read_preset(path: Path | str) -> dict[str, Any]:
    """The preset's tables, checked for unknown keys and a plain ``name`` (it names a folder)."""
    path = Path(path)
    if checks.status("preset", path) is None:
        raise InvalidArgumentError(f"preset {path} does not exist (presets live in studies/*.toml)")
    preset = configs.read(path, "preset")
    configs.check_keys(f"{path}", {k: v for k, v in preset.items() if not isinstance(v, dict)}, configs.TOP_LEVEL)
    configs.check_keys(f"{path}", {k: v for k, v in preset.items() if isinstance(v, dict)}, ("distill", "search", "correlate"), "table")
    for section, keys in (("distill", DISTILL_KEYS), ("search", SEARCH_KEYS), ("correlate", CORRELATE_KEYS)):
        configs.check_keys(f"{path} [{section}]", configs.table(preset, section, f"{path} [{section}]"), keys)
    name = preset.get("name", path.stem)
    checks.plain_name(f"{path}: 'name'", name, "folder under runs/ and a study")
    checks.text(f"{path}: 'runs'", preset.get("runs", "runs"))
    if not preset.get("runs", "runs").strip():
        raise InvalidArgumentError(f"{path}: 'runs' is the folder the run goes in; give a path such as \"runs\", got {preset['runs']!r}")
    checks.text(f"{path}: 'device'", preset.get("device", "auto"))
    return {**preset, "name": name}


@dataclass
class Plan:
    """Every stage's configuration, built and validated before the first stage starts."""

    preset: dict[str, Any]  # the file's tables as read
    name: str
    runs: Path
    distill: DistillConfig
    search: SearchConfig
    budget: SearchBudget  # trials, timeout, workers, promotion
    n_archs: int
    correlate: CorrelateConfig

    @property
    def synthetic(self) -> Path:
        return self.runs / f"synthetic-{self.distill.method}-ipc{self.distill.ipc}"

    def tables(self) -> dict[str, Any]:
        """The resolved preset, in the preset's own spelling: read back, it plans the same run."""
        c = configs.plain(self.correlate)
        s = configs.plain(self.search)
        return {
            "name": self.name,
            "device": self.distill.device,
            "runs": str(self.runs.parent),
            "distill": {k: v for k, v in configs.plain(self.distill).items() if k in DISTILL_KEYS},
            "search": {
                **{k: v for k, v in s.items() if k in SEARCH_KEYS},
                **configs.plain(self.budget),
            },
            "correlate": {**{k: v for k, v in c.items() if k in CORRELATE_KEYS}, "n_archs": self.n_archs},
        }


def plan(preset_path: Path | str, dataset: str | None = None, device: str | None = None) -> Plan:
    """The configurations of the three stages of a preset, every value checked (one-line errors)."""
    preset = _read_preset(preset_path)
    name, dev = preset["name"], device or preset.get("device", "auto")
    resolve_device(dev)
    if dataset:
        name = f"{name}-{dataset.replace(':', '_').replace('/', '_')}"
    runs = Path(preset.get("runs", "runs")) / name
    path = Path(preset_path)
    with _section(path, "distill"):
        dc = configs.build(DistillConfig, preset.get("distill", {}), f"{path} [distill]", dataset=dataset, device=dev)
        dc.validate()
    with _section(path, "search"):
        sc, budget = _search(preset.get("search", {}), f"{path} [search]", runs / f"synthetic-{dc.method}-ipc{dc.ipc}", dev)
    with _section(path, "correlate"):
        c = dict(preset.get("correlate", {}))
        where = f"{path} [correlate]"
        n_archs = configs.build(CorrelateBudget, {k: v for k, v in c.items() if k == "n_archs"}, where).n_archs
        checks.positive("n_archs", n_archs)
        given = configs.values(CorrelateConfig, {k: v for k, v in c.items() if k != "n_archs"}, where)
        cc = CorrelateConfig(**{**given, "space": sc.space, "synthetic": [sc.synthetic], "proxy": sc.proxy, "seed": sc.seed, "device": dev})
        cc.validate()
    return Plan(preset, name, runs, dc, sc, budget, n_archs, cc)


@contextmanager
def _section(path: Path, section: str) -> Iterator[None]:
    """Say which table of the preset a refused value is in."""
    try:
        yield
    except NasProxyError as e:
        message = str(e)
        raise type(e)(message if message.startswith(f"{path} [") else f"{path} [{section}]: {message}") from None


def _search(table: dict[str, Any], where: str, synthetic: Path, device: str) -> tuple[SearchConfig, SearchBudget]:
    if "space" not in table:
        raise InvalidArgumentError("key 'space' is required: a registered space (nasproxy spaces) or a space file")
    budget = configs.build(SearchBudget, {k: v for k, v in table.items() if k in configs.fields(SearchBudget)}, where)
    checks.positive("n_trials", budget.n_trials)
    checks.number("timeout", budget.timeout, 0, low_open=True, optional=True)
    checks.number("workers", budget.workers, 1, checks.WORKERS_MAX, integer=True)
    promotion.check(
        budget.promote, promotion.DEFAULT_EPOCHS if budget.promote_epochs is None else budget.promote_epochs, budget.promote_images
    )
    given = configs.values(SearchConfig, table, where)
    given.setdefault("pruner", "median" if len(given.get("objectives", ["accuracy"])) == 1 else "none")  # Optuna cannot prune several
    sc = SearchConfig(**{"proxy": ProxyConfig(), **given, "synthetic": str(synthetic), "device": device})
    sc.validate()
    get_space(sc.space)  # an unknown space or a broken space file is refused now, not after distilling
    return sc, budget


def _check_max_params(p: Plan) -> None:
    """A ``max_params`` that excludes every architecture is refused before the distillation (the
    search would refuse it after): it needs the dataset's image shape, so the data is read once."""
    if p.search.max_params is None:
        return
    from nas_proxy.data import load_dataset
    from nas_proxy.search.runner import check_max_params

    data = load_dataset(p.distill.dataset, p.distill.data_root, image_size=p.distill.image_size)
    check_max_params(get_space(p.search.space), p.search.max_params, data.channels, data.num_classes, data.image_size)


def run(
    preset_path: Path | str,
    dataset: str | None = None,
    device: str | None = None,
    progress: bool = False,  # the library is silent unless asked; the CLI asks
    on_stage: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the three stages of a preset; returns where everything went. ``progress`` shows the
    stages' progress bars; ``on_stage`` is told, in one line, each stage as it starts."""
    p = plan(preset_path, dataset, device)
    _check_max_params(p)
    name, runs, syn = p.name, p.runs, p.synthetic
    for path in (runs, study_dir(name), artifact_dir(default_storage_url(name), name)):  # before the first stage writes
        check_writable(path)
    check_writable_storage(None, name)
    resume = (syn / "checkpoint.safetensors").is_file()
    tell = on_stage or (lambda line: None)
    tell(f"[1/3] distill {p.distill.dataset} -> {syn}")
    try:
        distill(p.distill, syn, resume=resume, progress=progress, ranker=ranker(p.distill))
    except InterruptedRunError as e:  # its hint names `nasproxy distill --resume`; `run` resumes by itself
        raise KeyboardInterrupt from e

    sc = p.search
    b = p.budget
    promoting = f", then the best {b.promote} trained on real data" if b.promote else ""
    tell(f"[2/3] search {sc.space}: study {name}, {b.n_trials} trials{promoting}")
    found = search(
        sc,
        name,
        b.n_trials,
        None,
        b.timeout,
        b.workers,
        runs / "search",
        progress=progress,
        promote=b.promote,
        promote_epochs=b.promote_epochs,
        promote_images=b.promote_images,
    )

    storage, url = open_storage(found.storage, name)
    study = optuna.load_study(study_name=name, storage=storage)
    archs = from_study(study, p.n_archs, sc.seed)  # their search scores are reused: same settings
    tell(f"[3/3] correlate {len(archs)} architectures -> {runs / 'correlate'}")

    def said(event: Progress) -> None:  # the correlation's own lines go to the same place as the stages'
        if event.message:
            tell(event.message)

    result = correlate(p.correlate, archs, runs / "correlate", on_progress=said if progress else None)  # (a listener draws bars)
    write_reports(result)
    attach_to_study(study, result, url)
    config = configs.write(runs / "config.toml", p.tables())
    return {
        "name": name,
        "synthetic": str(syn),
        "study": name,
        "storage": found.storage,
        "search": found.files,
        "report": str(result.out / "report.html"),
        "promotion": found.promotion,
        "config": str(config),
        "result": result,
    }
