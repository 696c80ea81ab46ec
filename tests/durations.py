"""Regenerate tests/durations.json from a JUnit XML report: ``python tests/durations.py J.xml``
(after ``pytest -n 2 --junitxml=J.xml``). The file only orders the suite (tests/conftest.py)."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).parent


def main(report: str) -> None:
    seconds: dict[str, float] = {}
    for case in ET.parse(report).iter("testcase"):
        file = case.get("classname", "").replace(".", "/") + ".py"
        seconds[file] = seconds.get(file, 0.0) + float(case.get("time", 0))
    path = HERE / "durations.json"
    about = json.loads(path.read_text())["about"] if path.exists() else ""
    ordered = {k: round(v, 1) for k, v in sorted(seconds.items(), key=lambda kv: -kv[1])}
    path.write_text(json.dumps({"about": about, "seconds": ordered}, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
