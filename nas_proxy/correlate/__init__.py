"""Correlate: how well a proxy ranks architectures compared with the ground truth."""

from nas_proxy.correlate.archs import Arch, from_space, from_study, read_archs
from nas_proxy.correlate.command import CorrelateRequest, correlate_command
from nas_proxy.correlate.config import CorrelateConfig
from nas_proxy.correlate.ground_truth import GroundTruthConfig
from nas_proxy.correlate.result import CorrelateResult, Progress
from nas_proxy.correlate.runner import correlate

__all__ = [
    "Arch",
    "CorrelateConfig",
    "CorrelateRequest",
    "CorrelateResult",
    "GroundTruthConfig",
    "Progress",
    "correlate",
    "correlate_command",
    "from_space",
    "from_study",
    "read_archs",
]
