"""Promotion: the proxy's top K trained on the full data, the pick made by validation accuracy.

"proxy alone" picks the proxy's favourite; "proxy + promote K" trains the proxy's K best for real
and picks the one with the best *validation* accuracy. Both are judged by the test accuracy, which
never takes part in a pick.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Promotion:
    """``regret``: best test accuracy minus that of the pick (accuracy points; NaN when no promoted
    architecture has a validation accuracy); ``promoted``: indices of the proxy's top K, best first;
    ``picked``: the indices sharing the best validation accuracy among them (a tie is judged as a
    uniform pick among the tied, like :func:`nas_proxy.correlate.metrics.regret`)."""

    regret: float
    promoted: list[int]
    picked: list[int]


def top_k(scores: npt.ArrayLike, k: int) -> list[int]:
    """Indices of the ``k`` highest finite scores, best first; equal scores keep their input order."""
    x = np.asarray(scores, dtype=float)
    order = np.argsort(-x, kind="stable")
    return [int(i) for i in order if math.isfinite(x[i])][:k]


def promote(scores: npt.ArrayLike, val: npt.ArrayLike, test: npt.ArrayLike, k: int) -> Promotion:
    """ "proxy + promote k": among the ``k`` best by ``scores``, the best by ``val``, judged on ``test``."""
    if k < 1:
        raise ValueError(f"promote k must be at least 1, got {k}")
    v, t = np.asarray(val, dtype=float), np.asarray(test, dtype=float)
    promoted = top_k(scores, k)
    candidates = [i for i in promoted if math.isfinite(v[i]) and math.isfinite(t[i])]
    finite_t = t[np.isfinite(t)]
    if not candidates or not len(finite_t):
        return Promotion(math.nan, promoted, [])
    best_val = max(v[i] for i in candidates)
    picked = [i for i in candidates if v[i] == best_val]
    return Promotion(float(finite_t.max() - np.mean([t[i] for i in picked])), promoted, picked)


def compute(proxy_seconds: npt.ArrayLike, one_off: float, full_seconds: npt.ArrayLike, promoted: list[int]) -> dict[str, float]:
    """Seconds of "proxy alone" (the proxy on every candidate, plus its one-off cost), of "proxy +
    promote" (that plus the full trainings of ``promoted``) and of training every candidate on the
    full data, and how many times less the promotion costs than the last (NaN where unknown)."""
    p, f = np.asarray(proxy_seconds, dtype=float), np.asarray(full_seconds, dtype=float)
    alone = float(np.nansum(p)) + float(one_off) if np.isfinite(p).any() else math.nan
    promoted_cost = alone + float(np.sum(f[promoted])) if promoted else alone
    full = float(np.sum(f)) if len(f) else math.nan
    ratio = full / promoted_cost if math.isfinite(promoted_cost) and promoted_cost > 0 and math.isfinite(full) else math.nan
    return {"cost_alone_seconds": alone, "cost_promoted_seconds": promoted_cost, "cost_full_seconds": full, "promote_saving": ratio}


def ladder_regrets(picks: list[dict[str, Any]], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A ladder study's pick at every rung (:func:`nas_proxy.search.ladder.picks`) judged by the
    ground truth of this report's architectures: ``regret`` is their best test accuracy minus the
    pick's (accuracy points; NaN when the pick has none). The picks were made by each rung's score,
    the top rung's by validation accuracy; the test accuracy only judges them."""
    truth = {r["arch_id"]: float(r["truth"]) for r in rows if r.get("truth") is not None and math.isfinite(float(r["truth"]))}
    best = max(truth.values(), default=math.nan)
    rungs = [
        {k: p[k] for k in ("rung", "proxy", "arch_id", "trained", "planned", "seconds", "seconds_through")}
        | {"regret": best - truth[p["arch_id"]] if p["arch_id"] in truth else math.nan}
        for p in picks
    ]
    return {"rungs": rungs, "archs": len(truth), "candidates": picks[0]["candidates"] if picks else 0}
