"""``nasproxy run PRESET``: distill -> search -> correlate from one TOML file (see ``studies/``).

Every stage resumes: distillation from its checkpoint, the search from its study, the correlation
from its caches; running the same preset again after an interruption continues where it stopped.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from nas_proxy import checks
from nas_proxy.correlate import CorrelateConfig, GroundTruthConfig, Progress, correlate, from_study
from nas_proxy.correlate.report import attach_to_study, write_reports
from nas_proxy.distill import DistillConfig, distill
from nas_proxy.errors import InterruptedRunError, InvalidArgumentError, NasProxyError
from nas_proxy.search import ProxyConfig, SearchConfig, search
from nas_proxy.spaces import get_space
from nas_proxy.studies.storage import open_storage
from nas_proxy.utils import resolve_device

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SEARCH_KEYS = {"space", "n_trials", "timeout", "sampler", "pruner", "objectives", "max_params", "workers", "seed"}
CORRELATE_KEYS = {"n_archs", "ceiling", "proxies", "random_subset", "bootstrap", "workers", "gt_storage"}
GROUND_TRUTH_PREFIX = "full_"  # full_epochs, full_lr, full_batch_size, full_images, full_augment, full_early


def _fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def _check(section: str, table: dict[str, Any], allowed: set[str], path: Path) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise InvalidArgumentError(f"{path}: unknown key {section}.{unknown[0]}; allowed in [{section}]: {', '.join(sorted(allowed))}")


def _ground_truth(correlate_table: dict[str, Any]) -> GroundTruthConfig:
    gt = {k.removeprefix(GROUND_TRUTH_PREFIX): v for k, v in correlate_table.items() if k.startswith(GROUND_TRUTH_PREFIX)}
    if isinstance(gt.get("early"), list):  # TOML arrays are lists; anything else is left for validate() to refuse
        gt["early"] = tuple(gt["early"])
    return GroundTruthConfig(**gt)


def load_preset(path: Path | str) -> dict[str, Any]:
    """The preset's tables, with every value of every stage checked (see :func:`plan`)."""
    return plan(path).preset


def _read_preset(path: Path | str) -> dict[str, Any]:
    """The preset's tables, checked for unknown keys and a plain ``name`` (it names a folder)."""
    path = Path(path)
    if not path.exists():
        raise InvalidArgumentError(f"preset {path} does not exist (presets live in studies/*.toml)")
    try:
        preset = tomllib.loads(checks.read_text("preset", path))
    except tomllib.TOMLDecodeError as e:
        raise InvalidArgumentError(f"preset {path} is not valid TOML: {e}") from None
    _check("top level", {k: v for k, v in preset.items() if not isinstance(v, dict)}, {"name", "description", "device", "runs"}, path)
    _check("preset", {k: v for k, v in preset.items() if isinstance(v, dict)}, {"distill", "search", "correlate"}, path)
    _check("distill", preset.get("distill", {}), _fields(DistillConfig) - {"device"}, path)
    proxy = _fields(ProxyConfig)
    _check("search", preset.get("search", {}), SEARCH_KEYS | proxy, path)
    gt = {GROUND_TRUTH_PREFIX + f for f in _fields(GroundTruthConfig)}
    _check("correlate", preset.get("correlate", {}), CORRELATE_KEYS | gt, path)
    name = preset.get("name", path.stem)
    checks.plain_name(f"{path}: 'name'", name, "folder under runs/ and a study")
    checks.text(f"{path}: 'runs'", preset.get("runs", "runs"))
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
    n_trials: int
    timeout: float | None
    workers: int
    n_archs: int
    correlate: CorrelateConfig

    @property
    def synthetic(self) -> Path:
        return self.runs / f"synthetic-{self.distill.method}-ipc{self.distill.ipc}"


def plan(preset_path: Path | str, dataset: str | None = None, device: str | None = None) -> Plan:
    """The configurations of the three stages of a preset, every value checked (one-line errors)."""
    preset = _read_preset(preset_path)
    name, dev = preset["name"], device or preset.get("device", "auto")
    resolve_device(dev)
    d = dict(preset.get("distill", {}))
    if dataset:
        d["dataset"] = dataset
        name = f"{name}-{dataset.replace(':', '_').replace('/', '_')}"
    runs = Path(preset.get("runs", "runs")) / name
    path = Path(preset_path)
    with _section(path, "distill"):
        dc = DistillConfig(**{**d, "device": dev})
        dc.validate()
    with _section(path, "search"):
        sc, n_trials, timeout, workers = _search(preset.get("search", {}), runs / f"synthetic-{dc.method}-ipc{dc.ipc}", dev)
    with _section(path, "correlate"):
        c = dict(preset.get("correlate", {}))
        n_archs = c.get("n_archs", 20)
        checks.positive("n_archs", n_archs)
        cc = CorrelateConfig(
            space=sc.space,
            synthetic=[sc.synthetic],
            proxies=c.get("proxies"),
            ground_truth=_ground_truth(c),
            proxy=sc.proxy,
            seed=sc.seed,
            ceiling=c.get("ceiling"),
            random_subset=c.get("random_subset", True),
            n_boot=c.get("bootstrap", 1000),
            device=dev,
            workers=c.get("workers", 1),
            gt_storage=c.get("gt_storage"),
        )
        cc.validate()
    return Plan(preset, name, runs, dc, sc, n_trials, timeout, workers, n_archs, cc)


@contextmanager
def _section(path: Path, section: str) -> Iterator[None]:
    """Say which table of the preset a refused value is in."""
    try:
        yield
    except NasProxyError as e:
        raise type(e)(f"{path} [{section}]: {e}") from None


def _search(table: dict[str, Any], synthetic: Path, device: str) -> tuple[SearchConfig, int, float | None, int]:
    s = dict(table)
    if "space" not in s:
        raise InvalidArgumentError("key 'space' is required: a registered space (nasproxy spaces) or a space file")
    proxy = ProxyConfig(**{k: s.pop(k) for k in list(s) if k in _fields(ProxyConfig)})
    n_trials, timeout, workers = s.pop("n_trials", 50), s.pop("timeout", None), s.pop("workers", 1)
    checks.positive("n_trials", n_trials)
    checks.number("timeout", timeout, 0, low_open=True, optional=True)
    checks.positive("workers", workers)
    objectives = s.pop("objectives", ["accuracy"])
    sc = SearchConfig(
        synthetic=str(synthetic),
        proxy=proxy,
        device=device,
        objectives=[objectives] if isinstance(objectives, str) else objectives,
        pruner=s.pop("pruner", "median" if objectives in ("accuracy", ["accuracy"]) else "none"),
        **s,
    )
    sc.validate()
    get_space(sc.space)  # an unknown space or a broken space file is refused now, not after distilling
    return sc, n_trials, timeout, workers


def _print_message(event: Progress) -> None:
    """The correlation's progress lines (its counts are not drawn here)."""
    if event.message:
        print(event.message, file=sys.stderr, flush=True)


def run(preset_path: Path | str, dataset: str | None = None, device: str | None = None, progress: bool = True) -> dict[str, Any]:
    """Run the three stages of a preset; returns where everything went."""
    p = plan(preset_path, dataset, device)
    name, runs, syn = p.name, p.runs, p.synthetic
    resume = (syn / "checkpoint.safetensors").is_file()
    if progress:
        print(f"[1/3] distill {p.distill.dataset} -> {syn}", flush=True)
    try:
        distill(p.distill, syn, resume=resume, progress=progress)
    except InterruptedRunError as e:  # its hint names `nasproxy distill --resume`; `run` resumes by itself
        raise KeyboardInterrupt from e

    sc = p.search
    if progress:
        print(f"[2/3] search {sc.space}: study {name}, {p.n_trials} trials", flush=True)
    found = search(sc, name, p.n_trials, None, p.timeout, p.workers, runs / "search", progress=progress)

    storage, url = open_storage(found.storage, name)
    study = optuna.load_study(study_name=name, storage=storage)
    archs = from_study(study, p.n_archs, sc.seed)  # their search scores are reused: same settings
    if progress:
        print(f"[3/3] correlate {len(archs)} architectures -> {runs / 'correlate'}", flush=True)
    result = correlate(p.correlate, archs, runs / "correlate", on_progress=_print_message if progress else None)
    write_reports(result)
    attach_to_study(study, result, url)
    return {
        "name": name,
        "synthetic": str(syn),
        "study": name,
        "storage": found.storage,
        "search": found.files,
        "report": str(result.out / "report.html"),
        "result": result,
    }
