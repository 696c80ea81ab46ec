"""The tables of ``ladder.py``: Markdown of its result, and the grid's rows as CSV."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def brief(row: Mapping[str, Any]) -> dict[str, Any]:
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


def write_grid_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Every ladder's numbers, one row each, written whole or not at all (before stop 46: in place)."""
    from nas_proxy.files import write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    f = io.StringIO(newline="")
    if rows:
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
    write_text(path, f.getvalue())


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
    split = f"; split: {g['split']}" if "split" in g else ""
    lines += ["", f"Frontier on the calibration part ({len(g['calibration_ids'])} architectures; × less projected to {n}{split}):", ""]
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
    rules = list(g["chosen"])
    if not g["splits"]:
        return "\n".join(lines) + "\n"
    lines += ["", f"The choice repeated on {len(g['splits']) // len(rules)} more seeded splits (calibration → held-out):", ""]
    rows = []
    for rule in rules:
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
    return brief(row) | {k: row[k] for k in ("async_orders",) if k in row}
