"""The report's verdict follows its numbers, and promotion picks by validation accuracy, never test."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from nas_proxy.correlate.measure import proxy_metrics
from nas_proxy.correlate.picks import compute, promote, top_k
from nas_proxy.correlate.result import TRUTH_SEED2, CorrelateResult
from nas_proxy.correlate.truth import Truth
from nas_proxy.proxies import Scored
from nas_proxy.report.render import markdown, write_reports
from nas_proxy.report.verdict import verdict
from tests.correlate.test_correlate_report import facts

IDS = [f"a{i}" for i in range(6)]
PROXY = [6.0, 5.0, 4.0, 3.0, 2.0, 1.0]  # a0 is the proxy's favourite, then a1, a2, ...
TEST = [80.0, 90.0, 70.0, 95.0, 60.0, 50.0]  # the best by test is a3
VAL = [70.0, 75.0, 85.0, 99.0, 60.0, 50.0]  # among the proxy's top 3, validation prefers a2, test a1


def row(kendall: float, gap_ci: list[float] | None = None, best: str = "A", **more: Any) -> dict[str, Any]:
    m = {"kendall": kendall, "kendall_ci": [kendall - 0.2, kendall + 0.1], "kendall_gap": 0.0, "kendall_gap_to": best}
    m |= {"kendall_gap_ci": gap_ci, "seconds_per_arch": 2.0, "one_off_seconds": 0.0, "regret": 1.0}
    m |= {"cost_alone_seconds": 12.0, "cost_full_seconds": 600.0, "promote_k": 3, "promote_regret": 0.5}
    m |= {"cost_promoted_seconds": 312.0, "promote_saving": 600 / 312}
    return m | more


def fabricated(proxies: dict[str, dict[str, Any]], tmp_path: Path) -> CorrelateResult:
    return CorrelateResult(tmp_path, [], proxies, [], facts(6))


def test_a_paired_interval_that_contains_zero_says_the_two_cannot_be_told_apart(tmp_path: Path) -> None:
    result = fabricated({"A": row(0.8), "B": row(0.7, gap_ci=[-0.05, 0.3]), "C": row(0.1, gap_ci=[0.4, 0.9])}, tmp_path)
    text = " ".join(verdict(result))
    assert "**A** ranks these 6 architectures best: Kendall τ-b 0.800 [0.60, 0.90]" in text
    assert "It cannot be told apart from the next best, **B** (τ-b 0.700)" in text and "[-0.05, 0.30], which contains 0" in text
    assert "ranks better than" not in text


def test_a_paired_interval_that_excludes_zero_names_the_better_one(tmp_path: Path) -> None:
    result = fabricated({"B": row(0.5, gap_ci=[0.1, 0.4]), "A": row(0.8)}, tmp_path)  # the best need not come first
    text = " ".join(verdict(result))
    assert text.startswith("**A** ranks these 6 architectures best")
    assert "It ranks better than the next best, **B** (τ-b 0.500)" in text and "[0.10, 0.40], which excludes 0" in text
    assert "cannot be told apart" not in text


def test_cost_slower_proxies_and_promotion_are_stated_from_the_numbers(tmp_path: Path) -> None:
    slow = row(0.3, gap_ci=[0.2, 0.8], cost_alone_seconds=900.0, one_off_seconds=880.0)
    result = fabricated({"A": row(0.8, one_off_seconds=300.0, cost_alone_seconds=312.0), "S": slow, TRUTH_SEED2: row(0.95)}, tmp_path)
    text = " ".join(verdict(result))
    assert "A costs 2.0 s per architecture plus 5 min of distillation, once: 5 min for these 6 architectures" in text
    assert "against 10 min to train them all on the full data (1.9x less)" in text
    assert "Slower than training every candidate on the full data (10 min), distillation included: S (15 min)." in text
    assert "Promoting the top 3 of A" in text and "regret of 0.50 accuracy points, against 1.00 for its pick alone" in text
    assert TRUTH_SEED2 not in text.split("ranks these")[0]  # the ceiling is no proxy
    fast = fabricated({"A": row(0.8)}, tmp_path)
    assert "No proxy costs more than training every candidate on the full data (10 min)" in " ".join(verdict(fast))


def test_report_md_and_html_open_with_the_verdict(tmp_path: Path) -> None:
    result = fabricated({"A": row(0.8), "B": row(0.7, gap_ci=[-0.05, 0.3])}, tmp_path)
    md = markdown(result)
    assert md.splitlines()[2].startswith("- **A** ranks these 6 architectures best")  # a list, one statement an item
    assert md.splitlines()[3].startswith("- It cannot be told apart from the next best")
    write_reports(result)
    html = (tmp_path / "report.html").read_text()
    assert "<li><strong>A</strong> ranks these 6 architectures best" in html and "<table>" in html and "<h2>Protocol</h2>" in html
    assert "**" not in html  # rendered, not shown as markdown


def test_nothing_ranked_says_so(tmp_path: Path) -> None:
    assert verdict(fabricated({"A": row(math.nan)}, tmp_path)) == [
        "No proxy could be ranked against the ground truth here (too few architectures, or constant scores)."
    ]


def test_promotion_picks_by_validation_never_by_test() -> None:
    got = promote(PROXY, VAL, TEST, 3)
    assert got.promoted == [0, 1, 2] and got.picked == [2]
    assert got.regret == pytest.approx(95.0 - 70.0)  # by test it would have picked a1 (regret 5)
    assert promote(PROXY, VAL, TEST, 6).regret == pytest.approx(95.0 - 95.0)  # all promoted: a3 has the best validation
    assert math.isnan(promote(PROXY, [math.nan] * 6, TEST, 3).regret)  # no validation accuracy: no pick
    assert top_k([1.0, math.nan, 3.0, 3.0], 3) == [2, 3, 0]  # NaN scores are never promoted; ties keep their order


def test_promotion_and_its_compute_in_the_correlation_metrics() -> None:
    results = {(a, 0): {"val_accuracy": v, "test_accuracy": t, "train_seconds": 100.0} for a, v, t in zip(IDS, VAL, TEST, strict=True)}
    truth = Truth(dict(zip(IDS, TEST, strict=True)), results, [], [], "study", "storage")
    scores = {"p": {a: Scored(x, 1.0) for a, x in zip(IDS, PROXY, strict=True)}}
    m = proxy_metrics(scores, {"p": 10.0}, truth, IDS, n_boot=20, seed=0, k=3)["p"]
    assert m["regret"] == pytest.approx(95.0 - 80.0)  # the proxy's pick alone: a0
    assert m["promote_regret"] == pytest.approx(95.0 - 70.0) and m["promote_pick"] == ["a2"]
    assert m["cost_alone_seconds"] == pytest.approx(6 * 1.0 + 10.0)
    assert m["cost_promoted_seconds"] == pytest.approx(16.0 + 3 * 100.0) and m["cost_full_seconds"] == pytest.approx(600.0)
    assert m["promote_saving"] == pytest.approx(600.0 / 316.0)


def test_compute_without_full_trainings_is_unknown() -> None:
    got = compute([1.0, 2.0], 0.0, [math.nan, math.nan], [0])
    assert got["cost_alone_seconds"] == 3.0 and math.isnan(got["cost_promoted_seconds"]) and math.isnan(got["promote_saving"])
