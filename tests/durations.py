"""Regenerate tests/durations.json from a JUnit XML report: ``python tests/durations.py J.xml``
(after ``pytest -n 2 --junitxml=J.xml``). The file only orders the suite (tests/conftest.py)."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

FLOOR_S = 3.0  # shorter tests keep their collection order, after the listed ones
HERE = Path(__file__).parent


def main(report: str) -> None:
    seconds = {
        f"{case.get('classname', '').replace('.', '/')}.py::{case.get('name')}": round(float(case.get("time", 0)), 1)
        for case in ET.parse(report).iter("testcase")
    }
    kept = dict(sorted(((k, v) for k, v in seconds.items() if v >= FLOOR_S), key=lambda kv: -kv[1]))
    path = HERE / "durations.json"
    about = json.loads(path.read_text())["about"] if path.exists() else ""
    path.write_text(json.dumps({"about": about, "seconds": kept}, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
