"""A search on a synthetic set reads (and digests) the set once per process (fix55a): its proxy keeps the set it
read and checked as it was offered, for its check, its prepare and the ProxyContext its first score builds; the
study's note reads meta.json alone. Before, a search read the whole set 8 times (with a proxy-training option set),
~15 ms per MB each (benchmarks/synthetic_reads.py, RESULTS.md §3a)."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest

from nas_proxy import synthetic
from nas_proxy.cli import main


def test_a_search_and_a_worker_joining_it_each_read_the_set_once(tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = mock.Mock(wraps=synthetic._read_tensors)  # every read of a set's tensors (load_synthetic's)
    monkeypatch.setattr(synthetic, "_read_tensors", spy)
    storage = tmp_path / "o.log"
    args = ["search", "--synthetic", str(tiny_run), "--space", "convnet-small", "--study", "o", "--epochs", "1", "--report-every", "1"]
    args += ["--storage", str(storage), "--out", str(tmp_path / "out"), "--device", "cpu", "--quiet", "--n-trials", "1"]
    args += ["--sampler", "bruteforce", "--pruner", "none"]  # --epochs: the options' check resolves the proxy too
    assert main(args) == 0
    assert spy.call_count == 1
    spy.reset_mock()
    assert main(["worker", "--study", "o", "--storage", str(storage), "--n-trials", "2", "--device", "cpu", "--quiet"]) == 0
    assert spy.call_count == 1
