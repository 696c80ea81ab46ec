"""What a correlation run returns (:class:`CorrelateResult`) and how it reports progress on the way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nas_proxy.correlate.metrics import to_jsonable

TRUTH_SEED2 = "ground truth, 2nd seed"  # the ceiling row


@dataclass(frozen=True)
class Progress:
    """One progress report: ``message`` is a line worth showing as it is; ``done`` of ``total``
    counts the work of ``stage`` (0 of 0 when the report is only a message)."""

    stage: str
    message: str = ""
    done: int = 0
    total: int = 0


OnProgress = Callable[[Progress], None]


@dataclass
class CorrelateResult:
    """Per architecture (``rows``) and per proxy (``proxies``: metrics, cost, promotion), with the
    warnings and the facts of the run; :mod:`nas_proxy.correlate.report` writes it out."""

    out: Path
    rows: list[dict[str, Any]]  # per architecture
    proxies: dict[str, dict[str, Any]]  # per proxy: metrics, cost
    warnings: list[str]
    facts: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(
            {"out": str(self.out), "proxies": self.proxies, "warnings": self.warnings, "facts": self.facts, "archs": self.rows}
        )
