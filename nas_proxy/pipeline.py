"""``nasproxy run PRESET``: distill -> search -> correlate from one TOML file (see ``studies/``).

Every stage resumes: distillation from its checkpoint, the search from its study, the correlation
from its caches; running the same preset again after an interruption continues where it stopped.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import optuna

from nas_proxy.correlate import CorrelateConfig, GroundTruthConfig, correlate, from_study
from nas_proxy.correlate.report import attach_to_study
from nas_proxy.distill import DistillConfig, distill
from nas_proxy.errors import InterruptedRunError, InvalidArgumentError
from nas_proxy.search import ProxyConfig, SearchConfig, search
from nas_proxy.search.storage import open_storage

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
    return GroundTruthConfig(**{**gt, **({"early": tuple(gt["early"])} if "early" in gt else {})})


def load_preset(path: Path | str) -> dict[str, Any]:
    path = Path(path)
    try:
        preset = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise InvalidArgumentError(f"preset {path} does not exist (presets live in studies/*.toml)") from None
    except tomllib.TOMLDecodeError as e:
        raise InvalidArgumentError(f"preset {path} is not valid TOML: {e}") from None
    _check("top level", {k: v for k, v in preset.items() if not isinstance(v, dict)}, {"name", "description", "device", "runs"}, path)
    _check("preset", {k: v for k, v in preset.items() if isinstance(v, dict)}, {"distill", "search", "correlate"}, path)
    _check("distill", preset.get("distill", {}), _fields(DistillConfig) - {"device"}, path)
    proxy = _fields(ProxyConfig)
    _check("search", preset.get("search", {}), SEARCH_KEYS | proxy, path)
    gt = {GROUND_TRUTH_PREFIX + f for f in _fields(GroundTruthConfig)}
    _check("correlate", preset.get("correlate", {}), CORRELATE_KEYS | gt, path)
    _ground_truth(preset.get("correlate", {})).validate()
    name = preset.get("name", path.stem)
    if not isinstance(name, str) or not name or "/" in name:
        raise InvalidArgumentError(f"{path}: 'name' must be a plain name, got {name!r}")
    return {**preset, "name": name}


def run(preset_path: Path | str, dataset: str | None = None, device: str | None = None, progress: bool = True) -> dict[str, Any]:
    """Run the three stages of a preset; returns where everything went."""
    preset = load_preset(preset_path)
    name, dev = preset["name"], device or preset.get("device", "auto")
    d = dict(preset.get("distill", {}))
    if dataset:
        d["dataset"] = dataset
        name = f"{name}-{dataset.replace(':', '_').replace('/', '_')}"
    runs = Path(preset.get("runs", "runs")) / name
    dc = DistillConfig(**{**d, "device": dev})
    syn = runs / f"synthetic-{dc.method}-ipc{dc.ipc}"
    resume = (syn / "checkpoint.safetensors").is_file()
    if progress:
        print(f"[1/3] distill {dc.dataset} -> {syn}", flush=True)
    try:
        distill(dc, syn, resume=resume, progress=progress)
    except InterruptedRunError as e:  # its hint names `nasproxy distill --resume`; `run` resumes by itself
        raise KeyboardInterrupt from e

    s = dict(preset.get("search", {}))
    proxy = ProxyConfig(**{k: s.pop(k) for k in list(s) if k in _fields(ProxyConfig)})
    n_trials, timeout, workers = s.pop("n_trials", 50), s.pop("timeout", None), s.pop("workers", 1)
    objectives = s.pop("objectives", ["accuracy"])
    sc = SearchConfig(
        synthetic=str(syn),
        proxy=proxy,
        device=dev,
        objectives=[objectives] if isinstance(objectives, str) else list(objectives),
        pruner=s.pop("pruner", "median" if objectives in ("accuracy", ["accuracy"]) else "none"),
        **s,
    )
    if progress:
        print(f"[2/3] search {sc.space}: study {name}, {n_trials} trials", flush=True)
    found = search(sc, name, n_trials, None, timeout, workers, runs / "search", progress=progress)

    c = dict(preset.get("correlate", {}))
    ground_truth = _ground_truth(c)
    storage, url = open_storage(found.storage, name)
    study = optuna.load_study(study_name=name, storage=storage)
    archs = from_study(study, int(c.get("n_archs", 20)), sc.seed)  # their search scores are reused: same settings
    cc = CorrelateConfig(
        space=sc.space,
        synthetic=[str(syn)],
        proxies=c.get("proxies"),
        ground_truth=ground_truth,
        proxy=proxy,
        seed=sc.seed,
        ceiling=c.get("ceiling"),
        random_subset=c.get("random_subset", True),
        n_boot=c.get("bootstrap", 1000),
        device=dev,
        workers=c.get("workers", 1),
        gt_storage=c.get("gt_storage"),
    )
    if progress:
        print(f"[3/3] correlate {len(archs)} architectures -> {runs / 'correlate'}", flush=True)
    result = correlate(cc, archs, runs / "correlate", progress=progress)
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
