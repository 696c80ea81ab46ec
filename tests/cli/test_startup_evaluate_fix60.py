"""fix60: ``nasproxy evaluate PATH`` refused a path that is missing or not a synthetic set only after importing torch
(``nas_proxy.synthetic`` imported it at its top; ~4.4 CPU-s for the one-line refusal, 0.2 now). Each refusal is its
one line, exit 2, and leaves torch, NumPy and safetensors unimported (as tests/cli/test_startup.py's probes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HEAVY = ("torch", "numpy", "safetensors", "optuna", "scipy")
PROBE = """
import contextlib, io, sys
from nas_proxy.cli import main
err = io.StringIO()
with contextlib.redirect_stderr(err):
    code = main(["evaluate", sys.argv[1]])
print(code)
print(err.getvalue().strip())
print(" ".join(sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[2].split()))))
"""


def test_a_path_that_is_no_set_is_refused_before_torch_is_imported(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("x\n")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "meta.json").write_text('{"format": "another tool"}\n')
    cases = {
        tmp_path / "no" / "such": "does not exist",
        tmp_path / "empty": "is not a nasproxy synthetic set: no meta.json",
        tmp_path / "file": "is a file; a synthetic set is a directory",
        tmp_path / "foreign": "is not nasproxy synthetic-set metadata",
    }
    for path, said in cases.items():
        done = subprocess.run([sys.executable, "-c", PROBE, str(path), " ".join(HEAVY)], capture_output=True, text=True, timeout=120)
        code, err, heavy = [*done.stdout.split("\n"), "", "", ""][:3]
        assert (code, heavy) == ("2", ""), (path, done.stdout, done.stderr)
        assert err.startswith("nasproxy evaluate: error: ") and said in err and "\n" not in err, err
