"""fix58: drawing the report's plots computed its failed architectures twice, once for the plots' digest
(render.plot_inputs) and once for the scatter plot. Once now, the same set for both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nas_proxy.report import render
from tests.correlate.test_correlate_report import metrics, result


def test_the_plots_compute_the_failed_architectures_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = result(tmp_path, {"p": metrics()}, 6)
    computed: list[Any] = []

    def counted(r: Any) -> Any:
        computed.append(real(r))
        return computed[-1]

    real = render.failed_archs
    monkeypatch.setattr(render, "failed_archs", counted)
    render.plots(report)
    assert len(computed) == 1
    assert render.plot_inputs(report) == render.plot_inputs(report, computed[0])  # the digest of the set drawn
