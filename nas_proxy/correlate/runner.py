"""``nasproxy correlate``: every proxy and the ground truth on the same architectures, compared.

Costly pieces are cached so that an interrupted or repeated run redoes nothing: the ground truth
in its own Optuna study (shared by workers and machines), every proxy score in an append-only
``cache/*.jsonl`` of the output directory, keyed by what determines it.
"""

from __future__ import annotations

import hashlib
import json
import math
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from optuna.trial import TrialState
from tqdm import tqdm

from nas_proxy import checks
from nas_proxy.correlate import ground_truth as gt
from nas_proxy.correlate.archs import Arch, check_in_space
from nas_proxy.correlate.metrics import MIN_POINTS, kendall, paired_difference, summarise
from nas_proxy.correlate.zero_cost import ZERO_COST, score_all
from nas_proxy.data import load_dataset
from nas_proxy.errors import InvalidArgumentError
from nas_proxy.search.proxy import ProxyConfig, ProxyContext
from nas_proxy.search.storage import open_storage
from nas_proxy.search.study import fail_dead_trials
from nas_proxy.spaces import arch_id, build_model, get_space
from nas_proxy.synthetic import load_synthetic
from nas_proxy.utils import derive_seed, generator, resolve_device

POLL_SECONDS = 10.0  # how often to look at trainings running in other workers
MEANINGFUL = 10  # fewer architectures than this: the report says the correlations are not meaningful
EARLY = "early"
TRUTH_SEED2 = "ground truth, 2nd seed"  # the ceiling row


@dataclass
class CorrelateConfig:
    space: str  # required: the space of the architectures
    synthetic: list[str] = field(default_factory=list)  # synthetic sets, each one proxy
    proxies: list[str] | None = None  # None: every proxy available (see ``available``)
    ground_truth: gt.GroundTruthConfig = field(default_factory=gt.GroundTruthConfig)
    proxy: ProxyConfig = field(default_factory=ProxyConfig)
    dataset: str | None = None  # only needed without synthetic sets
    data_root: str | None = None  # None: where the synthetic sets found the real data
    split_seed: int = 0  # DistillConfig's: the validation split the synthetic sets were made with
    val_fraction: float = 0.1  # DistillConfig's
    seed: int = 0  # as every stage; trainings of the ceiling use seed + 1
    ceiling: int | None = None  # architectures trained with a second seed; None: all
    random_subset: bool = True  # add a random real subset of the synthetic sets' size
    zero_cost_batch: int = 64  # training images a training-free score sees (one batch)
    n_boot: int = 1000  # bootstrap resamples for the 95 % intervals (a common choice)
    device: str = "auto"  # CUDA when present
    workers: int = 1  # ground-truth processes on this machine
    gt_storage: str | None = None  # None: a journal under studies/ named after the protocol

    def validate(self) -> None:
        """Every value checked before anything is trained or written."""
        checks.text("space", self.space)
        for name, value in (("synthetic", self.synthetic), ("proxies", self.proxies)):
            if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
                raise InvalidArgumentError(f"{name} must be a list of strings, got {value!r}")
        self.ground_truth.validate()
        self.proxy.validate()
        for key, text in (("dataset", self.dataset), ("data_root", self.data_root), ("gt_storage", self.gt_storage)):
            if text is not None:
                checks.text(key, text)
        checks.number("split_seed", self.split_seed, 0, checks.SEED_MAX, integer=True)
        checks.number("val_fraction", self.val_fraction, 0, 1, low_open=True, high_open=True)
        checks.number("seed", self.seed, 0, checks.SEED_MAX - 1, integer=True)  # seed + 1 is the ceiling's seed
        checks.number("ceiling", self.ceiling, 0, integer=True, optional=True)
        if not isinstance(self.random_subset, bool):
            raise InvalidArgumentError(f"random_subset must be true or false, got {self.random_subset!r}")
        checks.positive("zero_cost_batch", self.zero_cost_batch)
        checks.positive("n_boot", self.n_boot)
        checks.text("device", self.device)
        checks.positive("workers", self.workers)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        d = asdict(self)
        d["ground_truth"] = self.ground_truth.to_dict()
        return d


@dataclass
class CorrelateResult:
    out: Path
    rows: list[dict[str, Any]]  # per architecture
    proxies: dict[str, dict[str, Any]]  # per proxy: metrics, cost
    warnings: list[str]
    facts: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        from nas_proxy.correlate.metrics import to_jsonable

        return to_jsonable(
            {"out": str(self.out), "proxies": self.proxies, "warnings": self.warnings, "facts": self.facts, "archs": self.rows}
        )


def data_ref(config: CorrelateConfig) -> tuple[gt.DataRef, list[dict[str, Any]]]:
    """The real data every synthetic set came from (they must agree), and their metas."""
    metas = [load_synthetic(p).meta for p in config.synthetic]
    refs = {
        (m["dataset"]["name"], int(m["split"]["seed"]), float(m["split"]["val_fraction"])): p
        for m, p in zip(metas, config.synthetic, strict=True)
    }
    if len(refs) > 1:
        listed = "; ".join(f"{p}: {k[0]} split seed {k[1]}" for k, p in refs.items())
        raise InvalidArgumentError(f"the synthetic sets come from different data or splits ({listed}); correlate one dataset at a time")
    if refs:
        name, split_seed, val_fraction = next(iter(refs))
        if config.dataset is not None and config.dataset != name:
            raise InvalidArgumentError(
                f"the synthetic sets are from {name}, the ground truth was asked on {config.dataset}: a proxy must come from the data it predicts"
            )
        root = config.data_root or metas[0].get("data_root")
        sizes = {int(m["dataset"]["image_size"][0]) for m in metas}
        if len(sizes) > 1:
            raise InvalidArgumentError(f"the synthetic sets have different image sizes ({sorted(sizes)}); correlate one size at a time")
        return gt.DataRef(name, split_seed, val_fraction, root, sizes.pop()), metas
    if config.dataset is None:
        raise InvalidArgumentError("without --synthetic sets, name the real data with --dataset")
    return gt.DataRef(config.dataset, config.split_seed, config.val_fraction, config.data_root), metas


def proxy_names(config: CorrelateConfig, metas: list[dict[str, Any]]) -> dict[str, str | None]:
    """Display name -> synthetic set path (None for proxies that need none)."""
    out: dict[str, str | None] = {}
    for path, meta in zip(config.synthetic, metas, strict=True):
        name = f"{meta['method']} ipc{meta['ipc']}"
        while name in out:
            name += "'"
        out[name] = path
    if config.random_subset and metas and not any(m["method"] == "random" and m["ipc"] == metas[0]["ipc"] for m in metas):
        out[f"random ipc{metas[0]['ipc']}"] = None  # made in the output directory
    for f in config.ground_truth.early:
        out[f"{EARLY}@{f:g}ep"] = None
    for name in ZERO_COST.names():
        out[name] = None
    if config.proxies is not None:
        unknown = [p for p in config.proxies if p not in out and p != "random"]
        if unknown:
            raise InvalidArgumentError(f"unknown proxies {', '.join(unknown)}; available here: {', '.join(out)}")
        out = {k: v for k, v in out.items() if k in config.proxies or (k.startswith("random ") and "random" in config.proxies)}
    return out


class Cache:
    """Append-only JSON lines: one finished score per line; a torn last line is ignored."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: dict[str, dict[str, Any]] = {}
        if path.is_file():
            for line in path.read_text().splitlines():
                try:
                    row = json.loads(line)
                    self.rows[row["arch_id"]] = row
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue

    def add(self, row: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()
        self.rows[row["arch_id"]] = row


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _random_subset(out: Path, ref: gt.DataRef, ipc: int, seed: int) -> str:
    from nas_proxy.distill import DistillConfig, distill

    path = out / f"random-ipc{ipc}-seed{seed}"
    cfg = DistillConfig(
        dataset=ref.dataset,
        data_root=ref.data_root,
        ipc=ipc,
        method="random",
        seed=seed,
        split_seed=ref.split_seed,
        val_fraction=ref.val_fraction,
        image_size=ref.image_size,
        device="cpu",
    )
    distill(cfg, path, resume=(path / "checkpoint.safetensors").is_file(), progress=False)
    return str(path)


def _ceiling_subset(archs: list[Arch], n: int | None, seed: int) -> list[Arch]:
    """A seeded random subset for the second ground-truth seed: not the first ``n``, which a study
    lists best-by-proxy first (a narrow range would understate the ceiling)."""
    if n is None or n >= len(archs):
        return list(archs)
    rng = np.random.default_rng(derive_seed(seed, "ceiling"))
    return [archs[i] for i in sorted(rng.choice(len(archs), size=n, replace=False))]


def _wait_for_others(study: Any, url: str, wanted: list[tuple[dict[str, Any], int]], device: str, progress: bool) -> None:
    """Wait while trainings this report needs run in other workers (another ``correlate`` or a
    ``nasproxy worker`` elsewhere); take over any that get re-queued (a worker died)."""
    keys = {(arch_id(spec), seed) for spec, seed in wanted}
    told = False
    while True:
        open_ = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)) if gt.key_of(t) in keys]
        if not open_:
            return
        if any(t.state == TrialState.WAITING for t in open_):
            gt.run_worker(study, url, device, progress)
            continue
        if progress and not told:
            print(f"ground truth: waiting for {len(open_)} trainings running in other workers", file=sys.stderr)
            told = True
        time.sleep(POLL_SECONDS)
        fail_dead_trials(study, open_storage(url, study.study_name)[0])


def run_ground_truth(
    config: CorrelateConfig, ref: gt.DataRef, wanted: list[tuple[dict[str, Any], int]], progress: bool
) -> tuple[dict[tuple[str, int], dict[str, Any]], dict[tuple[str, int], str], str, str]:
    """Train what is not cached, with ``config.workers`` processes; (results, failures, study, storage)."""
    study, url = gt.open_study(config.gt_storage, ref, config.ground_truth)
    counts = gt.enqueue(study, wanted)
    if progress and wanted:
        print(
            f"ground truth ({study.study_name}): {counts['cached']} cached, {counts['queued']} to train, {counts['given_up']} failed before",
            file=sys.stderr,
        )
    if counts["queued"]:
        cmd = [sys.executable, "-m", "nas_proxy", "worker", "--study", study.study_name, "--storage", url, "--device", config.device]
        children = [subprocess.Popen([*cmd, "--quiet"]) for _ in range(1, config.workers)]
        try:
            gt.run_worker(study, url, config.device, progress)
        except KeyboardInterrupt:
            for child in children:
                child.send_signal(signal.SIGINT)
            raise
        finally:
            for child in children:
                child.wait()
    _wait_for_others(study, url, wanted, config.device, progress)
    return gt.results(study), gt.failures(study), study.study_name, url


def _gaps_to_best(proxies: dict[str, dict[str, Any]], xs: dict[str, np.ndarray], y: np.ndarray, config: CorrelateConfig) -> None:
    """``kendall_gap``: the best proxy's tau-b minus each proxy's, with a paired bootstrap interval."""
    ranked = [n for n in proxies if math.isfinite(proxies[n]["kendall"])]
    if not ranked:
        return
    best = max(ranked, key=lambda n: proxies[n]["kendall"])
    for name in ranked:
        if name == best:
            proxies[name] |= {"kendall_gap": 0.0, "kendall_gap_ci": None, "kendall_gap_to": best}
            continue
        d = paired_difference(kendall, xs[best], xs[name], y, n=config.n_boot, seed=config.seed)
        proxies[name] |= {"kendall_gap": d["diff"], "kendall_gap_ci": d["ci"], "kendall_gap_to": best, "kendall_gap_p": d["p_better"]}


def correlate(
    config: CorrelateConfig,
    archs: list[Arch],
    out: Path | str,
    progress: bool = True,
    study: Any = None,
    on_done: Callable[[CorrelateResult], None] | None = None,
    notes: list[str] | None = None,
) -> CorrelateResult:
    """Score ``archs`` with every proxy and with full-data training; metrics and reports in ``out``.

    ``notes``: what the caller changed or left out of what was asked, shown with the warnings."""
    from nas_proxy.correlate.report import write_reports

    out = Path(out)
    config.validate()
    if out.exists() and not out.is_dir():
        raise InvalidArgumentError(f"--out {out} is a file, not a directory")
    if not archs:
        raise InvalidArgumentError("no architectures to correlate")
    space = get_space(config.space)
    check_in_space(archs, space, config.space)
    ref, metas = data_ref(config)
    names = proxy_names(config, metas)
    warnings: list[str] = list(notes or [])
    if len(archs) < MEANINGFUL:
        warnings.append(
            f"only {len(archs)} architectures: rank correlations need at least {MEANINGFUL} to mean much "
            f"(and {MIN_POINTS} to be defined); the numbers below are reported anyway, with wide intervals"
        )
    t_start = time.perf_counter()
    device = resolve_device(config.device)

    # ground truth: seed for every architecture without a given accuracy, a 2nd seed for the ceiling;
    # a given accuracy comes from another protocol, so this training with another seed is no ceiling for it
    seed2 = config.seed + 1
    trained = [a for a in archs if a.truth is None]
    ceiling = _ceiling_subset(trained, config.ceiling, config.seed)
    wanted = [(a.spec, config.seed) for a in trained] + [(a.spec, seed2) for a in ceiling]
    results, failed, gt_study, gt_url = run_ground_truth(config, ref, wanted, progress)
    truth: dict[str, float] = {}
    for a in archs:
        if a.truth is not None:
            truth[a.arch_id] = a.truth
        elif (a.arch_id, config.seed) in results:
            truth[a.arch_id] = float(results[(a.arch_id, config.seed)]["test_accuracy"])
    for (aid, s), reason in failed.items():
        warnings.append(f"the ground-truth training of {aid} (seed {s}) failed ({reason[:120]}); it is left out")
    unexplained = [a.arch_id for a in trained if (a.arch_id, config.seed) not in results and (a.arch_id, config.seed) not in failed]
    if unexplained:
        warnings.append(
            f"{len(unexplained)} ground-truth trainings are still running elsewhere or were left running by a process on "
            f"another host ({', '.join(unexplained[:5])}); they are left out; run again when they are done"
        )
    kept = [a for a in archs if a.arch_id in truth]

    # proxies
    scores: dict[str, dict[str, float]] = {}
    seconds: dict[str, dict[str, float]] = {}
    one_off: dict[str, float] = {}
    cache_dir = out / "cache"
    synthetic_paths = dict(names)
    for name, path in list(synthetic_paths.items()):
        if path is None and name.startswith("random ipc"):
            synthetic_paths[name] = _random_subset(out, ref, int(metas[0]["ipc"]), config.seed)
    synthetic_sha: dict[str, str] = {}
    for name, path in synthetic_paths.items():
        if path is None:
            continue
        syn = load_synthetic(path)
        one_off[name] = float(syn.meta.get("seconds", 0.0))
        synthetic_sha[name] = syn.meta["tensors_sha256"]
        cache = Cache(cache_dir / f"proxy-{_key(syn.meta['tensors_sha256'], config.proxy.to_dict(), config.seed)}.jsonl")
        from_search = bool(config.synthetic) and path == config.synthetic[0]
        for a in kept:  # scores the search already made with these same settings (see correlate_command)
            if from_search and a.study_value is not None and a.study_sha256 == syn.meta["tensors_sha256"] and a.arch_id not in cache.rows:
                cache.add({"arch_id": a.arch_id, "score": a.study_value, "seconds": a.study_seconds or math.nan, "from_study": True})
        todo = [a for a in kept if a.arch_id not in cache.rows]
        if todo:
            ctx = ProxyContext.load(path, config.device, config.proxy, ref.data_root)
            for a in tqdm(todo, desc=f"proxy {name}", unit="arch", disable=not progress, dynamic_ncols=True):
                scored = ctx.score(space, a.spec, config.seed)
                cache.add({"arch_id": a.arch_id, "score": scored.accuracy, "seconds": scored.seconds["total"]})
        scores[name] = {a.arch_id: cache.rows[a.arch_id]["score"] for a in kept}
        seconds[name] = {a.arch_id: cache.rows[a.arch_id]["seconds"] for a in kept}
    for f in config.ground_truth.early:
        name = f"{EARLY}@{f:g}ep"
        if name in names:
            got = {a.arch_id: results.get((a.arch_id, config.seed), {}).get("early", {}).get(f"{f:g}") for a in kept}
            scores[name] = {k: (v["val_accuracy"] if v else math.nan) for k, v in got.items()}
            seconds[name] = {k: (v["seconds"] if v else math.nan) for k, v in got.items()}
    zc_names = [n for n in names if n in ZERO_COST.names()]
    if zc_names:
        cache = Cache(cache_dir / f"zero-cost-{_key(ref.key(), config.zero_cost_batch, config.seed, zc_names)}.jsonl")
        todo = [a for a in kept if a.arch_id not in cache.rows]
        if todo:
            dataset = load_dataset(ref.dataset, ref.data_root, image_size=ref.image_size)
            splits = dataset.split(ref.split_seed, ref.val_fraction)
            g = generator(derive_seed(config.seed, "zero-cost-batch"))
            pick = torch.randperm(splits.train_x.shape[0], generator=g)[: config.zero_cost_batch]
            zx, zy = splits.train_x[pick].to(device), splits.train_y[pick].to(device)
            for a in tqdm(todo, desc="training-free", unit="arch", disable=not progress, dynamic_ncols=True):
                torch.manual_seed(derive_seed(config.seed, "zero-cost", a.arch_id))
                model = build_model(a.spec, dataset.channels, dataset.num_classes, dataset.image_size).to(device)
                got_zc = score_all(model, zx, zy, zc_names)
                cache.add({"arch_id": a.arch_id, **{n: {"score": s, "seconds": t} for n, (s, t) in got_zc.items()}})
        for n in zc_names:
            scores[n] = {a.arch_id: cache.rows[a.arch_id][n]["score"] for a in kept}
            seconds[n] = {a.arch_id: cache.rows[a.arch_id][n]["seconds"] for a in kept}

    # metrics
    ids = [a.arch_id for a in kept]
    y = np.array([truth[i] for i in ids], dtype=float)
    gt_seconds = [results[(i, config.seed)]["train_seconds"] for i in ids if (i, config.seed) in results]
    gt_cost = float(np.mean(gt_seconds)) if gt_seconds else math.nan
    proxies: dict[str, dict[str, Any]] = {}
    for name in scores:
        x = np.array([scores[name][i] for i in ids], dtype=float)
        cost = float(np.nanmean([seconds[name][i] for i in ids])) if ids else math.nan
        proxies[name] = {
            **summarise(x, y, n_boot=config.n_boot, seed=config.seed),
            "seconds_per_arch": cost,
            "one_off_seconds": one_off.get(name, 0.0),
            "speedup": gt_cost / cost if cost and cost > 0 else math.nan,
        }
    _gaps_to_best(proxies, {n: np.array([scores[n][i] for i in ids], dtype=float) for n in scores}, y, config)
    both = [a.arch_id for a in ceiling if (a.arch_id, seed2) in results and a.arch_id in truth]
    if both:
        x2 = np.array([results[(i, seed2)]["test_accuracy"] for i in both], dtype=float)
        y1 = np.array([truth[i] for i in both], dtype=float)
        proxies[TRUTH_SEED2] = {
            **summarise(x2, y1, n_boot=config.n_boot, seed=config.seed),
            "seconds_per_arch": float(np.mean([results[(i, seed2)]["train_seconds"] for i in both])),
            "one_off_seconds": 0.0,
            "speedup": 1.0,
            "archs": len(both),
        }
    rows = []
    for a in kept:
        row: dict[str, Any] = {"arch_id": a.arch_id, "spec": a.spec, "truth": truth[a.arch_id], "truth_given": a.truth is not None}
        r = results.get((a.arch_id, config.seed), {})
        row.update({"params": r.get("params"), "flops": r.get("flops"), "truth_seconds": r.get("train_seconds")})
        second = results.get((a.arch_id, seed2))
        row["truth_seed2"] = second["test_accuracy"] if second else None
        for name in scores:
            row[name] = scores[name][a.arch_id]
        rows.append(row)
    facts = {
        "data": ref.key(),
        "archs": len(archs),
        "archs_scored": len(kept),
        "space": config.space,
        "ground_truth": {
            **config.ground_truth.to_dict(),
            "study": gt_study,
            "storage": gt_url,
            "seconds_per_arch": gt_cost,
            "seeds": [config.seed, seed2],
            "ceiling_archs": len(both),
            "given": len(archs) - len(trained),
        },
        "proxy_training": {**config.proxy.to_dict(), "seed": config.seed},
        "synthetic": {n: p for n, p in synthetic_paths.items() if p is not None},
        "synthetic_sha256": synthetic_sha,
        "seed": config.seed,
        "device": str(device),
        "seconds": time.perf_counter() - t_start,
        "config": config.to_dict(),
    }
    result = CorrelateResult(out, rows, proxies, warnings, facts)
    write_reports(result)
    if on_done is not None:
        on_done(result)
    return result
