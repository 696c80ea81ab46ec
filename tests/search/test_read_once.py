"""The real data read once by a command that searches: a search and a worker joining its study each read it once (the
study's check, the random subset, the scores), inside nas_proxy.data.registry.read_once."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest

from nas_proxy.cli import main
from nas_proxy.data import registry


def test_a_search_and_a_worker_joining_it_each_read_the_data_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before review53 a worker read it twice: once to check the study and find its subset, again at its first score
    (the proxy's ready() was left to it, outside read_once): fashion-mnist ~1 s and 220 MB, an image folder its files."""
    spy = mock.Mock(wraps=registry._load)  # each dataset a command reads from its files
    monkeypatch.setattr(registry, "_load", spy)
    storage = tmp_path / "o.log"
    args = ["search", "--proxy", "random-ipc1", "--dataset", "digits", "--space", "convnet-small", "--study", "o", "--epochs", "1"]
    args += ["--storage", str(storage), "--out", str(tmp_path / "out"), "--device", "cpu", "--quiet", "--n-trials", "1"]
    args += ["--sampler", "bruteforce"]  # the worker's trial a new architecture: scored, not answered from the study
    assert main(args) == 0
    assert [c.args[0] for c in spy.call_args_list] == ["digits"]
    spy.reset_mock()
    assert main(["worker", "--study", "o", "--storage", str(storage), "--n-trials", "2", "--device", "cpu", "--quiet"]) == 0
    assert [c.args[0] for c in spy.call_args_list] == ["digits"]
