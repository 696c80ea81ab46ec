"""fix61c: ``nasproxy score --synthetic PATH`` (and ``search --synthetic PATH``, ``nas_proxy.search.runner``'s imports) refused a path that is missing or not a synthetic set only after importing
torch (``nas_proxy.search.scores`` imports ``nas_proxy.evaluate``: 3.8 CPU-s of the probe for the one-line refusal,
0.2 now), as evaluate did before fix60. Each refusal is its one line, exit 2, torch, NumPy and safetensors unimported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "numpy", "safetensors", "optuna", "scipy")
PROBE = """
import contextlib, io, sys
from nas_proxy.cli import main
err = io.StringIO()
with contextlib.redirect_stderr(err):
    words = ["--archs", sys.argv[2]] if sys.argv[4] == "score" else ["--study", "s", "--n-trials", "1"]
    code = main([sys.argv[4], "--synthetic", sys.argv[1], "--space", "convnet-cpu", *words, "--device", "cpu"])
print(code)
print(err.getvalue().strip())
print(" ".join(sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[3].split()))))
"""


@pytest.mark.parametrize("command", ["score", "search"])
def test_a_path_that_is_no_set_is_refused_before_torch_is_imported(tmp_path: Path, command: str) -> None:
    archs = tmp_path / "archs.json"
    archs.write_text("[]\n")  # refused too, but after the set: the set is the first thing score reads
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("x\n")
    cases = {
        tmp_path / "no" / "such": "does not exist",
        tmp_path / "empty": "is not a nasproxy synthetic set: no meta.json",
        tmp_path / "file": "is a file; a synthetic set is a directory",
    }
    for path, said in cases.items():
        done = subprocess.run(
            [sys.executable, "-c", PROBE, str(path), str(archs), " ".join(HEAVY), command], capture_output=True, text=True, timeout=120
        )
        code, err, heavy = [*done.stdout.split("\n"), "", "", ""][:3]
        assert (code, heavy) == ("2", ""), (path, done.stdout, done.stderr)
        assert err.startswith(f"nasproxy {command}: error: ") and said in err and "\n" not in err, err
