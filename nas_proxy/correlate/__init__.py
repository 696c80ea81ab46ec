"""Correlate: how well a proxy ranks architectures compared with the ground truth."""

from typing import TYPE_CHECKING

from nas_proxy import lazy

if TYPE_CHECKING:
    from nas_proxy.correlate.archs import Arch, from_space, from_study, read_archs
    from nas_proxy.correlate.config import CorrelateConfig
    from nas_proxy.correlate.result import CorrelateResult
    from nas_proxy.correlate.runner import correlate
    from nas_proxy.progress import Progress
    from nas_proxy.protocols import GroundTruthConfig

lazy.exports(
    __name__,
    {
        "nas_proxy.correlate.archs": ["Arch", "from_space", "from_study", "read_archs"],
        "nas_proxy.correlate.config": ["CorrelateConfig"],
        "nas_proxy.protocols": ["GroundTruthConfig"],
        "nas_proxy.correlate.result": ["CorrelateResult"],
        "nas_proxy.progress": ["Progress"],
        "nas_proxy.correlate.runner": ["correlate"],
    },
)

__all__ = [
    "Arch",
    "CorrelateConfig",
    "CorrelateResult",
    "GroundTruthConfig",
    "Progress",
    "correlate",
    "from_space",
    "from_study",
    "read_archs",
]
