"""A proxy named as a column of correlate's results.csv (nas_proxy.correlate.result.ROW_COLUMNS) is refused before
anything is trained: its scores would overwrite that column."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas_proxy.cli import main
from nas_proxy.columns import MEASURED
from nas_proxy.correlate.result import ROW_COLUMNS, check_proxy_names
from nas_proxy.errors import InvalidArgumentError
from nas_proxy.proxies.zero_cost import ZERO_COST, params


def test_a_zero_cost_proxy_named_truth_is_refused_before_its_scores_replace_the_ground_truth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before fix53b a zero-cost score registered as 'truth' replaced every row's ground truth in results.csv (its
    column 'truth' held the parameter counts), exit 0."""
    monkeypatch.setitem(ZERO_COST._items, "truth", params)
    out = tmp_path / "c"
    argv = ["correlate", "--sample", "--space", "convnet-small", "--dataset", "digits", "--proxies", "truth", "--n-archs", "3"]
    argv += ["--no-random-subset", "--full-epochs", "1", "--full-images", "20", "--ceiling", "0", "--early", "0.5"]
    assert main([*argv, "--out", str(out), "--device", "cpu", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "proxy 'truth' is named as a column of correlate's results.csv (arch_id, dataset, spec, truth," in err[0]
    assert err[0].endswith("its scores would overwrite that column; register it under another name")
    assert not (out / "results.csv").exists()


def test_every_column_of_results_csv_but_those_a_proxy_measures_as_it_does_is_refused() -> None:
    """params and flops are the zero-cost proxies of those names (the network's size): their column is the column."""
    check_proxy_names(["params", "flops", "synflow", "datadam-ipc10"])
    for name in set(ROW_COLUMNS) - set(MEASURED):
        with pytest.raises(InvalidArgumentError, match=rf"^proxy {name!r} is named as a column"):
            check_proxy_names(["synflow", name])
