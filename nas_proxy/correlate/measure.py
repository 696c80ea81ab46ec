"""The metrics step of a correlation run: every proxy's agreement with the ground truth, its cost,
its gap to the best proxy, what promotion buys with it, and the ceiling row."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nas_proxy.correlate.metrics import kendall, paired_difference, per_dimension, summarise
from nas_proxy.correlate.picks import compute, promote
from nas_proxy.correlate.result import TRUTH_SEED2
from nas_proxy.correlate.truth import Truth
from nas_proxy.proxies import Scored


def _gaps_to_best(proxies: dict[str, dict[str, Any]], xs: dict[str, np.ndarray], y: np.ndarray, n_boot: int, seed: int) -> None:
    """``kendall_gap``: the best proxy's tau-b minus each proxy's, with a paired bootstrap interval."""
    ranked = [n for n in proxies if math.isfinite(proxies[n]["kendall"])]
    if not ranked:
        return
    best = max(ranked, key=lambda n: proxies[n]["kendall"])
    for name in ranked:
        if name == best:
            proxies[name] |= {"kendall_gap": 0.0, "kendall_gap_ci": None, "kendall_gap_to": best}
            continue
        d = paired_difference(kendall, xs[best], xs[name], y, n=n_boot, seed=seed)
        proxies[name] |= {"kendall_gap": d["diff"], "kendall_gap_ci": d["ci"], "kendall_gap_to": best, "kendall_gap_p": d["p_better"]}


def _promotion(
    x: np.ndarray, seconds: np.ndarray, one_off: float, ids: list[str], truth: Truth, y: np.ndarray, k: int, seed: int
) -> dict[str, Any]:
    """ "proxy + promote k" for one proxy: the pick by the ground-truth trainings' validation accuracy."""
    records = [truth.results.get((i, seed), {}) for i in ids]
    val = np.array([r.get("val_accuracy", math.nan) for r in records], dtype=float)
    full = np.array([r.get("train_seconds", math.nan) for r in records], dtype=float)
    got = promote(x, val, y, k)
    return {
        "promote_k": k,
        "promote_regret": got.regret,
        "promote_pick": [ids[i] for i in got.picked],
        **compute(seconds, one_off, full, got.promoted),
    }


def proxy_metrics(
    scores: dict[str, dict[str, Scored]], one_off: dict[str, float], truth: Truth, ids: list[str], n_boot: int, seed: int, k: int
) -> dict[str, dict[str, Any]]:
    """Per proxy: :func:`summarise`, seconds per architecture, speed-up, gap to the best, promotion."""
    y = np.array([truth.accuracy[i] for i in ids], dtype=float)
    gt_seconds = [truth.results[(i, seed)]["train_seconds"] for i in ids if (i, seed) in truth.results]
    gt_cost = float(np.mean(gt_seconds)) if gt_seconds else math.nan
    xs = {name: np.array([got[i].value for i in ids], dtype=float) for name, got in scores.items()}
    proxies: dict[str, dict[str, Any]] = {}
    for name, got in scores.items():
        seconds = np.array([got[i].seconds for i in ids], dtype=float)
        cost = float(np.nanmean(seconds)) if np.isfinite(seconds).any() else math.nan  # none timed (all cached from elsewhere): unknown
        proxies[name] = {
            **summarise(xs[name], y, n_boot=n_boot, seed=seed),
            "seconds_per_arch": cost,
            "one_off_seconds": one_off.get(name, 0.0),
            "speedup": gt_cost / cost if cost and cost > 0 else math.nan,
            **_promotion(xs[name], seconds, one_off.get(name, 0.0), ids, truth, y, k, seed),
        }
    _gaps_to_best(proxies, xs, y, n_boot, seed)
    return proxies


def ceiling_row(
    proxies: dict[str, dict[str, Any]], scores: dict[str, dict[str, Scored]], truth: Truth, n_boot: int, seed: int
) -> dict[str, Any] | None:
    """The second ground-truth seed against the first, on the ceiling's architectures; with the
    best proxy's tau-b on those same architectures, so that the two can be compared."""
    seed2 = seed + 1
    both = [a.arch_id for a in truth.ceiling if (a.arch_id, seed2) in truth.results and a.arch_id in truth.accuracy]
    if not both:
        return None
    x2 = np.array([truth.results[(i, seed2)]["test_accuracy"] for i in both], dtype=float)
    y1 = np.array([truth.accuracy[i] for i in both], dtype=float)
    row = {
        **summarise(x2, y1, n_boot=n_boot, seed=seed),
        "seconds_per_arch": float(np.mean([truth.results[(i, seed2)]["train_seconds"] for i in both])),
        "one_off_seconds": 0.0,
        "speedup": 1.0,
        "archs": len(both),
    }
    ranked = [n for n in proxies if math.isfinite(proxies[n]["kendall"])]
    if ranked:
        best = max(ranked, key=lambda n: proxies[n]["kendall"])
        row["best_proxy"] = best
        row["best_proxy_kendall"] = kendall(np.array([scores[best][i].value for i in both], dtype=float), y1)
    return row


def dimension_metrics(
    proxies: dict[str, dict[str, Any]],
    scores: dict[str, dict[str, Scored]],
    truth: Truth,
    ids: list[str],
    specs: list[dict[str, Any]],
    n_boot: int,
    seed: int,
) -> None:
    """``per_dimension`` of every proxy (and of the ceiling row, on its architectures) into its metrics."""
    y = np.array([truth.accuracy[i] for i in ids], dtype=float)
    for name, got in scores.items():
        if name in proxies:
            x = np.array([got[i].value for i in ids], dtype=float)
            proxies[name]["per_dimension"] = per_dimension(x, y, specs, n_boot, seed)
    if TRUTH_SEED2 in proxies:
        second = np.array([truth.results.get((i, seed + 1), {}).get("test_accuracy", math.nan) for i in ids], dtype=float)
        proxies[TRUTH_SEED2]["per_dimension"] = per_dimension(second, y, specs, n_boot, seed)
