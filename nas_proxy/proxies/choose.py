"""Which proxies a run has: every registered kind's offer, narrowed by the tokens asked for."""

from __future__ import annotations

from nas_proxy.errors import InvalidArgumentError
from nas_proxy.proxies.base import PROXY_KINDS, Proxy, RunSetup


def offered(setup: RunSetup) -> list[Proxy]:
    """Every proxy this run can have, kind by kind (by each kind's ``order``)."""
    return [proxy for cls in sorted((cls for _, cls in PROXY_KINDS.items()), key=lambda c: c.order) for proxy in cls.offer(setup)]


def select(proxies: list[Proxy], tokens: list[str] | None) -> list[Proxy]:
    """The proxies named by ``tokens`` (all for None): a token is a proxy's name (``datadam-ipc10``,
    ``early@1ep``, ``synflow``) or a family (``datadam``: all its sets; ``early``; ``training-free``)."""
    if tokens is None:
        return proxies
    for token in tokens:
        if " " in token.strip():  # the names before proxies were tokens: "datadam ipc10"
            fixed = "-".join(token.split())
            raise InvalidArgumentError(f"proxy names have no spaces: {token!r} is now {fixed!r}; write --proxies {fixed}")
    unknown = [t for t in tokens if not any(t in (p.name, p.family) for p in proxies)]
    if unknown:
        families = sorted({p.family for p in proxies} - {p.name for p in proxies})
        raise InvalidArgumentError(
            f"unknown proxies {', '.join(unknown)}; available here: {', '.join(p.name for p in proxies)}"
            + (f" (or a family for all its proxies: {', '.join(families)})" if families else "")
        )
    return [p for p in proxies if p.name in tokens or p.family in tokens]
