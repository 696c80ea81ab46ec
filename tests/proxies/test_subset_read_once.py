"""A random subset a synthetic-set proxy draws (or finds drawn) is read once per process (stop 56): prepare checks it
whole by reading it, and that set is the one its first score trains on (ProxyContext), as a given set's is since
fix55a. Before, prepare read it to see it was whole, then again for its digest (and a third time, after drawing)."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest

from nas_proxy import synthetic
from nas_proxy.groundtruth.study import DataRef
from nas_proxy.proxies import RunSetup
from nas_proxy.proxies.synthetic import SyntheticSetProxy
from nas_proxy.spaces import get_space


@pytest.mark.parametrize("drawn_before", [False, True])
def test_a_random_subset_is_read_once_per_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, drawn_before: bool) -> None:
    def proxy() -> SyntheticSetProxy:  # a command's
        made = SyntheticSetProxy.named(RunSetup(space=get_space("convnet-small"), data=DataRef("digits"), out=tmp_path), "random-ipc1")
        assert isinstance(made, SyntheticSetProxy)
        return made

    if drawn_before:
        proxy().prepare()  # an earlier command drew it; this one finds it whole
    spy = mock.Mock(wraps=synthetic._read_tensors)  # every read of a set's tensors (load_synthetic's)
    monkeypatch.setattr(synthetic, "_read_tensors", spy)
    subset = proxy()
    subset.prepare()
    subset.ready()
    assert spy.call_count == 1 and subset.sha256 and Path(str(subset.path)).is_dir()
