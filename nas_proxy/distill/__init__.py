"""Dataset distillation: DataDAM and the baselines it is compared with."""

from nas_proxy.distill.config import DistillConfig
from nas_proxy.distill.methods import METHODS, DistillMethod
from nas_proxy.distill.runner import DistillResult, distill

__all__ = ["METHODS", "DistillConfig", "DistillMethod", "DistillResult", "distill"]
