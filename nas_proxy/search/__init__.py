"""The search stage: Optuna studies whose trials train candidates on a synthetic set."""

import warnings

from optuna.exceptions import ExperimentalWarning

# multivariate/group TPE and metric names are marked experimental in Optuna 5; we rely on them knowingly
warnings.filterwarnings("ignore", category=ExperimentalWarning)

from nas_proxy.search.config import OBJECTIVES, PRUNERS, SAMPLERS, SearchConfig  # noqa: E402
from nas_proxy.search.proxy import ProxyConfig, ProxyContext, ProxyResult  # noqa: E402
from nas_proxy.search.runner import SearchResult, join, score, search  # noqa: E402
from nas_proxy.search.study import best_model  # noqa: E402

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
