"""fidelity.py's numbers: every proxy's metrics against the table's first seed, "proxy + promote K", the ceiling
row (the second seed), and the paired bootstrap differences between every two rows."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
from fidelity_table import Table

from nas_proxy.correlate.metrics import Metric, TopFraction, kendall, paired_difference, per_dimension, spearman, summarise
from nas_proxy.correlate.picks import compute, promote

K_VALUES = (1, 3, 5, 10)  # precision@k
TOP = 0.2  # the "best 20 %" of the top-of-ranking metrics
PROMOTE = 5  # "proxy + promote K": issue 12's target is the top 5
CEILING = "ground truth, 2nd seed"
PAIRED: dict[str, Metric] = {
    "spearman": spearman,
    "kendall": kendall,
    "top_spearman": TopFraction(spearman, TOP),
    "top_kendall": TopFraction(kendall, TOP),
}


def _promotion(table: Table, x: np.ndarray, y: np.ndarray, seconds: list[float], one_off: float, k: int) -> dict[str, Any]:
    """ "proxy + promote k": the pick by the table's validation accuracy, its regret and compute."""
    val = np.array([table.val.get(a, math.nan) for a in table.ids], dtype=float)
    full = np.array([table.seconds.get(a, math.nan) for a in table.ids], dtype=float)
    got = promote(x, val, y, k)
    return {"promote_k": k, "promote_regret": got.regret, **compute(seconds, one_off, full, got.promoted)}


def fidelity(
    table: Table, proxies: dict[str, dict[str, Any]], n_boot: int = 1000, seed: int = 0, promote_k: int | None = PROMOTE
) -> dict[str, Any]:
    """Metrics of every proxy (``{"scores": {id: x}, "seconds": {id: s}, "one_off_seconds": s}``)
    against the table's first seed, "proxy + promote ``promote_k``" (None: none), the ceiling row, and paired
    differences between every two rows."""
    ids = table.ids
    y = np.array([table.truth[table.seeds[0]][a] for a in ids])
    specs = [table.specs[a] for a in ids]
    vectors = {name: np.array([p["scores"].get(a, math.nan) for a in ids], dtype=float) for name, p in proxies.items()}
    gt_seconds = float(np.mean([table.seconds[a] for a in ids if a in table.seconds])) if table.seconds else math.nan
    rows: dict[str, dict[str, Any]] = {}
    for name, p in proxies.items():
        per_arch = [p["seconds"].get(a, math.nan) for a in ids]
        cost = float(np.nanmean(per_arch)) if not all(math.isnan(s) for s in per_arch) else math.nan
        rows[name] = {
            **summarise(vectors[name], y, k_values=K_VALUES, top=TOP, n_boot=n_boot, seed=seed),
            "seconds_per_arch": cost,
            "one_off_seconds": float(p.get("one_off_seconds", 0.0)),
            "speedup": gt_seconds / cost if cost and cost > 0 else math.nan,
            "source": p.get("source"),
            **(_promotion(table, vectors[name], y, per_arch, float(p.get("one_off_seconds", 0.0)), promote_k) if promote_k else {}),
            "per_dimension": per_dimension(vectors[name], y, specs, n_boot, seed),
        }
    if len(table.seeds) > 1:
        second = table.truth[table.seeds[1]]
        vectors[CEILING] = np.array([second.get(a, math.nan) for a in ids], dtype=float)
        rows[CEILING] = {
            **summarise(vectors[CEILING], y, k_values=K_VALUES, top=TOP, n_boot=n_boot, seed=seed),
            "seconds_per_arch": gt_seconds,
            "one_off_seconds": 0.0,
            "speedup": 1.0,
            "source": f"seed {table.seeds[1]} vs seed {table.seeds[0]}",
            "per_dimension": per_dimension(vectors[CEILING], y, specs, n_boot, seed),
        }
    paired = [
        {"a": a, "b": b, "metric": m, **paired_difference(fn, vectors[a], vectors[b], y, n=n_boot, seed=seed)}
        for a, b in itertools.combinations(vectors, 2)
        for m, fn in PAIRED.items()
    ]
    return {
        "n_archs": len(ids),
        "truth_seed": table.seeds[0],
        "gt_seconds_per_arch": gt_seconds,
        "promote_k": promote_k,
        "proxies": rows,
        "paired": paired,
    }
