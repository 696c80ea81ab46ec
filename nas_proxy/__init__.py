"""nasproxy: neural-architecture search on distilled data.

Pipeline: data -> distill (DataDAM) -> synthetic set -> search (Optuna) -> correlate -> report.
"""

__version__ = "0.1.0"

from nas_proxy.data import Dataset, Splits, load_dataset
from nas_proxy.distill import DistillConfig, distill
from nas_proxy.evaluate import EvalResult, evaluate
from nas_proxy.models import ConvNet, ConvNetSpec
from nas_proxy.synthetic import SyntheticSet, load_synthetic

__all__ = [
    "ConvNet",
    "ConvNetSpec",
    "Dataset",
    "DistillConfig",
    "EvalResult",
    "Splits",
    "SyntheticSet",
    "__version__",
    "distill",
    "evaluate",
    "load_dataset",
    "load_synthetic",
]
