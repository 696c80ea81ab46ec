"""Which proxies a run has: every registered kind's offer, narrowed by the tokens asked for."""

from __future__ import annotations

from nas_proxy.errors import InvalidArgumentError
from nas_proxy.proxies.base import PROXY_KINDS, Proxy, RunSetup


def _kinds() -> list[type[Proxy]]:
    """Every registered proxy kind's class, by its ``order``."""
    return sorted((cls for _, cls in PROXY_KINDS.items()), key=lambda c: c.order)


def offered(setup: RunSetup) -> list[Proxy]:
    """Every proxy this run can have, kind by kind (by each kind's ``order``)."""
    return [proxy for cls in _kinds() for proxy in cls.offer(setup)]


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


def resolve(setup: RunSetup, token: str) -> Proxy:
    """The one proxy ``token`` names in ``setup``: made by name by its kind (:meth:`Proxy.named`:
    ``early@2ep``, ``random-ipc50``) or one of those offered (a set's ``datadam-ipc10``, ``synflow``).
    A family token (``training-free``) names several: refused, as is a token nothing knows."""
    token = token.strip()
    for cls in _kinds():
        proxy = cls.named(setup, token)
        if proxy is not None:
            return proxy
    available = offered(setup)
    if not any(token in (p.name, p.family) for p in available):
        patterns = [cls.pattern for cls in _kinds() if cls.pattern]
        raise InvalidArgumentError(
            f"unknown proxy {token!r}; known here: {', '.join(p.name for p in available) or 'none'}"
            + (f", or by name: {', '.join(patterns)}" if patterns else "")
        )
    chosen = select(available, [token])
    if len(chosen) > 1:
        raise InvalidArgumentError(
            f"proxy {token!r} is a family of {len(chosen)} proxies ({', '.join(p.name for p in chosen)}); name one of them"
        )
    return chosen[0]
