"""Each synthetic set with the proxy protocol chosen for it on the calibration architectures (issue 18).

The ablation (``distill_ablation.py``, RESULTS.md §19-§20) trains every set with one protocol, the default of
``nasproxy search`` (50 epochs, lr 0.01, DSA). The protocol matters as much as the data (REFERENCE.md §3), and a
distilled set may want another one than real images do (the paper's own evaluation trains 1,000 epochs). So a
distilled set that loses to the random subset under the default might win under its own. This script gives every
set the protocol it ranks best with, chosen on the **calibration** architectures only, and reports on the
**evaluation** architectures:

1. every protocol of the grid (``--epochs-grid`` x ``--lr-grid`` x ``--dsa-grid``; the default protocol is always
   one of them) trains every set on each of the split's calibration architectures;
2. for each set, the protocol whose scores have the highest Spearman with the calibration architectures' table
   *validation* accuracy (seed 0: no test number chooses anything) is chosen; a tie keeps the cheaper one
   (fewer epochs), then the default;
3. every set is scored on the evaluation architectures with its chosen protocol and with the default, and
   ``fidelity.py`` reports both against the table's seed-0 test accuracy, with paired bootstrap differences
   between every two rows (the same resamples for all): a set under its protocol against the random subset
   under its own is the fair comparison.

Every score is cached per (set, protocol, seed) in ``--work/cache`` (fidelity.py's cache, shared with
``distill_ablation.py``'s when ``--work`` is its work folder: the default protocol's evaluation scores are then
already there); a rerun does only what is missing, and ``--deadline-seconds`` stops starting trainings after
that many seconds, so a GPU section continues it call after call; ``--report-only`` trains nothing (a GPU run's
returned state, read on a laptop). Writes ``protocols.json``, ``protocols.md`` and
``scores.csv`` into ``--out``.

    python benchmarks/protocol_per_set.py --device cuda --work benchmarks/out/gpu-distill-ablation-state \\
        --set random-ipc10=DIR --set official-ipc10=DIR --base random-ipc10 --out benchmarks/out/protocols
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from distill_ablation import PROMOTE, PROMOTE_SEED
from fidelity_proxies import _synthetic
from fidelity_report import add_bootstrap, check_out, write_outputs
from fidelity_report import markdown as fidelity_markdown
from fidelity_stats import fidelity
from fidelity_table import Table, check_sets, read_table, subset
from split import SPLIT, TABLE, read_split

from nas_proxy import checks
from nas_proxy.cli.common import ScriptParser, one_line_errors
from nas_proxy.cli.types import finite_float, integer
from nas_proxy.correlate.config import check_n_boot
from nas_proxy.correlate.metrics import spearman
from nas_proxy.errors import InvalidArgumentError


def protocols(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The grid, the default protocol first (a grid that leaves it out gets it added): the proxy flags given
    (``--epochs`` ...), else ``nasproxy search``'s defaults."""
    from nas_proxy.cli import _proxy_config

    default = _proxy_config(args)
    base = {"epochs": default.epochs, "lr": default.lr, "dsa": default.dsa}
    grid = [{"epochs": e, "lr": lr, "dsa": dsa} for e, lr, dsa in itertools.product(*grids(args))]
    return [base, *(p for p in grid if p != base)]


def grids(args: argparse.Namespace) -> tuple[list[int], list[float], list[bool]]:
    """The three grids typed, each a list of distinct values (stop 46: 'a' or an empty item was a ValueError traceback,
    'maybe' a KeyError, epochs 0 or lr nan trained, '25,25' trained each protocol twice)."""

    def count(text: str) -> int:
        value = checks.parse_int(text)
        if not 1 <= value <= checks.INT_MAX:
            raise ValueError(f"an epoch count is in [1, {checks.INT_MAX}], got {value}")
        return value

    def rate(text: str) -> float:
        value = checks.parse_float(text)
        if not value > 0:
            raise ValueError(f"a learning rate is above 0, got {text}")
        return value

    def dsa(text: str) -> bool:
        if text not in ("on", "off"):
            raise ValueError(f"expected on or off, got {text!r}")
        return text == "on"

    return (
        checks.items("--epochs-grid", args.epochs_grid, count),
        checks.items("--lr-grid", args.lr_grid, rate),
        checks.items("--dsa-grid", args.dsa_grid, dsa),
    )


def name(p: dict[str, Any]) -> str:
    return f"e{p['epochs']}-lr{p['lr']:g}-{'dsa' if p['dsa'] else 'nodsa'}"


def with_protocol(args: argparse.Namespace, p: dict[str, Any]) -> argparse.Namespace:
    """``args`` with the proxy flags of protocol ``p`` (what ``_synthetic`` trains with)."""
    return argparse.Namespace(**(vars(args) | {"epochs": p["epochs"], "lr": p["lr"], "no_dsa": not p["dsa"]}))


def roles(table: Table, split: Path, rows: dict[str, dict[str, str]]) -> tuple[list[str], list[str]]:
    """The table's calibration and evaluation architectures by ``rows`` (``split``'s, read once)."""
    calibration = [a for a in table.ids if rows.get(a, {}).get("role") == "calibration"]
    evaluation = [a for a in table.ids if rows.get(a, {}).get("role") == "evaluation"]
    if len(calibration) < 3 or len(evaluation) < 3:
        raise InvalidArgumentError(
            f"--split {split}: {len(calibration)} calibration and {len(evaluation)} evaluation architectures of the table"
        )
    return calibration, evaluation


def choose(calibration: dict[str, float], grid: list[dict[str, Any]]) -> dict[str, Any]:
    """The protocol with the highest calibration Spearman (finite ones only); ties: fewer epochs, then the default, then the grid's order."""
    ranked = [(rho, -p["epochs"], i == 0, -i) for i, p in enumerate(grid) if math.isfinite(rho := calibration[name(p)])]
    if not ranked:
        return grid[0]
    return grid[-max(ranked)[3]]


def run(args: argparse.Namespace) -> dict[str, Any]:
    deadline = -math.inf if args.report_only else time.time() + args.deadline_seconds if args.deadline_seconds else None
    test = read_table(args.table, "test_accuracy", PROMOTE_SEED)
    val = read_table(args.table, "val_accuracy")
    checks.read_text("--split", args.split)  # a folder, a FIFO, bytes that are not text: one line, not a traceback
    split_rows = read_split(args.split)
    cal_ids, eval_ids = roles(test, args.split, split_rows)
    if args.max_mflops is not None:  # a CPU rehearsal: the small architectures only
        cal_ids, eval_ids = ([a for a in ids if float(split_rows[a]["flops"]) <= args.max_mflops * 1e6] for ids in (cal_ids, eval_ids))
    if args.n_archs is not None:
        rng = np.random.default_rng(args.seed)
        cal_ids, eval_ids = (
            [ids[i] for i in sorted(rng.choice(len(ids), min(args.n_archs, len(ids)), replace=False))] for ids in (cal_ids, eval_ids)
        )
    if min(len(cal_ids), len(eval_ids)) < 3:  # before stop 46 a Spearman of 2 (or none) chose, exit 0
        raise InvalidArgumentError(
            f"--max-mflops {args.max_mflops} leaves {len(cal_ids)} calibration and {len(eval_ids)} evaluation architectures; "
            "a choice needs at least 3 of each: give a larger one"
        )
    cal_table, eval_table = subset(val, cal_ids), subset(test, eval_ids)
    sets = dict(s.split("=", 1) for s in args.set)
    check_sets(test.data, list(sets.values()))  # every set of the table's data, before any is trained
    grid = protocols(args)
    truth = np.array([cal_table.truth[cal_table.seeds[0]][a] for a in cal_table.ids])
    calibration: dict[str, dict[str, float]] = {s: {} for s in sets}
    rows: list[dict[str, Any]] = []
    pending = 0  # calibration trainings not done (the deadline)
    unfinished: dict[str, set[str]] = {s: set() for s in sets}  # protocols that have not scored the set on every one
    for p in grid:  # protocol-major: under a deadline every set has the same protocols done
        for s, path in sets.items():
            _, scores, seconds, _ = _synthetic(path, cal_table, with_protocol(args, p), args.work, deadline)
            x = np.array([scores[a] for a in cal_table.ids], dtype=float)
            missing = sum(not math.isfinite(seconds[a]) for a in cal_table.ids)  # a diverged training has seconds
            pending += missing
            if missing:
                unfinished[s].add(name(p))
            calibration[s][name(p)] = spearman(x, truth) if not missing else math.nan
            rows += [
                {"set": s, "protocol": name(p), "role": "calibration", "arch_id": a, "score": scores[a], "seconds": seconds[a]}
                for a in cal_table.ids
            ]
    # a set chooses once every protocol has scored it (before, a choice among some would train the 70 for nothing)
    chosen = {s: None if unfinished[s] else choose(c, grid) for s, c in calibration.items()}
    proxies: dict[str, dict[str, Any]] = {}
    for s, path in sets.items():
        own = chosen[s]  # not chosen yet (None), or the default itself: one row, the default's
        pairs = [(f"{s} @ own protocol", own)] if own is not None and own != grid[0] else []
        for label, protocol in [*pairs, (f"{s} @ default", grid[0])]:
            _, scores, seconds, one_off = _synthetic(path, eval_table, with_protocol(args, protocol), args.work, deadline)
            proxies[label] = {"scores": scores, "seconds": seconds, "one_off_seconds": one_off, "source": name(protocol)}
            rows += [
                {"set": s, "protocol": name(protocol), "role": "evaluation", "arch_id": a, "score": scores[a], "seconds": seconds[a]}
                for a in eval_table.ids
            ]
    promote_k = PROMOTE if len(eval_table.ids) > PROMOTE else None  # of all of them: none (fidelity.py's rule), said in the table
    result = fidelity(eval_table, proxies, n_boot=args.bootstrap, seed=args.seed, promote_k=promote_k)
    evaluation_pending = sum(not math.isfinite(r["seconds"]) for r in rows if r["role"] == "evaluation")
    return {
        "protocol": {
            "grid": [name(p) for p in grid],
            "default": name(grid[0]),
            "calibration_archs": cal_table.ids,
            "evaluation_archs": eval_table.ids,
            "choice": "the highest Spearman with the calibration architectures' seed-0 validation accuracy; ties: fewer epochs, then the default",
            "seed": args.seed,
            "device": args.device,
        },
        "calibration_pending": pending,
        "evaluation_pending": evaluation_pending,
        "calibration_spearman": calibration,
        "chosen": {s: name(p) if p is not None else "pending" for s, p in chosen.items()},
        "sets": sets,
        "fidelity": result,
        "rows": rows,
    }


def markdown(report: dict[str, Any]) -> str:
    grid = report["protocol"]["grid"]
    lines = [
        f"Calibration: {len(report['protocol']['calibration_archs'])} architectures; evaluation: "
        f"{len(report['protocol']['evaluation_archs'])}. Protocols (epochs, lr, DSA): {', '.join(grid)}; the default: {grid[0]}.",
        f"**Not complete**: {report['calibration_pending']} calibration trainings wait for the next run (–)."
        if report["calibration_pending"]
        else "",
        "",
        "Spearman on the calibration architectures (their table validation accuracy, seed 0), and the protocol chosen:",
        "",
        "| set | " + " | ".join(grid) + " | chosen |",
        "|---|" + "---|" * (len(grid) + 1),
    ]
    for s, c in report["calibration_spearman"].items():
        cells = [f"{c[g]:.3f}" if math.isfinite(c[g]) else "–" for g in grid]
        lines.append(f"| {s} | " + " | ".join(cells) + f" | {report['chosen'][s]} |")
    lines += ["", "On the evaluation architectures (the table's seed-0 test accuracy):", "", fidelity_markdown(report["fidelity"])]
    return "\n".join(lines) + "\n"


def write_scores(path: Path, rows: list[dict[str, Any]]) -> None:
    from nas_proxy.files import write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    text = io.StringIO(newline="")
    w = csv.DictWriter(text, fieldnames=["set", "protocol", "role", "arch_id", "score", "seconds"])
    w.writeheader()
    w.writerows(rows)
    write_text(path, text.getvalue())  # whole or not at all


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from nas_proxy.cli import _add_proxy_options

    p = ScriptParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--set", action="append", required=True, metavar="NAME=DIR", help="a synthetic set (repeatable)")
    p.add_argument("--base", default="random-ipc10", help="the set the others are compared with (default %(default)s)")
    p.add_argument("--epochs-grid", default="25,50,100", help="default %(default)s")
    p.add_argument("--lr-grid", default="0.01,0.03", help="default %(default)s")
    p.add_argument("--dsa-grid", default="on,off", help="default %(default)s")
    p.add_argument("--table", type=Path, default=TABLE)
    p.add_argument("--split", type=Path, default=SPLIT)
    p.add_argument("--max-mflops", type=finite_float, help="only architectures under this many MFLOPs per image (a CPU rehearsal)")
    p.add_argument("--n-archs", type=integer, help="then a seeded pick (--seed) of this many of each role (a CPU rehearsal; default all)")
    p.add_argument("--work", type=Path, default=Path("benchmarks/out/protocols-work"), help="score caches (default %(default)s)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/out/protocols"))
    add_bootstrap(p)
    p.add_argument("--seed", type=integer, default=0, help="proxy training and bootstrap seed (default %(default)s)")
    p.add_argument("--data-root")
    p.add_argument("--space", default="convnet720")
    p.add_argument("--device", default="auto")
    p.add_argument("--deadline-seconds", type=finite_float, help="start no training after this many seconds")
    p.add_argument("--report-only", action="store_true", help="the report from --work's cached scores alone: train nothing")
    _add_proxy_options(p)
    args = p.parse_args(argv)
    for s in args.set:
        if "=" not in s or not s.split("=", 1)[1]:
            p.error(f"--set {s}: give NAME=DIR")
    check_args(args)
    return args


def check_args(args: argparse.Namespace) -> None:
    """The command line, refused before anything is read or trained (stop 46: --n-archs -1 was numpy's ValueError
    traceback and 0 a run on no architecture; --seed -1 numpy's traceback; --bootstrap 0 a table of nan; two --set of
    one name kept the last silently; --deadline-seconds with --report-only was ignored; --dataset was read by nothing)."""
    checks.number("--n-archs", args.n_archs, 3, integer=True, optional=True)  # a Spearman to choose by needs 3
    checks.number("--max-mflops", args.max_mflops, 0, low_open=True, optional=True)
    checks.number("--deadline-seconds", args.deadline_seconds, 0, low_open=True, optional=True)
    check_n_boot(args.bootstrap, "--bootstrap")
    checks.number("--seed", args.seed, 0, integer=True)
    names = checks.distinct("--set", [s.split("=", 1)[0] for s in args.set])
    if args.base not in names:
        raise InvalidArgumentError(f"--base {args.base}: not one of the --set names ({', '.join(names)})")
    if args.report_only and args.deadline_seconds is not None:
        raise InvalidArgumentError("--deadline-seconds changes nothing with --report-only, which trains nothing: drop it")
    grids(args)
    check_out(args.out)


@one_line_errors("protocol_per_set.py")
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(args)
    write_scores(args.out / "scores.csv", report.pop("rows"))
    write_outputs(args.out, "protocols", report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
