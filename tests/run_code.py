"""``python -m tests.run_code CODE [ARGS...]``: ``python -c CODE ARGS...`` that :mod:`tests.warm` can fork.

For a test that needs a fresh interpreter without nasproxy imported (its imports, its lazy names,
the global state importing it changes) but not a cold start: forked from the warm server it has
torch and the other ``warm.PRELOAD`` libraries already, never nasproxy. A test of what start-up
itself imports (``tests/cli/test_startup.py``) runs ``python -c`` cold instead. ``run(code)`` below
is the command line, with ``PYTHONPATH`` set so that ``tests`` is found from any directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def run(code: str, *args: str, env: dict[str, str] | None = None, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """``subprocess.run([python, "-c", code, *args], text=True, **kwargs)``, forked warm."""
    from tests import warm

    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return warm.run([sys.executable, "-m", "tests.run_code", code, *args], env=env, text=True, **kwargs)


if __name__ == "__main__":
    code, sys.argv = sys.argv[1], ["-c", *sys.argv[2:]]
    exec(compile(code, "<string>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
