"""The search stage: Optuna studies whose trials train candidates on a synthetic set."""

from typing import TYPE_CHECKING

from nas_proxy import lazy

if TYPE_CHECKING:
    from nas_proxy.protocols import ProxyConfig
    from nas_proxy.search.config import OBJECTIVES, PRUNERS, SAMPLERS, SearchConfig
    from nas_proxy.search.proxy import ProxyContext, ProxyResult
    from nas_proxy.search.runner import SearchResult, join, score, search
    from nas_proxy.search.study import best_model

lazy.exports(
    __name__,
    {
        "nas_proxy.search.config": ["OBJECTIVES", "PRUNERS", "SAMPLERS", "SearchConfig"],
        "nas_proxy.protocols": ["ProxyConfig"],
        "nas_proxy.search.proxy": ["ProxyContext", "ProxyResult"],
        "nas_proxy.search.runner": ["SearchResult", "join", "score", "search"],
        "nas_proxy.search.study": ["best_model"],
    },
)

__all__ = [
    "OBJECTIVES",
    "PRUNERS",
    "SAMPLERS",
    "ProxyConfig",
    "ProxyContext",
    "ProxyResult",
    "SearchConfig",
    "SearchResult",
    "best_model",
    "join",
    "score",
    "search",
]
