"""nasproxy: neural-architecture search on distilled data.

Pipeline: data -> distill (DataDAM) -> synthetic set -> search (Optuna) -> correlate -> report.
"""

from nas_proxy.data import Dataset, Splits, load_dataset
from nas_proxy.distill import DistillConfig, distill
from nas_proxy.evaluate import EvalResult, evaluate
from nas_proxy.models import ConvNet, ConvNetSpec
from nas_proxy.search import ProxyConfig, SearchConfig, best_model, score, search
from nas_proxy.search.winner import TrainBestConfig, load_trained, train_best
from nas_proxy.spaces import build_model, get_space
from nas_proxy.synthetic import SyntheticSet, load_synthetic
from nas_proxy.training import TrainConfig
from nas_proxy.version import __version__

__all__ = [
    "ConvNet",
    "ConvNetSpec",
    "Dataset",
    "DistillConfig",
    "EvalResult",
    "ProxyConfig",
    "SearchConfig",
    "Splits",
    "SyntheticSet",
    "TrainBestConfig",
    "TrainConfig",
    "__version__",
    "best_model",
    "build_model",
    "distill",
    "evaluate",
    "get_space",
    "load_dataset",
    "load_synthetic",
    "load_trained",
    "score",
    "search",
    "train_best",
]
