"""Rank agreement between a proxy's scores and ground-truth accuracies over the same architectures.

Both inputs hold one value per architecture and are "higher is better". The conventions shared by
every metric here:

- **Proxy failures**: architectures whose proxy score is NaN are dropped (a proxy can fail on an
  architecture); ``summarise`` reports how many. ``+-inf`` proxy scores are kept and rank first/last.
- **Ground truth** must be finite; lengths must match. Both errors are :class:`InvalidArgumentError`.
- **Undefined is NaN**: a correlation needs at least 3 architectures and two non-constant vectors;
  otherwise the metric is ``nan`` (no scipy warning leaks).
- **Ties in a top-k selection** are broken by index: of equal scores, the earlier architecture wins.

Point estimates call scipy.stats. The bootstrap evaluates Spearman and Kendall over all resamples
at once with numpy (the same formulas; tests check them against scipy): a thousand scipy calls
cost about half a second per metric, and ``summarise`` bootstraps four.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

from nas_proxy.correlate.config import CorrelateConfig
from nas_proxy.errors import InvalidArgumentError

FloatArray = npt.NDArray[np.float64]
Metric = Callable[[npt.ArrayLike, npt.ArrayLike], float]
RowsMetric = Callable[[FloatArray, FloatArray], FloatArray]  # (resamples, m) x 2 -> (resamples,)

MIN_POINTS = 3  # fewest architectures a rank correlation is computed on
_KENDALL_PAIRWISE_MAX = 150  # above this many architectures the O(m^2) batched Kendall loses to scipy


# --- input handling ---------------------------------------------------------------------------


N_BOOT = CorrelateConfig.n_boot  # bootstrap resamples when a caller gives none (the one default: CorrelateConfig)


def _as_vector(values: npt.ArrayLike, what: str) -> FloatArray:
    try:
        a = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{what} must be numbers, one per architecture") from None
    if a.ndim != 1:
        raise InvalidArgumentError(f"{what} must be a 1-D sequence (one value per architecture), got shape {a.shape}")
    return a


def _pairs(x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Validated (proxy, truth) with the architectures whose proxy score is NaN dropped."""
    px, py = _as_vector(x, "proxy scores"), _as_vector(y, "ground truth")
    if len(px) != len(py):
        raise InvalidArgumentError(f"proxy scores and ground truth must have one value per architecture each, got {len(px)} and {len(py)}")
    bad = np.flatnonzero(~np.isfinite(py))
    if len(bad):
        raise InvalidArgumentError(f"ground truth must be finite, got {py[bad[0]]} at index {bad[0]}; drop or fix that architecture")
    keep = ~np.isnan(px)
    return px[keep], py[keep]


def _undefined(a: FloatArray, b: FloatArray) -> bool:
    """Too few points or a constant vector: no rank correlation exists."""
    return len(a) < MIN_POINTS or bool(np.all(a == a[0])) or bool(np.all(b == b[0]))


@contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        yield


def _top_indices(values: FloatArray, k: int) -> npt.NDArray[np.intp]:
    """Indices of the ``k`` largest values; of equal values the lower index comes first."""
    return np.argsort(-values, kind="stable")[:k]


def top_count(n: int, fraction: float) -> int:
    """How many of ``n`` architectures the top ``fraction`` holds: ceil(fraction * n)."""
    if not 0 < fraction <= 1:
        raise InvalidArgumentError(f"the top fraction must be in (0, 1], got {fraction}")
    return math.ceil(fraction * n - 1e-9)  # the tolerance keeps 0.2 * 720 at 144, not 145


# --- point estimates --------------------------------------------------------------------------


def spearman(x: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Spearman's rho (Pearson correlation of average ranks), via ``scipy.stats.spearmanr``."""
    px, py = _pairs(x, y)
    if _undefined(px, py):
        return math.nan
    with _quiet():
        return float(stats.spearmanr(px, py).statistic)


def kendall(x: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Kendall's tau-b (ties in either vector handled), via ``scipy.stats.kendalltau``."""
    px, py = _pairs(x, y)
    if _undefined(px, py):
        return math.nan
    with _quiet():
        return float(stats.kendalltau(px, py, variant="b").statistic)


def weighted_tau(x: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Weighted Kendall tau, ``scipy.stats.weightedtau`` with its defaults.

    The defaults are the additive hyperbolic weigher (an exchange of the elements ranked r and s,
    from 0 = best, weighs 1/(r+1) + 1/(s+1)) and ``rank=True``: the mean of the values obtained
    ranking by (proxy, truth) and by (truth, proxy), largest first. So swaps among the best
    architectures cost the most, which is what a search that keeps the top one cares about.
    """
    px, py = _pairs(x, y)
    if _undefined(px, py):
        return math.nan
    with _quiet():
        return float(stats.weightedtau(px, py).statistic)


def top_fraction(x: npt.ArrayLike, y: npt.ArrayLike, fraction: float = 0.2, metric: Metric = spearman) -> float:
    """``metric`` over the best ``fraction`` of the architectures by ground truth.

    The top set holds ceil(fraction * n) of the n scored architectures (NaN proxy scores are dropped
    first), ties at its edge broken by index; NaN when it holds fewer than 3.
    """
    px, py = _pairs(x, y)
    k = top_count(len(py), fraction)
    if k < MIN_POINTS:
        return math.nan
    top = _top_indices(py, k)
    return metric(px[top], py[top])


def precision_at_k(x: npt.ArrayLike, y: npt.ArrayLike, k: int) -> float:
    """|top-k by proxy  &  top-k by ground truth| / k.

    Ties at the k-th place are broken by index in both rankings (of equal scores the architecture
    listed first is taken), so the value is deterministic. NaN when fewer than k are scored.
    """
    if k < 1:
        raise InvalidArgumentError(f"precision@k needs k >= 1, got {k}")
    px, py = _pairs(x, y)
    if k > len(px):
        return math.nan
    return len(np.intersect1d(_top_indices(px, k), _top_indices(py, k))) / k


def regret(x: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Top-1 regret in accuracy points: max(truth) - truth of the proxy's favourite.

    When several architectures share the best proxy score the proxy cannot choose among them, so
    the regret is that of a uniform pick: max(truth) - mean(truth over the tied favourites).
    NaN when no architecture is scored.
    """
    px, py = _pairs(x, y)
    if len(px) == 0:
        return math.nan
    favourites = px == px.max()
    return float(py.max() - py[favourites].mean())


# --- bootstrap --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TopFraction:
    """``metric`` restricted to the top ``fraction`` by ground truth, as one metric (for the bootstrap).

    Each bootstrap resample selects its own top set, as the point estimate does.
    """

    metric: Metric = spearman
    fraction: float = 0.2

    def __call__(self, x: npt.ArrayLike, y: npt.ArrayLike) -> float:
        return top_fraction(x, y, self.fraction, self.metric)


def _pearson_rows(a: FloatArray, b: FloatArray) -> FloatArray:
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    out = np.full(len(a), math.nan)
    ok = den > 0  # a constant row has exactly zero deviations (its average ranks are all equal)
    out[ok] = np.clip((a * b).sum(axis=1)[ok] / den[ok], -1.0, 1.0)
    return out


def _spearman_rows(xs: FloatArray, ys: FloatArray) -> FloatArray:
    """Spearman of each row pair: Pearson of average ranks, as scipy computes it."""
    if xs.shape[1] < MIN_POINTS:
        return np.full(len(xs), math.nan)
    return _pearson_rows(stats.rankdata(xs, axis=1), stats.rankdata(ys, axis=1))


def _kendall_rows(xs: FloatArray, ys: FloatArray) -> FloatArray:
    """Kendall tau-b of each row pair: sum(sx*sy) / sqrt(sum|sx| * sum|sy|) over all ordered pairs.

    sx = sign(x_i - x_j); counting each pair twice leaves the ratio unchanged. Pairs tied in x drop
    out of sum|sx| (n0 - n1 in the tau-b formula), likewise for y.
    """
    n, m = xs.shape
    if m < MIN_POINTS:
        return np.full(n, math.nan)
    if m > _KENDALL_PAIRWISE_MAX:
        return np.array([kendall(a, b) for a, b in zip(xs, ys, strict=True)])
    out = np.empty(n)
    chunk = max(1, 4_000_000 // (m * m))  # rows per step: bounds the (chunk, m, m) temporaries
    for s in range(0, n, chunk):
        a, b = xs[s : s + chunk], ys[s : s + chunk]
        # comparisons, not subtraction, so that +-inf scores order correctly
        sa = (a[:, :, None] > a[:, None, :]).astype(np.int8) - (a[:, :, None] < a[:, None, :])  # (chunk, m, m)
        sb = (b[:, :, None] > b[:, None, :]).astype(np.int8) - (b[:, :, None] < b[:, None, :])
        num = (sa * sb).sum(axis=(1, 2), dtype=np.int64)
        den = np.sqrt(np.abs(sa).sum(axis=(1, 2), dtype=np.int64) * np.abs(sb).sum(axis=(1, 2), dtype=np.int64).astype(np.float64))
        out[s : s + chunk] = np.where(den > 0, num / np.where(den > 0, den, 1.0), math.nan)  # den 0: a constant row
    return out


def _top_rows(xs: FloatArray, ys: FloatArray, fraction: float, rows: RowsMetric) -> FloatArray:
    k = top_count(xs.shape[1], fraction)
    if k < MIN_POINTS:
        return np.full(len(xs), math.nan)
    order = np.argsort(-ys, axis=1, kind="stable")[:, :k]  # same tie rule as _top_indices
    return rows(np.take_along_axis(xs, order, axis=1), np.take_along_axis(ys, order, axis=1))


def _batched(metric: Metric) -> RowsMetric | None:
    """The all-resamples-at-once form of ``metric``, where there is one."""
    if metric is spearman:
        return _spearman_rows
    if metric is kendall:
        return _kendall_rows
    if isinstance(metric, TopFraction) and (inner := _batched(metric.metric)) is not None:
        return partial(_top_rows, fraction=metric.fraction, rows=inner)
    return None


def bootstrap_samples(
    metric: Metric, x: npt.ArrayLike, y: npt.ArrayLike, n: int = N_BOOT, seed: int = 0, size: int | None = None
) -> FloatArray:
    """``metric`` on ``n`` resamples of the architectures (pairs drawn with replacement); NaN kept.

    NaN proxy scores are dropped before resampling. The resamples depend only on ``seed``, the
    number of scored architectures and ``size``, so metrics bootstrapped with one seed share their
    resamples. ``size``: architectures per resample (None: as many as were scored; fewer gives the
    spread of a table that size, benchmarks/power.py).
    """
    if n < 1:
        raise InvalidArgumentError(f"the bootstrap needs at least 1 resample, got {n}")
    px, py = _pairs(x, y)
    m = len(px)
    if m == 0:
        return np.full(n, math.nan)
    # The draw scipy.stats.bootstrap(paired=True) makes, kept here (tests/correlate/test_metrics.py checks the
    # two distributions are equal bit for bit, paired differences included): scipy's percentile
    # interval is NaN as soon as one resample is undefined (top-20 % metrics on 20 architectures:
    # ~4 %), so ours (percentile_interval) would stay anyway, and scipy adds 1-3 ms a call, 2-9x
    # the whole bootstrap of a top-20 % metric at the default 20 architectures (RESULTS.md §15).
    idx = np.random.default_rng(seed).integers(0, m, size=(n, m if size is None else size))  # (resamples, size)
    xs, ys = px[idx], py[idx]
    rows = _batched(metric)
    if rows is not None:
        return rows(xs, ys)
    return np.array([metric(a, b) for a, b in zip(xs, ys, strict=True)], dtype=np.float64)


def percentile_interval(samples: npt.ArrayLike, level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` interval of the non-NaN ``samples``; (nan, nan) if none is a number."""
    if not 0 < level < 1:
        raise InvalidArgumentError(f"the confidence level must be in (0, 1), got {level}")
    s = np.asarray(samples, dtype=np.float64)
    s = s[~np.isnan(s)]
    if len(s) == 0:
        return math.nan, math.nan
    alpha = (1 - level) / 2
    low, high = np.quantile(s, [alpha, 1 - alpha])
    return float(low), float(high)


def bootstrap_ci(
    metric: Metric, x: npt.ArrayLike, y: npt.ArrayLike, n: int = N_BOOT, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval (low, high) of ``metric`` over architectures.

    Resamples are (proxy, truth) pairs drawn with replacement from a ``numpy`` Generator seeded with
    ``seed``; resamples where the metric is undefined (NaN) are dropped, and the interval is taken
    over the rest ((nan, nan) if none remains; ``summarise`` reports how many were valid). This is
    ``scipy.stats.bootstrap(paired=True, method="percentile")`` apart from the NaN handling.
    """
    return percentile_interval(bootstrap_samples(metric, x, y, n, seed), level)


def paired_difference(
    metric: Metric,
    xa: npt.ArrayLike,
    xb: npt.ArrayLike,
    y: npt.ArrayLike,
    n: int = N_BOOT,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Is proxy ``a`` better than proxy ``b``? ``metric(a) - metric(b)`` with a paired bootstrap interval.

    Both proxies are judged on the architectures both scored and on the *same* resamples of them, so
    the interval reflects the difference itself, not two independent intervals that overlap anyway.
    Returns ``diff``, ``ci`` ([low, high], the percentile interval), ``p_better`` (share of valid
    resamples where ``a`` wins), ``n`` (architectures compared) and ``valid`` (resamples where both
    metrics were defined).
    """
    a, b, t = _as_vector(xa, "proxy scores"), _as_vector(xb, "proxy scores"), _as_vector(y, "ground truth")
    if not len(a) == len(b) == len(t):
        raise InvalidArgumentError(f"both proxies and the ground truth need one value per architecture, got {len(a)}, {len(b)}, {len(t)}")
    keep = ~(np.isnan(a) | np.isnan(b))
    _pairs(a[keep], t[keep])  # validates the ground truth
    a, b, t = a[keep], b[keep], t[keep]
    out: dict[str, Any] = {"n": len(t), "diff": metric(a, t) - metric(b, t)}
    if n < 1:
        raise InvalidArgumentError(f"the bootstrap needs at least 1 resample, got {n}")
    if len(t) == 0:
        return out | {"ci": [math.nan, math.nan], "p_better": math.nan, "valid": 0}
    # one set of resamples for both proxies: bootstrap_samples draws them from (seed, len) alone
    diffs = bootstrap_samples(metric, a, t, n, seed) - bootstrap_samples(metric, b, t, n, seed)
    valid = diffs[~np.isnan(diffs)]
    p_better = float(np.mean(valid > 0)) if len(valid) else math.nan
    return out | {"ci": list(percentile_interval(diffs, level)), "p_better": p_better, "valid": len(valid)}


# --- summary ----------------------------------------------------------------------------------


def summarise(
    proxy_scores: npt.ArrayLike,
    truth: npt.ArrayLike,
    k_values: Sequence[int] = (1, 3, 5),
    top: float = 0.2,
    n_boot: int = N_BOOT,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Every metric of this module for one proxy, as a flat dict of numbers (NaN where undefined).

    Keys: ``n`` (architectures given), ``n_scored``, ``n_dropped`` (NaN proxy scores), ``spearman``,
    ``kendall``, ``weighted_tau``, ``top_fraction``, ``top_n``, ``top_spearman``, ``top_kendall``,
    ``precision@k`` for each k, ``regret``, a ``[low, high]`` ``*_ci`` for the four correlations, and
    ``bootstrap`` (resamples, level, seed, and per metric the count of valid resamples). All CIs
    share the same resamples. Pass the result through :func:`to_jsonable` before ``json.dump``.
    """
    n_given = len(_as_vector(proxy_scores, "proxy scores"))
    x, y = _pairs(proxy_scores, truth)
    top_count(len(y), top)  # validates ``top`` before the bootstrap runs
    out: dict[str, Any] = {"n": n_given, "n_scored": len(x), "n_dropped": n_given - len(x)}
    valid: dict[str, int] = {}
    correlations: dict[str, Metric] = {
        "spearman": spearman,
        "kendall": kendall,
        "top_spearman": TopFraction(spearman, top),
        "top_kendall": TopFraction(kendall, top),
    }
    for name, metric in correlations.items():
        samples = bootstrap_samples(metric, x, y, n_boot, seed)
        out[name] = metric(x, y)
        out[f"{name}_ci"] = list(percentile_interval(samples, level))
        valid[name] = int(np.count_nonzero(~np.isnan(samples)))
    out["weighted_tau"] = weighted_tau(x, y)
    out["top_fraction"] = top
    out["top_n"] = top_count(len(y), top)
    for k in k_values:
        out[f"precision@{k}"] = precision_at_k(x, y, k)
    out["regret"] = regret(x, y)
    out["bootstrap"] = {"resamples": n_boot, "level": level, "seed": seed, "valid": valid}
    return out


# --- where a proxy fails: per dimension of the space --------------------------------------------


def rank_shift(x: npt.ArrayLike, y: npt.ArrayLike) -> FloatArray:
    """Per architecture, its rank by the proxy minus its rank by the ground truth (1 = best, ties
    share their average rank), both among the architectures the proxy scored; NaN where the proxy
    score is NaN. Positive: the proxy ranks it lower (worse) than it is."""
    px, py = _as_vector(x, "proxy scores"), _as_vector(y, "ground truth")
    _pairs(px, py)  # validates lengths and the ground truth
    out = np.full(len(px), math.nan)
    keep = ~np.isnan(px)
    out[keep] = stats.rankdata(-px[keep]) - stats.rankdata(-py[keep])
    return out


def _value_order(v: Any) -> tuple[int, float, str]:
    return (0, float(v), "") if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, 0.0, str(v))


def dimension_values(specs: Sequence[dict[str, Any]], max_values: int = 12) -> dict[str, list[Any]]:
    """The dimensions worth a per-value breakdown: spec keys whose values are scalars taking 2 to
    ``max_values`` distinct values over ``specs`` (an id-like key such as an NB201 cell string
    takes one per architecture and is left out), each with its values in order."""
    keys = sorted({k for s in specs for k in s})
    out: dict[str, list[Any]] = {}
    for k in keys:
        values = [s.get(k) for s in specs]
        if any(v is None or isinstance(v, (dict, list)) for v in values):
            continue
        distinct = sorted(set(values), key=_value_order)
        if 2 <= len(distinct) <= max_values:
            out[k] = distinct
    return out


def per_dimension(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    specs: Sequence[dict[str, Any]],
    n_boot: int = N_BOOT,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Where a proxy's ranking fails: for every dimension of ``specs`` (:func:`dimension_values`)
    and every value of it, ``n`` (members the proxy scored), ``spearman`` among those members with
    a bootstrap ``spearman_ci`` (resampled within them), and ``rank_shift``: the mean over them of
    :func:`rank_shift` over all architectures (positive: the proxy ranks members of that value
    lower than they are). Keys are the values as strings, in order."""
    px, py = _as_vector(x, "proxy scores"), _as_vector(y, "ground truth")
    if len(specs) != len(px):
        raise InvalidArgumentError(f"per_dimension needs one spec per architecture, got {len(specs)} for {len(px)}")
    shift = rank_shift(px, py)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for dim, values in dimension_values(specs).items():
        out[dim] = {}
        for v in values:
            members = np.array([s.get(dim) == v for s in specs]) & ~np.isnan(px)
            xs, ys = px[members], py[members]
            samples = bootstrap_samples(spearman, xs, ys, n_boot, seed)
            out[dim][str(v)] = {
                "n": int(members.sum()),
                "spearman": spearman(xs, ys),
                "spearman_ci": list(percentile_interval(samples, level)),
                "rank_shift": float(shift[members].mean()) if members.any() else math.nan,
            }
    return out


def to_jsonable(obj: Any) -> Any:
    """A copy of ``obj`` that ``json.dumps`` writes as strict JSON: NaN and +-inf become None.

    Also turns numpy scalars into Python numbers, tuples and arrays into lists, keys into strings.
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj
