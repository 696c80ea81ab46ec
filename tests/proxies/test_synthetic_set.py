"""A synthetic-set proxy (nas_proxy/proxies/synthetic.py): the scores a search made on its set, reused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nas_proxy.errors import DataChangedError
from nas_proxy.groundtruth.study import DataRef
from nas_proxy.proxies import RunSetup, score_archs
from nas_proxy.proxies.synthetic import SyntheticSetProxy
from nas_proxy.spaces import get_space
from nas_proxy.synthetic import load_synthetic

SPACE = "convnet-small"


def test_a_searchs_scores_are_not_reused_for_a_set_of_images_changed_since(tmp_path: Path) -> None:
    """review51: correlate --study, every architecture scored by the search (its scores reused, as known), never loaded
    the search's set, so never checked it against the data: after the folder's images were turned in place it exited 0,
    the search's scores (validated on the old images) stored in its cache as scores of the new images (data_sha256 of
    these), beside a ground truth trained on the new images. Now the set is checked as a score of it is, and refused
    ('not the data it was made from'), nothing cached."""
    from nas_proxy.correlate import from_space
    from nas_proxy.distill import DistillConfig, distill
    from tests.data.test_data_changed import noisy_folder, turn

    folder = noisy_folder(tmp_path / "photos")
    config = DistillConfig(dataset=f"imagefolder:{folder}", ipc=1, method="random", device="cpu", val_fraction=0.5)
    syn = distill(config, tmp_path / "syn", progress=False).path
    sha = load_synthetic(syn).meta["tensors_sha256"]
    archs = [(a.arch_id, a.spec) for a in from_space(get_space(SPACE), 2, seed=0)]
    searched = {aid: (sha, 50.0, 1.0) for aid, _ in archs}  # the search scored every one
    for image in sorted(folder.rglob("*.png")):
        turn(image)
    setup = RunSetup(space=get_space(SPACE), data=DataRef(f"imagefolder:{folder}", 0, 0.5), out=tmp_path / "out", synthetic=[str(syn)])
    setup.searched = searched
    (proxy,) = [p for p in SyntheticSetProxy.offer(setup) if p.path == str(syn)]  # type: ignore[attr-defined]
    with pytest.raises(DataChangedError, match="not the data it was made from"):
        score_archs(proxy, archs, tmp_path / "cache")
    rows = [json.loads(line) for f in (tmp_path / "cache").glob("*.jsonl") for line in f.read_text().splitlines()]
    assert rows == []


def test_flop_counting_is_set_up_only_for_networks_the_layer_count_cannot_vouch_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """perf54b: every proxy context (and every real-data trainer) set up FlopCounterMode (torch._dynamo and sympy,
    ~1.6 CPU-s in a cold process) though the registered spaces' networks are counted from their layers; now a context
    sets up nothing, and ready_to_count_flops(space) only for a space whose networks may be a user's (a subclass
    of a registered family may build anything), or where the space is not known (None)."""
    import builtins
    from typing import Any

    import torch

    from nas_proxy.spaces import ConvNetSpace
    from nas_proxy.synthetic import SyntheticSet
    from nas_proxy.trainers.synthetic_set import ProxyConfig, ProxyContext, ready_to_count_flops

    class UserSpace(ConvNetSpace):
        pass

    imported, real_import = list[str](), builtins.__import__

    def recording(name: str, *args: Any, **kwargs: Any) -> Any:
        imported.append(name)
        return real_import(name, *args, **kwargs)

    images, labels = torch.zeros(2, 1, 8, 8), torch.tensor([0, 1])
    with monkeypatch.context() as m:
        m.setattr(builtins, "__import__", recording)
        ProxyContext(SyntheticSet(images, labels, {}, Path()), images, labels, False, torch.device("cpu"), ProxyConfig(report_images=2))
        for name in ("convnet720", "macro", "nb201"):
            ready_to_count_flops(get_space(name))
        assert "torch.utils.flop_counter" not in imported
        ready_to_count_flops(UserSpace("mine"))
        assert "torch.utils.flop_counter" in imported
        imported.clear()
        ready_to_count_flops()
        assert "torch.utils.flop_counter" in imported
