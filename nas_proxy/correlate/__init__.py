"""Correlate: how well a proxy ranks architectures compared with the ground truth."""

from nas_proxy.correlate.archs import Arch, from_space, from_study, read_archs
from nas_proxy.correlate.command import correlate_command
from nas_proxy.correlate.ground_truth import GroundTruthConfig
from nas_proxy.correlate.runner import CorrelateConfig, CorrelateResult, correlate

__all__ = [
    "Arch",
    "CorrelateConfig",
    "CorrelateResult",
    "GroundTruthConfig",
    "correlate",
    "correlate_command",
    "from_space",
    "from_study",
    "read_archs",
]
