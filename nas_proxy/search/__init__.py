"""The search stage: Optuna studies whose trials train candidates on a synthetic set."""

from nas_proxy.search.config import OBJECTIVES, PRUNERS, SAMPLERS, Objective, SearchConfig
from nas_proxy.search.proxy import ProxyConfig, ProxyContext, ProxyResult
from nas_proxy.search.runner import SearchResult, join, score, search
from nas_proxy.search.study import best_model

__all__ = [
    "OBJECTIVES",
    "PRUNERS",
    "SAMPLERS",
    "Objective",
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
