"""The verdict that opens a correlation report: plain sentences drawn from the result's numbers.

Which proxy ranks best, whether the paired bootstrap interval can tell it from the next best,
what it costs with its distillation, which proxies cost more than training every candidate, what
promoting the proxy's top K to a full training buys, and how many architectures did not learn.
"""

from __future__ import annotations

import math
from typing import Any, TypeGuard

from nas_proxy.correlate.result import TRUTH_SEED2, CorrelateResult
from nas_proxy.report.notes import Failed, failed_archs


def _ok(v: Any) -> TypeGuard[float]:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _s(seconds: float) -> str:
    """Seconds as a person reads them."""
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 120:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.1f} s"


def ranked(proxies: dict[str, dict[str, Any]]) -> list[str]:
    """Proxies with a Kendall tau-b, best first (ties in the result's order, as the gap to the best)."""
    names = [n for n, m in proxies.items() if n != TRUTH_SEED2 and _ok(m.get("kendall"))]
    return sorted(names, key=lambda n: -proxies[n]["kendall"])


def _separation(best: str, nxt: str, m: dict[str, Any]) -> str:
    """Whether the paired interval of the tau-b difference of ``best`` and ``nxt`` contains 0."""
    ci = m.get("kendall_gap_ci")
    tau = f"τ-b {m['kendall']:.3f}"
    if m.get("kendall_gap_to") != best or not ci or not all(_ok(c) for c in ci):
        return f"Whether it ranks better than the next best, **{nxt}** ({tau}), cannot be said: there is no paired interval of the two."
    lo, hi = ci
    interval = f"the paired bootstrap interval of their τ-b difference is [{lo:.2f}, {hi:.2f}]"
    if lo <= 0 <= hi:
        return f"It cannot be told apart from the next best, **{nxt}** ({tau}): {interval}, which contains 0."
    if lo > 0:
        return f"It ranks better than the next best, **{nxt}** ({tau}): {interval}, which excludes 0."
    return f"**{nxt}** ({tau}) ranks better than it on resampled architectures: {interval}, below 0."


def _cost(name: str, m: dict[str, Any], n: int) -> str:
    alone, full = m.get("cost_alone_seconds"), m.get("cost_full_seconds")
    one_off = m.get("one_off_seconds") or 0.0
    per_arch = m.get("seconds_per_arch")
    if not (_ok(alone) and _ok(per_arch)):
        return f"The cost of {name} is not known here."
    text = f"{name} costs {_s(per_arch)} per architecture"
    text += f" plus {_s(one_off)} of distillation, once" if one_off else ""
    text += f": {_s(alone)} for these {n} architectures"
    if _ok(full) and full > 0:
        ratio = full / alone if alone > 0 else math.inf
        text += f", against {_s(full)} to train them all on the full data ({ratio:.1f}x {'less' if alone <= full else 'more'})"
    return text + "."


def _slower(proxies: dict[str, dict[str, Any]]) -> str:
    full = next((m["cost_full_seconds"] for m in proxies.values() if _ok(m.get("cost_full_seconds"))), None)
    if full is None:
        return ""
    slow = [
        (n, m["cost_alone_seconds"])
        for n, m in proxies.items()
        if n != TRUTH_SEED2 and _ok(m.get("cost_alone_seconds")) and m["cost_alone_seconds"] > full
    ]
    if not slow:
        return f"No proxy costs more than training every candidate on the full data ({_s(full)}), distillation included."
    listed = ", ".join(f"{n} ({_s(s)})" for n, s in slow)
    return f"Slower than training every candidate on the full data ({_s(full)}), distillation included: {listed}."


def _promotion(name: str, m: dict[str, Any]) -> str:
    k, alone, promoted = m.get("promote_k"), m.get("regret"), m.get("promote_regret")
    if k is None:
        return ""
    if not _ok(promoted):
        return f"What promoting the top {k} of {name} would buy cannot be said: the ground truth has no validation accuracies here (accuracies given in a file)."
    text = (
        f"Promoting the top {k} of {name} to a full training and keeping the best by validation accuracy (never test) "
        f"gives a regret of {promoted:.2f} accuracy points, against {alone:.2f} for its pick alone"
    )
    cost, saving = m.get("cost_promoted_seconds"), m.get("promote_saving")
    if _ok(cost):
        text += f", for {_s(cost)} in all"
        if _ok(saving) and saving > 0:
            text += (
                f" ({saving:.1f}x less than training every candidate)"
                if saving >= 1
                else f" ({1 / saving:.1f}x more than training every candidate)"
            )
    return text + "."


def verdict(result: CorrelateResult, failed: Failed | None = None) -> list[str]:
    """The report's opening sentences, each a statement of numbers in the result. ``failed``: the architectures that did
    not learn, where the caller has them (:func:`nas_proxy.report.render.markdown`: computed once, fix59)."""
    proxies = result.proxies
    order = ranked(proxies)
    n = result.facts.get("archs_scored", len(result.rows))
    if not order:
        none = "No proxy could be ranked against the ground truth here (too few architectures, or constant scores)."
        return [s for s in (none, _ladder(result)) if s]
    best, m = order[0], proxies[order[0]]
    ci = m.get("kendall_ci") or []
    interval = f" [{ci[0]:.2f}, {ci[1]:.2f}]" if len(ci) == 2 and all(_ok(c) for c in ci) else ""
    lines = [f"**{best}** ranks these {n} architectures best: Kendall τ-b {m['kendall']:.3f}{interval} with the ground truth."]
    if len(order) > 1:
        lines.append(_separation(best, order[1], proxies[order[1]]))
    lines.append(_cost(best, m, n))
    lines += [s for s in (_slower(proxies), _promotion(best, m), _ladder(result), _failed(result, failed)) if s]
    return lines


def _ladder(result: CorrelateResult) -> str:
    """What each rung of the study's ladder bought: the pick stopping there, its regret here, the seconds up to it."""
    ladder = result.facts.get("ladder")
    if not ladder or not ladder.get("rungs"):
        return ""
    rungs = ladder["rungs"]
    per_arch = (result.facts.get("ground_truth") or {}).get("seconds_per_arch")
    candidates = ladder.get("candidates")  # distinct architectures at rung 0
    steps = []
    for r in rungs:
        regret = f"regret {r['regret']:.2f} points" if _ok(r["regret"]) else "regret unknown"
        steps.append(
            f"rung {r['rung']} ({r['proxy']}, {r['trained']} trained) picks {r['arch_id']}: {regret}, {_s(r['seconds_through'])} so far"
        )
    text = f"The study's ladder, each rung judged against the best of these {ladder['archs']} architectures: " + "; ".join(steps)
    if _ok(per_arch) and isinstance(candidates, int) and rungs[-1]["seconds_through"] > 0:
        full = per_arch * candidates
        text += f" (training all {candidates} distinct candidates on the full data: about {_s(full)}, {full / rungs[-1]['seconds_through']:.1f}x the ladder)"
    return text + "."


def _failed(result: CorrelateResult, failed: Failed | None) -> str:
    failed = failed_archs(result) if failed is None else failed
    if not failed.ids:
        return ""
    return (
        f"{len(failed.ids)} of {len(result.rows)} architectures did not learn (at most {failed.threshold:.1f} %, chance "
        f"{failed.chance:.1f} %); they count in every number, and are listed below the table."
    )
