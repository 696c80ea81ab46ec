"""What the GPU check's driver and its sections share: the plan (sizes and time budgets) and process helpers.

Imports nothing heavy (no torch): the driver (``gpu_check.py``) stays up even when a section's imports break.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SECTIONS = (  # priority order
    "environment",
    "tests",
    "distill",
    "proxy",
    "groundtruth",
    "evaluate",
    "fidelity",
    "distill-ablation",
    "distill-protocols",
    "paper-protocol",
    "trainer",
    "horizon",
    "groundtruth-converged",
    "fidelity-converged",
    "search-720",
    "groundtruth-wide",
)
# each takes several 5-minute calls, or (issue 20's) waits for the one before it: run only when --sections names it
ASKED_ONLY = SECTIONS[SECTIONS.index("distill-ablation") :]
TAIL_LINES = 25  # lines of a subprocess's output kept in results.json (the log has all of them)


@dataclass(frozen=True)
class Budget:
    """Seconds of one section: it starts only with ``minimum`` seconds, runs at most ``cap`` (None: all that
    is left), and leaves ``reserve_after`` seconds to the sections after it."""

    cap: float | None
    minimum: float
    reserve_after: float = 0.0


@dataclass(frozen=True)
class Plan:
    """Sizes of every section. ``make_plan`` gives the H100 plan (8 minutes in all) or the tiny CPU dry run."""

    device: str
    space: str  # the search space the proxy section samples
    distill_ipcs: tuple[int, ...] = (1, 10, 50)
    distill_repeats: int = 5  # timed steps per variant; distill() runs resume this often
    distill_warmup: int = 3
    distill_iterations: int = 20  # distill() iterations per timed resume
    batch_real: int = 64  # real images per class per step (DataDAM's official value)
    net_width: int = 128  # the distillation ConvNet's width (DistillConfig's)
    proxy_ipc: int = 10
    proxy_distill_iterations: int = 500  # the IPC-10 set the proxy trials train on, distilled in this run
    proxy_archs: int = 16  # one per FLOPs stratum of the space
    proxy_epochs: int | None = None  # None: ProxyConfig's default
    proxy_report_every: int | None = None
    full_epochs: int = 1  # the full-data training timed against each proxy trial
    full_batch: int = 256
    # proxy trials in K worker processes (the H100's 8 processes: 2.0x one, RESULTS.md §6; processes without MPS
    # take turns on the GPU), then K processes of S lanes each, a lane a thread with a CUDA stream of its own
    # (trials that overlap on the GPU inside one process: issue 20 item 6)
    workers: tuple[int, ...] = (1, 8)
    stream_pools: tuple[tuple[int, int], ...] = ((1, 4), (1, 8), (2, 8))
    pool_trials: int | None = 48  # trials per pool: the sampled specs in turn, a new seed each round (None: each once)
    project_epochs: tuple[int, ...] = (1, 10, 50)  # full-data epochs per candidate in the 720-space projection
    eval_runs: int = 5  # the field's evaluation protocol: 5 ConvNet-3, 1000 epochs each
    eval_epochs: int = 1000
    eval_model: str | None = None  # None: ConvNet-3 (width 128), as the field evaluates
    gt_workers: int = 8
    fid_sets: tuple[str, ...] = ("datadam", "dm", "random")  # the synthetic sets the fidelity section distils and scores
    fid_distill_iterations: int = 2000  # the DataDAM/DM sets the fidelity section scores (6.5 ms per iteration on an H100)
    fid_archs: int | None = None  # None: the whole ground-truth table; the dry run takes its smallest few
    fid_final_reserve_s: float = 20.0  # kept for the last fidelity.py run (per-architecture scores are kept without it)
    abl_variants: tuple[str, ...] = ()  # distill-ablation: distill_ablation.py's variants (empty: all of its table)
    abl_iterations: int = 8000  # {iterations} of the variants: the paper's
    abl_official_iterations: int = 20000  # {official_iterations}: the official code's
    abl_max_mflops: float | None = None  # None: all 70 evaluation architectures
    abl_n_archs: int | None = None
    abl_distill_args: str = ""  # more nasproxy distill flags for every optimised set
    # the table and split the ablation scores on, relative to the tree (None: the 3-epoch table and its 30/70 split);
    # once groundtruth-wide's table is committed with `split.py --extend` beside it:
    # "benchmarks/groundtruth/fashion-mnist-convnet720-wide.csv" and "benchmarks/groundtruth/split-wide.csv"
    abl_table: str | None = None
    abl_split: str | None = None
    # distill-protocols: the ablation's finished sets, each with the proxy protocol it ranks the calibration architectures
    # best with (protocol_per_set.py); the first is the base the others are compared with
    dp_sets: tuple[str, ...] = ("random-ipc10", "official-ipc10", "official-softlabels-ipc10", "random-softlabels-ipc10")
    dp_epochs: tuple[int, ...] = (25, 50, 100)
    dp_lrs: tuple[float, ...] = (0.01,)
    dp_dsa: tuple[str, ...] = ("on", "off")
    dp_max_mflops: float | None = None  # None: all 30 calibration and 70 evaluation architectures
    dp_n_archs: int | None = None
    pp_methods: tuple[str, ...] = ("datadam", "dm")  # paper-protocol: the sets evaluated with the field's protocol
    pp_ipcs: tuple[int, ...] = (10, 1, 50)  # in this order
    pp_iterations: tuple[int, int] = (8000, 20000)  # the paper's, then extended to the official code's
    pp_runs: int = 5  # networks per set
    pp_epochs: int = 1000
    tr_archs: int = 16  # trainer: FLOPs-stratified architectures timed with today's protocol and the fast one
    tr_epochs: int = 3  # epochs per timing (the first pays CUDA-graph capture and warm-up and is reported apart)
    tr_reserve_s: float = 30.0  # no new architecture with less left (no new variant of one with half of it)
    # the fast protocol with one option changed, timed beside it (gpu_trainer.option_variants): measured once on the H200
    # (RESULTS.md §20b: none pays on the median architecture), so off; name them to time them again
    tr_variants: tuple[str, ...] = ()
    tr_compile_archs: int = 3  # fast-compile, when named, on the first few architectures only (its compilation takes tens of seconds)
    gw_archs: int = 300  # groundtruth-wide: the 3-epoch table's architectures (its 100 first), 270 of them for evaluation
    hz_archs: int = 24  # horizon: stratified architectures (issue 20 asks 20-30)
    hz_horizons: tuple[int, ...] = (3, 6, 12, 24, 48)  # epochs with the fast protocol
    hz_seeds: tuple[int, ...] = (0, 1)
    hz_workers: int = 4  # horizon: trainings at once, one process each (1: in the section's own process)
    hz_min_left_s: float = 15.0  # no new training with less left (a 48-epoch training is ~5 s at the target speed)
    s7_space: str = "convnet720"  # search-720: the space searched whole, through the CLI (bruteforce: every architecture once)
    s7_trials: int = 720
    s7_workers: int = 8  # the proxy section's best pool on the H100 (RESULTS.md §6: 25,680 trials per hour)
    # the paper's 8,000 (51 s on the H200), not distill's default 20,000 (116 s: alone near issue 20's 2-minute target
    # for the whole search); RESULTS.md §20a could not tell the two apart on the evaluation architectures
    s7_distill_iterations: int | None = 8000
    s7_distill_args: str = ""  # more nasproxy distill flags
    s7_pruner: str = "none"  # every architecture gets its whole proxy score (the default median pruner stops some)
    s7_promote: int = 3
    s7_promote_epochs: int | None = None  # None: the search's default (the ground truth's 10)
    s7_second_proxy: str | None = "random-ipc10"  # then the same search with this proxy on the real data, if time is left
    s7_promote_reserve_s: float = 40.0  # the search's --timeout leaves this much of the call to its promotion
    s7_min_left_s: float = 30.0  # no phase starts with less left (besides the state's reserve)
    final_reserve_s: float = 20.0  # the report and packing at the end, and a late section's kill (gpu_check.KILL_GRACE_S x 2)
    fabricate: bool = False  # a tiny fabricated Fashion-MNIST instead of the real files
    budgets: dict[str, Budget] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        tuples = {k: tuple(tuple(x) if isinstance(x, list) else x for x in v) for k, v in data.items() if isinstance(v, list)}
        budgets = {k: Budget(**v) for k, v in data["budgets"].items()}
        return cls(**{**data, **tuples, "budgets": budgets})


# H100 seconds, measured guesses until the first run: the ground-truth table gets whatever the others leave
GPU_BUDGETS = {
    "environment": Budget(cap=30, minimum=5),
    "tests": Budget(cap=90, minimum=20),
    "distill": Budget(cap=90, minimum=30),
    "proxy": Budget(cap=240, minimum=60),
    "groundtruth": Budget(cap=None, minimum=30, reserve_after=45),  # leaves the evaluation its ~45 s
    "evaluate": Budget(cap=None, minimum=25),
    "fidelity": Budget(cap=None, minimum=90),  # asked for alone (--sections fidelity): all that is left
    "distill-ablation": Budget(cap=300, minimum=60),  # resumable across calls: 5 minutes each
    "distill-protocols": Budget(cap=300, minimum=60),
    "paper-protocol": Budget(cap=300, minimum=60),
    "trainer": Budget(cap=300, minimum=60),  # issue 20: 5 minutes a call; horizon and the converged table resume
    "horizon": Budget(cap=300, minimum=60),
    "groundtruth-converged": Budget(cap=300, minimum=60),
    "fidelity-converged": Budget(cap=300, minimum=90),
    "search-720": Budget(cap=300, minimum=60),  # the whole search measured in one call; resumable when a call cannot finish it
    "groundtruth-wide": Budget(cap=300, minimum=60),  # issue 18's power: ~7 minutes of 8 H100 workers per 100 new architectures
}


def make_plan(dry_run: bool) -> Plan:
    if not dry_run:
        return Plan(device="cuda", space="convnet720", budgets=GPU_BUDGETS)
    return Plan(
        device="cpu",
        space="convnet-cpu",  # convnet720's biggest nets take minutes per epoch on a CPU
        distill_ipcs=(2,),
        distill_repeats=1,
        distill_warmup=0,
        distill_iterations=1,
        batch_real=4,
        net_width=8,
        proxy_distill_iterations=2,
        proxy_archs=2,
        proxy_epochs=2,
        proxy_report_every=1,
        full_batch=64,
        workers=(1, 2),
        stream_pools=((1, 2),),  # two lanes on the CPU: their trials must score as the in-process rows do
        pool_trials=None,
        eval_runs=2,
        eval_epochs=2,
        eval_model="depth=3,width=8",
        gt_workers=2,
        fid_distill_iterations=2,
        fid_archs=3,
        fid_final_reserve_s=20.0,
        # spaceaware draws its networks from convnet720; the soft-label set its teachers (batch norm among them)
        abl_variants=("random-ipc10", "datadam-ipc10", "spaceaware-ipc10", "random-softlabels-ipc10-seed1"),
        abl_iterations=2,
        abl_official_iterations=3,
        abl_max_mflops=2.0,
        abl_n_archs=3,
        abl_distill_args="--batch-real 4",
        dp_sets=("random-ipc10", "datadam-ipc10"),
        dp_epochs=(1, 2),
        dp_dsa=("on",),
        dp_max_mflops=3.0,
        dp_n_archs=3,
        pp_methods=("datadam",),
        pp_ipcs=(1,),
        pp_iterations=(2, 3),
        pp_runs=2,
        pp_epochs=2,
        tr_archs=2,
        tr_epochs=2,
        # named so the dry run passes them through the section; on a CPU the CUDA-only ones are the fast protocol
        # itself and are dropped, and fast-compile runs on tr_compile_archs (0) architectures: none trains here
        tr_variants=("fast-nchw", "fast-eager", "fast-cudnn-benchmark", "fast-compile"),
        tr_compile_archs=0,  # torch.compile on a CPU needs a C++ compiler and minutes: the GPU run times it
        tr_reserve_s=5.0,
        hz_archs=3,
        hz_horizons=(1, 2),
        hz_workers=1,  # in the section's process (the pool: tests/project/test_gpu_trainer.py's drill compares it with this)
        hz_min_left_s=2.0,
        gw_archs=5,  # build.py's dry run: at most 5
        s7_space="convnet-small",  # 6 architectures: the dry run also searches its space whole
        s7_trials=6,
        s7_workers=2,
        s7_distill_iterations=2,
        s7_distill_args="--batch-real 4",
        s7_promote=1,
        s7_promote_epochs=1,
        s7_promote_reserve_s=30.0,
        s7_min_left_s=10.0,
        final_reserve_s=12.0,
        fabricate=True,
        budgets={  # 3x the GPU caps: on a loaded CPU a dry run must not lose a section to its limit
            **{k: Budget(3 * b.cap, b.minimum) for k, b in GPU_BUDGETS.items() if b.cap is not None},
            "groundtruth": Budget(cap=60, minimum=10, reserve_after=20),
            "evaluate": Budget(cap=150, minimum=5),
            "fidelity": Budget(cap=None, minimum=10),
            "distill-ablation": Budget(cap=240, minimum=10),
            "distill-protocols": Budget(cap=120, minimum=10),
            "paper-protocol": Budget(cap=120, minimum=10),
        },
    )


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``; None when it is missing, unreadable, cut short or not an object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def set_finished(folder: Path, iterations: int | None = None) -> bool:
    """Whether the synthetic set in ``folder`` is whole: its ``meta.json`` written (at ``iterations`` or
    more, when given) and, where its config asks for soft labels, those labels in it (``nasproxy
    distill`` writes meta.json when its loop ends, before the teachers train: a stop between the two
    leaves a set without the labels it was asked for)."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return False
    teachers = (meta.get("config", {}).get("soft_labels") or {}).get("teachers", 0)
    return (iterations is None or meta.get("iterations_done", 0) >= iterations) and (not teachers or "soft_labels" in meta)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Replace ``path`` atomically: a reader (or a kill) never sees half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    tmp.replace(path)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)  # signal 0: only asks whether any process of the group is left
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(proc: subprocess.Popen[Any], grace: float = 10.0) -> None:
    """End ``proc`` and every process of its group (started with ``start_new_session``): SIGTERM, SIGKILL after ``grace``."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        end = time.monotonic() + wait
        while time.monotonic() < end:
            proc.poll()  # reap the leader, or the group never looks empty
            if not group_alive(proc.pid):
                return
            time.sleep(0.1)
    proc.poll()


@dataclass
class Ran:
    """How a subprocess ended: its exit code (None: stopped at its time limit), seconds and last lines."""

    code: int | None
    seconds: float
    tail: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"exit_code": self.code, "seconds": round(self.seconds, 1), "timed_out": self.code is None, "output_tail": self.tail}


@contextlib.contextmanager
def terminated_as_exit() -> Iterator[None]:
    """SIGTERM raises SystemExit(143) here, so ``finally`` blocks run (Python's default dies at once): the
    process groups a section started (``run_group``) are stopped with it, and a resumable section packs its
    state. While a ``nasproxy distill`` runs in this process its own handler takes the signal (it checkpoints,
    or raises KeyboardInterrupt, which runs them too) and ``distill_ablation.run_distill`` then exits."""

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(143)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_group(cmd: list[str], timeout: float, cwd: Path, grace: float = 10.0, stdout: Path | None = None) -> Ran:
    """Run ``cmd`` in its own process group, echo its output, keep its last lines; stop it after ``timeout`` s.
    ``stdout``: the command's standard output goes to this file whole (a ``--json`` result); its
    standard error alone is echoed and kept."""
    t0 = time.perf_counter()
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    sink = None if stdout is None else stdout.open("w")
    try:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            stdout=subprocess.PIPE if sink is None else sink,
            stderr=subprocess.STDOUT if sink is None else subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    finally:
        if sink is not None:
            sink.close()  # the child has its own copy
    echoed = proc.stdout if sink is None else proc.stderr

    def pump() -> None:
        assert echoed is not None
        for line in echoed:
            print(line, end="", flush=True)
            tail.append(line.rstrip("\n"))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    code: int | None = None
    try:
        code = proc.wait(timeout=max(timeout, 1.0))
    except subprocess.TimeoutExpired:
        pass
    finally:  # also a SIGTERM raised here as SystemExit (gpu_ablation.terminated_as_exit): the group stops before its state is packed
        stop_group(proc, grace)  # also ends what it left running (its workers) once it has exited
    reader.join(timeout=5.0)
    if echoed is not None and not reader.is_alive():  # read to its end: closed here (before fix62c, left to the garbage
        echoed.close()  # collector: a ResourceWarning); one still read (held by a process the group left) stays with its thread
    return Ran(code, time.perf_counter() - t0, list(tail))
