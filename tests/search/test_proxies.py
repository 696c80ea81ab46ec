"""Every registered proxy on digits (a new proxy kind is tested by registering it), and how
``--proxies`` tokens select them."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from nas_proxy.correlate.archs import from_space
from nas_proxy.errors import InvalidArgumentError
from nas_proxy.groundtruth import study as gt
from nas_proxy.proxies import PROXY_KINDS, RunSetup, offered, score_archs, select
from nas_proxy.search import ProxyConfig
from nas_proxy.spaces import get_space

SPACE = "convnet-small"
EARLY = (0.5,)


@pytest.fixture(scope="module")
def setup(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> RunSetup:
    """A run on digits with every input a proxy kind may need: a synthetic set, a random subset of
    its size, and real ground-truth trainings of the two architectures with an early-stopping point."""
    ref = gt.DataRef("digits")
    config = gt.GroundTruthConfig(epochs=1, early=EARLY, images=300)  # 2 steps of 256 images: one before the early point
    data = gt.RealData(ref, config, torch.device("cpu"))
    truth = {(a.arch_id, 0): gt.train_one(a.spec, 0, data, config) for a in two_archs()}
    return RunSetup(
        space=get_space(SPACE),
        data=ref,
        out=tmp_path_factory.mktemp("proxies"),
        training=ProxyConfig(epochs=2, report_every=1, report_images=100),
        synthetic=[str(tiny_run)],
        early=EARLY,
        zero_cost_batch=16,
        truth=truth,
    )


def two_archs() -> list[Any]:
    return from_space(get_space(SPACE), 2, seed=0)


@pytest.mark.parametrize("kind", sorted(PROXY_KINDS))
def test_every_registered_proxy_scores_tiny_architectures(kind: str, setup: RunSetup, tmp_path: Path) -> None:
    cls = PROXY_KINDS.get(kind)
    proxies = cls.offer(setup)
    assert proxies, f"proxy kind {kind} offers nothing on digits with a synthetic set and ground truth: extend this test's setup"
    pairs = [(a.arch_id, a.spec) for a in two_archs()]
    for proxy in proxies:
        assert proxy.kind == kind and re.fullmatch(r"[A-Za-z0-9@._-]+", proxy.name), proxy.name  # a token, no spaces
        scored = score_archs(proxy, pairs, tmp_path / "cache")
        assert set(scored) == {aid for aid, _ in pairs}
        for aid, got in scored.items():
            assert math.isfinite(got.value) and math.isfinite(got.seconds) and got.seconds >= 0, (proxy.name, aid, got)
        key = proxy.cache_key()
        assert re.fullmatch(r"[A-Za-z0-9@._-]+", key), key  # a file name
        again = next(p for p in cls.offer(setup) if p.name == proxy.name)
        again.prepare()
        assert again.cache_key() == key  # the same inputs: the same key, in a fresh instance
        other = next(p for p in cls.offer(replace(setup, seed=1)) if p.name == proxy.name)
        other.prepare()
        assert other.cache_key() != key  # another seed scores differently: another key
        assert isinstance(proxy.trains, bool) and proxy.describe()


def test_cached_scores_are_not_made_again(setup: RunSetup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = next(p for p in offered(setup) if p.name == "synflow")
    pairs = [(a.arch_id, a.spec) for a in two_archs()]
    first = score_archs(proxy, pairs, tmp_path)
    calls: list[str] = []

    def counted(spec: dict[str, Any], aid: str) -> Any:
        calls.append(aid)
        raise AssertionError("a cached score was made again")

    fresh = next(p for p in offered(setup) if p.name == "synflow")
    monkeypatch.setattr(fresh, "score", counted)
    assert score_archs(fresh, pairs, tmp_path) == first and calls == []


def test_a_score_cached_on_one_device_type_is_made_again_on_another(
    setup: RunSetup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """drill41: the cache's key had no device, so CPU scores (and their seconds) were reused on CUDA and
    the reverse, though the two are not bit-identical."""
    from nas_proxy.proxies import Scored

    pairs = [(a.arch_id, a.spec) for a in two_archs()]
    score_archs(next(p for p in offered(setup) if p.name == "params"), pairs, tmp_path)  # on the CPU
    calls: list[str] = []
    monkeypatch.setattr(RunSetup, "device_type", lambda self: "cuda")  # (no GPU needed: only the key is asked)
    fresh = next(p for p in offered(setup) if p.name == "params")

    def counted(spec: dict[str, Any], aid: str) -> Scored:
        calls.append(aid)
        return Scored(1.0, 0.0)

    monkeypatch.setattr(fresh, "score", counted)
    score_archs(fresh, pairs, tmp_path)
    assert calls == [aid for aid, _ in pairs]
    legacy = tmp_path / f"{fresh.cache_key()}.jsonl"  # named before the device was: read on any device
    (tmp_path / f"{fresh.cache_key()}-cuda.jsonl").rename(legacy)
    calls.clear()
    score_archs(fresh, pairs, tmp_path)
    assert calls == [] and legacy.is_file()


def test_tokens_select_proxies_and_a_method_name_selects_its_sets(setup: RunSetup) -> None:
    every = offered(setup)
    names = [p.name for p in every]
    assert names[:2] == ["datadam-ipc2", "random-ipc2"] and "early@0.5ep" in names and "synflow" in names
    assert [p.name for p in select(every, ["datadam"])] == ["datadam-ipc2"]
    assert [p.name for p in select(every, ["random", "synflow"])] == ["random-ipc2", "synflow"]
    assert [p.name for p in select(every, ["early@0.5ep"])] == ["early@0.5ep"]
    assert {p.name for p in select(every, ["training-free"])} == {"synflow", "naswot", "grad_norm", "snip", "params", "flops"}
    assert select(every, None) == every


def test_old_spaced_names_and_unknown_tokens_are_one_line_errors(setup: RunSetup) -> None:
    every = offered(setup)
    with pytest.raises(InvalidArgumentError, match=r"'datadam ipc2' is now 'datadam-ipc2'") as err:
        select(every, ["datadam ipc2"])
    assert "\n" not in str(err.value)
    with pytest.raises(InvalidArgumentError, match=r"unknown proxies zen; available here: datadam-ipc2, random-ipc2, early@0.5ep"):
        select(every, ["zen"])


def test_a_second_set_of_the_same_method_and_size_gets_its_own_token(setup: RunSetup) -> None:
    twice = replace(setup, synthetic=[*setup.synthetic, *setup.synthetic], random_subset=False)
    assert [p.name for p in offered(twice)][:2] == ["datadam-ipc2", "datadam-ipc2-2"]
    assert [p.name for p in select(offered(twice), ["datadam"])] == ["datadam-ipc2", "datadam-ipc2-2"]
