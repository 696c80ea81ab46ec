"""Proxy calibration: choose the proxy protocol on architectures with ground truth (``nasproxy calibrate``)."""

from typing import TYPE_CHECKING

from nas_proxy import lazy

if TYPE_CHECKING:
    from nas_proxy.calibrate.config import DEFAULT_CHOICES, CalibrateConfig
    from nas_proxy.calibrate.protocol import Protocol
    from nas_proxy.calibrate.runner import METRICS, CalibrationResult, FoldResult, calibrate, fold_ids
    from nas_proxy.calibrate.truth import Truth, from_file, from_study

lazy.exports(
    __name__,
    {
        "nas_proxy.calibrate.config": ["DEFAULT_CHOICES", "CalibrateConfig"],
        "nas_proxy.calibrate.protocol": ["Protocol"],
        "nas_proxy.calibrate.runner": ["METRICS", "CalibrationResult", "FoldResult", "calibrate", "fold_ids"],
        "nas_proxy.calibrate.truth": ["Truth", "from_file", "from_study"],
    },
)

__all__ = [
    "DEFAULT_CHOICES",
    "METRICS",
    "CalibrateConfig",
    "CalibrationResult",
    "FoldResult",
    "Protocol",
    "Truth",
    "calibrate",
    "fold_ids",
    "from_file",
    "from_study",
]
