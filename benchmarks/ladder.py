"""Fidelity ladders: the spec, and its simulation on a ground-truth table.

    python benchmarks/ladder.py --ladder "random-ipc10:1.0,early@1ep:0.2,full:3" --ladder "snip:1.0,random-ipc10:0.3,full:2"
    python benchmarks/ladder.py --grid --out benchmarks/ladders

A ladder is a comma-separated list of rungs ``PROXY:KEEP``, cheapest first. Every candidate gets the
first rung (``KEEP`` 1.0, or left out); the best of those by its score climb to the next rung, and so
on; the last rung, ``full``, is real training of a count of candidates, and the pick among them is
by validation accuracy. ``KEEP`` is a fraction of **all** the candidates (a float in (0, 1]: 0.2 of
100 candidates is 20, rounded up, at least 1) or a count (an integer >= 1); a rung never keeps more
than the rung before it (a count larger than the previous rung's candidates is cut to them).

The spec (:class:`Rung`, :func:`parse_ladder`, :func:`format_ladder`) is pure: the standard library
and the project's error type only, so that it can move into the library as it is. The simulation on
the table lives in ``ladder_sim.py``; this file's ``main`` is the command (``--help``).
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
            _write_grid_csv(args.rows_csv, rows)
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
    n, spaces = cands.n, (cands.n, args.space)
    first = [p for p in GRID_FIRST if p in cands.fidelities]
    specs = sim.grid(cands, first, [p for p in GRID_MIDDLE if p in cands.fidelities], GRID_KEEPS, GRID_FINALS)

    def ratio(row: Mapping[str, Any]) -> float:  # compute saving at the table's size (a part is projected to it)
        return float(row["projected"][str(n)])

    def measure(spec: str, c: Any, boot: int, orders: int = 0) -> dict[str, Any]:
        rows, ords = sim.resamples(c.n, boot, args.seed), sim.orders(c.n, orders, args.seed + 1)
        return {"spec": spec, "n": c.n, **sim.measure(parse_ladder(spec), c, rows, ords, spaces)}

    every = [measure(s, cands, args.bootstrap) for s in specs]
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
                    "calibration": _brief(pick),
                    "held_out": _brief(held_row),
                }
            )
    rows_out = [{"set": "all", **r} for r in every] + [{"set": "calibration", **r} for r in cal_rows]
    return {
        "n_ladders": len(specs),
        "first": first,
        "keeps": list(GRID_KEEPS),
        "finals": list(GRID_FINALS),
        "calibration_ids": [cands.ids[i] for i in cal_idx],
        "frontier_all": [_brief(r) | {"spec": r["spec"]} for r in sim.frontier(every, ratio)],
        "frontier_calibration": [_brief(r) | {"spec": r["spec"]} for r in sim.frontier(cal_rows, ratio)],
        "chosen": chosen,
        "in_sample_choice": in_sample,
        "splits": splits,
        "rows": rows_out,
    }


def _brief(row: Mapping[str, Any]) -> dict[str, Any]:
    """The numbers a ladder is chosen and compared by."""
    return {
        "reached": row["reached"],
        "regret": row["regret"],
        "regret_mean": row["boot"]["regret_mean"],
        "regret_ci": row["boot"]["regret_ci"],
        "p_regret_ok": row["boot"]["p_regret_ok"],
        "ratio": row["ratio"],
        "ratio_separate": row["ratio_separate"],
        "projected": row["projected"],
        "projected_separate": row["projected_separate"],
    }


def _write_grid_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "set",
                "ladder",
                "reached",
                "regret",
                "regret_mean",
                "regret_lo",
                "regret_hi",
                "p_regret_ok",
                "ratio",
                "ratio_separate",
                *(f"ratio_at_{k}" for k in rows[0]["projected"]),
            ]
        )
        for r in rows:
            b = r["boot"]
            cells = [
                r["regret"],
                b["regret_mean"],
                *b["regret_ci"],
                b["p_regret_ok"],
                r["ratio"],
                r["ratio_separate"],
                *r["projected"].values(),
            ]
            w.writerow([r["set"], r["spec"], "/".join(map(str, r["reached"])), *(f"{x:.4g}" for x in cells)])


def _f(v: Any, digits: int = 2) -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:,.{digits}f}"


def _ci(mean: float, ci: Sequence[float], digits: int = 2) -> str:
    return f"{_f(mean, digits)} [{_f(ci[0], digits)}, {_f(ci[1], digits)}]"


def _ladder_row(r: Mapping[str, Any], n: int, space: int) -> list[str]:
    b = r["boot"]
    cells = [
        f"`{r['spec']}`",
        "/".join(map(str, r["reached"])),
        _f(r["regret"]),
        _ci(b["regret_mean"], b["regret_ci"]),
        _f(b["p_regret_ok"]),
    ]
    cells += [
        f"{_f(r['seconds'], 0)} / {_f(r['seconds_separate'], 0)}",
        f"{_f(r['ratio'], 1)} / {_f(r['ratio_separate'], 1)}",
        _ci(b["ratio_mean"], b["ratio_ci"], 1),
    ]
    proj = b["projected"][str(space)]
    cells += [f"{_f(r['projected'][str(space)], 1)} [{_f(proj['ratio_ci'][0], 1)}, {_f(proj['ratio_ci'][1], 1)}]"]
    if "async_orders" in r:
        a = r["async_orders"]
        cells += [
            _ci(a["regret_mean"], a["regret_ci"]),
            _f(a["p_regret_ok"]),
            _ci(a["ratio_mean"], a["ratio_ci"], 1),
            _f(a["reached_mean"][-1], 1),
        ]
    return cells


LADDER_HEAD = ["ladder", "candidates per rung", "regret (pts)", "bootstrap regret: mean [95%]", "P(regret ≤ 0.1)"]
LADDER_HEAD += [
    "H100 s (shared run / separate)",
    "× less than all (shared / separate)",
    "× less, bootstrap [95%]",
    "× less on {space}, projected [95%]",
]
ASYNC_HEAD = ["async over orders: regret mean [95%]", "P(≤ 0.1)", "× less [95%]", "full trainings"]
BRIEF_HEAD = [
    "ladder",
    "candidates per rung",
    "regret (pts)",
    "bootstrap regret: mean [95%]",
    "P(regret ≤ 0.1)",
    "× less at {n} (shared / separate)",
    "× less on {space}",
]


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *("| " + " | ".join(r) + " |" for r in rows)]


def _brief_row(spec: str, b: Mapping[str, Any], n: int, space: int, label: str = "") -> list[str]:
    cells = [label] if label else []
    cells += [f"`{spec}`", "/".join(map(str, b["reached"])), _f(b["regret"]), _ci(b["regret_mean"], b["regret_ci"]), _f(b["p_regret_ok"])]
    cells += [f"{_f(b['projected'][str(n)], 1)} / {_f(b['projected_separate'][str(n)], 1)}", _f(b["projected"][str(space)], 1)]
    if "async_orders" in b:
        a = b["async_orders"]
        cells += [_ci(a["regret_mean"], a["regret_ci"]), _ci(a["ratio_mean"], a["ratio_ci"], 1), _f(a["reached_mean"][-1], 1)]
    return cells


def markdown(result: Mapping[str, Any]) -> str:
    """The ladders' table and, with --grid, the frontier, the choice on calibration and its held-out numbers."""
    n, space = result["n_archs"], result["space"]
    lines = [
        f"{n} architectures; reference: training all of them once, {_f(result['reference_seconds'], 0)} H100 s. Regret: best test "
        "accuracy of the ground truth's seed minus the pick's (points); the pick is by validation accuracy of the independent "
        f"seed. Bootstrap: {result['bootstrap']} resamples of the architectures; async: {result['orders']} seeded orders.",
        "",
    ]
    has_async = any("async_orders" in r for r in result["ladders"])
    head = [h.format(space=space) for h in LADDER_HEAD] + (ASYNC_HEAD if has_async else [])
    lines += _table(head, [_ladder_row(r, n, space) for r in result["ladders"]])
    g = result.get("grid")
    if not g:
        return "\n".join(lines) + "\n"
    head = [h.format(n=n, space=space) for h in BRIEF_HEAD]
    lines += ["", f"Grid: {g['n_ladders']} ladders. Frontier on all {n} (in-sample; bootstrap mean regret vs × less):", ""]
    lines += _table(head, [_brief_row(r["spec"], r, n, space) for r in g["frontier_all"]])
    lines += ["", f"Frontier on the calibration part ({len(g['calibration_ids'])} architectures; × less projected to {n}):", ""]
    lines += _table(head, [_brief_row(r["spec"], r, n, space) for r in g["frontier_calibration"]])
    lines += [
        "",
        "Chosen on the calibration part, by rule (mean: bootstrap mean regret ≤ 0.1; point: regret ≤ 0.1), then the highest × less:",
        "",
    ]
    rows = []
    for rule, c in g["chosen"].items():
        for part in ("calibration", "held_out", "all"):
            rows.append(_brief_row(c[part]["spec"], _brief_of(c[part]), n, space, f"{rule}: {part} ({c[part]['n']})"))
    for rule, c in g["in_sample_choice"].items():
        rows.append(_brief_row(c["spec"], _brief_of(c), n, space, f"{rule}, chosen on all {n} (in-sample)"))
    lines += _table(["rule: part (n)", *head, "async: regret mean [95%]", "async: × less (own n) [95%]", "async: full trainings"], rows)
    lines += ["", f"The choice repeated on {len(g['splits']) // len(RULES)} more seeded splits (calibration → held-out):", ""]
    rows = []
    for rule in RULES:
        ss = [s for s in g["splits"] if s["rule"] == rule]
        for part in ("calibration", "held_out"):
            reg = [s[part]["regret"] for s in ss]
            rat = [s[part]["projected"][str(n)] for s in ss]
            proj = [s[part]["projected"][str(space)] for s in ss]
            ok = sum(r <= 0.1 + 1e-9 and x >= 30 and y >= 60 for r, x, y in zip(reg, rat, proj, strict=True))
            rows.append(
                [
                    rule,
                    part,
                    _f(sum(reg) / len(reg)),
                    _f(max(reg)),
                    _f(sum(r <= 0.1 + 1e-9 for r in reg) / len(reg)),
                    _f(sorted(rat)[len(rat) // 2], 1),
                    _f(sorted(proj)[len(proj) // 2], 1),
                    f"{ok}/{len(ss)}",
                ]
            )
        counts = {x: sum(s["spec"] == x for s in ss) for x in {s["spec"] for s in ss}}
        often = sorted(counts, key=lambda x: (-counts[x], x))[:4]
        chosen = f"{len(counts)} different; " + "; ".join(f"`{x}` ×{counts[x]}" for x in often)
        rows.append([rule, "ladders chosen", chosen, "", "", "", "", ""])
    lines += _table(
        [
            "rule",
            "part",
            "mean regret",
            "worst regret",
            "share regret ≤ 0.1",
            f"median × less at {n}",
            f"median × less on {space}",
            "targets met",
        ],
        rows,
    )
    return "\n".join(lines) + "\n"


def _brief_of(row: Mapping[str, Any]) -> dict[str, Any]:
    return _brief(row) | {k: row[k] for k in ("async_orders",) if k in row}


if __name__ == "__main__":
    sys.exit(main())
