"""What a correlation run returns (:class:`CorrelateResult`); its progress reports are :class:`nas_proxy.progress.Progress`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nas_proxy.correlate.metrics import to_jsonable

TRUTH_SEED2 = "ground truth, 2nd seed"  # the ceiling row


@dataclass
class CorrelateResult:
    """Per architecture (``rows``) and per proxy (``proxies``: metrics, cost, promotion), with the
    warnings and the facts of the run; :mod:`nas_proxy.report.render` writes it out."""

    out: Path
    rows: list[dict[str, Any]]  # per architecture
    proxies: dict[str, dict[str, Any]]  # per proxy: metrics, cost
    warnings: list[str]
    facts: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(
            {"out": str(self.out), "proxies": self.proxies, "warnings": self.warnings, "facts": self.facts, "archs": self.rows}
        )
