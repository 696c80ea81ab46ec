"""The prepared GPU check behind ``make bench-gpu``: everything one short GPU lease can show.

Sections run in priority order, each in its own process (``gpu_sections.py``) under its own time limit and a
global deadline (``--budget-seconds``); a section that fails, times out or is skipped does not stop the
others. After each section ``results.json`` is rewritten, so a run killed from outside still leaves what
finished; the last step writes ``gpu_results.md``, a section ready to paste into ``benchmarks/RESULTS.md``.
A run stopped from outside (SIGTERM, as a time limit sends it; Ctrl-C; SIGHUP) passes the signal to the running
section's process group, records the section as interrupted with what it finished (a resumable section packs its
state), skips the rest, writes both files and exits 128 + the signal's number.

1. ``environment``: nvidia-smi, torch / CUDA / driver versions, the device name;
2. ``tests``: ``pytest -m gpu tests`` (pass / fail / skip counts);
3. ``distill``: ``distill_speed.py`` at IPC 1/10/50, bf16 autocast on and off (seconds per step, peak memory);
4. ``proxy``: proxy trials per hour on a FLOPs-stratified sample of convnet720 with 1/2/4/8 worker processes,
   the full-data epoch of the same architectures, and the projected cost of searching the whole space;
5. ``groundtruth``: ``benchmarks/groundtruth/build.py`` (the Fashion-MNIST ground-truth table) until the deadline;
6. ``evaluate``: the field's protocol (1000 epochs, 5 ConvNets) on the IPC-10 set distilled in section 4;
7. ``fidelity``: every proxy on every architecture of the ground-truth table (``gpu_fidelity.py``);
8. ``distill-ablation``, 9. ``distill-protocols`` and 10. ``paper-protocol`` (``gpu_ablation.py``, only when
   ``--sections`` names them): issue 18's ablation on the 70 evaluation architectures, its sets each with the proxy
   protocol chosen for it on the 30 calibration architectures, and the paper's evaluation protocol, 5 minutes a
   call, resumed by the next call from the state each packs into OUT;
11.-14. ``trainer``, ``horizon``, ``groundtruth-converged``, ``fidelity-converged`` (``gpu_trainer.py``) and 15. ``search-720``
   (``gpu_search.py``: the whole 720-architecture search through the CLI, distillation + trials + promotion, by wall
   clock), issue 20's, only when ``--sections`` names them, resumable as 8-10; 16. ``groundtruth-wide``
   (``gpu_trainer.py``): the 3-epoch table widened to ``Plan.gw_archs`` architectures from the H100 run's journal,
   so that issue 18's ablation has the evaluation architectures its target needs (benchmarks/power.py), as 8-10.

``--dry-run`` runs every section on CPU with tiny sizes and a fabricated Fashion-MNIST (tests/project/test_gpu_check.py).
Run it through ``benchmarks/gpu_check.sh``; benchmarks/README.md has the commands.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

# benchmarks/ (this script's folder) is on sys.path
from gpu_common import ASKED_ONLY, SECTIONS, Plan, make_plan, read_json, stop_group, write_json
from gpu_report import render

ROOT = Path(__file__).resolve().parent.parent
SECTIONS_SCRIPT = Path(__file__).resolve().parent / "gpu_sections.py"
GPU_BUDGET_S = 480.0  # 8 minutes on one H100, the wheel install included
DRY_RUN_BUDGET_S = 1500.0  # the dry run's numbers mean nothing: room for a loaded CPU
BUDGET_MAX_S = 86_400.0  # the longest --budget-seconds: a day (a longer one, or inf or nan, is a slip, and no deadline)
KILL_GRACE_S = 5.0  # a section past its limit by this much gets SIGTERM (its process group), SIGKILL this much later
MAX_OUT_FILES = 8  # what the GPU machine sends back: at most 8 files, no deeper than OUT/a/b/file
KEEP_SUFFIXES = (".csv", ".md", ".json")  # ground-truth files kept unpacked when OUT holds too many files
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)  # from outside: a lease's time limit, Ctrl-C, a closed terminal
# nohup's SIGHUP stays ignored, as bash leaves gpu_check.sh's; SIGINT is taken even when ignored: a script starts every
# background job so, this driver included
KEPT_IGNORED = (signal.SIGHUP,)
POLL_S = 0.2  # how often a running section is checked for its end, its limit and a stop signal


class Stop:
    """The first stop signal received, noted by the handler and acted on where it is safe: a section runs in
    its own process group, which a signal sent to the driver's group (``timeout`` does so) does not reach,
    so the driver passes it on, records what finished and writes its report before it exits."""

    signum: int | None = None

    @classmethod
    def note(cls, signum: int, _frame: object) -> None:
        if cls.signum is None:
            cls.signum = signum

    @classmethod
    def name(cls) -> str:
        return signal.Signals(cls.signum).name if cls.signum else ""

    @classmethod
    def take(cls) -> None:
        """Note the stop signals from now on (the first thing ``main`` does), an ignored SIGHUP excepted."""
        for sig in STOP_SIGNALS:
            if not (sig in KEPT_IGNORED and signal.getsignal(sig) is signal.SIG_IGN):
                signal.signal(sig, cls.note)

    @classmethod
    def noted_before(cls, stops: Path) -> None:
        """gpu_check.sh's folder: say that the handlers are in place (``ready``), then read the signal it noted
        before then (``signal``, its number), which reached this process while it could not take it, or not at
        all. One noted after ``ready`` is passed on to this process by the script, and lands in the handler."""
        (stops / "ready").touch()
        with contextlib.suppress(FileNotFoundError):
            cls.note(int((stops / "signal").read_text()), None)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from nas_proxy.cli.common import ScriptParser

    p = ScriptParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="results folder (gpu_check.sh passes $OUT)")
    p.add_argument(
        "--budget-seconds", type=float, default=None, help="global deadline: all sections and the report end by then (480; dry run 1500)"
    )
    p.add_argument(
        "--started-at", type=float, default=None, help="when the budget began, seconds since the epoch (gpu_check.sh: its start)"
    )
    p.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes, a fabricated Fashion-MNIST: checks the script itself")
    p.add_argument(
        "--sections",
        default=",".join(s for s in SECTIONS if s not in ASKED_ONLY),
        help=f"comma-separated subset of {','.join(SECTIONS)} (environment always runs; {', '.join(ASKED_ONLY)} only when named)",
    )
    p.add_argument("--data-root", default=None, help="folder with the four Fashion-MNIST IDX files (default: nas_proxy's)")
    p.add_argument("--seed", type=int, default=0, help="the architecture sample, distillation and trainings")
    p.add_argument("--commit", default=None, help="git commit to record when the tree carries no .git")
    p.add_argument("--command", default=None, help="the command line to record (gpu_check.sh passes its own)")
    # gpu_check.sh's folder where it notes a stop signal received before this process took one (Stop.noted_before)
    p.add_argument("--stops", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument(
        "--fidelity-sets",
        default=None,
        help="fidelity section: comma-separated subset of datadam,dm,random to distil and score (default all)",
    )
    args = p.parse_args(argv)
    args.sections = ["environment"] + [s.strip() for s in args.sections.split(",") if s.strip()]  # provenance always
    unknown = sorted(set(args.sections) - set(SECTIONS))
    if unknown:
        p.error(f"--sections must be among {', '.join(SECTIONS)}; got {', '.join(unknown)}")
    if args.budget_seconds is None:
        args.budget_seconds = DRY_RUN_BUDGET_S if args.dry_run else GPU_BUDGET_S
    # nan and inf (and 1e300) were taken before probe45: no deadline, so no section was ever stopped nor the report
    # written before the machine's lease ran out; nan also failed 'budget <= 0'
    if not 0 < args.budget_seconds <= BUDGET_MAX_S:
        p.error(f"--budget-seconds must be more than 0 and at most {BUDGET_MAX_S:,.0f} (a day), got {args.budget_seconds}")
    if args.started_at is not None and not 0 <= args.started_at <= time.time():
        p.error(f"--started-at must be a past time in seconds since the epoch (date +%s), got {args.started_at}")
    if args.seed < 0:  # numpy refuses a negative seed, inside each section (probe45)
        p.error(f"--seed must be at least 0, got {args.seed}")
    return args


def git_commit(given: str | None) -> str:
    if given:
        return given
    try:
        done = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=20, check=False)
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown (git not available)"
    if done.returncode != 0:
        return "unknown (no .git here: pass --commit)"
    return done.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def run_section(name: str, plan: Plan, context: Path, work: Path, limit: float) -> dict[str, Any]:
    """Run one section in its own process group with ``limit`` seconds; its JSON holds what it finished."""
    out = work / f"{name}.json"
    out.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        str(SECTIONS_SCRIPT),
        name,
        "--context",
        str(context),
        "--json",
        str(out),
        "--deadline",
        f"{time.time() + limit:.3f}",
    ]
    print(f"[gpu_check] section {name}: up to {limit:.0f} s", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True)
    end = time.monotonic() + limit + KILL_GRACE_S  # the section watches its own deadline first
    code: int | None = proc.poll()
    while code is None and Stop.signum is None and time.monotonic() < end:
        time.sleep(POLL_S)
        code = proc.poll()
    stop_group(proc, KILL_GRACE_S)  # at its limit or on a stop signal; also ends what it left running once it has exited
    seconds = time.perf_counter() - t0
    data = read_json(out) or {}
    result: dict[str, Any] = {"seconds": round(seconds, 1), "limit_seconds": round(limit, 1), **data}
    if code is None and Stop.signum is not None:
        result["status"] = "interrupted"
        result["reason"] = f"the check was stopped by {Stop.name()} after {seconds:.0f} s; the numbers below are what finished"
    elif code is None:
        result["status"] = "timeout"
        result["reason"] = f"stopped at its limit of {limit:.0f} s; the numbers below are what finished"
    elif code != 0:
        result["status"] = "failed"
        result.setdefault("reason", f"exit status {code} (the log has the traceback)")
    else:
        result.setdefault("status", "ok")
    print(
        f"[gpu_check] section {name}: {result['status']} in {seconds:.0f} s{'; ' + result['reason'] if result.get('reason') else ''}",
        flush=True,
    )
    return result


def limit_for(name: str, plan: Plan, left: float) -> float:
    """This section's seconds: its cap, but never eating the time reserved for the sections after it."""
    budget = plan.budgets[name]
    usable = left - budget.reserve_after
    return min(budget.cap, usable) if budget.cap is not None else usable


def fit_out(out: Path) -> list[str]:
    """Keep OUT within what the GPU machine sends back (``MAX_OUT_FILES`` files, OUT/a/b/file at most):
    when the ground-truth folder breaks that, pack it whole into groundtruth.tar.gz and keep its small
    tables unpacked beside. Returns what was done, for the log."""
    gt = out / "groundtruth"
    files = [p for p in out.rglob("*") if p.is_file()]
    too_deep = [p for p in files if len(p.relative_to(out).parts) > 3]
    if not gt.is_dir() or (len(files) <= MAX_OUT_FILES and not too_deep):
        return []
    with tarfile.open(out / "groundtruth.tar.gz", "w:gz") as tar:
        tar.add(gt, arcname="groundtruth")
    kept = sorted(
        (p for p in gt.rglob("*") if p.is_file() and p.suffix in KEEP_SUFFIXES),
        key=lambda p: (KEEP_SUFFIXES.index(p.suffix), p.stat().st_size),
    )
    others = len([p for p in out.iterdir() if p.is_file()])
    keep = kept[: max(0, MAX_OUT_FILES - others)]
    staged = out / ".groundtruth-kept"
    staged.mkdir()
    for p in keep:
        shutil.copy2(p, staged / p.name)
    shutil.rmtree(gt)
    staged.rename(gt)
    return [
        f"packed groundtruth/ ({len(files)} files in OUT) into groundtruth.tar.gz; kept {', '.join(p.name for p in keep) or 'nothing'} unpacked"
    ]


def main(argv: list[str] | None = None) -> int:
    Stop.take()
    args = parse_args(argv)
    if args.stops is not None:
        Stop.noted_before(args.stops)
    start = args.started_at or time.time()  # the wheel install before this process counts too
    deadline = start + args.budget_seconds
    out = args.out.resolve()
    work = out.parent / f".{out.name}-work" if args.dry_run else ROOT / "benchmarks" / "out" / f"gpu-work-{int(start)}"
    work.mkdir(parents=True, exist_ok=True)
    plan = make_plan(args.dry_run)
    if args.fidelity_sets:
        plan = replace(plan, fid_sets=tuple(s.strip() for s in args.fidelity_sets.split(",") if s.strip()))
    if args.dry_run:  # one thread per process: the dry run shares a small machine with other work
        os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    commit = git_commit(args.commit)
    context = work / "context.json"
    paths = {"out": str(out), "work": str(work), "data_root": args.data_root, "root": str(ROOT)}
    known = None if commit.startswith("unknown") else commit.split()[0]  # the hash alone, for the ground-truth rows
    write_json(context, {"plan": plan.to_dict(), **paths, "seed": args.seed, "commit": known})
    results: dict[str, Any] = {
        "run": {
            "command": args.command or " ".join([sys.executable, *sys.argv]),
            "commit": commit,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)),
            "budget_seconds": args.budget_seconds,
            "dry_run": args.dry_run,
            "seed": args.seed,
            "plan": plan.to_dict(),
        },
        "sections": {},
    }
    for name in SECTIONS:
        left = deadline - plan.final_reserve_s - time.time()
        if Stop.signum is not None and name in args.sections:
            results["sections"][name] = {"status": "skipped", "reason": f"the check was stopped by {Stop.name()} before it"}
        elif name not in args.sections:
            results["sections"][name] = {"status": "skipped", "reason": "not in --sections"}
        else:
            limit = limit_for(name, plan, left)
            if limit < plan.budgets[name].minimum:
                reason = f"only {max(limit, 0):.0f} s left for it (it needs at least {plan.budgets[name].minimum:.0f} s)"
                print(f"[gpu_check] section {name}: skipped: {reason}", flush=True)
                results["sections"][name] = {"status": "skipped", "reason": reason}
            else:
                results["sections"][name] = run_section(name, plan, context, work, limit)
        write_json(out / "results.json", results)
    results["run"]["seconds"] = round(time.time() - start, 1)
    results["run"]["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    write_json(out / "results.json", results)
    markdown = render(results)
    (out / "gpu_results.md").write_text(markdown)
    for line in fit_out(out):
        print(f"[gpu_check] {line}", flush=True)
    print("\n" + markdown, flush=True)  # also in the log and at the end of the console output
    print(f"[gpu_check] done in {time.time() - start:.0f} s: {out / 'results.json'}, {out / 'gpu_results.md'}", flush=True)
    if Stop.signum is not None:
        return 128 + Stop.signum
    return 0 if all(s.get("status") in ("ok", "skipped") for s in results["sections"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
