"""What the report says beside its table: architectures that never learned, why a cell is "–",
and how many architectures the ceiling row stands on.

An architecture *did not learn* when its ground-truth test accuracy is at or below chance
(100 / classes %) plus :data:`CHANCE_MARGIN` of the way from chance to 100 % (14.5 % for 10
classes). Such a network (a sigmoid stack without normalisation, a learning rate it cannot take)
tells nothing about a proxy's ranking of networks that train, yet it sits far below the others:
the scatters would squash every other point into a band, and a proxy that picks it (``params``
and ``flops`` pick the largest network) gets a regret of nearly the whole accuracy range. They
stay in every metric (leaving them out would be choosing on the test set); the report lists them,
draws them apart, and says what the regret is among the architectures that learned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, TypeGuard

import numpy as np

from nas_proxy.correlate.metrics import MIN_POINTS, regret
from nas_proxy.correlate.result import TRUTH_SEED2, CorrelateResult

CHANCE_MARGIN = 0.05  # of the way from chance to 100 %: at or below chance + this, an architecture did not learn
MEANINGFUL_CEILING = 10  # fewer architectures behind the ceiling row: its interval is said to mean little


@dataclass(frozen=True)
class Failed:
    """The architectures that did not learn; ``threshold`` NaN when chance is unknown."""

    ids: frozenset[str]
    threshold: float
    chance: float | None
    classes: int | None


def failed_archs(result: CorrelateResult) -> Failed:
    """The architectures whose ground truth is at or below chance plus the margin."""
    classes = result.facts.get("classes")
    if not isinstance(classes, int) or classes < 2:
        return Failed(frozenset(), math.nan, None, None)
    chance = 100.0 / classes
    threshold = chance + CHANCE_MARGIN * (100.0 - chance)
    ids = frozenset(r["arch_id"] for r in result.rows if _finite(r.get("truth")) and r["truth"] <= threshold)
    return Failed(ids, threshold, chance, classes)


def _finite(v: Any) -> TypeGuard[float]:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def failed_lines(result: CorrelateResult, failed: Failed) -> list[str]:
    """The report's paragraph on architectures that did not learn (or on why none can be named)."""
    if not result.rows:
        return []
    if failed.chance is None:
        return [
            "Chance level is not known here (no synthetic set names the number of classes), so no architecture is flagged as not learning.",
            "",
        ]
    rule = (
        f"test accuracy at or below {failed.threshold:.1f} %: chance ({failed.chance:.1f} % for {failed.classes} classes) "
        f"plus {CHANCE_MARGIN:.0%} of the way from chance to 100 %"
    )
    if not failed.ids:
        return [f"Every architecture learned: none has a {rule}.", ""]
    rows = sorted((r for r in result.rows if r["arch_id"] in failed.ids), key=lambda r: r["truth"])
    listed = ", ".join(f"`{r['arch_id']}` ({r['truth']:.1f} %)" for r in rows)
    lines = [
        f"**{len(rows)} of {len(result.rows)} architectures did not learn** ({rule}): {listed}. "
        "They are drawn as ▼ on the bottom edge of the scatters, off the accuracy scale, and counted in every number above.",
    ]
    changed = _regret_without(result, failed)
    if changed:
        said = "; ".join(f"{n} {a:.2f} with them, {b:.2f} among the architectures that learned" for n, a, b in changed)
        lines.append(f"Regret counts them too, so a proxy that picks one of them has the regret of that pick: {said}.")
    return [*lines, ""]


def _regret_without(result: CorrelateResult, failed: Failed) -> list[tuple[str, float, float]]:
    """(proxy, regret, regret among the architectures that learned) where the two differ."""
    kept = [r for r in result.rows if r["arch_id"] not in failed.ids]
    if len(kept) < 2:
        return []
    out = []
    for name, m in result.proxies.items():
        if name == TRUTH_SEED2 or name not in result.rows[0] or not _finite(m.get("regret")):
            continue
        x = np.array([r[name] if _finite(r.get(name)) else math.nan for r in kept], dtype=float)
        without = regret(x, np.array([r["truth"] for r in kept], dtype=float))
        if _finite(without) and abs(without - m["regret"]) > 1e-9:
            out.append((name, float(m["regret"]), without))
    return out


def _dash_reason(key: str, name: str, m: dict[str, Any], f: dict[str, Any]) -> str:
    """Why the cell ``key`` of the row ``name`` is "–"."""
    if name == TRUTH_SEED2 and key.startswith(("promote", "kendall_gap")):
        return "the ceiling is not a proxy: it is neither promoted nor ranked against the best proxy"
    if key in ("spearman", "kendall", "weighted_tau", "regret", "kendall_gap"):
        return f"undefined: fewer than {MIN_POINTS} architectures scored, or the proxy gives every one the same score"
    if key == "top_kendall":
        frac, k = m.get("top_fraction", 0.2), m.get("top_n")
        need = math.ceil(MIN_POINTS / frac - 1e-9)
        return (
            f"the top {frac:.0%} by ground truth holds {k} architecture(s) here and τ-b needs {MIN_POINTS} "
            f"({need} or more architectures in all)"
        )
    if key.startswith("precision@"):
        return f"fewer than {key.split('@')[1]} architectures scored"
    if key in ("promote_regret", "promote_saving"):
        if f.get("promote") is None:
            return "no promotion was asked (--promote K)"
        if f.get("ground_truth", {}).get("given"):
            return "the ground truth was given in a file, with no validation accuracies to pick the promoted by"
        return "no promoted architecture has a validation accuracy"
    if key in ("seconds_per_arch", "speedup"):
        return "the cost was not measured (every score came from a cache or a file without times)"
    return "not defined for this row"


def dash_notes(result: CorrelateResult, columns: list[tuple[str, str]], table: list[list[str]]) -> list[str]:
    """One footnote per column holding a "–": why, naming the rows when not all of them."""
    notes = []
    names = list(result.proxies)
    for j, (key, header) in enumerate(columns, start=1):
        dashed = [names[i] for i, row in enumerate(table) if row[j].startswith("–")]
        if not dashed:
            continue
        reasons: dict[str, list[str]] = {}
        for n in dashed:
            reasons.setdefault(_dash_reason(key, n, result.proxies[n], result.facts), []).append(n)
        proxies = [n for n in names if n != TRUTH_SEED2]
        parts = [f"{_who(rows, names, proxies)}: {reason}" for reason, rows in reasons.items()]
        notes.append(f"- – in *{header}*: " + "; ".join(parts) + ".")
    return ["", "Cells marked –:", "", *notes] if notes else []


def _who(rows: list[str], names: list[str], proxies: list[str]) -> str:
    if rows == names:
        return "every row"
    if rows == proxies:
        return "every proxy"
    return ", ".join(rows)


def ceiling_size(row: dict[str, Any]) -> str:
    """How much the ceiling row's interval can say, from the number of architectures behind it."""
    n = int(row.get("archs") or row.get("n_scored") or 0)
    if n >= MEANINGFUL_CEILING:
        return ""
    if n < 2:
        return f" It stands on {n} architecture(s): no ranking at all."
    return (
        f" It stands on only {n} architectures, so its interval says little: a random order ranks {n} "
        f"architectures perfectly with probability 1/{math.factorial(n):,}."
    )
