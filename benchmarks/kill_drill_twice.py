"""A user starts the same command twice on one ``--out`` / one study (stop 57, drill57): the second must be refused
in one line or cooperate, never corrupt the first.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/kill_drill_twice.py --work /tmp/kill-drill-commands --seed 0

For each command of ``kill_drill_commands.commands`` (its folders, its uninterrupted references under ``--work``,
made there if missing) and a space-aware distillation (``distill-nets``), two copies of the same command line are
started in one fresh folder, the second ``--offsets`` seconds after the first (drawn uniformly in [0, ``--within``]
with ``--seed``): each one's exit and last stderr line (a refusal must be one line, no traceback); then the same
command once more, alone, which must exit 0, with as many COMPLETE trials as the reference's (more: a training done
twice) and, where docs/interrupts.md promises it, the reference's result. Stop 59 (drill59) added
``kill_drill_commands.stop59``'s commands (groundtruth, evaluate-kept, search-bruteforce).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kill_drill_commands import command_of, commands, completed, prepare, result, said, stop59
from kill_drill_retry import DISTILL_NETS, small

from nas_proxy.cli.common import ScriptParser


def twice(name: str, argv: list[str], urls: list[str], work: Path, offset: float) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = command_of(argv)
    folder = prepare(work / name / "twice", argv, work)
    procs = []
    for k in range(2):
        if k:
            time.sleep(offset)
        procs.append(subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    row: dict[str, Any] = {"command": name, "offset_s": offset, "exits": [], "lines": []}
    for proc in procs:
        _, err = proc.communicate()
        row["exits"].append(proc.returncode)
        row["lines"].append(err.strip().splitlines()[-1:] if err.strip() else [])
        row.setdefault("traceback", False)
        row["traceback"] |= "Traceback" in err
    if name.startswith("distill"):
        row["images_equal"] = (folder / "d" / "synthetic.safetensors").read_bytes() == (
            work / name / "ref" / "d" / "synthetic.safetensors"
        ).read_bytes()
        return row
    done = completed(folder, urls)
    again = subprocess.run(command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    row["again_exit"] = again.returncode
    if again.returncode:
        row["again_line"] = again.stderr.strip().splitlines()[-1:]
        return row
    now = completed(folder, urls)
    ref = work / name / "ref"
    row |= {
        "complete_after_both": len(done),
        "changed_by_again": sum(1 for k, v in done.items() if now.get(k) != v),
        "complete_trials": len(now),
        "reference_trials": len(completed(ref, urls)),
        "equal_to_uninterrupted": result(name, folder, urls) == result(name, ref, urls),
    }
    return row


def reference(work: Path, name: str, argv: list[str]) -> None:
    """The command run alone to its end in ``work/NAME/ref`` where no earlier drill left one (its 'done' mark)."""
    ref = work / name / "ref"
    if not (ref.exists() and (name != "distill-nets" or (ref / "d" / "meta.json").exists())):
        prepare(ref, argv, work)
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        subprocess.run(command_of(argv), cwd=ref, env=env, check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    parser = ScriptParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="kill_drill_commands.py's --work (its syn/, truth.json, refs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--within", type=float, default=2.0, help="the second start's offset is drawn in [0, this] s")
    parser.add_argument("--only", nargs="*", default=None, help="run, run-sqlite, search-sqlite, search-journal, correlate, distill-nets")
    args = parser.parse_args()
    work = args.work.resolve()
    rng = random.Random(args.seed)
    syn, truth = work / "syn", work / "truth.json"  # correlate as kill_drill_retry.py's (its Ctrl-C drill's reference)
    made = {**commands(syn, truth), **small(syn, truth), "distill-nets": (DISTILL_NETS, []), **stop59(syn)}
    with open(work / "drills-twice.jsonl", "a") as log:
        for name, (argv, urls) in made.items():
            if args.only and name not in args.only:
                continue
            reference(work, name, argv)
            row = twice(name, argv, urls, work, round(rng.uniform(0, args.within), 2))
            said(log, row)


if __name__ == "__main__":
    main()
