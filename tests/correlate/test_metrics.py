"""Rank metrics against hand-computed values, and the bootstrap's reproducibility and NaN rules."""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable

import numpy as np
import pytest
from scipy import stats

from nas_proxy.correlate.metrics import (
    Metric,
    TopFraction,
    bootstrap_ci,
    bootstrap_samples,
    dimension_values,
    kendall,
    paired_difference,
    per_dimension,
    percentile_interval,
    precision_at_k,
    rank_shift,
    regret,
    spearman,
    summarise,
    to_jsonable,
    top_count,
    top_fraction,
    weighted_tau,
)
from nas_proxy.errors import InvalidArgumentError

CORRELATIONS = [spearman, kendall, weighted_tau]


def noisy_pair(n: int = 30, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Truth and a proxy correlated with it (rho about 0.6), with ties in the proxy."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(70, 5, n)
    return np.round(truth + rng.normal(0, 6, n), -1), truth


@pytest.mark.parametrize("metric", CORRELATIONS)
def test_perfect_and_reversed_rankings(metric: Metric) -> None:
    truth = [60.0, 71.5, 80.0, 85.2, 90.1]
    assert metric([1, 2, 3, 4, 5], truth) == pytest.approx(1.0)
    assert metric([5, 4, 3, 2, 1], truth) == pytest.approx(-1.0)


def test_ties_by_hand() -> None:
    x, y = [1, 2, 2, 3], [1, 2, 3, 3]
    # Kendall tau-b. Pairs (i, j): (0,1) (0,2) (0,3) (1,3) concordant -> P = 4, Q = 0;
    # (1,2) tied in x only, (2,3) tied in y only. n0 = 6, n1 = 1, n2 = 1:
    # tau_b = (P - Q) / sqrt((n0 - n1)(n0 - n2)) = 4 / sqrt(5 * 5) = 0.8
    assert kendall(x, y) == pytest.approx(0.8)
    # Spearman: average ranks x -> 1, 2.5, 2.5, 4 and y -> 1, 2, 3.5, 3.5, both of mean 2.5.
    # Deviations dx = -1.5, 0, 0, 1.5 and dy = -1.5, -0.5, 1, 1:
    # sum dx dy = 2.25 + 1.5 = 3.75, sum dx^2 = sum dy^2 = 4.5 -> rho = 3.75 / 4.5 = 5/6
    assert spearman(x, y) == pytest.approx(5 / 6)


def test_top_fraction_by_hand() -> None:
    truth = np.arange(10.0)  # the top 30% are indices 7, 8, 9
    proxy = np.array([9, 8, 7, 6, 5, 4, 3, 1, 3, 2], dtype=float)  # reversed overall
    # inside the top 3: proxy (1, 3, 2) vs truth (7, 8, 9): rho = 0.5, tau = (2 - 1) / 3
    assert spearman(proxy, truth) < -0.9
    assert top_fraction(proxy, truth, 0.3) == pytest.approx(0.5)
    assert top_fraction(proxy, truth, 0.3, metric=kendall) == pytest.approx(1 / 3)
    assert math.isnan(top_fraction(proxy, truth, 0.2))  # only 2 architectures
    assert top_count(720, 0.2) == 144
    assert top_count(10, 0.25) == 3  # ceil(2.5)


def test_precision_at_k_by_hand() -> None:
    proxy = [0.9, 0.8, 0.1, 0.7, 0.2]
    truth = [50, 10, 60, 40, 30]
    # top-2 by proxy {0, 1}, by truth {2, 0} -> 1/2; top-3 {0, 1, 3} vs {2, 0, 3} -> 2/3
    assert precision_at_k(proxy, truth, 2) == pytest.approx(1 / 2)
    assert precision_at_k(proxy, truth, 3) == pytest.approx(2 / 3)
    assert precision_at_k(proxy, truth, 5) == 1.0
    assert math.isnan(precision_at_k(proxy, truth, 6))
    # a three-way tie for the proxy's first place: the lowest index (0) is taken
    assert precision_at_k([1, 1, 1, 0], [90, 10, 20, 30], 1) == 1.0
    assert precision_at_k([1, 1, 1, 0], [10, 90, 20, 30], 1) == 0.0


def test_regret_by_hand() -> None:
    assert regret([0.1, 0.9, 0.5], [70, 60, 80]) == pytest.approx(20.0)  # picks 60, best is 80
    assert regret([0.1, 0.2, 0.3], [70, 60, 80]) == 0.0
    # the proxy ties its first two: a uniform pick loses 80 - (70 + 60) / 2 = 15 on average
    assert regret([1, 1, 0], [70, 60, 80]) == pytest.approx(15.0)


def test_undefined_is_nan_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for metric in CORRELATIONS:
            assert math.isnan(metric([1, 2], [3, 4]))  # fewer than 3 points
            assert math.isnan(metric([1, 1, 1, 1], [1, 2, 3, 4]))  # constant proxy
            assert math.isnan(metric([1, 2, 3, 4], [5, 5, 5, 5]))  # constant truth
        assert math.isnan(regret([math.nan] * 3, [1, 2, 3]))


def test_nan_proxy_scores_are_dropped() -> None:
    proxy = [1, math.nan, 2, 3, math.nan, 4]
    truth = [10, 99, 20, 30, 0, 40]
    assert spearman(proxy, truth) == pytest.approx(1.0)
    assert regret(proxy, truth) == 0.0  # the 99 is dropped with its failed proxy score: 40 is the best left
    s = summarise(proxy, truth, n_boot=50)
    assert (s["n"], s["n_scored"], s["n_dropped"]) == (6, 4, 2)


def test_infinite_proxy_scores_rank_first_and_last() -> None:
    assert spearman([-math.inf, 2, 3, math.inf], [1, 2, 3, 4]) == pytest.approx(1.0)
    assert kendall([-math.inf, 2, 3, math.inf], [1, 2, 3, 4]) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        ([1, 2, 3], [1, 2], "one value per architecture"),
        ([1, 2, 3], [1, math.nan, 3], "ground truth must be finite"),
        ([1, 2, 3], [1, math.inf, 3], "ground truth must be finite"),
        ([[1, 2], [3, 4]], [1, 2], "1-D"),
        (["a", "b", "c"], [1, 2, 3], "must be numbers"),
    ],
)
def test_input_errors(x: object, y: object, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        spearman(x, y)  # type: ignore[arg-type]


def test_argument_errors() -> None:
    x, y = [1, 2, 3], [1, 2, 3]
    with pytest.raises(InvalidArgumentError, match="k >= 1"):
        precision_at_k(x, y, 0)
    with pytest.raises(InvalidArgumentError, match=r"\(0, 1\]"):
        top_fraction(x, y, 0.0)
    with pytest.raises(InvalidArgumentError, match="confidence level"):
        bootstrap_ci(spearman, x, y, level=1.0)
    with pytest.raises(InvalidArgumentError, match="at least 1 resample"):
        bootstrap_ci(spearman, x, y, n=0)


def test_bootstrap_ci_contains_estimate_and_is_seeded() -> None:
    proxy, truth = noisy_pair()
    for metric in (spearman, kendall):
        low, high = bootstrap_ci(metric, proxy, truth, n=1000, seed=0)
        assert low < metric(proxy, truth) < high
        assert bootstrap_ci(metric, proxy, truth, n=1000, seed=0) == (low, high)
        assert bootstrap_ci(metric, proxy, truth, n=1000, seed=1) != (low, high)


@pytest.mark.parametrize(
    "metric", [spearman, kendall, TopFraction(spearman, 0.3), TopFraction(kendall, 0.3)], ids=["rho", "tau", "top_rho", "top_tau"]
)
@pytest.mark.parametrize("n_arch", [30, 160])  # 160: Kendall's batched form falls back to scipy
def test_batched_bootstrap_equals_scipy_per_resample(metric: Metric, n_arch: int) -> None:
    """The vectorised Spearman / Kendall of the bootstrap agree with scipy on every resample."""
    proxy, truth = noisy_pair(n_arch)
    fast = bootstrap_samples(metric, proxy, truth, n=40, seed=3)
    slow = bootstrap_samples(lambda a, b: metric(a, b), proxy, truth, n=40, seed=3)  # not recognised: one call each
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12)


@pytest.mark.parametrize("metric", [spearman, TopFraction(kendall, 0.2)], ids=["rho", "top_tau"])
def test_the_bootstrap_draws_what_scipy_stats_bootstrap_draws(metric: Metric) -> None:
    """``bootstrap_samples`` is ``scipy.stats.bootstrap(paired=True)``'s bootstrap distribution (same
    Generator, same resamples; to 1e-12 here, where scipy's statistic is the metric per resample and
    ours the batched form), and so is the paired difference over the same resamples;
    scipy's own interval is NaN as soon as one resample is undefined (20 architectures, top 20 %:
    some are), where ours drops those resamples (metrics.py says why the draw stays ours)."""
    from scipy import stats

    proxy, truth = noisy_pair(20)
    other = proxy[::-1].copy()

    def scipy_distribution(statistic: Callable[..., np.ndarray], *data: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", stats.DegenerateDataWarning)
            res = stats.bootstrap(
                data, statistic, paired=True, vectorized=True, n_resamples=300, method="percentile", rng=np.random.default_rng(7)
            )
        return np.asarray(res.bootstrap_distribution)

    def rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.array([metric(a, b) for a, b in zip(x, y, strict=True)])

    ours = bootstrap_samples(metric, proxy, truth, n=300, seed=7)
    assert np.isnan(ours).any() == (metric is not spearman)  # top 20 % of 20: some resamples undefined
    np.testing.assert_allclose(scipy_distribution(lambda x, y, axis: rows(x, y), proxy, truth), ours, rtol=0, atol=1e-12)
    diffs = bootstrap_samples(metric, proxy, truth, n=300, seed=7) - bootstrap_samples(metric, other, truth, n=300, seed=7)
    paired = scipy_distribution(lambda a, b, y, axis: rows(a, y) - rows(b, y), proxy, other, truth)
    np.testing.assert_allclose(paired, diffs, rtol=0, atol=1e-12)


def test_bootstrap_drops_undefined_resamples() -> None:
    # resamples of 3 monotone points: any with two distinct points has rho = 1; one that draws the
    # same point three times (1 in 9) is constant -> NaN, and is left out of the interval
    samples = bootstrap_samples(spearman, [1, 2, 3], [1, 2, 3], n=200, seed=0)
    assert np.isnan(samples).any() and not np.isnan(samples).all()
    assert percentile_interval(samples) == (1.0, 1.0)
    assert all(math.isnan(v) for v in percentile_interval([math.nan, math.nan]))


def test_summarise_keys_and_json() -> None:
    proxy, truth = noisy_pair()
    s = summarise(proxy, truth, k_values=(1, 3), n_boot=200, seed=0)
    assert s["spearman"] == pytest.approx(spearman(proxy, truth))
    assert s["top_kendall"] == pytest.approx(top_fraction(proxy, truth, 0.2, kendall))
    assert s["spearman_ci"] == list(bootstrap_ci(spearman, proxy, truth, n=200, seed=0))
    assert s["top_spearman_ci"] == list(bootstrap_ci(TopFraction(spearman, 0.2), proxy, truth, n=200, seed=0))
    assert {"precision@1", "precision@3", "regret", "weighted_tau", "top_n"} <= set(s)
    assert s["top_n"] == 6
    assert s["bootstrap"]["valid"]["spearman"] == 200
    # too few architectures: every correlation NaN, kept as NaN until to_jsonable
    small = summarise([1, 2], [3, 4], n_boot=20)
    assert math.isnan(small["spearman"]) and math.isnan(small["spearman_ci"][0])
    assert small["bootstrap"]["valid"]["kendall"] == 0
    text = json.dumps(to_jsonable(small), allow_nan=False)
    assert json.loads(text)["spearman"] is None


def test_paired_difference_of_a_proxy_with_itself_is_exactly_zero() -> None:
    x, y = noisy_pair()
    d = paired_difference(kendall, x, x, y, n=200, seed=3)
    assert d["diff"] == 0.0 and d["ci"] == [0.0, 0.0] and d["p_better"] == 0.0 and d["n"] == len(y)


def test_paired_difference_perfect_against_reversed() -> None:
    y = np.arange(10.0)
    d = paired_difference(kendall, y, -y, y, n=300, seed=0)
    assert d["diff"] == pytest.approx(2.0)  # tau-b +1 minus tau-b -1, on every resample too
    assert d["ci"] == pytest.approx([2.0, 2.0]) and d["p_better"] == 1.0
    assert 0 < d["valid"] <= 300  # resamples of one repeated architecture are undefined and dropped


def test_paired_difference_is_tighter_than_the_two_intervals() -> None:
    """Two proxies sharing most of their noise: the paired interval sees the small, consistent gap."""
    rng = np.random.default_rng(0)
    y = rng.normal(70, 5, 40)
    shared = rng.normal(0, 4, 40)
    better, worse = y + shared, y + shared + rng.normal(0, 2, 40)
    d = paired_difference(kendall, better, worse, y, n=1000, seed=0)
    lo_b, hi_b = bootstrap_ci(kendall, better, y, n=1000, seed=0)
    lo_w, hi_w = bootstrap_ci(kendall, worse, y, n=1000, seed=0)
    assert d["diff"] == pytest.approx(kendall(better, y) - kendall(worse, y))
    assert d["ci"][1] - d["ci"][0] < min(hi_b - lo_b, hi_w - lo_w)
    assert d["ci"][0] <= d["diff"] <= d["ci"][1]


def test_paired_difference_uses_architectures_both_scored() -> None:
    y = np.arange(8.0)
    a = y.copy()
    b = y[::-1].copy()
    a[0], b[1] = math.nan, math.nan
    d = paired_difference(kendall, a, b, y, n=50, seed=0)
    assert d["n"] == 6
    assert d["diff"] == pytest.approx(kendall(a[2:], y[2:]) - kendall(b[2:], y[2:]))
    with pytest.raises(InvalidArgumentError, match="one value per architecture"):
        paired_difference(kendall, a, b[:-1], y)


def test_rank_shift_is_proxy_rank_minus_true_rank_with_one_the_best() -> None:
    truth = np.array([90.0, 80.0, 70.0, 60.0])
    proxy = np.array([0.1, 0.9, 0.8, math.nan])  # ranks the best architecture last among the three scored
    assert rank_shift(proxy, truth).tolist()[:3] == [2.0, -1.0, -1.0] and math.isnan(rank_shift(proxy, truth)[3])
    tied = rank_shift(np.array([1.0, 1.0, 0.0]), np.array([3.0, 2.0, 1.0]))  # the two tied share rank 1.5
    assert tied.tolist() == [0.5, -0.5, 0.0]


def test_per_dimension_is_spearman_within_each_value_and_the_mean_rank_shift() -> None:
    rng = np.random.default_rng(3)
    specs = [{"family": "convnet", "norm": ("batchnorm", "none")[i % 2], "depth": 1 + i % 3, "id": f"a{i}"} for i in range(24)]
    truth = rng.normal(80, 5, 24)
    proxy = truth + rng.normal(0, 3, 24) - 8.0 * np.array([s["norm"] == "batchnorm" for s in specs])  # batch norm ranked too low
    proxy[5] = math.nan  # a failed score: dropped everywhere
    got = per_dimension(proxy, truth, specs, n_boot=200, seed=1)
    assert set(got) == {"norm", "depth"}  # family has one value, id one per architecture
    assert list(got["depth"]) == ["1", "2", "3"] and list(got["norm"]) == ["batchnorm", "none"]
    shift = rank_shift(proxy, truth)
    for dim, values in got.items():
        assert sum(v["n"] for v in values.values()) == 23
        assert sum(v["n"] * v["rank_shift"] for v in values.values()) == pytest.approx(0.0, abs=1e-9)  # shifts cancel over all
        for value, v in values.items():
            members = np.array([str(s[dim]) == value for s in specs]) & ~np.isnan(proxy)
            assert v["spearman"] == pytest.approx(stats.spearmanr(proxy[members], truth[members]).statistic)
            assert v["rank_shift"] == pytest.approx(shift[members].mean())
            lo, hi = v["spearman_ci"]
            assert -1 <= lo <= hi <= 1
    assert got["norm"]["batchnorm"]["rank_shift"] > 0 > got["norm"]["none"]["rank_shift"]


def test_dimension_values_keeps_scalar_dimensions_with_few_values() -> None:
    specs = [{"depth": d, "arch_str": f"|op~{d}|", "stages": [1, d], "act": "relu"} for d in range(3)]
    assert dimension_values(specs) == {"arch_str": ["|op~0|", "|op~1|", "|op~2|"], "depth": [0, 1, 2]}
    assert dimension_values(specs, max_values=2) == {}
    with pytest.raises(InvalidArgumentError, match="one spec per architecture"):
        per_dimension([1.0, 2.0], [1.0, 2.0], specs)
