"""Scoring architectures with one proxy through its cache: what is cached or known is not redone."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nas_proxy.data.base import data_changed
from nas_proxy.protocols import DataRef
from nas_proxy.proxies.base import Proxy, Scored
from nas_proxy.proxies.cache import Cache, CacheDataChangedWarning

# ``on_scored(proxy name, architectures done, architectures to do)`` after each new score
OnScored = Callable[[str, int, int], None]


def score_archs(
    proxy: Proxy, archs: Sequence[tuple[str, dict[str, Any]]], cache_dir: Path, on_scored: OnScored | None = None
) -> dict[str, Scored]:
    """``{arch id: Scored}`` for ``archs`` (``(arch id, spec)`` pairs); ``proxy`` is prepared here.

    A cached proxy's scores go to ``cache_dir/<cache key>-<device type>.jsonl`` as they are made, so an
    interrupted run resumes; scores the proxy already knows (a search's own) are added to the cache
    unchanged. A score made on CUDA is not reused on the CPU, nor the reverse: the two differ in their
    last bits (so a ranking may change), and its seconds, which the report's cost columns sum, outright. A
    cache named before the device was in its name (``<cache key>.jsonl``) is still read, on any device. Every
    score is stored with the real data's content_sha256 (every proxy scores on its validation split): one made
    from other data (its images changed in place since) is scored again, with a warning (:class:`Cache`)."""
    proxy.prepare()
    if not proxy.cached:
        return {aid: proxy.score(spec, aid) for aid, spec in archs}
    key = proxy.cache_key()
    where = cache_dir / f"{key}-{proxy.setup.device_type()}.jsonl"
    cache = Cache(where, legacy=cache_dir / f"{key}.jsonl", data=proxy.setup.content_sha256())
    if cache.stale:
        _say_stale(cache, proxy.setup.data)
    known = proxy.known()
    for aid, _ in archs:
        if aid in known and aid not in cache.rows:
            cache.add({"arch_id": aid, "score": known[aid].value, "seconds": known[aid].seconds, "from_study": True})
    todo = [(aid, spec) for aid, spec in archs if aid not in cache.rows]
    for done, (aid, spec) in enumerate(todo, start=1):
        got = proxy.score(spec, aid)
        cache.add({"arch_id": aid, "score": got.value, "seconds": got.seconds})
        if on_scored is not None:
            on_scored(proxy.name, done, len(todo))
    return {aid: Scored(cache.rows[aid]["score"], cache.rows[aid]["seconds"]) for aid, _ in archs}


def _say_stale(cache: Cache, data: DataRef) -> None:
    """One warning for the cached scores of ``cache`` made from other data than found now (the first one's digest
    quoted), in the words of every content digest refusal: they are scored again, not refused (a cache)."""
    changed = data_changed(
        f"{len(cache.stale)} score(s) of {cache.path} were made from",
        next(iter(cache.stale.values())),
        str(cache.data),
        data.dataset,
        str(data.data_root or ""),
    )
    assert changed is not None  # a stale row's digest differs from the data's
    warnings.warn(CacheDataChangedWarning(f"{changed.cause}; their architectures are scored again"), stacklevel=3)
