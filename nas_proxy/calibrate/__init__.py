"""Proxy calibration: choose the proxy protocol on architectures with ground truth (``nasproxy calibrate``)."""

from nas_proxy.calibrate.protocol import DEFAULT_CHOICES, Protocol
from nas_proxy.calibrate.runner import METRICS, CalibrateConfig, CalibrationResult, FoldResult, calibrate, fold_ids
from nas_proxy.calibrate.truth import Truth, from_file, from_study

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
