"""``nasproxy score``: the proxy scores of a list of architectures, without a study.

Each finished architecture's result is kept in the synthetic set's folder (``evaluations/KEY.json``,
as ``evaluate`` keeps its networks: :class:`nas_proxy.evaluate.Kept`), KEY a hash of everything a
score depends on (the tensors trained on, the validation split, the space, the proxy's protocol,
the seed and the device type). A call killed or interrupted loses only the architecture in
training; the same command, or one with more architectures, trains only those not kept. One call at a time scores for
one KEY (the lock ``evaluate`` holds: :func:`nas_proxy.evaluate.one_evaluation`); a second is refused meanwhile.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nas_proxy import checks
from nas_proxy.errors import InvalidArgumentError, NasProxyError
from nas_proxy.evaluate import Kept, kept_in, one_evaluation, tensor_hash
from nas_proxy.progress import meter
from nas_proxy.search.config import SearchConfig
from nas_proxy.spaces import arch_id, get_space
from nas_proxy.trainers.synthetic_set import ProxyConfig, ProxyContext, ProxyResult

SCORES_FORMAT = "nasproxy-scores"


class KeptScores(Kept):
    """``score``'s finished architectures: ``{arch id: ProxyResult.to_dict()}``."""

    format = SCORES_FORMAT
    entries_field = "results"

    def valid(self, name: str, value: Any) -> bool:
        try:
            acc = value["accuracy"]
            number = isinstance(acc, int | float) and not isinstance(acc, bool)  # true is not an accuracy of 1 %
            return value["arch_id"] == name and isinstance(value["spec"], dict) and number and 0.0 <= acc <= 100.0
        except (TypeError, ValueError, KeyError):
            return False

    def result(self, name: str) -> ProxyResult:
        d = self.entries[name]
        return ProxyResult(**(d | {"curve": [(int(e), float(a)) for e, a in d.get("curve", [])]}))


class Scores(list[ProxyResult]):
    """The results of :func:`score`, in the order of the specs, and what was kept."""

    kept: str | None = None  # the file the finished architectures are kept in; None: the set's folder cannot be written
    reused: int = 0  # architectures taken from ``kept`` (scored by an earlier call), not trained again
    not_kept: str = ""  # why nothing is kept, when ``kept`` is None


def score(
    synthetic: str,
    space_name: str,
    specs: Sequence[dict[str, Any] | str],
    proxy: ProxyConfig | None = None,
    seed: int = SearchConfig.seed,
    device: str = SearchConfig.device,
    data_root: str | None = None,
    progress: bool = False,  # the library is silent unless asked; the CLI asks
) -> Scores:
    """Proxy scores of ``specs`` (each completed and checked against the space first, see
    :meth:`SearchSpace.complete`), in order; those kept by an earlier call are not trained again."""
    (proxy or ProxyConfig()).validate()
    checks.number("seed", seed, 0, checks.SEED_MAX, integer=True)
    space = get_space(space_name)
    complete: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(specs):
        try:
            spec = space.complete(raw)
            space.validate(spec)
        except NasProxyError as e:
            raise InvalidArgumentError(f"architecture {i} is outside space {space_name!r}: {e}") from None
        if arch_id(spec) in seen:
            raise InvalidArgumentError(
                f"architecture {i} ({arch_id(spec)}) is architecture {seen[arch_id(spec)]} twice; list each architecture once"
            )
        seen[arch_id(spec)] = i
        complete.append(spec)
    with checks.caps_held() as caps:  # a capped batch said once nothing more is refused (the labels, the lock: fix61d)
        ctx = ProxyContext.load(synthetic, device, proxy, data_root)
    if ctx.config.hard_labels and ctx.synthetic.soft_labels is None:  # as evaluate and search refuse it: a flag that does nothing
        raise InvalidArgumentError(f"--hard-labels changes nothing: {synthetic} has no soft labels (distill --soft-labels N): drop it")
    identity = {
        "trained_on": tensor_hash(ctx.synthetic.images, ctx.synthetic.targets(ctx.config.hard_labels)),
        "scored_on": tensor_hash(ctx.val_x.cpu(), ctx.val_y.cpu()),
        "space": space_name,
        "proxy": ctx.config.to_dict(),
        "flip": ctx.flip,
        "seed": seed,
        "device": ctx.device.type,  # a GPU's numbers differ from a CPU's in their last digits
    }
    kept, not_kept = kept_in(ctx.synthetic.path, KeptScores, identity)
    results = Scores()
    # one call at a time, as evaluate (fix61b): before, two at once each trained what the other was training
    with one_evaluation(kept, synthetic, "scored with this space and proxy"):
        caps.say()
        if kept is not None:
            kept.refresh()
        done = kept.entries if kept is not None else {}
        results.reused = sum(arch_id(spec) in done for spec in complete)
        results.kept, results.not_kept = (str(kept.path) if kept is not None and kept.writable else None), not_kept
        for spec in meter(complete, "score", unit="arch", enabled=progress):
            aid = arch_id(spec)
            if kept is not None and aid in kept.entries:
                results.append(kept.result(aid))
                continue
            results.append(ctx.score(space, spec, seed))
            if kept is not None:
                kept.add(aid, results[-1].to_dict())
    return results


__all__ = ["KeptScores", "Scores", "score"]
