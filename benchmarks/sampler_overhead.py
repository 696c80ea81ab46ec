"""What drawing each candidate with a sampler made anew costs: ``DrawSeeded`` against one sampler kept.

``nasproxy search`` wraps its sampler in ``nas_proxy.search.study.DrawSeeded``, which makes the sampler anew before
every trial, seeded from ``--seed`` and the number of candidates drawn before it, so that a search killed and run
again draws what an uninterrupted one draws. A sampler made anew keeps nothing in memory between trials (GP's
fitted kernel parameters, TPE's and NSGA-II's caches): this script measures what that costs in sampling seconds
per trial and in what the search finds, against the same sampler made once, for every registered sampler.

The objective costs nothing, so only the sampler is timed: each architecture of ``--space`` gets a value from an
additive model fitted to the 3-epoch ground-truth table (the mean test accuracy of each value of each dimension,
least squares over the table's seed-0 rows) plus seeded noise with the spread of the fit's residuals. Every
``(sampler, seed)`` runs ``--trials`` trials both ways on in-memory storage, interleaved; reported: the median
seconds per trial over the last ``--window`` trials (where the history is longest), and the regret of the best
value found (the space's best minus it), averaged over the seeds with a 95 % bootstrap interval of the paired
difference.

    OMP_NUM_THREADS=1 python benchmarks/sampler_overhead.py --trials 200 --seeds 0,1,2,3,4 --json benchmarks/out/sampler_overhead.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch
from fidelity_report import check_out_file  # benchmarks/ is on sys.path
from provenance import machine  # benchmarks/provenance.py (this script's folder is on sys.path)

from nas_proxy import checks
from nas_proxy.cli.common import ScriptParser, one_line_errors
from nas_proxy.cli.types import integer
from nas_proxy.errors import InvalidArgumentError
from nas_proxy.files import write_text
from nas_proxy.search.config import SAMPLERS
from nas_proxy.search.study import DrawSeeded
from nas_proxy.spaces import get_space
from nas_proxy.spaces.base import arch_id
from nas_proxy.utils import derive_seed

TABLE = Path(__file__).resolve().parent / "groundtruth" / "fashion-mnist-convnet720.csv"
DIMENSIONS = ("depth", "width", "activation", "normalization", "pooling")


def landscape(space_name: str, table: Path, seed: int) -> dict[str, float]:
    """Every architecture of the space -> its simulated accuracy (module docstring)."""
    space = get_space(space_name)
    specs = space.specs(100_000)
    if specs is None:
        raise InvalidArgumentError(f"--space {space_name} cannot be enumerated (more than 100,000 architectures); give a ConvNet space")
    if any(not set(DIMENSIONS) <= set(spec) for spec in specs):  # before probe47: nb201 was KeyError 'depth', a traceback
        raise InvalidArgumentError(
            f"--space {space_name} is not a ConvNet space (its architectures are not {', '.join(DIMENSIONS)}): "
            f"the landscape is fitted to {table.name}; give convnet720 or a slice of it"
        )
    with table.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["seed"] == "0"]
    levels = [(d, v) for d in DIMENSIONS for v in sorted({r[d] for r in rows})]
    x = np.array([[1.0] + [float(r[d] == v) for d, v in levels] for r in rows])
    y = np.array([float(r["test_accuracy"]) for r in rows])
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    noise = float(np.std(y - x @ coef))
    rng = np.random.default_rng(seed)
    out = {}
    for spec in specs:
        features = np.array([1.0] + [float(str(spec[d]) == v) for d, v in levels])
        out[arch_id(spec)] = float(features @ coef + noise * rng.standard_normal())
    return out


def run(sampler_name: str, kept: bool, seed: int, trials: int, space_name: str, values: dict[str, float]) -> dict[str, Any]:
    make = SAMPLERS.get(sampler_name)
    sampler = make(seed, 1) if kept else DrawSeeded(make, seed, 1)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    space = get_space(space_name)
    seconds: list[float] = []
    for _ in range(trials):
        start = time.perf_counter()
        trial = study.ask()
        spec = space.sample(trial)
        seconds.append(time.perf_counter() - start)
        study.tell(trial, values[arch_id(spec)])
    return {"seconds": seconds, "best": study.best_value}


def paired_interval(diffs: list[float], seed: int, resamples: int = 2000) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    arr = np.array(diffs)
    means = arr[rng.integers(0, len(arr), (resamples, len(arr)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


@one_line_errors("sampler_overhead.py")
def main(argv: list[str] | None = None) -> int:
    p = ScriptParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--space", default="convnet720")
    p.add_argument("--samplers", default="tpe,gp,nsga2,random,bruteforce", help="comma-separated registered samplers")
    p.add_argument("--trials", type=integer, default=200)
    p.add_argument("--window", type=integer, default=50, help="the last N trials' seconds are summarised")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (each a search both ways)")
    p.add_argument("--landscape-seed", type=integer, default=0)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    # before probe47 each of these was a traceback (an unknown sampler, --trials 0, '--seeds 0,'), or ignored (--window 0
    # summarised every trial), or a traceback after the whole run (--json a folder)
    samplers = checks.items("--samplers", args.samplers, _sampler)
    seeds = checks.items("--seeds", args.seeds, checks.parse_int)
    for seed in seeds:
        checks.number("--seeds", seed, 0, integer=True)
    checks.number("--trials", args.trials, 1, integer=True)
    checks.number("--window", args.window, 1, integer=True)  # more than --trials: every trial
    checks.number("--landscape-seed", args.landscape_seed, 0, integer=True)
    if args.json is not None:
        check_out_file("--json", args.json, makes_folder=True)
    load_start = os.getloadavg()
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    values = landscape(args.space, TABLE, derive_seed(args.landscape_seed, "landscape") % 2**32)
    best_possible = max(values.values())
    rows = []
    for name in samplers:
        per: dict[str, list[dict[str, Any]]] = {"kept": [], "anew": []}
        for seed in seeds:
            for kept in (True, False):  # interleaved: load from other processes hits both alike
                r = run(name, kept, seed, args.trials, args.space, values)
                per["kept" if kept else "anew"].append(r)
        row: dict[str, Any] = {"sampler": name}
        for way, runs in per.items():
            tail = [s for r in runs for s in r["seconds"][-args.window :]]
            row[f"{way}_ms_per_trial"] = 1000 * statistics.median(tail)
            row[f"{way}_regret"] = statistics.mean(best_possible - r["best"] for r in runs)
        diffs = [(best_possible - a["best"]) - (best_possible - k["best"]) for a, k in zip(per["anew"], per["kept"], strict=True)]
        row["regret_diff"] = statistics.mean(diffs)
        row["regret_diff_ci"] = paired_interval(diffs, 0)
        row["ratio"] = row["anew_ms_per_trial"] / row["kept_ms_per_trial"]
        rows.append(row)
        print(
            f"{name:8s} ms/trial (last {args.window}) kept {row['kept_ms_per_trial']:8.2f}  anew {row['anew_ms_per_trial']:8.2f}  "
            f"({row['ratio']:.2f}x)  regret kept {row['kept_regret']:.3f}  anew {row['anew_regret']:.3f}  "
            f"diff {row['regret_diff']:+.3f} [{row['regret_diff_ci'][0]:+.3f}, {row['regret_diff_ci'][1]:+.3f}]",
            flush=True,
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        write_text(
            args.json,
            json.dumps(
                {
                    "machine": {**machine(torch.device("cpu"), load_start), "optuna": optuna.__version__},
                    "best_possible": best_possible,
                    "args": {k: str(v) for k, v in vars(args).items()},
                    "rows": rows,
                },
                indent=2,
            ),
        )
    return 0


def _sampler(name: str) -> str:
    """A registered sampler's name (an unknown one: the registry's error, with the known names)."""
    SAMPLERS.get(name)
    return name


if __name__ == "__main__":
    sys.exit(main())
