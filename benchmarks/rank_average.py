"""Two proxies' rankings averaged: does a distilled set know something a random subset does not?

``python benchmarks/rank_average.py SCORES.csv --with random-ipc10 --out COMBINED.csv`` reads a scores
file of ``distill_ablation.py`` (columns ``variant, arch_id, score``) and writes it again with one more
variant per other variant V, ``rankavg-V+BASE``: each architecture's mean of its rank under V and under
BASE (ranks 1..n, ties averaged, higher is better). ``benchmarks/fidelity.py --proxy
LABEL=scores:COMBINED.csv`` then scores them with paired intervals against BASE alone
(``benchmarks/RESULTS.md`` §21). The rule is fixed beforehand, equal weights: nothing is tuned, so
scoring it on the evaluation architectures picks nothing on them. Such a pair costs two proxy
trainings per architecture; it is an analysis of what the sets carry, not a proxy the product offers.
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

from scipy.stats import rankdata


def rank_averaged(rows: list[dict[str, str]], base: str) -> list[tuple[str, str, float]]:
    """The rows, then ``rankavg-V+base`` for every variant V other than ``base``, on ``base``'s architectures."""
    scores: dict[str, dict[str, float]] = defaultdict(dict)
    for r in rows:
        scores[r["variant"]][r["arch_id"]] = float(r["score"])
    if base not in scores:
        raise SystemExit(f"rank_average: no variant {base!r} in the scores (have {', '.join(sorted(scores))})")
    archs = sorted(scores[base])
    out = [(v, a, s) for v, by_arch in scores.items() for a, s in by_arch.items()]
    base_ranks = rankdata([scores[base][a] for a in archs])
    for v, by_arch in scores.items():
        if v == base or not set(archs) <= set(by_arch):
            continue
        ranks = rankdata([by_arch[a] for a in archs])
        out += [(f"rankavg-{v}+{base}", a, float((x + y) / 2)) for a, x, y in zip(archs, ranks, base_ranks, strict=True)]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("scores", type=Path)
    p.add_argument("--with", dest="base", default="random-ipc10", help="the variant every other is averaged with (default %(default)s)")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    with args.scores.open(newline="") as f:
        rows = list(csv.DictReader(f))
    with args.out.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["variant", "arch_id", "score"])
        w.writerows(rank_averaged(rows, args.base))


if __name__ == "__main__":
    main()
