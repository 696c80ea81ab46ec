"""What a correlation run returns (:class:`CorrelateResult`); its progress reports are :class:`nas_proxy.progress.Progress`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nas_proxy.columns import RESULT_COLUMNS, TAKEN
from nas_proxy.correlate.metrics import to_jsonable
from nas_proxy.errors import InvalidArgumentError

TRUTH_SEED2 = "ground truth, 2nd seed"  # the ceiling row
# results.csv's own columns, beside one column per proxy named by the proxy (the one list: nas_proxy.columns)
ROW_COLUMNS = tuple(RESULT_COLUMNS)


def check_proxy_names(names: Iterable[str]) -> None:
    """Refuse a proxy named as a column of results.csv (:data:`ROW_COLUMNS`, but for :data:`~nas_proxy.columns.MEASURED`): its scores
    would overwrite that column (a proxy ``truth`` the ground truth, ``spec`` the architectures), and the report read
    them as such. Before fix53b a zero-cost score registered as ``truth`` replaced every row's ground truth in
    results.csv without a word."""
    for name in names:
        if name in TAKEN:
            raise InvalidArgumentError(
                f"proxy {name!r} is named as a column of correlate's results.csv ({', '.join(ROW_COLUMNS)}): its scores would "
                "overwrite that column; register it under another name"
            )


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
