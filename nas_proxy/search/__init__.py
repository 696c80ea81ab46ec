"""The search stage: Optuna studies whose trials train candidates on a synthetic set."""

from typing import TYPE_CHECKING

from nas_proxy import lazy

if TYPE_CHECKING:
    from nas_proxy.protocols import ProxyConfig
    from nas_proxy.search.config import OBJECTIVES, PRUNERS, SAMPLERS, Objective, SearchConfig
    from nas_proxy.search.runner import SearchResult, join, search
    from nas_proxy.search.scores import Scores, score
    from nas_proxy.search.study import best_model
    from nas_proxy.trainers.synthetic_set import ProxyContext, ProxyResult

lazy.exports(
    __name__,
    {
        "nas_proxy.search.config": ["OBJECTIVES", "PRUNERS", "SAMPLERS", "Objective", "SearchConfig"],
        "nas_proxy.protocols": ["ProxyConfig"],
        "nas_proxy.trainers.synthetic_set": ["ProxyContext", "ProxyResult"],
        "nas_proxy.search.runner": ["SearchResult", "join", "search"],
        "nas_proxy.search.scores": ["Scores", "score"],
        "nas_proxy.search.study": ["best_model"],
    },
)

__all__ = [
    "OBJECTIVES",
    "PRUNERS",
    "SAMPLERS",
    "Objective",
    "ProxyConfig",
    "ProxyContext",
    "ProxyResult",
    "Scores",
    "SearchConfig",
    "SearchResult",
    "best_model",
    "join",
    "score",
    "search",
]
