"""Fidelity ladders: the spec, and its simulation on a ground-truth table.

    python benchmarks/ladder.py --ladder "random-ipc10:1.0,early@1ep:0.2,full:3" --ladder "snip:1.0,random-ipc10:0.3,full:2"
    python benchmarks/ladder.py --grid --out benchmarks/ladders

A ladder is a comma-separated list of rungs ``PROXY:KEEP``, cheapest first, ``full:K`` last. The
spec (:class:`Rung`, :func:`parse_ladder`, :func:`format_ladder`, :func:`sizes`, and its rules)
lives in the library, :mod:`nas_proxy.ladders` (``search --ladder`` climbs it in one study). The
simulation on the table lives in the library too, :mod:`nas_proxy.calibrate.ladder_sim` (``nasproxy calibrate
--ladders`` chooses with it), its tables in ``ladder_report.py``; this
file's ``main`` is the command (``--help``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]  # when not installed

from nas_proxy import checks, configs  # noqa: E402
from nas_proxy.calibrate import ladder_sim as sim  # noqa: E402
from nas_proxy.cli.common import ScriptParser, one_line_errors  # noqa: E402
from nas_proxy.cli.types import finite_float, integer  # noqa: E402
from nas_proxy.correlate.config import N_BOOT_MAX, N_BOOT_MIN, check_n_boot  # noqa: E402
from nas_proxy.errors import InvalidArgumentError  # noqa: E402
from nas_proxy.ladders import FULL, Rung, format_ladder, parse_ladder, sizes  # noqa: E402,F401  (the spec, as before)

# --- the command: ladders simulated on the table (nas_proxy.calibrate.ladder_sim) ---------------------

HERE = Path(__file__).resolve().parent
SCORES = (HERE / "gpu" / "2026-11-26-h100" / "fidelity-100-scores" / "scores.csv", HERE / "ladders" / "zero-cost-scores.csv")
ONE_OFF = ("datadam-ipc10=16.267",)  # H100 seconds of that run's DataDAM distillation (its gpu_check.log)
# the grid of --grid: first rungs (on every candidate), middle rungs, their keeps, full's counts
GRID_FIRST = ("flops", "grad_norm", "naswot", "params", "snip", "synflow", "datadam-ipc10", "random-ipc10", "early@0.1ep")
GRID_MIDDLE = ("datadam-ipc10", "random-ipc10", "early@0.1ep", "early@1ep")
GRID_KEEPS = (0.5, 0.3, 0.2, 0.1, 0.05)
GRID_FINALS = (1, 2, 3)
RULES = ("mean", "point")  # nas_proxy.calibrate.ladder_sim.choose: bootstrap mean regret <= target (the rule), point regret (naive)


@one_line_errors("ladder.py")
def main(argv: list[str] | None = None) -> int:
    from fidelity_report import add_bootstrap, write_outputs
    from ladder_report import markdown, write_grid_csv

    p = ScriptParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--ladder", action="append", default=[], metavar="SPEC", help="a ladder to measure, e.g. 'random-ipc10:1.0,full:3' (repeatable)"
    )
    p.add_argument("--grid", action="store_true", help="search the grid of ladders; choose on a calibration part, report on the rest")
    p.add_argument("--table", type=Path, default=HERE / "groundtruth" / "fashion-mnist-convnet720.csv")
    p.add_argument(
        "--scores",
        type=Path,
        action="append",
        help="long scores CSV proxy,arch_id,score,seconds (repeatable; default: the H100 run's and the zero-cost ones)",
    )
    p.add_argument("--one-off", action="append", metavar="TOKEN=S", help=f"seconds a proxy pays once (default {' '.join(ONE_OFF)})")
    p.add_argument(
        "--independent-seed", type=integer, help="the table's seed whose trainings give early stopping and full (default: its second)"
    )
    add_bootstrap(p)
    p.add_argument(
        "--orders", type=integer, default=1000, help="orders of arrival for the asynchronous climb; 0: none (default %(default)s)"
    )
    p.add_argument("--space", type=integer, default=720, help="size of the whole space, for the projection (default %(default)s)")
    p.add_argument(
        "--calibration-fraction", type=finite_float, default=0.5, help="--grid: the part the ladder is chosen on (default %(default)s)"
    )
    p.add_argument("--split-seed", type=integer, default=0, help="--grid: the seed of that split (default %(default)s)")
    p.add_argument(
        "--split-file", type=Path, help="--grid: a committed calibration/evaluation split (CSV arch_id,role) instead of the seeded one"
    )
    p.add_argument(
        "--part",
        choices=("all", "calibration", "evaluation"),
        default="all",
        help="--ladder: measure on this part of --split-file only (default %(default)s)",
    )
    p.add_argument(
        "--splits", type=integer, default=20, help="--grid: more seeded splits, the choice repeated on each (default %(default)s)"
    )
    p.add_argument(
        "--splits-bootstrap",
        type=integer,
        default=200,
        help=f"--grid: resamples in those repeated splits, {N_BOOT_MIN} to {N_BOOT_MAX} (default %(default)s)",
    )
    p.add_argument("--seed", type=integer, default=0, help="bootstrap and orders seed (default %(default)s)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/out/ladders"))
    p.add_argument("--rows-csv", type=Path, help="--grid: write every ladder's numbers (all and calibration part) to this CSV")
    for action in p._actions:
        configs.track(action)  # which options were typed (configs.given), whatever their value
    args = p.parse_args(argv)
    if not args.ladder and not args.grid:
        raise InvalidArgumentError("nothing to do: give --ladder SPEC (repeatable) or --grid")
    check_args(args)
    one_off = dict(sim.parse_one_off(t) for t in (args.one_off or ONE_OFF))
    cands = sim.load_candidates(args.table, args.scores or list(SCORES), args.independent_seed, one_off)
    if args.part != "all":  # --ladder on one part of --split-file (a check on held-out architectures)
        if not args.split_file or args.grid:
            raise InvalidArgumentError("--part needs --split-file, and no --grid (the grid splits by itself)")
        cal_idx, held_idx = sim.read_split(args.split_file, cands.ids)
        cands = cands.take(cal_idx if args.part == "calibration" else held_idx)
    ladders = [parse_ladder(t, cands.fidelities) for t in args.ladder]
    if ladders:  # --grid alone has none
        checks.distinct("--ladder", [format_ladder(r) for r in ladders], str)  # before stop 46 measured twice, two rows
    if args.space < cands.n:  # before stop 46 a space of 0 projected the savings onto nothing, exit 0
        raise InvalidArgumentError(
            f"--space {args.space} is smaller than the {cands.n} architectures measured: give the whole space's size"
        )
    n, spaces = cands.n, (cands.n, args.space)
    result: dict[str, Any] = {
        "table": str(args.table),
        "n_archs": n,
        "space": args.space,
        "reference_seconds": float(cands.get(FULL).seconds.sum()),
        "seconds_per_arch": {k: cands.seconds_per_arch(k) for k in sorted(cands.fidelities)},
        "one_off_seconds": one_off,
        "bootstrap": args.bootstrap,
        "orders": args.orders,
        "seed": args.seed,
    }
    boot, orders = sim.resamples(n, args.bootstrap, args.seed), sim.orders(n, args.orders, args.seed + 1)
    result["ladders"] = [{"spec": format_ladder(r), **sim.measure(r, cands, boot, orders, spaces)} for r in ladders]
    if args.grid:
        result["grid"] = _study(sim, cands, args)
    if args.grid:
        rows = result["grid"].pop("rows")
        if args.rows_csv:
            write_grid_csv(args.rows_csv, rows)
    write_outputs(args.out, "ladders", result, markdown(result))
    return 0


GRID_ONLY = ("calibration_fraction", "split_seed", "split_file", "splits", "splits_bootstrap", "rows_csv")  # read by --grid alone


def check_args(args: argparse.Namespace) -> None:
    """The numbers, and the options typed (configs.given) that this run never reads, refused before anything is read
    (stop 46: --bootstrap -1, --orders -1 and --seed -1 were numpy's ValueError tracebacks, --bootstrap 0 a table of nan,
    exit 0; --splits, --rows-csv, --calibration-fraction ... without --grid, and --split-file without --grid or --part,
    were ignored; --rows-csv or --out a folder a traceback after the grid)."""
    from fidelity_report import check_out, check_out_file

    check_n_boot(args.bootstrap, "--bootstrap")
    checks.number("--orders", args.orders, 0, N_BOOT_MAX, integer=True)
    checks.number("--splits", args.splits, 0, integer=True)
    checks.number("--space", args.space, 1, integer=True)
    for name in ("seed", "split_seed", "independent_seed"):
        checks.number(f"--{name.replace('_', '-')}", getattr(args, name), 0, integer=True, optional=True)
    checks.number("--calibration-fraction", args.calibration_fraction, 0, 1, low_open=True, high_open=True)
    typed = configs.given(args)
    idle = [d for d in GRID_ONLY if d in typed and not args.grid and not (d == "split_file" and args.part != "all")]
    if args.grid and args.split_file is not None and args.splits == 0:  # the one split is the file's: no seeded split at all
        idle += [d for d in ("calibration_fraction", "split_seed", "splits_bootstrap") if d in typed]
    elif args.grid and args.splits == 0:
        idle += [d for d in ("splits_bootstrap",) if d in typed]
    if idle:
        flags = ", ".join(f"--{d.replace('_', '-')}" for d in idle)
        why = "without --grid" if not args.grid else "with --splits 0" + (" and --split-file" if args.split_file else "")
        raise InvalidArgumentError(
            f"{flags} change{'s' if len(idle) == 1 else ''} nothing {why}: drop {'it' if len(idle) == 1 else 'them'}"
        )
    check_n_boot(args.splits_bootstrap, "--splits-bootstrap")  # after: one idle says so (before fix48b its floor was 1)
    if args.rows_csv is not None:
        check_out_file("--rows-csv", args.rows_csv, makes_folder=True)
    check_out(args.out)


def _study(sim: Any, cands: Any, args: argparse.Namespace) -> dict[str, Any]:
    """The grid on the whole table (in-sample), the choice on a calibration part and its numbers on
    the held-out rest, and the same choice repeated over ``--splits`` more seeded splits."""
    from ladder_report import brief

    n, spaces = cands.n, (cands.n, args.space)
    first = [p for p in GRID_FIRST if p in cands.fidelities]
    specs = sim.grid(cands, first, [p for p in GRID_MIDDLE if p in cands.fidelities], GRID_KEEPS, GRID_FINALS)

    def ratio(row: Mapping[str, Any]) -> float:  # compute saving at the table's size (a part is projected to it)
        return float(row["projected"][str(n)])

    def measure(spec: str, c: Any, boot: int, orders: int = 0) -> dict[str, Any]:
        rows, ords = sim.resamples(c.n, boot, args.seed), sim.orders(c.n, orders, args.seed + 1)
        return {"spec": spec, "n": c.n, **sim.measure(parse_ladder(spec), c, rows, ords, spaces)}

    every = [measure(s, cands, args.bootstrap) for s in specs]
    if args.split_file:
        cal_idx, held_idx = sim.read_split(args.split_file, cands.ids)
    else:
        cal_idx, held_idx = sim.split(n, args.calibration_fraction, args.split_seed)
    cal, held = cands.take(cal_idx), cands.take(held_idx)
    cal_rows = [measure(s, cal, args.bootstrap) for s in specs]
    chosen = {}
    for rule in RULES:
        spec = sim.choose(cal_rows, ratio, rule)["spec"]
        chosen[rule] = {
            part: measure(spec, c, args.bootstrap, args.orders) for part, c in (("calibration", cal), ("held_out", held), ("all", cands))
        }
    in_sample = {rule: measure(sim.choose(every, ratio, rule)["spec"], cands, args.bootstrap, args.orders) for rule in RULES}
    splits = []
    for s in range(args.splits):  # the same choice on more splits, with fewer resamples
        c_idx, h_idx = sim.split(n, args.calibration_fraction, args.split_seed + 1 + s)
        c, h = cands.take(c_idx), cands.take(h_idx)
        rows = [measure(spec, c, args.splits_bootstrap) for spec in specs]
        for rule in RULES:
            pick = sim.choose(rows, ratio, rule)
            held_row = measure(pick["spec"], h, args.splits_bootstrap)
            splits.append(
                {
                    "split_seed": args.split_seed + 1 + s,
                    "rule": rule,
                    "spec": pick["spec"],
                    "calibration": brief(pick),
                    "held_out": brief(held_row),
                }
            )
    rows_out = [{"set": "all", **r} for r in every] + [{"set": "calibration", **r} for r in cal_rows]
    return {
        "n_ladders": len(specs),
        "first": first,
        "keeps": list(GRID_KEEPS),
        "finals": list(GRID_FINALS),
        "split": str(args.split_file)
        if args.split_file
        else f"seeded: {args.calibration_fraction} for calibration, seed {args.split_seed}",
        "calibration_ids": [cands.ids[i] for i in cal_idx],
        "frontier_all": [brief(r) | {"spec": r["spec"]} for r in sim.frontier(every, ratio)],
        "frontier_calibration": [brief(r) | {"spec": r["spec"]} for r in sim.frontier(cal_rows, ratio)],
        "chosen": chosen,
        "in_sample_choice": in_sample,
        "splits": splits,
        "rows": rows_out,
    }


if __name__ == "__main__":
    sys.exit(main())
