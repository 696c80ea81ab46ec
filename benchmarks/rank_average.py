"""Two proxies' rankings averaged: does a distilled set know something a random subset does not?

``python benchmarks/rank_average.py SCORES.csv --with random-ipc10 --out COMBINED.csv`` reads a scores
file of ``distill_ablation.py`` (columns ``variant, arch_id, score``) and writes it again with one more
variant per other variant V, ``rankavg-V+BASE``: each architecture's mean of its rank under V and under
BASE (ranks 1..n, ties averaged, higher is better). Every row written keeps the ``dataset`` and ``data_sha256``
that the input's rows name (fidelity.py checks them against its table). ``benchmarks/fidelity.py --proxy
LABEL=scores:COMBINED.csv`` then scores them with paired intervals against BASE alone
(``benchmarks/RESULTS.md`` §21). An architecture either proxy failed on (an empty or ``nan`` score, as
``distill_ablation.py`` writes a diverged training) has no rank: the two are ranked on the others, and its
averaged score is ``nan``, which fidelity.py drops and counts. The rule is fixed beforehand, equal weights: nothing is tuned, so
scoring it on the evaluation architectures picks nothing on them. Such a pair costs two proxy
trainings per architecture; it is an analysis of what the sets carry, not a proxy the product offers.
"""

from __future__ import annotations

import csv
import io
import math
import sys
from collections import defaultdict
from pathlib import Path

from fidelity_table import _number, check_scores_data, scores_csv  # benchmarks/ is on sys.path
from scipy.stats import rankdata

from nas_proxy import checks
from nas_proxy.cli.common import ScriptParser, one_line_errors
from nas_proxy.errors import InvalidArgumentError
from nas_proxy.files import write_text
from nas_proxy.groundtruth.tables import row_columns


def read_scores(path: Path) -> list[dict[str, str]]:
    """The rows of a scores file (``variant, arch_id, score``), each whole, each (variant, architecture) once, each score
    a finite number, or empty or ``nan`` where the proxy failed (fidelity.py's rule): before stop 46 'high' or an empty
    score was a ValueError traceback, 'inf' ranked first, a column named twice or a short row read as something else,
    and a (variant, architecture) given twice kept its last score."""
    text = checks.read_text("scores", path)  # one line for a missing file, a folder, bytes that are not text
    # before branch probe41 a file without them was a KeyError, and --out made empty
    rows, header = scores_csv(
        path, text, "columns variant, arch_id and score (distill_ablation.py's scores.csv)", {"variant", "arch_id", "score"}
    )
    seen: set[tuple[str, str]] = set()
    for n, r in enumerate(rows, start=2):
        checks.whole_row(path, n, r, header)
        if (r["variant"], r["arch_id"]) in seen:
            raise InvalidArgumentError(f"scores file {path} line {n}: {r['variant']} scores {r['arch_id']} a second time; give each once")
        seen.add((r["variant"], r["arch_id"]))
        # review46: an empty or nan score (a failed proxy) was refused, the whole file with it, though fidelity.py and
        # power.py read it and distill_ablation.py writes it: rank_averaged ranks without it
        _number(f"scores file {path}", n, "score", r["score"])
    return rows


def by_variant(rows: list[dict[str, str]]) -> dict[str, dict[str, float]]:
    """variant -> architecture -> score (NaN where the proxy failed) of :func:`read_scores`' rows: built once, read by
    :func:`rank_averaged` and :func:`left_out` (before stop 47 each built its own)."""
    scores: dict[str, dict[str, float]] = defaultdict(dict)
    for r in rows:
        scores[r["variant"]][r["arch_id"]] = float(r["score"]) if r["score"] else math.nan  # (read_scores checked it)
    return dict(scores)  # a plain dict: a variant looked up is not made


def rank_averaged(scores: dict[str, dict[str, float]], base: str) -> list[tuple[str, str, float]]:
    """The rows of ``scores`` (:func:`by_variant`), then ``rankavg-V+base`` for every variant V other than ``base``
    that scores all of ``base``'s architectures, on those (:func:`left_out` names the others)."""
    if base not in scores:
        raise InvalidArgumentError(f"no variant {base!r} in the scores (have {', '.join(sorted(scores))}); name one with --with")
    if len(scores) == 1:  # before probe49 --out was the input again, nothing averaged, exit 0
        raise InvalidArgumentError(f"the scores hold only variant {base!r} (--with): nothing to average with it")
    archs = sorted(scores[base])
    out = [(v, a, s) for v, by_arch in scores.items() for a, s in by_arch.items()]
    for v, by_arch in scores.items():
        if v == base or not set(archs) <= set(by_arch):
            continue
        both = [a for a in archs if math.isfinite(by_arch[a]) and math.isfinite(scores[base][a])]  # a failed proxy: no rank
        ranks = rankdata([by_arch[a] for a in both])
        base_ranks = rankdata([scores[base][a] for a in both])
        mean = {a: float((x + y) / 2) for a, x, y in zip(both, ranks, base_ranks, strict=True)}
        out += [(f"rankavg-{v}+{base}", a, mean.get(a, math.nan)) for a in archs]
    return out


def left_out(scores: dict[str, dict[str, float]], base: str) -> dict[str, int]:
    """The variants :func:`rank_averaged` leaves out of ``scores`` (:func:`by_variant`), each with how many of
    ``base``'s architectures it lacks."""
    return {
        v: len(set(scores[base]) - set(by_arch)) for v, by_arch in scores.items() if v != base and not set(scores[base]) <= set(by_arch)
    }


@one_line_errors("rank_average.py")
def main(argv: list[str] | None = None) -> int:
    p = ScriptParser(description=__doc__.split("\n\n")[0])
    p.add_argument("scores", type=Path)
    p.add_argument("--with", dest="base", default="random-ipc10", help="the variant every other is averaged with (default %(default)s)")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    rows = read_scores(args.scores)
    # the data its rows name, read as a table's (rows of two datasets refused; before fix53b nothing of it was read),
    # written into every combined row: fidelity.py checks it against its --table
    data = check_scores_data(args.scores, rows, None)
    scores = by_variant(rows)
    if args.out.exists() and args.out.resolve() == args.scores.resolve():  # before stop 46 written over: a rerun averaged the averages
        raise InvalidArgumentError(f"--out {args.out} is the scores file read: give another file (its rows are copied into it)")
    combined = rank_averaged(scores, args.base)  # first: a --with that names no variant is refused before anything is said
    for v, missing in left_out(scores, args.base).items():  # before stop 46 left out without a word
        print(f"rank_average.py: {v} lacks {missing} of {args.base}'s architectures: no rankavg-{v}+{args.base}", file=sys.stderr)
    out = io.StringIO(newline="")
    w = csv.writer(out)
    named = {} if data is None else row_columns(data.dataset, data.sha256)
    w.writerow(["variant", "arch_id", "score", *named])
    w.writerows([*row, *named.values()] for row in combined)
    write_text(args.out, out.getvalue())  # whole or not at all
    return 0


if __name__ == "__main__":
    sys.exit(main())
