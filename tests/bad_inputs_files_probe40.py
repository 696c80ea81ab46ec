"""The bad input files of branch probe40's cases (``tests/bad_inputs.py``, ``PROBE40``), written into
the same workspace: files of architectures with ground truth whose accuracies are JSON text ("60.0"),
a JSON integer too large for a float, or CSV numbers float() reads but no plain decimal writes
('6_0', full-width digits), in the architectures reader and in a ground-truth table.
"""

from __future__ import annotations

import json
from pathlib import Path


def build_probe40(root: Path) -> None:
    """Add probe40's inputs to the workspace ``root``."""
    archs = root / "archs"
    truth = json.loads((archs / "truth-8.json").read_text())
    (archs / "acc-quoted.json").write_text(json.dumps([{**r, "accuracy": str(r["accuracy"])} for r in truth]))  # "60.0"
    huge = json.dumps(truth).replace("60.0", "1" + "0" * 400, 1)  # an integer JSON reads, that no float holds
    (archs / "acc-huge-int.json").write_text(huge)
    quoted = ['"' + json.dumps(r["spec"]).replace('"', '""') + '"' for r in truth]  # a JSON spec as one CSV field
    for name, first in (("underscore", "6_0"), ("full-width", "\uff16\uff10")):  # both read as 60 by float()
        accs = [first, *(f"{r['accuracy']:g}" for r in truth[1:])]
        (archs / f"acc-{name}.csv").write_text("spec,accuracy\n" + "".join(f"{q},{a}\n" for q, a in zip(quoted, accs, strict=True)))
        rows = "".join(f"a{i},0,{q},{a}\n" for i, (q, a) in enumerate(zip(quoted, accs, strict=True)))
        (archs / f"table-{name}.csv").write_text("arch_id,seed,spec,test_accuracy\n" + rows)
