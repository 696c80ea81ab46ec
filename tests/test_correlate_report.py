"""The report writer on its own: every file is written whatever the numbers (a perfect proxy, NaN,
intervals that miss their point estimate, one architecture, no architecture at all)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nas_proxy.correlate.metrics import summarise
from nas_proxy.correlate.report import write_reports
from nas_proxy.correlate.result import TRUTH_SEED2, CorrelateResult
from nas_proxy.search import ProxyConfig

FILES = ("results.csv", "results.json", "report.md", "report.html", "scatter.png", "fidelity_cost.png")


def facts(n: int) -> dict[str, Any]:
    """What ``correlate`` records, for ``n`` architectures."""
    return {
        "data": {"dataset": "digits", "split_seed": 0, "val_fraction": 0.1},
        "archs": n,
        "archs_scored": n,
        "space": "convnet-small",
        "ground_truth": {
            "epochs": 2,
            "lr": 0.01,
            "batch_size": 256,
            "augment": False,
            "images": None,
            "early": [1.0],
            "seconds_per_arch": 1.5,
            "seeds": [0, 1],
            "ceiling_archs": n,
        },
        "proxy_training": ProxyConfig(epochs=10).to_dict(),
        "synthetic": {"datadam-ipc2": "runs/tiny"},
        "seed": 0,
        "device": "cpu",
    }


def result(out: Path, proxies: dict[str, dict[str, Any]], n: int) -> CorrelateResult:
    rows = [
        {
            "arch_id": f"a{i}",
            "spec": {"family": "convnet", "depth": i},
            "truth": 50.0 + i,
            "truth_seed2": 50.0 + i,
            **{p: float(i) for p in proxies},
        }
        for i in range(n)
    ]
    return CorrelateResult(out, rows, proxies, ["a warning"], facts(n))


def metrics(**overrides: Any) -> dict[str, Any]:
    base = summarise(np.arange(6.0), np.arange(6.0) + 50, n_boot=50)
    return base | {"seconds_per_arch": 0.5, "one_off_seconds": 3.0, "speedup": 3.0} | overrides


CASES = {
    # the run that crashed: tau a hair below 1 with the bootstrap interval (1, 1) above it
    "perfect": {"datadam-ipc2": metrics(kendall=0.9999999, kendall_ci=[1.0, 1.0]), TRUTH_SEED2: metrics(archs=6)},
    "interval misses the point": {"p": metrics(kendall=0.2, kendall_ci=[0.4, 0.9]), "q": metrics(kendall=0.5, kendall_ci=[-0.9, 0.1])},
    "NaN everywhere": {
        "p": metrics(kendall=math.nan, spearman=math.nan, kendall_ci=[math.nan, math.nan], seconds_per_arch=math.nan, speedup=math.nan),
        "q": metrics(kendall=None, kendall_ci=None, seconds_per_arch=None),
    },
    "infinite and zero costs": {"p": metrics(seconds_per_arch=math.inf), "q": metrics(seconds_per_arch=0.0, kendall=-1.0)},
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("n", [6, 1, 0])
def test_every_report_file_is_written_whatever_the_numbers(case: str, n: int, tmp_path: Path) -> None:
    write_reports(result(tmp_path, CASES[case], n))
    for name in FILES:
        assert (tmp_path / name).is_file() and (tmp_path / name).stat().st_size > 0, name
    written = json.loads((tmp_path / "results.json").read_text())  # strict JSON: NaN became null
    assert set(written["proxies"]) == set(CASES[case]) and len(written["archs"]) == n
    md = (tmp_path / "report.md").read_text()
    assert all(f"| {name} |" in md for name in CASES[case])


def test_no_proxy_at_all_still_writes_every_file(tmp_path: Path) -> None:
    write_reports(result(tmp_path, {}, 3))
    assert all((tmp_path / name).is_file() for name in FILES)
