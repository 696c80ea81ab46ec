"""An architecture's stable id: a hash of its spec's canonical JSON, for file names and tables.

Apart from :mod:`nas_proxy.spaces` (which re-exports both names) so that a reader of tables
(``benchmarks/fidelity_table.py``) names architectures without importing torch or optuna.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

Spec = dict[str, Any]


def canonical_json(spec: Spec) -> str:
    """The spec as compact JSON with sorted keys: equal specs give equal text."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def arch_id(spec: Spec) -> str:
    """A stable 12-hex-digit id of ``spec`` (a hash of its canonical JSON), for file names and tables."""
    return hashlib.sha256(canonical_json(spec).encode()).hexdigest()[:12]
