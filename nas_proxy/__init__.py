"""nasproxy: neural-architecture search on distilled data.

Pipeline: data -> distill (DataDAM) -> synthetic set -> search (Optuna) -> correlate -> report.

The public API below is imported on first use (:mod:`nas_proxy.lazy`): ``import nas_proxy`` costs
milliseconds, and ``nas_proxy.distill`` imports torch only when it is called for.
"""

from nas_proxy import lazy
from nas_proxy.version import __version__

# typing.TYPE_CHECKING without importing typing (mypy reads any TYPE_CHECKING so): the few milliseconds
# before the CLI's main() runs are ones in which Ctrl-C can only print a traceback (docs/interrupts.md)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from nas_proxy.data import Dataset, Splits, load_dataset
    from nas_proxy.distill import DistillConfig, distill
    from nas_proxy.evaluate import EvalResult, evaluate
    from nas_proxy.models import ConvNet, ConvNetSpec
    from nas_proxy.protocols import ProxyConfig, TrainConfig
    from nas_proxy.search import SearchConfig, best_model, score, search
    from nas_proxy.search.config import TrainBestConfig
    from nas_proxy.search.winner import load_trained, train_best
    from nas_proxy.spaces import build_model, get_space
    from nas_proxy.synthetic import SyntheticSet, load_synthetic

lazy.exports(
    __name__,
    {
        "nas_proxy.data": ["Dataset", "Splits", "load_dataset"],
        "nas_proxy.distill": ["DistillConfig", "distill"],
        "nas_proxy.evaluate": ["EvalResult", "evaluate"],
        "nas_proxy.models": ["ConvNet", "ConvNetSpec"],
        "nas_proxy.protocols": ["ProxyConfig", "TrainConfig"],
        "nas_proxy.search": ["SearchConfig", "best_model", "score", "search"],
        "nas_proxy.search.config": ["TrainBestConfig"],
        "nas_proxy.search.winner": ["load_trained", "train_best"],
        "nas_proxy.spaces": ["build_model", "get_space"],
        "nas_proxy.synthetic": ["SyntheticSet", "load_synthetic"],
    },
)

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
