"""A full disk at the moments a command writes: each command of ``kill_drill_commands.py`` (and a distillation) run in a
small tmpfs that fills part way through, then the tmpfs made larger and the same command run again.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/kill_drill_disk.py --work /tmp/kill-drill-commands   # as root

Reads the uninterrupted runs ``kill_drill_commands.py`` left in ``--work`` (``NAME/ref``): the disk space each left
(allocated bytes) sets the tmpfs's size, ``--fractions`` of it (so that the disk fills at another write each time:
a checkpoint or the synthetic set, the study's storage, the report). For each: the first run's exit status and last
line (one line, no traceback: a full disk is told in one line, nothing half-written), then the tmpfs remounted with
room and the same command run again: its exit status, whether its result equals the uninterrupted run's
(``kill_drill_commands.result``) and whether any COMPLETE trial of its storages was lost or more were made (redone).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch
from kill_drill_commands import TINY, commands, completed, result
from safetensors.torch import load_file

from nas_proxy.cli.common import ScriptParser

DISTILL = ["distill", "--dataset", "digits", "--ipc", "10", "--batch-real", "8", "--iterations", "20"]
DISTILL += ["--checkpoint-every", "2", "--device", "cpu", "--quiet", "--out", "d"]
NETS = [*DISTILL, "--nets", "convnet720"]  # space-aware (drill57): each iteration's network drawn from the space


def allocated(folder: Path) -> int:
    return int(subprocess.run(["du", "-s", "--block-size=1", str(folder)], capture_output=True, text=True, check=True).stdout.split()[0])


def main() -> None:
    parser = ScriptParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="kill_drill_commands.py's --work")
    parser.add_argument("--fractions", default="0.3,0.7,0.95")
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args()
    work = args.work.resolve()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    todo = {name: (argv, urls) for name, (argv, urls) in commands(work / "syn", work / "truth.json").items()}
    todo["distill-disk"] = (DISTILL, [])
    todo["distill-nets-disk"] = (NETS, [])
    mnt = work / "disk"
    mnt.mkdir(exist_ok=True)
    for name, (argv, urls) in todo.items():
        if args.only and name not in args.only:
            continue
        command = [sys.executable, "-m", "nas_proxy", *argv]
        ref = work / name / "ref"
        if name.startswith("distill") and not (ref / "d" / "meta.json").exists():
            shutil.rmtree(ref, ignore_errors=True)
            ref.mkdir(parents=True)
            subprocess.run(command, cwd=ref, env=env, check=True, stdout=subprocess.DEVNULL)
        size = allocated(ref)
        for fraction in (float(f) for f in args.fractions.split(",")):
            room = max(4096 * 4, int(size * fraction) // 4096 * 4096)

            def equal(folder: Path, name: str = name, ref: Path = ref, urls: list[str] = urls) -> bool:
                if name.startswith("distill"):
                    got, want = (load_file(str(f / "d" / "synthetic.safetensors")) for f in (folder, ref))
                    return bool(got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want))
                return bool(result(name, folder, urls) == result(name, ref, urls))

            full_disk_row(name, command, env, (mnt, room, size), ref, urls, equal, TINY)


def outputs(ref: Path, inputs: tuple[str, ...] = ("tiny.toml",)) -> list[str]:
    """The files a command wrote in its folder, the last written first."""
    files = [p for p in ref.rglob("*") if p.is_file() and p.name not in inputs]
    return [str(p.relative_to(ref)) for p in sorted(files, key=lambda p: p.stat().st_mtime_ns, reverse=True)]


def full_disk_row(
    name: str,
    command: list[str],
    env: dict[str, str],
    disk: tuple[Path, int, int],
    ref: Path,
    urls: list[str],
    equal: Callable[[Path], bool],
    toml: str | None = None,
    inputs: Path | None = None,
) -> dict[str, Any]:
    """``command`` in a tmpfs mounted at ``disk``'s folder with ``disk``'s room (of the ``size`` its uninterrupted run
    ``ref`` took; as root), then room made and the same command again: its first exit, lines and files, then exit,
    redone trials, and ``equal`` of the folder (the result an uninterrupted run's). Printed and returned (also
    kill_drill_retry.py's). ``inputs``: a synthetic set copied into the folder as ``syn`` first (evaluate's, stop 59)."""
    mnt, room, size = disk
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={room}", "tmpfs", str(mnt)], check=True)
    try:
        folder = mnt / "f"
        folder.mkdir()
        if toml is not None:
            (folder / "tiny.toml").write_text(toml)
        if inputs is not None:
            shutil.copytree(inputs, folder / "syn", ignore=shutil.ignore_patterns("evaluations"))
        if "best.json" in command:  # train's (stop 60): the search's best.json its folder was given
            shutil.copy(ref / "best.json", folder / "best.json")
        first = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=900)
        lines = first.stderr.strip().splitlines()
        row: dict[str, Any] = {"command": name, "room": room, "of": size, "exit": first.returncode, "lines": len(lines)}
        row |= {"last": lines[-1][:300] if lines else "", "traceback": "Traceback" in first.stderr, "files": outputs(folder)}
        before = completed(folder, urls)
        subprocess.run(["mount", "-o", "remount,size=256m", str(mnt)], check=True)
        again = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=900)
        row["again_exit"] = again.returncode
        if again.returncode:
            row["again_last"] = again.stderr.strip().splitlines()[-1:]
        else:
            now = completed(folder, urls)
            row["redone"] = sum(1 for k, v in before.items() if now.get(k) != v)
            row["complete_trials"], row["reference_trials"] = len(now), len(completed(ref, urls))
            row["equal_to_uninterrupted"] = equal(folder)
        print(json.dumps(row), flush=True)
        return row
    finally:
        subprocess.run(["umount", "--lazy", str(mnt)], check=False)  # a command's last child may still hold it


if __name__ == "__main__":
    main()
