"""fidelity.py's proxies that compute their scores: a synthetic set (every architecture trained on it, each score
cached as it is made) and a zero-cost score on a batch of real images. torch is imported where they run."""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fidelity_table import Table, check_sets

from nas_proxy.errors import DivergedError, InvalidArgumentError, NasProxyError

if TYPE_CHECKING:
    from nas_proxy.proxies import Cache


def score_cache(out: Path, sha256: str, config: dict[str, Any], seed: int, device: str) -> Cache:
    """A set's scores (scored architectures survive an interruption), one file per device type (``device``
    as given: ``auto`` is the type it resolves to here): CUDA's scores differ from the CPU's in their last
    bits, and their seconds outright. A file named before the device was in the key is read too, on any
    device (the committed GPU states' caches: --report-only rebuilds their tables on a CPU machine)."""
    from nas_proxy.proxies import Cache
    from nas_proxy.utils import resolve_device

    kind = resolve_device("auto").type if device == "auto" else device.split(":")[0]  # as given: no GPU asked of --report-only

    def name(*parts: Any) -> Path:
        return out / "cache" / f"proxy-{hashlib.sha256(json.dumps(list(parts), sort_keys=True).encode()).hexdigest()[:12]}.jsonl"

    return Cache(name(sha256, config, seed, kind), legacy=name(sha256, config, seed))


def _synthetic(
    path: str, table: Table, args: argparse.Namespace, out: Path, deadline: float | None = None
) -> tuple[str, dict[str, float], dict[str, float], float]:
    """Every architecture of ``table`` trained on the set at ``path`` and scored (cached per
    architecture in ``out/cache``); past ``deadline`` (``time.time()``) no new one is started. A
    score is NaN where the training diverged (its seconds are then finite) or where it was not
    started (seconds NaN too)."""
    from nas_proxy.cli import _proxy_config
    from nas_proxy.spaces import get_space
    from nas_proxy.synthetic import load_synthetic
    from nas_proxy.trainers.synthetic_set import ProxyContext

    check_sets(table.data, [path])  # a set of other data than the table's: refused before it is loaded (fix52d)
    config = _proxy_config(args)
    syn = load_synthetic(path)
    seen = sorted(set(syn.meta.get("selection", {}).get("calibration", [])) & set(table.ids))  # distill --select-by chose on these
    if seen:
        raise InvalidArgumentError(
            f"{path} was selected by its ranking of {len(seen)} of the table's architectures ({', '.join(seen[:3])}); "
            "score it on architectures it never saw: drop those from the table"
        )
    cache = score_cache(out, syn.meta["tensors_sha256"], config.to_dict(), args.seed, args.device)
    todo = [a for a in table.ids if a not in cache.rows]
    if todo and (deadline is None or time.time() <= deadline):  # past the deadline: the cached ones, nothing loaded
        space = get_space(args.space)
        for aid in todo:  # before stop 46 a spec of another space failed each training (NaN) or trained something else
            try:
                space.validate(table.specs[aid])
            except NasProxyError as e:  # SpaceError, naming the key and its allowed values
                raise InvalidArgumentError(f"--table architecture {aid} is not one of --space {args.space}: {e}") from None
        ctx = ProxyContext.load(path, args.device, config, args.data_root)
        for aid in todo:
            if deadline is not None and time.time() > deadline:
                break
            t0 = time.perf_counter()
            try:
                scored = ctx.score(space, table.specs[aid], args.seed)
                cache.add({"arch_id": aid, "score": scored.accuracy, "seconds": scored.seconds["total"]})
            except DivergedError as e:  # the proxy failed on this one: NaN, dropped by the metrics and counted
                cache.add({"arch_id": aid, "score": math.nan, "seconds": time.perf_counter() - t0, "failed": str(e)})
    label = syn.name(config.hard_labels)  # the token nasproxy correlate names it by (datadam-ipc10, random-ipc10-soft)
    return (
        label,
        {a: cache.rows[a]["score"] if a in cache.rows else math.nan for a in table.ids},
        {a: cache.rows[a]["seconds"] if a in cache.rows else math.nan for a in table.ids},
        syn.one_off_seconds(config.hard_labels),  # distillation, and the teachers when their soft labels train
    )


def _zero_cost(name: str, table: Table, args: argparse.Namespace) -> tuple[dict[str, float], dict[str, float]]:
    import torch

    from nas_proxy.data import load_dataset
    from nas_proxy.proxies.zero_cost import ZERO_COST, score_all
    from nas_proxy.spaces import build_model
    from nas_proxy.utils import derive_seed, generator, resolve_device

    ZERO_COST.get(name)  # unknown names: one line listing the known ones
    device = resolve_device(args.device)
    dataset = load_dataset(args.dataset, args.data_root)
    splits = dataset.split(0, 0.1)  # the project's split (ground-truth studies and synthetic sets use it)
    pick = torch.randperm(splits.train_x.shape[0], generator=generator(derive_seed(args.seed, "zero-cost-batch")))[: args.zero_cost_batch]
    x, y = splits.train_x[pick].to(device), splits.train_y[pick].to(device)
    scores, seconds = {}, {}
    for aid in table.ids:
        torch.manual_seed(derive_seed(args.seed, "zero-cost", aid))
        model = build_model(table.specs[aid], dataset.channels, dataset.num_classes, dataset.image_size).to(device)
        scores[aid], seconds[aid] = score_all(model, x, y, [name])[name]
    return scores, seconds
