"""kill -9 at random moments of a ``search`` retrying an architecture that failed (stop 55's ``search/retry.py``), on
SQLite and on a journal file, and of small ``calibrate`` and ``correlate`` runs, on digits.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/kill_drill_retry.py --work /tmp/kill-drill-retry --kills 10

The retry: a first ``search`` (``--n-trials FIRST``) runs with the scoring of its first architecture made to raise
once (a ``SearchProxy.score`` patched in that process alone: the failure, an event, not a moment), so the study holds
one FAIL trial. Then the same search with ``--n-trials N`` (plain ``python -m nas_proxy``, nothing patched), the
command that queues the failed architecture again first in line and draws the rest of the budget, is first run
uninterrupted (the reference, its wall time measured), then, on a fresh copy of the study with that one failure,
killed with SIGKILL to its process group at moments drawn uniformly in [0, that wall time] (``--seed``), started
again after each kill, until ``--kills`` kills; then run unkilled to its end. Checked: every trial COMPLETE after a
kill stays so with the same values (redone: one that changed or vanished); at the end the failed architecture has
exactly one COMPLETE trial and exactly one retry copy scored it (``retry_of_failed``), no architecture is scored
twice, the COMPLETE trials number ``N`` (no candidate drawn beyond the budget), and the draws and scores equal the
reference's. ``calibrate`` and ``correlate``: ``kill_drill_commands.drill`` on smaller runs than §17b's (which a loaded
machine ran for 10 minutes each, leaving time for 2 kills). Numbers: benchmarks/RESULTS.md §17c.

Stop 58 (drill58, §17e) added ``--only`` names: ``search-workers`` (a search with ``--workers 2`` on a journal) and
``evaluate`` for ``--mode sigint``; ``search-journal`` (one worker, a journal) for ``--mode torn`` and ``disk``, whose
uninterrupted reference is made where none is; ``synthetic`` for ``--mode torn`` (a search reading a set whose
tensors or meta.json are cut); and ``--random-cuts K``: the torn drill cuts each file at K offsets drawn by
``--seed`` rather than at 0, 1, half and all but one byte.
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
from collections import Counter
from pathlib import Path
from typing import Any

import optuna

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kill_drill_commands import command_of, commands, completed, drill, finish, prepare, result, said_kill, stop59, stop60, storage_of
from kill_drill_disk import full_disk_row, outputs
from kill_drill_sigint import outcome
from kill_drill_torn import torn_rows

from nas_proxy.cli.common import ScriptParser

# the first architecture the process scores raises once: run as `python -c FAIL_ONCE KIND search ...`, KIND one of
# FAILURES (stop 56's fail_kind: what the search records, and whether the architecture is retried)
FAIL_ONCE = """
import sys
import torch
from nas_proxy.errors import DivergedError
from nas_proxy.search.target import SearchProxy
real, failed, kind = SearchProxy.score, [], sys.argv.pop(1)
CUDA = "CUDA out of memory. Tried to allocate {} GiB. GPU 0 has a total capacity of 79.00 GiB of which 0 bytes is free. "
CUDA += "Including non-PyTorch memory, this process has 1.00 GiB memory in use."
def score(self, spec, arch_id, report=None):
    if not failed:
        failed.append(arch_id)
        if kind == "diverged":
            raise DivergedError("injected: the loss of " + arch_id + " became NaN")
        if kind in ("out_of_memory", "gpu_shared"):  # too large for the GPU itself / the rest held by other processes
            raise torch.cuda.OutOfMemoryError(CUDA.format("90.00" if kind == "out_of_memory" else "2.00"))
        raise RuntimeError("injected failure of " + arch_id)
    return real(self, spec, arch_id, report)
SearchProxy.score = score
from nas_proxy.cli import main
sys.argv = ["nasproxy", *sys.argv[1:]]
sys.exit(main())
"""


def search_argv(syn: Path, storage: str, n: int, epochs: int) -> list[str]:
    argv = ["search", "--synthetic", str(syn), "--space", "convnet-cpu", "--study", "s", "--n-trials", str(n)]
    return [*argv, "--epochs", str(epochs), "--report-every", "1", "--seed", "0", "--device", "cpu", "--quiet", "--storage", storage]


def trials(folder: Path, url: str) -> list[optuna.trial.FrozenTrial]:
    storage = storage_of(url, folder)
    (study,) = storage.get_all_studies()
    found = storage.get_all_trials(study._study_id)
    if hasattr(storage, "engine"):
        storage.engine.dispose()
    return found


FAILURES = {"error": True, "gpu_shared": True, "diverged": False, "out_of_memory": False}  # kind: retried once (else never)


def drill_name(url: str, kind: str = "error") -> str:
    """retry-sqlite, retry-journal (the first failure a plain error, as in stop 56), retry-journal-diverged, ..."""
    return "retry-" + ("sqlite" if url.startswith("sqlite") else "journal") + ("" if kind == "error" else f"-{kind}")


def verdict(folder: Path, url: str, failed_arch: str, n: int, retried: bool = True) -> dict[str, Any]:
    """What the study holds at the end: the failed architecture's scores and retries, repeats, the count. ``retried``:
    whether its kind of failure is retried once (scored once, one copy) or never (not scored, no copy)."""
    ts = trials(folder, url)
    done = [t for t in ts if t.state == optuna.trial.TrialState.COMPLETE]
    scored = Counter(t.user_attrs.get("arch_id") for t in done)
    return {
        "complete": len(done),
        "states": dict(Counter(t.state.name for t in ts)),
        "failed_arch_scored": scored[failed_arch],
        "retries_complete": sum(1 for t in done if "retry_of_failed" in t.user_attrs),
        "retry_copies": sum(1 for t in ts if "retry_of_failed" in t.user_attrs),
        "scored_twice": sorted(a for a, k in scored.items() if k > 1),
        "archs_drawn": len({t.user_attrs.get("arch_id") for t in ts} - {None}),
        "ok": len(done) == n
        and scored[failed_arch] == int(retried)
        and max(scored.values()) == 1
        and sum(1 for t in ts if "retry_of_failed" in t.user_attrs) == int(retried),
    }


def retry_drill(
    syn: Path,
    url: str,
    work: Path,
    kills: int,
    rng: random.Random,
    first: int,
    n: int,
    epochs: int,
    episodes: bool = False,
    kind: str = "error",
) -> dict[str, Any]:
    """``episodes``: each kill in a fresh copy of the study with its one failure, the same command then run unkilled
    and judged (so every moment falls in the retrying command's first run); else the kills follow one another."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    name, retried = drill_name(url, kind), FAILURES[kind]
    base = retry_study(syn, url, work, first, epochs, kind)
    (failed,) = [t for t in trials(base, url) if t.state == optuna.trial.TrialState.FAIL]
    failed_arch = failed.user_attrs["arch_id"]
    command = [sys.executable, "-m", "nas_proxy", *search_argv(syn, url, n, epochs)]

    def fresh(sub: str) -> Path:
        folder = work / name / sub
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(base, folder)
        return folder

    ref = work / name / "ref"
    wall_file = work / name / "ref-seconds.txt"
    if not wall_file.exists():
        fresh("ref")
        t0 = time.monotonic()
        subprocess.run(command, cwd=ref, env=env, check=True, stdout=subprocess.DEVNULL)
        wall_file.write_text(f"{time.monotonic() - t0:.1f}\n")
    wall = float(wall_file.read_text())
    expected = sorted((p, v) for p, v, _ in completed(ref, [url]).values())
    row: dict[str, Any] = {"command": name, "uninterrupted_s": wall, "failed_arch": failed_arch, "kills": [], "exits": []}
    row["fail_kind"] = failed.user_attrs.get("fail_kind")
    row["reference"] = verdict(ref, url, failed_arch, n, retried)
    folder = fresh("drill")
    seen: dict[Any, Any] = {}
    redone = 0
    while len(row["kills"]) < kills:
        at = round(rng.uniform(0, wall), 2)
        proc = subprocess.Popen(
            command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        try:
            _, err = proc.communicate(timeout=at)
            row["exits"].append(proc.returncode)
            if proc.returncode != 0:
                row.setdefault("refused", []).append(err.strip().splitlines()[-1:])
            row["finished_before_kill"] = row.get("finished_before_kill", 0) + 1
            row.setdefault("verdicts_of_early_finishes", []).append(verdict(folder, url, failed_arch, n, retried))
            folder, seen = fresh("drill"), {}
            continue
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
        row["kills"].append(at)
        now = completed(folder, [url])
        redone += sum(1 for k, v in seen.items() if now.get(k) != v)
        seen = now
        if episodes:  # the same command to its end, judged; then a fresh copy for the next moment
            done = subprocess.run(command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            after = completed(folder, [url])
            redone += sum(1 for k, v in seen.items() if after.get(k) != v)
            judged = {"at": at, "complete_at_kill": len(now), "exit": done.returncode, **verdict(folder, url, failed_arch, n, retried)}
            judged["equal_to_uninterrupted"] = sorted((p, v) for p, v, _ in after.values()) == expected
            if done.returncode:
                judged["line"] = done.stderr.strip().splitlines()[-1:]
            row.setdefault("episodes", []).append(judged)
            print(json.dumps(judged), flush=True)
            folder, seen = fresh("drill"), {}
            continue
        said_kill(name, row, at, len(now), redone)
    final = finish(command, folder, env, [url], row, seen, redone)
    if final is None:
        return row
    row["final"] = verdict(folder, url, failed_arch, n, retried)
    row["equal_to_uninterrupted"] = sorted((p, v) for p, v, _ in final.values()) == expected
    return row


def small(syn: Path, truth: Path) -> dict[str, tuple[list[str], list[str]]]:
    """calibrate and correlate as kill_drill_commands runs them (same output names, so its ``result`` reads them), the
    correlation's ground truth smaller: 1 epoch on 40 images."""
    smaller = {"--full-epochs": "1", "--full-images": "40"}
    made = commands(syn, truth)
    correlate, storages = made["correlate"]
    correlate = [smaller.get(correlate[k - 1], word) if k else word for k, word in enumerate(correlate)]
    return {"calibrate": made["calibrate"], "correlate": (correlate, storages)}


# drill57's Ctrl-C drill: a space-aware distillation through convnet720 (--mode sigint, distill-nets)
DISTILL_NETS = ["distill", "--dataset", "digits", "--ipc", "2", "--batch-real", "8", "--iterations", "24", "--checkpoint-every", "3"]
DISTILL_NETS += ["--nets", "convnet720", "--device", "cpu", "--quiet", "--seed", "0", "--out", "d"]


def finished_correlation(work: Path, argv: list[str]) -> Path:
    """``correlate``'s uninterrupted run (its folder ``work/correlate/ref``), made once: the same command in a copy of
    it only writes its report again (correlate-report: a Ctrl-C while the report is written)."""
    ref = work / "correlate" / "ref"
    if not (ref / "c" / "results.json").exists():
        shutil.rmtree(ref, ignore_errors=True)
        ref.mkdir(parents=True)
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        subprocess.run(command_of(argv), cwd=ref, env=env, check=True, stdout=subprocess.DEVNULL)
    return ref


def uninterrupted(ref: Path, argv: list[str]) -> None:
    """The command run once to its end in ``ref`` (a fresh folder, tiny.toml beside), unless it was (--mode torn, disk:
    stop 58's commands that no kill drill left a reference of)."""
    if ref.exists() and any(ref.iterdir()):
        return
    prepare(ref, argv, ref.parents[1])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(command_of(argv), cwd=ref, env=env, check=True, stdout=subprocess.DEVNULL)


def retry_study(syn: Path, url: str, work: Path, first: int, epochs: int, kind: str = "error") -> Path:
    """A folder whose study holds one failed trial (the first architecture's, failed as ``kind``), made once."""
    name = drill_name(url, kind)
    base = work / name / "failed"
    if not base.exists():
        tmp = work / name / "failed.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        argv = search_argv(syn, url, first, epochs)
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        subprocess.run(
            [sys.executable, "-c", FAIL_ONCE, kind, *argv], cwd=tmp, env=env, stdout=subprocess.DEVNULL
        )  # exit 1: its budget unmet
        tmp.rename(base)
    return base


def sigint_drill(name: str, argv: list[str], base: Path | None, work: Path, runs: int, rng: random.Random, most_s: float) -> dict[str, Any]:
    """SIGINT to the process group at ``runs`` moments drawn in [0, most_s] after Popen, each in a fresh copy of ``base``
    (None: an empty folder with tiny.toml); the outcome (kill_drill_sigint's), the files it added or changed, any
    RUNNING trial left; then the last folder's command run again unkilled."""
    # a background job of a non-interactive shell starts with SIGINT ignored; its commands would inherit that
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = command_of(argv)
    rows: list[dict[str, Any]] = []
    folder = work / name / "sigint"
    for _ in range(runs):
        shutil.rmtree(folder, ignore_errors=True)
        if base is None:
            prepare(folder, argv, work)
        else:
            shutil.copytree(base, folder)
        before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
        at = round(rng.uniform(0, most_s), 3)
        proc = subprocess.Popen(
            command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        time.sleep(at)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=600)
        changed = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and before.get(p) != p.read_bytes())
        row = {"at_ms": round(at * 1000), "outcome": outcome(proc.returncode, out, err), "changed": changed}
        if base is not None and name.startswith("retry-"):
            url = "sqlite:///s.db" if name.startswith("retry-sqlite") else "s.log"
            row["running_left"] = sum(1 for t in trials(folder, url) if t.state == optuna.trial.TrialState.RUNNING)
        print(json.dumps({"command": name, **row}), flush=True)  # as it comes (a slow machine's drill stopped early)
        rows.append(row)
    again = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=900)
    summary = {"command": name, "signal": "SIGINT", "runs": rows, "again_exit": again.returncode}
    if again.returncode:
        summary["again_line"] = again.stderr.strip().splitlines()[-1:]
    return summary


def torn_drill(
    name: str,
    argv: list[str],
    urls: list[str],
    work: Path,
    last: int,
    rng: random.Random | None = None,
    k: int = 0,
    chosen: list[str] | None = None,
) -> list[dict[str, Any]]:
    """The ``last`` files the uninterrupted run wrote and its journals, each cut to 0, 1, half, all but 1 byte (with
    ``rng``: ``k`` random offsets); the command run again. ``synthetic`` (stop 58): the set a search reads, copied into
    its folder, its tensors and its meta.json cut, and the search run on it. ``chosen`` (stop 59): these files (relative
    to the folder; a glob pattern picks the last written it matches) instead."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = command_of(argv)
    ref, rows = work / name / "ref", []
    files = [*outputs(ref)[:last], *(u for u in urls if not u.startswith("sqlite"))]
    if chosen:
        files = [next(f for f in outputs(ref) if Path(f).match(c)) for c in chosen]
    if name == "synthetic":
        files = ["syn/synthetic.safetensors", "syn/meta.json"]
    for rel in dict.fromkeys(files):
        rows += torn_rows(name, command, env, work / name, rel, rng, k)
    return rows


def disk_drill(name: str, argv: list[str], urls: list[str], work: Path, fractions: list[float]) -> list[dict[str, Any]]:
    """The command in a tmpfs of ``fractions`` of the space its uninterrupted run took (as root), then room made and
    the same command again: its first exit and line, then exit, redone trials, result equal."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = command_of(argv)
    ref, mnt, rows = work / name / "ref", work / "disk", []
    mnt.mkdir(exist_ok=True)
    size = int(subprocess.run(["du", "-s", "--block-size=1", str(ref)], capture_output=True, text=True, check=True).stdout.split()[0])
    for fraction in fractions:
        room = max(4096 * 4, int(size * fraction) // 4096 * 4096)

        def equal(folder: Path) -> bool:
            return bool(result(name, folder, urls) == result(name, ref, urls))

        rows.append(full_disk_row(name, command, env, (mnt, room, size), ref, urls, equal, inputs=work / "syn" if "syn" in argv else None))
    return rows


def main() -> None:
    parser = ScriptParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path(__file__).resolve().parent / "out" / "kill-drill-retry")
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--first", type=int, default=2, help="the first search's --n-trials (its first architecture fails)")
    parser.add_argument("--n-trials", type=int, default=5, help="the retrying search's --n-trials")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--fail-kind", choices=sorted(FAILURES), default="error", help="how the first architecture fails (retry-*)")
    parser.add_argument(
        "--only",
        nargs="*",
        default=None,
        help="retry-sqlite, retry-journal, calibrate, correlate; run, distill-nets, correlate-report, search-workers, evaluate (sigint)",
    )
    parser.add_argument("--mode", choices=("kill", "sigint", "torn", "disk"), default="kill")
    parser.add_argument("--episodes", action="store_true", help="--mode kill, retry-*: each kill in a fresh copy, then resumed")
    parser.add_argument("--sigint-within", type=float, default=0.2, help="--mode sigint: seconds after Popen")
    parser.add_argument("--runs", type=int, default=8, help="--mode sigint: runs per command")
    parser.add_argument("--last", type=int, default=4, help="--mode torn: the last files written, each cut")
    parser.add_argument("--random-cuts", type=int, default=0, help="--mode torn: this many offsets drawn by --seed, not 0, 1, half, -1")
    parser.add_argument("--fractions", default="0.2,0.5,0.8,0.95", help="--mode disk")
    parser.add_argument("--files", nargs="*", default=None, help="--mode torn: these files of the folder (glob patterns) instead")
    args = parser.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    syn, truth = work / "syn", work / "truth.json"
    if not (syn / "meta.json").exists():
        flags = ["--dataset", "digits", "--ipc", "2", "--iterations", "4", "--batch-real", "8", "--device", "cpu", "--quiet"]
        subprocess.run([sys.executable, "-m", "nas_proxy", "distill", *flags, "--out", str(syn), "--force"], env=env, check=True)
    if not truth.exists():
        from nas_proxy.correlate.archs import from_space
        from nas_proxy.spaces import get_space

        archs = from_space(get_space("convnet-cpu"), 6, 0)
        truth.write_text(json.dumps([{"spec": a.spec, "accuracy": 60.0 + 3 * i} for i, a in enumerate(archs)]))
    rng = random.Random(args.seed)
    wanted = args.only or ["retry-sqlite", "retry-journal", "calibrate", "correlate"]
    with open(work / f"drills-{args.mode}.jsonl", "a") as log:
        for name in wanted:
            url = "sqlite:///s.db" if name.startswith("retry-sqlite") else "s.log"
            if name in stop59(syn):  # stop 59 (drill59): groundtruth, evaluate-kept, search-bruteforce
                argv, urls = stop59(syn)[name]
            elif name in stop60():  # stop 60 (drill60): train, evaluate-twice (a smaller evaluate-kept)
                argv, urls = stop60()[name]
            elif name.startswith("retry-"):
                argv, urls = search_argv(syn, url, args.n_trials, args.epochs), [url]
            elif name == "distill-nets":
                argv, urls = DISTILL_NETS, []
            elif name == "correlate-report":
                argv, urls = small(syn, truth)["correlate"]
            elif name == "search-workers":  # stop 58 (drill58): a search with a worker process, on a journal
                argv, urls = [*search_argv(syn, "s.log", args.n_trials, args.epochs), "--workers", "2"], ["s.log"]
            elif name == "synthetic":  # stop 58: a search reading a synthetic set whose last write was torn (--mode torn)
                argv, urls = search_argv(Path("syn"), "s.log", 1, 1), []
                if not (work / name / "ref" / "syn").exists():
                    shutil.copytree(syn, work / name / "ref" / "syn")
            elif name == "search-journal":  # stop 58: a one-worker search on a journal (--mode disk, torn)
                argv, urls = search_argv(syn, "s.log", args.n_trials, args.epochs), ["s.log"]
            elif name == "evaluate":  # stop 58: the standard protocol's trainings (writes nothing: prints its result)
                argv, urls = ["evaluate", str(syn), "--runs", "2", "--epochs", "20", "--device", "cpu", "--quiet", "--seed", "0"], []
            else:  # run: kill_drill_commands's tiny preset
                argv, urls = small(syn, truth).get(name, (["run", "tiny.toml", "--quiet"], ["studies/tiny/journal.log"]))
            rows: Any
            if args.mode in ("torn", "disk") and name != "synthetic":
                uninterrupted(work / name / "ref", argv)
            if args.mode == "sigint":
                base = retry_study(syn, url, work, args.first, args.epochs, args.fail_kind) if name.startswith("retry-") else None
                base = finished_correlation(work, argv) if name == "correlate-report" else base
                rows = sigint_drill(name, argv, base, work, args.runs, rng, args.sigint_within)
            elif args.mode == "torn":
                rows = torn_drill(name, argv, urls, work, args.last, rng if args.random_cuts else None, args.random_cuts, args.files)
            elif args.mode == "disk":
                rows = disk_drill(name, argv, urls, work, [float(f) for f in args.fractions.split(",")])
            elif name.startswith("retry-"):
                rows = retry_drill(syn, url, work, args.kills, rng, args.first, args.n_trials, args.epochs, args.episodes, args.fail_kind)
            else:
                rows = drill(name, argv, urls, work, args.kills, rng)
            print(json.dumps(rows), flush=True)
            log.write(json.dumps(rows) + "\n")


if __name__ == "__main__":
    main()
