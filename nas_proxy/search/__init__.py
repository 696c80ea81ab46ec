"""The search stage: Optuna studies whose trials train candidates on a synthetic set."""

from nas_proxy.search.config import OBJECTIVES, PRUNERS, SAMPLERS, Objective, SearchConfig
from nas_proxy.search.runner import SearchResult, join, score, search
from nas_proxy.search.study import best_model
from nas_proxy.trainers.synthetic_set import ProxyConfig, ProxyContext, ProxyResult

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
