"""Proxies: cheap guesses of an architecture's full-data accuracy, one registered class per kind.

A contributor adds a proxy by deriving from :class:`Proxy` and decorating the class with
``@register("kind")``; every run then offers it, ``--proxies`` selects it by its token, and the
parametrised test over all registered proxies (tests/search/test_proxies.py) covers it.
"""

from nas_proxy.proxies import early, synthetic, training_free  # noqa: F401 (registers the built-in kinds)
from nas_proxy.proxies.base import PROXY_KINDS, DataSource, Proxy, RunSetup, Scored, cache_key, register
from nas_proxy.proxies.cache import Cache
from nas_proxy.proxies.choose import offered, select
from nas_proxy.proxies.scoring import score_archs

__all__ = [
    "PROXY_KINDS",
    "Cache",
    "DataSource",
    "Proxy",
    "RunSetup",
    "Scored",
    "cache_key",
    "offered",
    "register",
    "score_archs",
    "select",
]
