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
import io
import sys
from collections import defaultdict
from pathlib import Path

from scipy.stats import rankdata

from nas_proxy import checks
from nas_proxy.cli.common import one_line_errors
from nas_proxy.errors import InvalidArgumentError
from nas_proxy.files import write_text


def rank_averaged(rows: list[dict[str, str]], base: str) -> list[tuple[str, str, float]]:
    """The rows, then ``rankavg-V+base`` for every variant V other than ``base``, on ``base``'s architectures."""
    scores: dict[str, dict[str, float]] = defaultdict(dict)
    for r in rows:
        scores[r["variant"]][r["arch_id"]] = float(r["score"])
    if base not in scores:
        raise InvalidArgumentError(f"no variant {base!r} in the scores (have {', '.join(sorted(scores))}); name one with --with")
    archs = sorted(scores[base])
    out = [(v, a, s) for v, by_arch in scores.items() for a, s in by_arch.items()]
    base_ranks = rankdata([scores[base][a] for a in archs])
    for v, by_arch in scores.items():
        if v == base or not set(archs) <= set(by_arch):
            continue
        ranks = rankdata([by_arch[a] for a in archs])
        out += [(f"rankavg-{v}+{base}", a, float((x + y) / 2)) for a, x, y in zip(archs, ranks, base_ranks, strict=True)]
    return out


@one_line_errors("rank_average.py")
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("scores", type=Path)
    p.add_argument("--with", dest="base", default="random-ipc10", help="the variant every other is averaged with (default %(default)s)")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    text = checks.read_text("scores", args.scores)  # one line for a missing file, a folder, bytes that are not text
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    if not rows or not {"variant", "arch_id", "score"} <= set(rows[0]):  # before branch probe41: KeyError, and --out made empty
        raise InvalidArgumentError(f"scores file {args.scores} needs columns variant, arch_id and score (distill_ablation.py's scores.csv)")
    out = io.StringIO(newline="")
    w = csv.writer(out)
    w.writerow(["variant", "arch_id", "score"])
    w.writerows(rank_averaged(rows, args.base))
    write_text(args.out, out.getvalue())  # whole or not at all
    return 0


if __name__ == "__main__":
    sys.exit(main())
