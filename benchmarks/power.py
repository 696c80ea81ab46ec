"""What a ground-truth table can tell apart: the paired-bootstrap spread of a proxy's difference to a baseline,
the smallest difference it could detect, and how many architectures a given difference would need.

``python benchmarks/power.py SCORES.csv --base random-ipc10 --role evaluation --target 0.034`` reads a scores
file of ``distill_ablation.py`` (columns ``variant, arch_id, score``) and, for every other variant V scored on
the same architectures of the table (``--role``: the split's evaluation half by default), gives for Spearman
and for Spearman on the table's best 20 %:

- ``diff``: V minus the baseline, with its 95 % paired percentile interval (``nas_proxy.correlate.metrics.
  paired_difference``, the resamples of ``fidelity.py``: 1,000, seed 0);
- ``se``: the standard deviation of the paired differences over the resamples, at n architectures and at n/2
  (a resample of half as many: their ratio checks that the spread shrinks as 1/sqrt(n), which the next two assume);
- ``detectable``: 1.96 x se, the smallest difference whose interval would exclude 0 at this n (normal approximation);
- ``n_needed``: architectures for the ``--target`` difference (and for the observed one) to reach that,
  n x (1.96 x se / difference)^2.

The point: issue 18 asks for a distilled set above the random subset "by a paired interval that excludes 0";
whether the 70 evaluation architectures can show that depends on the size of the difference, which this states
before anyone reads a non-significant difference as "no difference" (``benchmarks/RESULTS.md`` §22).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
from fidelity_report import add_bootstrap, check_out_file  # benchmarks/ is on sys.path
from fidelity_stats import PAIRED
from fidelity_table import _scores_file, check_dataset, read_table, scores_csv, with_role

from nas_proxy import checks
from nas_proxy.cli.common import ScriptParser, one_line_errors
from nas_proxy.cli.types import finite_float, integer
from nas_proxy.correlate.config import check_n_boot
from nas_proxy.correlate.metrics import bootstrap_samples, paired_difference
from nas_proxy.errors import InvalidArgumentError
from nas_proxy.files import write_text

Z = 1.959963984540054  # the normal quantile of a two-sided 95 % interval
METRICS = ("spearman", "top_spearman")
DEFAULT_TABLE = Path(__file__).parent / "groundtruth" / "fashion-mnist-convnet720.csv"  # fidelity.py's


def spread(metric: Any, a: np.ndarray, b: np.ndarray, y: np.ndarray, m: int, n_boot: int, seed: int) -> float:
    """Standard deviation of metric(a) - metric(b) over ``n_boot`` paired resamples of ``m`` architectures."""
    diffs = bootstrap_samples(metric, a, y, n_boot, seed, m) - bootstrap_samples(metric, b, y, n_boot, seed, m)
    finite = diffs[np.isfinite(diffs)]  # a resample too small for the metric (the top 20 % of a few) has none
    return float(np.std(finite, ddof=1)) if finite.size > 1 else math.nan  # before stop 46: numpy's RuntimeWarning, its source line


def power(a: np.ndarray, b: np.ndarray, y: np.ndarray, targets: dict[str, float], n_boot: int, seed: int) -> dict[str, Any]:
    """Per metric of ``METRICS``: the difference a - b, its spread, the smallest detectable difference and the
    architectures ``targets[metric]`` would need (see the module docstring)."""
    out: dict[str, Any] = {"n": len(y)}
    for name in METRICS:
        metric, target = PAIRED[name], targets[name]
        pd = paired_difference(metric, a, b, y, n=n_boot, seed=seed)
        se, se_half = spread(metric, a, b, y, len(y), n_boot, seed), spread(metric, a, b, y, len(y) // 2, n_boot, seed)
        detectable = Z * se
        row = {
            "diff": pd["diff"],
            "ci": pd["ci"],
            "se": se,
            "se_half_n": se_half,
            "half_ratio": se_half / se if se else math.nan,  # sqrt(2) = 1.41 if the spread shrinks as 1/sqrt(n)
            "detectable": detectable,
            "n_needed_target": len(y) * (detectable / target) ** 2 if target else math.nan,
            "n_needed_observed": len(y) * (detectable / abs(pd["diff"])) ** 2 if pd["diff"] else math.inf,
        }
        out[name] = row
    return out


@one_line_errors("power.py")
def main(argv: list[str] | None = None) -> int:
    p = ScriptParser(description=__doc__.splitlines()[0])
    p.add_argument("scores", type=Path, help="distill_ablation.py's scores.csv (variant, arch_id, score)")
    p.add_argument("--base", default="random-ipc10", help="the variant the others are compared with (default %(default)s)")
    p.add_argument("--variants", default="", help="comma-separated variants (default: every other one in the file)")
    p.add_argument("--table", type=Path, default=DEFAULT_TABLE, help="the ground-truth table (default: the 3-epoch one)")
    p.add_argument("--role", default="evaluation", choices=("all", "calibration", "evaluation"))
    p.add_argument(
        "--target", type=finite_float, default=0.034, help="a Spearman difference to size for (default: issue 18's 0.92 - 0.886)"
    )
    p.add_argument(
        "--top-target",
        type=finite_float,
        default=0.185,
        help="a top-20 %% Spearman difference to size for (default: issue 18's 0.80 - 0.615)",
    )
    add_bootstrap(p)
    p.add_argument("--seed", type=integer, default=0)
    p.add_argument("--json", type=Path, help="also write the numbers here")
    args = p.parse_args(argv)
    # before probe45: --seed -1 was numpy's traceback, --bootstrap 10**8 a 52 GiB MemoryError, --target nan a table of nan
    checks.number("--seed", args.seed, 0, integer=True)
    check_n_boot(args.bootstrap, "--bootstrap")  # (stop 46: 1 was a table of nan; stop 47: one floor, N_BOOT_MIN)
    if args.json is not None:  # before stop 46 a folder or a missing parent was a traceback after the work
        check_out_file("--json", args.json)
    checks.number("--target", args.target, 0, 2, low_open=True)  # a Spearman difference: at most 2
    checks.number("--top-target", args.top_target, 0, 2, low_open=True)
    table = with_role(read_table(args.table), args.role)
    if (dataset := scores_dataset(args.scores)) is not None and table.data is not None:  # before fix52d: any table
        fix = f"give a --table measured on {dataset}, or the scores of sets of {table.data.dataset}"
        check_dataset(table.data, dataset, f"scores file {args.scores} (the sets of the ablation.json beside it)", fix)
    ids = table.ids
    y_all = np.array([table.truth[table.seeds[0]][a] for a in ids])
    have = variants(args.scores)
    names = [v for v in args.variants.split(",") if v] or sorted(set(have) - {args.base})
    unknown = [v for v in [args.base, *names] if v not in have]  # before stop 46: fidelity.py's 'name one as LABEL=scores:FILE'
    if unknown:
        raise InvalidArgumentError(
            f"{args.scores} has no variant {unknown[0]!r} (--{'base' if unknown[0] == args.base else 'variants'}); it has {', '.join(have)}"
        )
    if not names:  # before probe49 a file of the base alone printed the table's header and nothing under it, exit 0
        raise InvalidArgumentError(f"{args.scores} holds only variant {args.base!r} (--base): nothing to compare with it")
    base, _ = _scores_file(args.scores, ids, args.base, table.data)
    rows: dict[str, Any] = {}
    targets = {"spearman": args.target, "top_spearman": args.top_target}
    for v in names:
        try:
            scores, _ = _scores_file(args.scores, ids, v, table.data)
        except InvalidArgumentError as e:
            if args.variants:  # named: refused, as fidelity.py refuses it
                raise
            # every variant by default: one an ablation has not finished yet (distill_ablation.py writes scores.csv after each
            # variant) is left out and said; before, it stopped the whole run, its hint not naming --variants (review46)
            print(f"- {v}: left out ({e}); name the variants to compare with --variants")
            continue
        a, b = np.array([scores[i] for i in ids]), np.array([base[i] for i in ids])
        keep = ~(np.isnan(a) | np.isnan(b))
        if np.array_equal(a[keep], b[keep]):
            print(f"- {v}: the same scores as {args.base} on every architecture (nothing to tell apart)")
            continue
        rows[v] = power(a[keep], b[keep], y_all[keep], targets, args.bootstrap, args.seed)
    print(
        f"| {args.role} architectures: variant minus {args.base} | n | Δρ [95 %] | se (n/2 ratio) | detectable | n for Δ={args.target} | "
        f"Δρ top 20 % [95 %] | se | detectable | n for Δ={args.top_target} |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for v, r in rows.items():
        s, t = r["spearman"], r["top_spearman"]
        print(
            f"| {v} | {r['n']} | {s['diff']:+.3f} [{s['ci'][0]:+.2f}, {s['ci'][1]:+.2f}] | {s['se']:.3f} ({s['half_ratio']:.2f}) | "
            f"{s['detectable']:.3f} | {s['n_needed_target']:.0f} | {t['diff']:+.3f} [{t['ci'][0]:+.2f}, {t['ci'][1]:+.2f}] | "
            f"{t['se']:.3f} | {t['detectable']:.3f} | {t['n_needed_target']:.0f} |"
        )
    if args.json:
        write_text(args.json, json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}, indent=2) + "\n")
    return 0


def scores_dataset(path: Path) -> str | None:
    """The dataset of the sets whose scores ``path`` holds, where it is distill_ablation.py's scores.csv and the
    ablation.json beside it records it (its protocol's ``dataset``, from fix52d on); None otherwise (an earlier run's,
    or another scores file: its user knows its data)."""
    if path.name != "scores.csv":
        return None
    try:
        doc = json.loads((path.parent / "ablation.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):  # none there, or not distill_ablation.py's
        return None
    protocol = doc.get("protocol") if isinstance(doc, dict) else None
    dataset = protocol.get("dataset") if isinstance(protocol, dict) else None
    return dataset if isinstance(dataset, str) else None


def variants(path: Path) -> list[str]:
    """The variants (or proxies) of a scores file, in the order they first appear: read from its ``variant`` (or ``proxy``)
    column, wherever it stands (before stop 46 the first field of each line was taken for it)."""
    needs = "a column variant (distill_ablation.py's scores.csv) or proxy"
    rows, header = scores_csv(path, checks.read_text("scores", path), needs, {"variant"}, {"proxy"})
    column = "variant" if "variant" in header else "proxy"
    return list(dict.fromkeys(r[column] for r in rows))


if __name__ == "__main__":
    sys.exit(main())
