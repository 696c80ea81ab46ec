"""Fidelity ladders: the spec, and its simulation on a ground-truth table.

    python benchmarks/ladder.py --ladder "random-ipc10:1.0,early@1ep:0.2,full:3" --ladder "snip:1.0,random-ipc10:0.3,full:2"
    python benchmarks/ladder.py --grid --out benchmarks/ladders

A ladder is a comma-separated list of rungs ``PROXY:KEEP``, cheapest first. Every candidate gets the
first rung (``KEEP`` 1.0, or left out); the best of those by its score climb to the next rung, and so
on; the last rung, ``full``, is real training of a count of candidates, and the pick among them is
by validation accuracy. ``KEEP`` is a fraction of **all** the candidates (a float in (0, 1]: 0.2 of
100 candidates is 20, rounded up, at least 1) or a count (an integer >= 1); a rung never keeps more
than the rung before it (a count larger than the previous rung's candidates is cut to them).

The spec (:class:`Rung`, :func:`parse_ladder`, :func:`format_ladder`, :func:`sizes`) is pure: the
standard library and the project's error type only, so that it can move into the library as it is.
The simulation on the table lives in ``ladder_sim.py``, its tables in ``ladder_report.py``; this
file's ``main`` is the command (``--help``).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]  # when not installed

from nas_proxy.errors import InvalidArgumentError, NasProxyError  # noqa: E402

FULL = "full"  # the last rung's proxy: a real training, picked by validation accuracy
_COUNT = re.compile(r"[0-9]+")
_FLOAT = re.compile(r"[0-9]*\.[0-9]+|[0-9]+\.[0-9]*")
_TOKEN = re.compile(r"[A-Za-z0-9_@.+-]+")  # a proxy token (datadam-ipc10, early@0.1ep, grad_norm)


@dataclass(frozen=True)
class Rung:
    """One rung: ``proxy`` (a proxy token, or ``full``) and ``keep``, how many candidates get it: a
    fraction of all the candidates (float in (0, 1]) or a count (int >= 1)."""

    proxy: str
    keep: float | int

    @property
    def is_count(self) -> bool:
        """Whether ``keep`` is a count (it stays fixed when the space grows) rather than a fraction."""
        return isinstance(self.keep, int)

    def size(self, n: int, previous: int | None = None) -> int:
        """How many of ``n`` candidates get this rung, when ``previous`` got the rung before it."""
        # a fraction rounds up (at least 1); round() first: 0.07 * 100 is 7.000000000000001
        wanted = self.keep if isinstance(self.keep, int) else max(1, math.ceil(round(self.keep * n, 9)))
        return min(wanted, n if previous is None else previous)

    def __str__(self) -> str:
        return f"{self.proxy}:{self.keep}"


def sizes(rungs: Sequence[Rung], n: int) -> list[int]:
    """How many of ``n`` candidates get each rung."""
    out: list[int] = []
    for rung in rungs:
        out.append(rung.size(n, out[-1] if out else None))
    return out


def format_ladder(rungs: Iterable[Rung]) -> str:
    """The spec text of ``rungs`` (what :func:`parse_ladder` reads back)."""
    return ",".join(str(r) for r in rungs)


def _keep(text: str, spec: str, where: str) -> float | int:
    if _COUNT.fullmatch(text):
        count = int(text)
        if count < 1:
            raise InvalidArgumentError(f"ladder {spec!r}: {where} keeps {text}; a count must be at least 1")
        return count
    if _FLOAT.fullmatch(text) and 0.0 < float(text) <= 1.0:
        return float(text)
    raise InvalidArgumentError(
        f"ladder {spec!r}: {where} keeps {text!r}; write a fraction of the candidates in (0, 1] (0.2) or a count >= 1 (3)"
    )


def parse_ladder(text: str, proxies: Iterable[str] | None = None) -> tuple[Rung, ...]:
    """The rungs of ``"random-ipc10:1.0,early@1ep:0.2,full:3"``; ``proxies``: the known tokens, if
    they are to be checked (``full`` is always known). Raises :class:`InvalidArgumentError` with one
    line naming the rule, the rung and the fix."""
    spec = text.strip()
    parts = [p.strip() for p in spec.split(",")]
    if not spec or "" in parts:
        raise InvalidArgumentError(f"ladder {text!r}: write comma-separated rungs PROXY:KEEP, e.g. 'random-ipc10:1.0,early@1ep:0.2,full:3'")
    if len(parts) < 2:
        raise InvalidArgumentError(f"ladder {spec!r}: needs at least two rungs, a proxy on every candidate then 'full:K'")
    rungs: list[Rung] = []
    for i, part in enumerate(parts):
        where = f"rung {i + 1} ({part!r})"
        proxy, sep, keep_text = (p.strip() for p in part.partition(":"))
        if not _TOKEN.fullmatch(proxy):
            raise InvalidArgumentError(f"ladder {spec!r}: {where} needs a proxy token before ':' (letters, digits, _@.+-), got {proxy!r}")
        if not sep and i > 0:
            raise InvalidArgumentError(f"ladder {spec!r}: {where} needs ':KEEP' (a fraction such as 0.2, or a count such as 3)")
        rungs.append(Rung(proxy, _keep(keep_text, spec, where) if sep else 1.0))
    _check(rungs, spec, proxies)
    return tuple(rungs)


def _check(rungs: list[Rung], spec: str, proxies: Iterable[str] | None) -> None:
    first, last = rungs[0], rungs[-1]
    if first.proxy == FULL:
        raise InvalidArgumentError(f"ladder {spec!r}: the first rung is a proxy every candidate gets, not {FULL!r}")
    if first.keep != 1.0 or first.is_count:
        raise InvalidArgumentError(f"ladder {spec!r}: every candidate gets the first rung; write {first.proxy}:1.0, not :{first.keep}")
    if last.proxy != FULL or not last.is_count:
        raise InvalidArgumentError(f"ladder {spec!r}: the last rung is real training of a count of candidates, e.g. '{FULL}:3'")
    names = [r.proxy for r in rungs]
    if FULL in names[:-1]:
        raise InvalidArgumentError(f"ladder {spec!r}: {FULL!r} can only be the last rung")
    repeated = sorted({p for p in names if names.count(p) > 1})
    if repeated:
        raise InvalidArgumentError(f"ladder {spec!r}: {', '.join(repeated)} appears twice; each proxy is one rung")
    for i, (a, b) in enumerate(pairwise(rungs), start=2):
        if a.is_count and not b.is_count:
            raise InvalidArgumentError(f"ladder {spec!r}: rung {i} keeps a fraction after a count; after a count, write counts")
        if a.is_count == b.is_count and b.keep > a.keep:
            raise InvalidArgumentError(f"ladder {spec!r}: rung {i} keeps {b.keep}, more than rung {i - 1}'s {a.keep}; a ladder narrows")
    if proxies is not None:
        known = set(proxies) | {FULL}
        unknown = [p for p in names if p not in known]
        if unknown:
            raise InvalidArgumentError(f"ladder {spec!r}: unknown proxies {', '.join(unknown)}; known here: {', '.join(sorted(known))}")


# --- the command: ladders simulated on the table (ladder_sim.py) -----------------------------------

HERE = Path(__file__).resolve().parent
SCORES = (HERE / "gpu" / "2026-11-26-h100" / "fidelity-100-scores" / "scores.csv", HERE / "ladders" / "zero-cost-scores.csv")
ONE_OFF = ("datadam-ipc10=16.267",)  # H100 seconds of that run's DataDAM distillation (its gpu_check.log)
# the grid of --grid: first rungs (on every candidate), middle rungs, their keeps, full's counts
GRID_FIRST = ("flops", "grad_norm", "naswot", "params", "snip", "synflow", "datadam-ipc10", "random-ipc10", "early@0.1ep")
GRID_MIDDLE = ("datadam-ipc10", "random-ipc10", "early@0.1ep", "early@1ep")
GRID_KEEPS = (0.5, 0.3, 0.2, 0.1, 0.05)
GRID_FINALS = (1, 2, 3)
RULES = ("mean", "point")  # ladder_sim.choose: bootstrap mean regret <= target (the rule), point regret (naive)


def main(argv: list[str] | None = None) -> int:
    import ladder_sim as sim
    from fidelity import write_outputs
    from ladder_report import markdown, write_grid_csv

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
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
        "--independent-seed", type=int, help="the table's seed whose trainings give early stopping and full (default: its second)"
    )
    p.add_argument("--bootstrap", type=int, default=1000, help="resamples of the architectures (default %(default)s)")
    p.add_argument("--orders", type=int, default=1000, help="orders of arrival for the asynchronous climb; 0: none (default %(default)s)")
    p.add_argument("--space", type=int, default=720, help="size of the whole space, for the projection (default %(default)s)")
    p.add_argument("--calibration-fraction", type=float, default=0.5, help="--grid: the part the ladder is chosen on (default %(default)s)")
    p.add_argument("--split-seed", type=int, default=0, help="--grid: the seed of that split (default %(default)s)")
    p.add_argument(
        "--split-file", type=Path, help="--grid: a committed calibration/evaluation split (CSV arch_id,role) instead of the seeded one"
    )
    p.add_argument("--splits", type=int, default=20, help="--grid: more seeded splits, the choice repeated on each (default %(default)s)")
    p.add_argument("--splits-bootstrap", type=int, default=200, help="--grid: resamples in those repeated splits (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap and orders seed (default %(default)s)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/out/ladders"))
    p.add_argument("--rows-csv", type=Path, help="--grid: write every ladder's numbers (all and calibration part) to this CSV")
    args = p.parse_args(argv)
    try:
        if not args.ladder and not args.grid:
            raise InvalidArgumentError("nothing to do: give --ladder SPEC (repeatable) or --grid")
        if not 0 < args.calibration_fraction < 1:
            raise InvalidArgumentError(f"--calibration-fraction must be in (0, 1), got {args.calibration_fraction}")
        one_off = dict(_pair(t) for t in (args.one_off or ONE_OFF))
        cands = sim.load_candidates(args.table, args.scores or list(SCORES), args.independent_seed, one_off)
        ladders = [parse_ladder(t, cands.fidelities) for t in args.ladder]
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
    except NasProxyError as e:
        print(f"ladder.py: error: {' '.join(str(e).split())}", file=sys.stderr)
        return e.exit_code
    if args.grid:
        rows = result["grid"].pop("rows")
        if args.rows_csv:
            write_grid_csv(args.rows_csv, rows)
    write_outputs(args.out, "ladders", result, markdown(result))
    return 0


def _pair(text: str) -> tuple[str, float]:
    token, sep, value = text.partition("=")
    try:
        if not (token and sep):
            raise ValueError(text)
        return token, float(value)
    except ValueError:
        raise InvalidArgumentError(f"--one-off {text!r}: write TOKEN=SECONDS, e.g. datadam-ipc10=16.3") from None


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
