"""The table's one split: 30 calibration and 70 evaluation architectures (issue 18), drawn once, committed.

    python benchmarks/groundtruth/split.py            # rewrites split.csv (bit for bit the committed file)
    python benchmarks/groundtruth/split.py --check    # exit 1 when the committed split.csv differs
    python benchmarks/groundtruth/split.py --extend WIDE.csv   # split-wide.csv: the same split, the rest evaluation

Rule (seed ``SEED``): take the table's seed-0 architectures in file order; stratify on normalization
(the dimension the distilled sets fail on, issue 18): from each normalization's 20 members draw
``CAL_PER_NORM`` (6) for calibration, one ``numpy.random.default_rng(SEED).permutation`` per draw
over each normalization's members in file order. A draw is kept only when, in the calibration
half, every depth and every width appears ``QUOTA["depth"]`` (7 or 8 of 30) times and every
activation and pooling ``QUOTA["activation"]`` (9-11 of 30) times; otherwise the same generator
draws again. The first draw that passes is the split; ``draws`` in split.csv's header line says
how many were made. Both halves then cover every value of every dimension (the evaluation half
holds at least 14 of each normalization and 17 of every other value). Calibration architectures
may be used to choose things (``--select-by``, protocol, checkpoints); **nothing is ever chosen on
the evaluation architectures**: they are where results are reported.
"""

from __future__ import annotations

import csv
import io
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from nas_proxy.cli.common import ScriptParser
from nas_proxy.errors import InvalidArgumentError

HERE = Path(__file__).resolve().parent
TABLE = HERE / "fashion-mnist-convnet720.csv"
SPLIT = HERE / "split.csv"
SEED = 18  # issue 18
CAL_PER_NORM = 6  # calibration members of each normalization (5 norms x 6 = 30)
DIMS = ("depth", "width", "activation", "normalization", "pooling")
QUOTA = {"depth": (7, 8), "width": (7, 8), "activation": (9, 11), "pooling": (9, 11)}  # calibration count per value, inclusive
MAX_DRAWS = 100_000


def table_rows(path: Path = TABLE) -> list[dict[str, str]]:
    """The table's seed-0 rows, in file order."""
    with path.open(newline="") as f:
        return [r for r in csv.DictReader(f) if r["seed"] == "0"]


def balanced(cal: list[dict[str, str]], values: dict[str, set[str]]) -> bool:
    """Every value of every dimension but normalization within its quota in the calibration half."""
    counts = {d: Counter(r[d] for r in cal) for d in QUOTA}
    return all(lo <= counts[d][v] <= hi for d, (lo, hi) in QUOTA.items() for v in values[d])


def draw(rows: list[dict[str, str]], seed: int = SEED) -> tuple[set[str], int]:
    """(calibration arch ids, draws made) by the module's rule."""
    values = {d: {r[d] for r in rows} for d in QUOTA}
    by_norm: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by_norm.setdefault(r["normalization"], []).append(r)
    rng = np.random.default_rng(seed)
    for n in range(1, MAX_DRAWS + 1):
        cal = [members[i] for norm in sorted(by_norm) for members in [by_norm[norm]] for i in rng.permutation(len(members))[:CAL_PER_NORM]]
        if balanced(cal, values):
            return {r["arch_id"] for r in cal}, n
    raise SystemExit(f"no balanced split in {MAX_DRAWS} draws: loosen QUOTA")


def render(rows: list[dict[str, str]], cal: set[str], draws: int) -> str:
    """split.csv: a comment line with the rule's parameters, then one row per architecture in table order."""
    buf = io.StringIO()
    buf.write(f"# split.py: seed {SEED}, {CAL_PER_NORM} calibration per normalization, draws {draws}\n")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["arch_id", "role", *DIMS, "flops"])
    for r in rows:
        w.writerow([r["arch_id"], "calibration" if r["arch_id"] in cal else "evaluation", *(r[d] for d in DIMS), r["flops"]])
    return buf.getvalue()


def read_split(path: Path = SPLIT) -> dict[str, dict[str, str]]:
    """arch id -> its split.csv row (``role``: ``calibration`` or ``evaluation``; the dimensions; ``flops``). An
    architecture named twice is refused: before stop 47 its last row won silently (with two roles, in the other half)."""
    rows: dict[str, dict[str, str]] = {}
    with path.open(newline="") as f:
        for r in csv.DictReader(line for line in f if not line.startswith("#")):
            if r["arch_id"] in rows:
                roles = {rows[r["arch_id"]].get("role"), r.get("role")}
                twice = f"with two roles ({' and '.join(sorted(map(str, roles)))})" if len(roles) > 1 else "twice"
                raise InvalidArgumentError(
                    f"split {path} names architecture {r['arch_id']} {twice}: give each architecture one row, one role"
                )
            rows[r["arch_id"]] = r
    return rows


def extended(wide: Path, split: Path = SPLIT) -> str:
    """The split of a wider table whose first architectures are ``split``'s, in its order (build.py --n-archs draws
    its plan block by block, so a wider plan starts with the narrower one): ``split``'s rows as they are, then every
    further architecture as an evaluation one. The calibration architectures stay the 30 things were chosen on."""
    rows, given = table_rows(wide), read_split(split)
    head = [r["arch_id"] for r in rows[: len(given)]]
    if head != list(given):
        raise SystemExit(
            f"{wide}: its first {len(given)} architectures are not {split}'s, in its order: not a wider plan of the same table"
        )
    lines = split.read_text().splitlines(keepends=True)
    buf = io.StringIO()
    buf.write(lines[0].rstrip("\n") + f"; extended to {wide.name}: its architectures after the first {len(given)} are evaluation ones\n")
    buf.writelines(lines[1:])
    w = csv.writer(buf, lineterminator="\n")
    for r in rows[len(given) :]:
        w.writerow([r["arch_id"], "evaluation", *(r[d] for d in DIMS), r["flops"]])
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    p = ScriptParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="compare with the committed split.csv instead of writing it")
    p.add_argument("--extend", type=Path, metavar="TABLE", help="write the split of a wider table (build.py --n-archs) instead")
    p.add_argument("--out", type=Path, help="with --extend: where (default split-wide.csv beside split.csv)")
    args = p.parse_args(argv)
    if args.extend is not None:
        target, text = args.out or SPLIT.with_name("split-wide.csv"), extended(args.extend)
        if args.check:
            same = target.is_file() and target.read_text() == text
            print(f"{target.name} {'matches' if same else 'DIFFERS from'} the rule")
            return 0 if same else 1
        target.write_text(text)
        print(f"wrote {target}: {text.count(chr(10)) - 2} architectures, the calibration ones split.csv's")
        return 0
    rows = table_rows()
    cal, draws = draw(rows)
    text = render(rows, cal, draws)
    if args.check:
        same = SPLIT.is_file() and SPLIT.read_text() == text
        print(f"split.csv {'matches' if same else 'DIFFERS from'} the rule ({draws} draws)")
        return 0 if same else 1
    SPLIT.write_text(text)
    counts = {d: dict(Counter(r[d] for r in rows if r["arch_id"] in cal)) for d in DIMS}
    print(f"wrote {SPLIT}: {len(cal)} calibration, {len(rows) - len(cal)} evaluation, {draws} draws; calibration counts {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
