"""Build the ground-truth table: stratified architectures trained on the full training split, two seeds.

    python3 benchmarks/groundtruth/build.py --device cuda --workers 8 --out DIR --deadline-seconds 240
    python3 benchmarks/groundtruth/build.py --dry-run --out /tmp/gt   # seconds on CPU: digits, tiny sizes

The trainings are the trials of the project's own ground-truth studies (nas_proxy.correlate.
ground_truth; one enqueued trial per architecture and seed), run by nasproxy worker processes,
stored in a journal in --out: rerun the same command and finished trainings are reused, the rest
continue. The workers end with this process, kill -9 included (each watches it: nas_proxy.cli.worker_process).
``nasproxy correlate --full-epochs E --gt-storage OUT/groundtruth.journal`` on the same data reuses them too
(same study name).

Order of the work (so that a deadline leaves a useful table): the main pass trains seed 0 of every
planned architecture, block by block (each block of 20 holds every value of every dimension), then
seed 1 in the same order; the long pass (3x the epochs, seed 0, the first block) runs beside it on
an eighth of the workers (at least one) and gets all of them once the main pass is done. Seed 0 first because
proxies are ranked against seed 0 and their intervals narrow with architectures; seed 1 is the
ceiling, which needs fewer architectures to be well estimated.

Outputs in --out: plan.csv (written before any training), DATASET-SPACE.csv (one row per finished
architecture and seed), DATASET-SPACE-long.csv (the longer training), provenance.json and
provenance.md (protocol, device, commit, progress, seed agreement, agreement with the longer run).
The tables are rewritten while the run goes, so even a killed run leaves them.
"""

from __future__ import annotations

import time

STARTED = time.monotonic()  # the deadline counts from here, imports included

import argparse  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
POLL_SECONDS = 1.0  # how often the scheduler looks at the workers and the queue
WRITE_SECONDS = 15.0  # how often the tables are rewritten during the run
STOP_GRACE = 10.0  # seconds a worker gets to leave after Ctrl-C before it is killed
MAX_CRASHES = 8  # workers exiting with an error before the run gives up (a broken setup, not a bad architecture)
STOP_RESERVE = 20.0  # seconds before the deadline at which the workers are told to stop


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from nas_proxy.cli.common import ScriptParser

    p = ScriptParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("benchmarks/out/groundtruth"), help="output folder (default %(default)s)")
    p.add_argument("--dataset", default="fashion-mnist", help="real data (default %(default)s)")
    default_root = REPO / ".data" / "fashion-mnist"  # where the GPU machine has the IDX files
    p.add_argument("--data-root", help=f"the dataset's files (default: {default_root} when it exists, else the dataset's own default)")
    p.add_argument("--space", default="convnet720", help="search space (default %(default)s)")
    p.add_argument("--n-archs", type=int, default=100, help="architectures in the table (default %(default)s)")
    p.add_argument("--block-size", type=int, default=20, help="architectures per stratified block (default %(default)s)")
    p.add_argument("--plan-seed", type=int, default=0, help="seed of the stratified draw (default %(default)s)")
    p.add_argument(
        "--max-mflops", type=float, default=1000.0, help="cap on forward MFLOPs per image; 0: none (default %(default)s, see README)"
    )
    p.add_argument("--seeds", default="0,1", help="training seeds, the first is the table's (default %(default)s)")
    p.add_argument("--epochs", type=int, default=3, help="epochs on the training split (default %(default)s, see README)")
    p.add_argument("--long-epochs", type=int, help="epochs of the longer training (default 3x --epochs)")
    p.add_argument("--long-archs", type=int, help="architectures (the first of the plan) trained longer (default: one block)")
    p.add_argument("--lr", type=float, help="SGD learning rate (default: the ground-truth study's)")
    p.add_argument("--batch-size", type=int, help="batch size (default: the ground-truth study's)")
    p.add_argument("--images", type=int, help="training images (default: the whole training split)")
    fast = p.add_argument_group("the fast trainer's options (nas_proxy.protocols.FastTrainConfig; all off: today's protocol)")
    fast.add_argument("--schedule", default="step", help="lr schedule: step, cosine or onecycle (default %(default)s)")
    fast.add_argument("--warmup", type=float, default=0.0, help="cosine/onecycle: warm-up fraction of the steps (default %(default)s)")
    fast.add_argument("--label-smoothing", type=float, default=0.0, help="(default %(default)s)")
    fast.add_argument("--drop-last", action="store_true", help="skip each epoch's last smaller batch")
    fast.add_argument("--channels-last", action="store_true", help="NHWC on CUDA")
    fast.add_argument("--cuda-graph", action="store_true", help="the step as one CUDA graph (with --drop-last)")
    fast.add_argument("--name-suffix", default="", help="after DATASET-SPACE in the tables' names, e.g. -converged (default none)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default %(default)s)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default %(default)s)")
    p.add_argument("--long-workers", type=int, help="of them, on the longer training while both queues wait (default workers // 8, >= 1)")
    p.add_argument("--deadline-seconds", type=float, help="leave (tables written) within this many seconds of the start")
    p.add_argument("--storage", help="Optuna storage of the trainings (default: journal OUT/groundtruth.journal)")
    p.add_argument("--commit", help="the code's commit, recorded in every row (default: git, else $NASPROXY_COMMIT)")
    p.add_argument("--dry-run", action="store_true", help="a CPU smoke run in seconds: digits, 5 architectures, 2 epochs, tiny networks")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.dry_run:  # tiny sizes; explicit flags given with --dry-run still win where it makes sense
        args.dataset, args.device = "digits", "cpu"
        args.n_archs = min(args.n_archs, 5)
        args.block_size = 5
        args.epochs = 2 if args.epochs == p.get_default("epochs") else args.epochs
        args.images = args.images or 256  # one step per epoch
        args.max_mflops = 7.0  # at 16x16: deep networks only narrow and pooled, width 256 only at depth 1
        args.long_archs = 2 if args.long_archs is None else args.long_archs
        args.workers = min(args.workers, 2)
    if args.data_root is None and args.dataset == "fashion-mnist" and default_root.is_dir():
        args.data_root = str(default_root)
    args.long_epochs = args.long_epochs or 3 * args.epochs
    args.long_archs = args.block_size if args.long_archs is None else args.long_archs
    args.long_workers = max(1, args.workers // 8) if args.long_workers is None else args.long_workers
    return args


def check_args(args: argparse.Namespace) -> list[int]:
    from nas_proxy.errors import InvalidArgumentError

    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        raise InvalidArgumentError(f"--seeds takes comma-separated integers such as 0,1; got {args.seeds!r}") from None
    if len(seeds) < 1 or len(set(seeds)) != len(seeds):
        raise InvalidArgumentError(f"--seeds must list distinct seeds, got {args.seeds!r}")
    for name in ("n_archs", "workers", "epochs", "long_epochs", "block_size"):
        if getattr(args, name) < 1:
            raise InvalidArgumentError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.long_archs < 0 or args.long_workers < 0 or args.max_mflops < 0:
        raise InvalidArgumentError("--long-archs, --long-workers and --max-mflops must be at least 0")
    if args.deadline_seconds is not None and args.deadline_seconds <= 0:
        raise InvalidArgumentError(f"--deadline-seconds must be positive, got {args.deadline_seconds}")
    return seeds


def commit(given: str | None) -> str:
    if given:
        return given
    try:
        head = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True, text=True, timeout=30)
        if head.returncode == 0 and head.stdout.strip():
            return head.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return os.environ.get("NASPROXY_COMMIT", "unknown")


class Workers:
    """nasproxy worker processes (``nas_proxy.cli.worker_process``), each bound to one study, started and stopped here."""

    def __init__(self, args: argparse.Namespace, url: str, logs: Path) -> None:
        self.args, self.url, self.logs = args, url, logs
        self.procs: list[tuple[subprocess.Popen[bytes], str]] = []
        self.started = 0
        self.crashed = 0  # workers that exited with an error (not stopped by us)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // args.workers)))  # the workers share the cores
        self.env = env

    def alive(self, study: str | None = None) -> int:
        self.crashed += sum(1 for p, _ in self.procs if p.poll() not in (None, 0))
        self.procs = [(p, s) for p, s in self.procs if p.poll() is None]
        return sum(1 for _, s in self.procs if study is None or s == study)

    def start(self, study: str) -> None:
        """One worker on ``study``: nasproxy's own worker process (``nas_proxy.studies.workers.worker_command``), told
        this process's id; once this process has ended, kill -9 included, it stops as on SIGTERM (its training failed as
        interrupted, trained again by the same command run again). Before fix60 the workers were ``nasproxy worker``
        commands, which outlived a builder killed -9 and went on training its queue beside the next run. Through a pidfd,
        not ``prctl(PR_SET_PDEATHSIG)``: that fires when the thread that started the worker ends, and only for a parent
        (nas_proxy.cli.worker_process._watch)."""
        from nas_proxy.studies.kinds import WorkerOptions
        from nas_proxy.studies.workers import start_held, worker_command

        cmd = worker_command(study, self.url, WorkerOptions(device=self.args.device, data_root=self.args.data_root))
        self.logs.mkdir(parents=True, exist_ok=True)
        # the worker writes into its own copy of the log: this one closed once it started, or could not (fix61c: leaked)
        with (self.logs / f"worker-{self.started}.log").open("ab") as log:
            # SIGINT back to its default: a shell or a runner may start this script with it ignored; the signals held until
            # the worker's handlers are in place (start_held: a Ctrl-C while it starts is then its one line, not a traceback)
            worker = start_held(cmd, env=self.env, stdout=log, stderr=log, preexec_fn=_sigint_default)
        self.procs.append((worker, study))
        self.started += 1

    def stop(self) -> None:
        """Ctrl-C to every worker (its training is failed as interrupted, re-queued by the next run);
        killed after STOP_GRACE seconds."""
        for p, _ in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        until = time.monotonic() + STOP_GRACE
        while self.alive() and time.monotonic() < until:
            time.sleep(0.2)
        for p, _ in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.procs = []


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def release(study: Any, storage: Any) -> None:
    """With no worker running (before they start, after they stopped): trainings left RUNNING are failed as interrupted, so that the next
    run trains them again (on another machine too, where the dead workers' pids mean nothing).

    Assumes this run's workers were the only ones on its studies (one builder per storage)."""
    from optuna.trial import TrialState

    from nas_proxy.groundtruth import study as gt

    gt.fail_dead_trials(study, storage)  # killed workers' trainings: failed and re-queued
    study_id = storage.get_study_id_from_name(study.study_name)
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):  # taken by a worker stopped before it said so
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
        storage.set_trial_user_attr(trial_id, "interrupted", True)
        storage.set_trial_state_values(trial_id, TrialState.FAIL)


class StopRequestedError(BaseException):  # a signal, as KeyboardInterrupt
    """SIGTERM: stop as at the deadline. A BaseException, as KeyboardInterrupt: no ``except Exception`` of the code it lands
    in takes it for that code's error (review62: one in the storage's opening said "cannot open storage ...", exit 2)."""


INTERRUPTED = "build.py: interrupted; the finished trainings are kept in the journal: run the same command again"
INTERRUPTED_BY_SIGTERM = INTERRUPTED.replace("interrupted", "interrupted by SIGTERM", 1)


def _on_term(signum: int, frame: Any) -> None:
    raise StopRequestedError


def main(argv: list[str] | None = None) -> int:
    """Ctrl-C anywhere from here on: exit 130 and one line (before drill59, a Ctrl-C before the training loop, in the
    imports or the data's loading, ended in a traceback, and one inside it said nothing under --quiet). SIGTERM (a
    scheduler's pre-emption, ``docker stop``): exit 143 and its line, as nasproxy's commands (before drill61 it was
    caught in the training loop alone, and exited 130 there; before the loop it killed the script without a word)."""
    previous = signal.signal(signal.SIGTERM, _on_term)
    try:
        code = _main(argv)
    except KeyboardInterrupt:
        code = 130
    except StopRequestedError:
        code = 143
    finally:
        signal.signal(signal.SIGTERM, previous)
    if code in (130, 143):
        print(INTERRUPTED if code == 130 else INTERRUPTED_BY_SIGTERM, file=sys.stderr)
    return code


def _main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path[:0] = [str(REPO), str(HERE.parent)]  # nas_proxy from this checkout, benchmarks/provenance.py
    from nas_proxy.cli import quiet_libraries
    from nas_proxy.errors import NasProxyError

    quiet_libraries()  # as nasproxy's commands: before stop 46 Optuna's "[I ...] A new study created" came before each run's lines
    try:
        seeds = check_args(args)
        return run(args, seeds)
    except NasProxyError as e:
        print(f"build.py: error: {' '.join(str(e).split())}", file=sys.stderr)
        return e.exit_code


def run(args: argparse.Namespace, seeds: list[int]) -> int:
    """The table built in ``args.out``, which one run at a time writes (``files.output_lock``): a second started meanwhile
    on the same --out is refused in one line before it reads or writes anything there. Before drill59 both ran, sharing
    the queue of trainings, and the first to end stopped its workers, interrupting a training the other then ended
    without (both exit 0, a row missing until a third run)."""
    from nas_proxy.files import output_lock

    with output_lock(args.out, fix="wait for it to finish, or give another --out"):
        return _run(args, seeds)


def _run(args: argparse.Namespace, seeds: list[int]) -> int:
    from optuna.trial import TrialState

    from nas_proxy.data import load_dataset
    from nas_proxy.errors import InvalidArgumentError
    from nas_proxy.groundtruth import study as gt
    from nas_proxy.protocols import FastTrainConfig
    from nas_proxy.spaces import DeclaredSpace, get_space
    from nas_proxy.studies.storage import open_storage

    sys.path.insert(0, str(HERE))
    import plan as planning
    import table

    deadline = None if args.deadline_seconds is None else STARTED + args.deadline_seconds
    stop_at = None if deadline is None else deadline - min(STOP_RESERVE, args.deadline_seconds / 3)
    space = get_space(args.space)
    if not isinstance(space, DeclaredSpace):
        raise InvalidArgumentError(f"--space {args.space}: the table is stratified over a declared space's choices (a .toml space)")
    dataset = load_dataset(args.dataset, args.data_root)  # fails here, in one line, if the data is missing
    shape = (dataset.channels, dataset.num_classes, dataset.image_size)
    max_flops = args.max_mflops * 1e6 if args.max_mflops > 0 else None
    planned = planning.plan(space, args.n_archs, shape, args.plan_seed, args.block_size, max_flops)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    dims = list(space.choices)
    planning.write_plan(out / "plan.csv", planned, dims, seeds)

    ref = gt.DataRef(args.dataset, data_root=args.data_root, image_size=dataset.image_size[0])
    base = gt.GroundTruthConfig()
    lr = args.lr if args.lr is not None else base.lr
    batch = args.batch_size if args.batch_size is not None else base.batch_size
    fast = FastTrainConfig(
        schedule=args.schedule,
        warmup=args.warmup,
        label_smoothing=args.label_smoothing,
        drop_last=args.drop_last,
        channels_last=args.channels_last,
        cuda_graph=args.cuda_graph,
    )
    main_cfg = gt.GroundTruthConfig(
        epochs=args.epochs, lr=lr, batch_size=batch, images=args.images, early=(0.1, 1.0) if args.epochs > 1 else (0.1,), fast=fast
    )
    long_cfg = gt.GroundTruthConfig(epochs=args.long_epochs, lr=lr, batch_size=batch, images=args.images, early=main_cfg.early, fast=fast)
    main_cfg.validate()
    long_cfg.validate()
    storage = open_storage(args.storage or str(out / "groundtruth.journal"), "groundtruth")  # once: both studies and the releases
    url = storage.url  # what the worker processes open their own from
    main_study = gt.open_study(storage, ref, main_cfg)
    long_study = gt.open_study(storage, ref, long_cfg)
    for study in (main_study, long_study):  # left running by a run on another machine, or killed
        release(study, storage.backend)
    main_wanted = [(p.spec, s) for s in seeds for p in planned]  # seed by seed, each in plan order
    long_wanted = [(p.spec, seeds[0]) for p in planned[: args.long_archs]]
    queued = {
        "main": gt.enqueue(main_study, main_wanted, args.space),
        "long": gt.enqueue(long_study, long_wanted, args.space) if long_wanted else {},
    }
    say = (
        (lambda msg: None)
        if args.quiet
        else (lambda msg: print(f"[{time.monotonic() - STARTED:6.1f}s] {msg}", file=sys.stderr, flush=True))
    )
    images = args.images or dataset.split(ref.split_seed, ref.val_fraction).train_x.shape[0]
    pflop = {  # forward + backward ~ 3x the forward FLOPs, per image and epoch
        "main": 3 * images * args.epochs * len(seeds) * sum(p.flops for p in planned) / 1e15,
        "long": 3 * images * args.long_epochs * sum(p.flops for p in planned[: args.long_archs]) / 1e15,
    }
    say(
        f"plan: {len(planned)} architectures x seeds {seeds}, {args.epochs} epochs ({pflop['main']:.3g} PFLOP); "
        f"{len(long_wanted)} more at {args.long_epochs} epochs ({pflop['long']:.3g} PFLOP)"
    )
    say(f"main {main_study.study_name}: {queued['main']}; long {long_study.study_name}: {queued['long']}")

    meta = {
        "commit": commit(args.commit),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "seeds": seeds,
        "plan": {"archs": len(planned), "coverage": planning.coverage(planned, space), "max_flops": max_flops, "training_pflop": pflop},
        "queued_at_start": queued,
    }
    writer = table.Writer(
        out, args.dataset, args.space, dims, planned, seeds, ref, main_study, long_study, main_cfg, long_cfg, meta, args.name_suffix
    )
    for note in writer.notes:  # a previous table cut short: its rows past the cut get this run's commit (fix60)
        print(f"build.py: warning: {note}", file=sys.stderr)
    workers = Workers(args, url, out / "logs")
    served = [main_study, long_study] if long_wanted else [main_study]  # trainings a run without a long pass left queued wait
    reason, code = "complete", 0
    try:
        last_write = time.monotonic()
        while True:
            if stop_at is not None and time.monotonic() >= stop_at:
                reason = "deadline"
                break
            if workers.crashed > MAX_CRASHES:
                reason = "workers failed"
                say(f"{workers.crashed} workers exited with an error; their output is in {out / 'logs'}")
                break
            waiting = {s.study_name: len(s.get_trials(deepcopy=False, states=(TrialState.WAITING,))) for s in served}
            if not any(waiting.values()) and not workers.alive():
                break
            both = len(waiting) == 2 and all(waiting.values())
            targets = {
                main_study.study_name: args.workers - min(args.long_workers, args.workers - 1) if both else args.workers,
                long_study.study_name: min(args.long_workers, args.workers - 1) if both else args.workers,
            }
            for name, n in waiting.items():
                while n and workers.alive() < args.workers and workers.alive(name) < min(targets[name], n):
                    workers.start(name)
            if time.monotonic() - last_write >= WRITE_SECONDS:
                counts = writer.write(reason="running")
                say(f"finished: {counts}; workers {workers.alive()}")
                last_write = time.monotonic()
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        reason, code = "interrupted", 130
    except StopRequestedError:  # the table's status alike: interrupted, resumed by the same command
        reason, code = "interrupted", 143
    finally:
        workers.stop()
        for study in served:
            release(study, storage.backend)
        counts = writer.write(reason=reason, seconds=time.monotonic() - STARTED)
    say(f"{reason}: {counts}; tables in {out}")
    return code or {"workers failed": 1}.get(reason, 0)


if __name__ == "__main__":
    sys.exit(main())
