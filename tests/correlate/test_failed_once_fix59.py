"""fix59: the report's Markdown computed its failed architectures twice, once for the verdict's sentence
(verdict._failed) and once for the paragraph below the table (render.markdown); write_reports a third time for the
plots. Once now, the same set for every part."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

from nas_proxy.report import notes, render
from tests.correlate.test_correlate_report import metrics, result


def counted(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every call of failed_archs, wherever the report's modules call it from."""
    computed: list[Any] = []
    real = notes.failed_archs

    def count(r: Any) -> Any:
        computed.append(real(r))
        return computed[-1]

    for module in (render, importlib.import_module("nas_proxy.report.verdict")):  # the package's `verdict` is the function
        monkeypatch.setattr(module, "failed_archs", count)
    return computed


def a_report(tmp_path: Path) -> Any:
    report = result(tmp_path, {"p": metrics()}, 6)
    report.facts["classes"] = 10
    report.rows[0]["truth"] = 5.0  # at chance: one failed architecture, named by the verdict and below the table
    return report


def test_the_markdown_computes_the_failed_architectures_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = a_report(tmp_path)
    computed = counted(monkeypatch)
    md = render.markdown(report)
    assert len(computed) == 1
    assert "1 of 6 architectures did not learn" in md and "**1 of 6 architectures did not learn**" in md


def test_the_reports_compute_the_failed_architectures_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = a_report(tmp_path)
    digest = render.plot_inputs(report)
    for name in (render.SCATTER, render.COST):  # plots drawn from these inputs (their text chunk), not drawn again here
        (tmp_path / name).write_bytes(b"\x89PNG" + f"{render.DRAWN_FROM}\0{digest}".encode() + render.IEND)
    computed = counted(monkeypatch)
    render.write_reports(report)
    assert len(computed) == 1
