"""Dataset distillation: DataDAM and the baselines it is compared with."""

from typing import TYPE_CHECKING

from nas_proxy import lazy

if TYPE_CHECKING:
    from nas_proxy.distill.config import DistillConfig
    from nas_proxy.distill.methods import METHODS, DistillMethod
    from nas_proxy.distill.runner import DistillResult, distill

lazy.exports(
    __name__,
    {
        "nas_proxy.distill.config": ["DistillConfig"],
        "nas_proxy.distill.methods": ["METHODS", "DistillMethod"],
        "nas_proxy.distill.runner": ["DistillResult", "distill"],
    },
)

__all__ = ["METHODS", "DistillConfig", "DistillMethod", "DistillResult", "distill"]
