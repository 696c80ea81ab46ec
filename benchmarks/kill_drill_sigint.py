"""Ctrl-C (SIGINT to the process group, as a terminal sends it) 0-200 ms after ``python -m nas_proxy`` starts, for each
command of ``kill_drill_commands.py`` and ``distill --launch 2 --net-norm batchnorm``; then the same command once more.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/kill_drill_sigint.py --work /tmp/sigint-drill --runs 8

Each run starts the command cold in a fresh folder of its own and sends SIGINT at a moment drawn uniformly in [0, 200]
ms after ``Popen`` returned (``--seed``), then sorts what the process left into docs/interrupts.md's outcomes: handled
(exit 130, one line, nothing on stdout), killed by SIGINT without a word (before CPython installs its handler),
CPython's traceback before ``main()`` (its frames named: ``site.py``'s ``init_import_site`` or the import of
``nas_proxy``), or other (listed whole). Files left in the folder are listed (nothing should be half-written);
the folder's last run is then run again unkilled, and must exit 0.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kill_drill_commands import TINY, commands

from nas_proxy.cli.common import ScriptParser

LAUNCH = ["distill", "--dataset", "digits", "--ipc", "2", "--batch-real", "8", "--iterations", "3", "--net-norm", "batchnorm"]
LAUNCH += ["--device", "cpu", "--quiet", "--launch", "2", "--out", "d"]


def outcome(code: int, out: str, err: str) -> str:
    lines = err.strip().splitlines()
    if code == 130 and not out and len(lines) == 1 and lines[0].startswith("nasproxy") and "interrupted" in lines[0]:
        return "handled"
    if code == -signal.SIGINT and not out and not err.strip():
        return "silent SIGINT death"
    if "Traceback" in err and "KeyboardInterrupt" in err:
        where = "site" if "init_import_site" in err or "site.py" in err else "before main()"
        ours = [ln for ln in lines if "nas_proxy" in ln and ln.lstrip().startswith("File")]
        allowed = ("__init__.py", "lazy.py", "version.py", "__main__.py")
        if any(not any(a in ln for a in allowed) for ln in ours):
            where = "through nasproxy code after main(): " + "; ".join(ours)
        return f"traceback ({where}, exit {code})"
    return f"other (exit {code}): {err.strip()[-400:]!r}"


def main() -> None:
    parser = ScriptParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path(__file__).resolve().parent / "out" / "sigint-drill")
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--syn", type=Path, required=True, help="a finished synthetic set (kill_drill_commands.py's syn/)")
    parser.add_argument("--truth", type=Path, required=True, help="kill_drill_commands.py's truth.json")
    args = parser.parse_args()
    # a background job of a non-interactive shell (nohup ... &) starts with SIGINT ignored, and its children would
    # inherit that and keep ignoring it, as docs/interrupts.md says they must: the commands start with it at default
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    work = args.work.resolve()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rng = random.Random(args.seed)
    todo = {name: argv for name, (argv, _) in commands(args.syn.resolve(), args.truth.resolve()).items()}
    todo["distill-launch2"] = LAUNCH
    for name, argv in todo.items():
        command = [sys.executable, "-m", "nas_proxy", *argv]
        rows: list[dict[str, Any]] = []
        for i in range(args.runs):
            folder = work / name / str(i)
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            (folder / "tiny.toml").write_text(TINY)
            at = round(rng.uniform(0, 0.2), 3)
            proc = subprocess.Popen(
                command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
            )
            time.sleep(at)
            os.killpg(proc.pid, signal.SIGINT)
            out, err = proc.communicate(timeout=120)
            left = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != "tiny.toml")
            rows.append({"at_ms": round(at * 1000), "outcome": outcome(proc.returncode, out, err), "left": left})
        again = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=900)
        summary = {"command": name, "runs": rows, "again_exit": again.returncode}
        if again.returncode:
            summary["again_line"] = again.stderr.strip().splitlines()[-1:]
        print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
