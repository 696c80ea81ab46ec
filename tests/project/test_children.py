"""What a test starts ends with it, also when it fails (tests/children.py, tests/conftest.py's ``_no_process_left``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.children import gone

ROOT = Path(__file__).resolve().parents[2]

# a drill that fails before it opens its gate: one command held there, and one in a session of its own whose
# own child is held there too (what a search command's workers are)
FAILING_DRILL = """
import json, os, subprocess, sys
from pathlib import Path

from tests.gate import Gate

HOLD = "import json; json.dumps(0)"
SPAWN = f"import json, subprocess, sys; subprocess.Popen([sys.executable, '-c', {HOLD!r}]); json.dumps(0)"


def test_a_drill_that_fails_with_its_commands_at_the_gate(tmp_path):
    gate = Gate(tmp_path / "gate", at="json:dumps")
    plain = subprocess.Popen([sys.executable, "-c", HOLD], env=gate.env())
    leader = subprocess.Popen([sys.executable, "-c", SPAWN], env=gate.env(), start_new_session=True)
    waiting = gate.wait([plain, leader], [plain.pid, leader.pid], count=3)
    Path(os.environ["HELD_PIDS"]).write_text(json.dumps(sorted(waiting)))
    assert False, "the drill failed before it opened its gate"
"""


def test_a_failing_test_leaves_no_process_behind(tmp_path: Path) -> None:
    (tmp_path / "test_drill.py").write_text(FAILING_DRILL)
    held = tmp_path / "held.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(PYTHONPATH=str(ROOT), HELD_PIDS=str(held))
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest", "--basetemp", str(tmp_path / "base")]
    done = subprocess.run([*cmd, "test_drill.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    pids = json.loads(held.read_text()) if held.exists() else []
    left = [pid for pid in pids if not gone(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert done.returncode == 1 and "1 failed" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    assert len(pids) == 3, done.stdout[-3000:]
    assert not left, f"left running after the failed test: {left}"
    assert "left processes running, killed" in done.stdout, done.stdout[-3000:]
