"""A torn last write: the last file a command wrote cut short at a few lengths, then the same command run again.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/kill_drill_torn.py --work /tmp/kill-drill-commands

Reads the uninterrupted runs ``kill_drill_commands.py`` left in ``--work`` (``NAME/ref``), and for a distillation makes
one killed by SIGKILL once its checkpoint exists. For each (command, file, length): a copy of the folder, the file cut
to the length (0, 1 byte, half, all but its last byte), the same command run again, and what it did: ``recovered``
(exit 0, the file whole again: equal to the uninterrupted run's where the run is deterministic, else parsed),
``refused`` (non-zero exit, one line, no traceback), ``used torn`` (exit 0, the file still cut) or ``crash`` (a
traceback, or several lines).
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

from kill_drill_commands import commands

from nas_proxy.cli.common import ScriptParser

DISTILL = ["distill", "--dataset", "digits", "--ipc", "2", "--batch-real", "8", "--iterations", "400"]
DISTILL += ["--checkpoint-every", "1", "--device", "cpu", "--quiet", "--out", "d"]

CUTS = {  # command: the files it writes last, relative to its folder
    "distill": ["d/checkpoint.safetensors"],
    "search-journal": ["s.log", "studies/s/best.json"],
    "search-sqlite": ["studies/s/best.json"],
    "calibrate": ["p.toml", "c.log"],
    "correlate": ["c/results.csv", "c/results.json", "gt.log"],
    "run": ["runs/tiny/correlate/results.csv", "runs/tiny/search/best.json", "studies/tiny/journal.log"],
}


def killed_distillation(folder: Path, env: dict[str, str]) -> None:
    """A distillation killed by SIGKILL right after a checkpoint: its folder, no meta.json."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    command = [sys.executable, "-m", "nas_proxy", *DISTILL]
    proc = subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    checkpoint = folder / "d" / "checkpoint.safetensors"
    while not checkpoint.exists():
        if proc.poll() is not None:
            raise SystemExit("the distillation ended before its first checkpoint")
        time.sleep(0.05)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def verdict(code: int, err: str, cut: Path, whole: bytes, length: int) -> str:
    lines = err.strip().splitlines()
    if "Traceback" in err or (code != 0 and len(lines) != 1):
        return "crash: " + " | ".join(lines[-3:])
    if code != 0:
        return "refused: " + lines[0]
    if not cut.exists():
        return "recovered (file gone)"
    now = cut.read_bytes()
    if now == whole:
        return "recovered (equal)"
    if len(now) == length and whole.startswith(now):
        return "used torn"
    return f"recovered (rewritten, {len(now)} bytes, the uninterrupted run's {len(whole)})"


def main() -> None:
    parser = ScriptParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="kill_drill_commands.py's --work")
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args()
    work = args.work.resolve()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    todo = {name: argv for name, (argv, _) in commands(work / "syn", work / "truth.json").items()}
    todo["distill"] = DISTILL
    if not args.only or "distill" in args.only:
        killed_distillation(work / "distill" / "ref", env)
    for name, files in CUTS.items():
        if args.only and name not in args.only:
            continue
        command = [sys.executable, "-m", "nas_proxy", *todo[name]]
        for rel in files:
            torn_rows(name, command, env, work / name, rel)


def torn_rows(
    name: str, command: list[str], env: dict[str, str], where: Path, rel: str, rng: random.Random | None = None, k: int = 0
) -> list[dict[str, Any]]:
    """``command`` run again on a copy of ``where/ref`` whose file ``rel`` is cut to 0, 1, half and all but one of its
    bytes (in ``where/torn``), or with ``rng`` to ``k`` byte offsets drawn uniformly in [0, its length) (stop 58,
    drill58): a row per cut, printed as it comes (also kill_drill_retry.py's)."""
    whole, rows = (where / "ref" / rel).read_bytes(), []
    cuts = {0, 1, len(whole) // 2, len(whole) - 1} if rng is None else {rng.randrange(len(whole)) for _ in range(k)}
    for length in sorted(cuts):
        folder = where / "torn"
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(where / "ref", folder)
        with open(folder / rel, "r+b") as f:
            f.truncate(length)
        done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=900)
        row: dict[str, Any] = {"command": name, "file": rel, "bytes": len(whole), "cut_to": length}
        row["verdict"] = verdict(done.returncode, done.stderr, folder / rel, whole, length)
        if done.returncode == 0:  # whether the repair was said (stop 60: a profile cut short was replaced without a word)
            row["said"] = [line for line in (done.stdout + done.stderr).splitlines() if Path(rel).name in line][:2]
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


if __name__ == "__main__":
    main()
