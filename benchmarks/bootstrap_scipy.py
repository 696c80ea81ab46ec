"""``scipy.stats.bootstrap`` against the hand-written bootstrap of ``correlate/metrics.py``.

    OMP_NUM_THREADS=1 python benchmarks/bootstrap_scipy.py --archs 20 50 100 --resamples 1000 --reps 15

For each number of architectures: proxy scores correlated with a ground truth (seeded), every
correlation ``summarise`` bootstraps (Spearman, Kendall and both on the top 20 %) and the paired
tau-b difference of two proxies, each computed (a) by ``bootstrap_samples`` (numpy draws the
resamples, the batched metric evaluates them all at once) and (b) by ``scipy.stats.bootstrap``
(``paired=True, vectorized=True, method="percentile"``, the same batched metric as its statistic,
the same seeded Generator). Prints whether the two bootstrap distributions are identical, how many
resamples are undefined (NaN), scipy's own interval where there are some, and the wall time of both
(median and quartiles over ``--reps`` interleaved runs).
"""

from __future__ import annotations

import math
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nas_proxy import checks
from nas_proxy.cli.common import ScriptParser, one_line_errors
from nas_proxy.cli.types import integer
from nas_proxy.correlate import metrics as M
from nas_proxy.correlate.config import N_BOOT_MAX, N_BOOT_MIN, check_n_boot

Statistic = Callable[..., M.FloatArray]  # one (resamples, m) array per sample in data -> (resamples,)


def scipy_samples(rows: Statistic, data: tuple[np.ndarray, ...], n: int, seed: int) -> tuple[np.ndarray, tuple[float, float]]:
    """The bootstrap distribution and scipy's own percentile interval (NaN when any resample is)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        res = stats.bootstrap(
            data,
            lambda *s, axis: rows(*s),
            paired=True,
            vectorized=True,
            n_resamples=n,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
    return res.bootstrap_distribution, (float(res.confidence_interval.low), float(res.confidence_interval.high))


def timed(f: Callable[[], object], reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        out.append(1e3 * (time.perf_counter() - t))
    return out


def q(v: list[float]) -> str:
    q1, med, q3 = statistics.quantiles(v, n=4)
    return f"{med:.1f} [{q1:.1f}, {q3:.1f}]"


def compare(m: int, rng: np.random.Generator, n: int, reps: int) -> list[str]:
    """The table rows of ``m`` architectures."""
    y = rng.normal(size=m)
    xa, xb = y + rng.normal(size=m), y + 1.5 * rng.normal(size=m)
    cases: dict[str, tuple[Callable[[], np.ndarray], Statistic, tuple[np.ndarray, ...]]] = {}
    metrics: dict[str, M.Metric] = {
        "spearman": M.spearman,
        "kendall": M.kendall,
        "top_spearman": M.TopFraction(M.spearman, 0.2),
        "top_kendall": M.TopFraction(M.kendall, 0.2),
    }
    for name, metric in metrics.items():
        rows = M._batched(metric)
        assert rows is not None
        cases[name] = (partial(M.bootstrap_samples, metric, xa, y, n, 0), rows, (xa, y))

    def paired_rows(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
        return M._kendall_rows(a, t) - M._kendall_rows(b, t)

    def paired_ours() -> np.ndarray:
        return M.bootstrap_samples(M.kendall, xa, y, n, 0) - M.bootstrap_samples(M.kendall, xb, y, n, 0)

    cases["paired kendall diff"] = (paired_ours, paired_rows, (xa, xb, y))
    out = []
    for name, (ours, rows, data) in cases.items():
        a = ours()
        b, scipy_ci = scipy_samples(rows, data, n, 0)
        same = np.array_equal(a, b, equal_nan=True)
        ours_ms: list[float] = []
        scipy_ms: list[float] = []
        for _ in range(reps):  # interleaved: both see the same load
            ours_ms += timed(ours, 1)
            scipy_ms += timed(partial(scipy_samples, rows, data, n, 0), 1)
        ci = M.percentile_interval(a)
        nan = int(np.isnan(a).sum())
        show = "nan" if math.isnan(scipy_ci[0]) else f"[{scipy_ci[0]:.3f}, {scipy_ci[1]:.3f}]"
        out.append(f"| {m} | {name} | {same} | {nan} | [{ci[0]:.3f}, {ci[1]:.3f}] | {show} | {q(ours_ms)} | {q(scipy_ms)} |")
    return out


@one_line_errors("bootstrap_scipy.py")
def main(argv: list[str] | None = None) -> int:
    p = ScriptParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--archs",
        type=integer,
        nargs="+",
        default=[20, 50, 100],
        help="architectures per comparison, each at least 3 (default %(default)s)",
    )
    p.add_argument(
        "--resamples", type=integer, default=1000, help=f"bootstrap resamples, {N_BOOT_MIN} to {N_BOOT_MAX} (default %(default)s)"
    )
    p.add_argument("--reps", type=integer, default=15, help="interleaved timed runs of each, at least 2 (default %(default)s)")
    args = p.parse_args(argv)
    check_n_boot(args.resamples, "--resamples")  # before fix48b: 0 a traceback, 50 a comparison of intervals on 50 resamples
    for m in args.archs:  # a rank correlation needs 3 (metrics): before stop 48, 1 was scipy's traceback after the work
        checks.number("--archs", m, 3, integer=True)
    checks.number("--reps", args.reps, 2, integer=True)  # the quartiles of the times: before fix48b 1 was a traceback at the end
    rng = np.random.default_rng(1)
    print("| archs | bootstrap | identical | NaN resamples | ours: CI | scipy: CI | ours ms, median [q1, q3] | scipy ms |")
    print("|---|---|---|---|---|---|---|---|")
    for m in args.archs:
        for row in compare(m, rng, args.resamples, args.reps):
            print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
