"""Class-sharded distillation: one torchrun launch, several processes (GPUs or machines).

``torchrun --nproc-per-node N -m nas_proxy distill ... --distributed`` starts N ranks; rank r of
W distils the contiguous block of classes ``[r*K//W, (r+1)*K//W)``. Every iteration draws its
network, real batch and DSA parameters for all K classes from the same seeds as a plain run, and a
shard keeps its classes' share, so the shards compute exactly the plain run's rows:

- norms that act per image (instancenorm, none, layernorm, groupnorm) leave the classes
  independent: shards never communicate while they run, and the merged set equals the plain run's
  bit for bit;
- batchnorm couples the classes through the batch statistics: every shard all-reduces its
  per-channel sums of the real batch (and, under ``batchnorm_stats = "own"``, of the synthetic
  batch with their gradients), so each normalises with the statistics of the whole batch; the
  shards then stay in step (a non-finite step or Ctrl-C on one stops all at the same iteration),
  and the result differs from a plain run only by the order of the floating-point sums.
- ``--nets SPACE``: every rank draws the same network at every iteration (the draw depends only on
  the seed and the iteration). The ranks stay in step as for batch norm, since each step is
  normalised by the loss of all classes (one all-reduced scalar per iteration), and batch-norm
  members all-reduce their statistics as above.

``OUT/shards/{r}-of-{W}/`` is a complete run of shard r (checkpoints, ``--resume``); rank 0 gathers
the shards' images over the process group (no shared filesystem needed) and writes the merged
artifact in ``OUT``, with the sharding recorded in its resolved config.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack, suppress
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor, nn

from nas_proxy import checks, interrupts
from nas_proxy.configs import SAVED
from nas_proxy.data.registry import class_count, load_dataset, read_once
from nas_proxy.distill.batchnorm import wrap_batchnorms
from nas_proxy.distill.checkpoint import (
    LOSSES,
    OWN_FILES,
    SHARDS,
    check_data,
    check_output,
    finished_set,
    loss_summary,
    mend_losses,
    read_checkpoint,
    write_losses,
)
from nas_proxy.distill.config import DistillConfig
from nas_proxy.distill.join import JOIN_SECONDS, join
from nas_proxy.distill.launch import end_watch, watch_launcher
from nas_proxy.distill.methods import METHODS
from nas_proxy.distill.nets import uses_batchnorm
from nas_proxy.distill.runner import ClassShard, DistillResult, distill
from nas_proxy.errors import ArtifactError, InvalidArgumentError, NasProxyError, OutputConflictError, shown
from nas_proxy.files import PROBE, DiskFullError, output_lock, shorten, sync_folder, writing
from nas_proxy.synthetic import CHECKPOINT, EVALUATIONS, TEACHERS, load_synthetic, mend_grid, save_synthetic
from nas_proxy.utils import resolve_device

SCHEME = "contiguous"  # rank r distils classes [r*K//W, (r+1)*K//W)
# A finished shard waits in the final gather for the slowest one (after a resume, possibly hours);
# a dead rank is noticed by torchrun, which stops the others, not by this timeout. (Joining the launch: join.JOIN_SECONDS.)
WAIT = timedelta(days=7)
T = TypeVar("T")
SELECT_BY = "--select-by scores the whole set, which no rank holds in a sharded run: drop --distributed or --select-by"


def shard_classes(num_classes: int, rank: int, world_size: int) -> list[int]:
    """The classes of ``rank``: contiguous blocks whose sizes differ by at most one."""
    if world_size > num_classes:
        raise InvalidArgumentError(
            f"a sharded run needs at most one process per class: {world_size} processes for {num_classes} classes; launch fewer"
        )
    return list(range(rank * num_classes // world_size, (rank + 1) * num_classes // world_size))


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks whose gradient is the sum over ranks of the gradients (every rank's loss
    depends on the global sum)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        y = x.clone()
        dist.all_reduce(y)
        return y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


def _all_reduce_sum(x: Tensor) -> Tensor:
    """The sum of ``x`` over all ranks, differentiable (batch norm's statistics in a sharded run)."""
    out = _AllReduceSum.apply(x)
    assert isinstance(out, Tensor)
    return out


class RankShard(ClassShard):
    """Rank ``rank`` of ``world_size``: its block of classes and the coupling (``coupled``: the ranks
    stay in step; ``batchnorm``: batch statistics are all-reduced, default ``coupled``)."""

    def __init__(self, rank: int, world_size: int, coupled: bool, objects: dist.ProcessGroup | None, batchnorm: bool | None = None) -> None:
        self.rank, self.world_size, self.coupled, self.objects = rank, world_size, coupled, objects
        self.batchnorm = coupled if batchnorm is None else batchnorm

    def classes(self, num_classes: int) -> list[int]:
        return shard_classes(num_classes, self.rank, self.world_size)

    def prepare(self, net: nn.Module, rule: str) -> nn.Module:
        return wrap_batchnorms(net, rule, _all_reduce_sum if self.batchnorm else None)

    def total(self, loss: Tensor) -> Tensor:
        assert self.coupled, "only ranks that stay in step can sum their losses"
        loss = loss.clone()
        dist.all_reduce(loss)  # on the device: no host sync
        return loss

    def all_ok(self, ok: Tensor) -> Tensor:
        if not self.coupled:
            return ok  # independent shards: a shard that diverges stops alone
        flag = ok.to(torch.int32)
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)  # on the device: no host sync
        return flag.bool()

    def any_stop(self, stop: bool) -> bool:
        if not self.coupled:
            return stop
        flag = torch.tensor([int(interrupts.last_signal()) if stop else 0])  # the signal, so that every rank names it
        dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=self.objects)
        if flag and not stop:  # another rank's: this one stops for it, and its exit status is that signal's (before fix42b: 130)
            interrupts.received(int(flag))
        return bool(flag)

    def describe(self) -> dict[str, Any]:
        return {"rank": self.rank, "world_size": self.world_size, "scheme": SCHEME, "batchnorm_all_reduced": self.batchnorm}

    def save(self, path: Path, write: Callable[[Path], None]) -> None:
        """Shards that stay in step replace their checkpoints together, or none does: each writes its new one beside the
        old (a name :func:`~nas_proxy.distill.checkpoint.leftover_files` takes for a leftover), and once every rank's is
        whole, each renames its own in. drill53: a full disk on one rank's checkpoint left its peer's replaced (the shards
        at iterations [3, 6], which batch norm or --nets resume only together: 'start again with --force', the work
        lost), and the peer went on into the next collective while the failed rank waited in another: the launch hung
        until Ctrl-C. Now the failed rank says its error and every other rank stops with it, their checkpoints kept."""
        if not self.coupled:
            write(path)  # independent shards resume from their own iterations
            return
        staged = staged_path(path)
        failed = _failure(lambda: write(staged), staged, path)
        if self._any(failed):
            # a staged file that cannot be dropped (EIO, a disk turned read-only) is left to the next start, which drops it
            # or, where every rank's is whole after all, brings it in (_settled): the error said is the write's. Before
            # fix56a its OSError escaped as an internal error on this rank, never shared (_agree), its peers left waiting
            with suppress(OSError):
                staged.unlink(missing_ok=True)
            raise failed or PeerFailedError("a peer rank could not write its checkpoint")
        # a kill before every rank's rename, or a rename that failed: settled at the next start (_settle)
        failed = _failure(lambda: _rename_in(staged, path), staged, path)
        if self._any(failed):
            raise failed or PeerFailedError("a peer rank could not rename its checkpoint in")

    def _any(self, failed: NasProxyError | None) -> bool:
        """Whether any rank's step failed (``failed``: this rank's error, if any)."""
        flag = torch.tensor([int(failed is not None)])
        dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=self.objects)
        return bool(flag)


def _failure(step: Callable[[], None], staged: Path, path: Path) -> NasProxyError | None:
    """The error of ``step`` (None: it succeeded), naming the checkpoint ``path`` where it named its staged file: the
    user knows the checkpoint in ``OUT/shards/R-of-W``; before fix54a a full disk read 'no space left on device writing
    OUT/shards/1-of-2/.checkpoint.safetensors.staged.tmp: ...'."""
    try:
        step()
    except NasProxyError as e:
        named = e.with_cause(e.cause.replace(shorten(staged), shorten(path)))
        if isinstance(named, DiskFullError):
            named.path = path
        return named
    return None


def staged_path(path: Path) -> Path:
    """Where :meth:`RankShard.save` writes a coupled shard's new checkpoint ``path`` before every rank's is whole (a name
    :func:`~nas_proxy.distill.checkpoint.leftover_files` takes for a leftover)."""
    return path.with_name(f".{path.name}.staged.tmp")


def _rename_in(staged: Path, path: Path) -> None:
    """Replace the checkpoint ``path`` by its whole staged successor; an ``OSError`` (EIO, a folder in the way) is the
    one-line :class:`~nas_proxy.files.FileWriteError` naming ``path`` (before fix54a an internal error, on that rank
    only, while its peers went on). The folder's fsync cannot fail here (:func:`~nas_proxy.files.sync_folder`); a rename
    it did not make lasting is brought in again at the next start, from the staged file it left (:func:`_settle`)."""
    with writing(path):
        os.replace(staged, path)
    sync_folder(path.parent)


Mark = tuple[int, str]  # a whole checkpoint's iteration and its run's identity (DistillConfig.identity, as JSON)
Held = tuple[Mark | None, Mark | None]  # a rank's checkpoint's mark, its whole staged checkpoint's (None: none, or not whole)
M = TypeVar("M", int, Mark)  # what _settled compares: marks (a test's bare iterations order and compare alike)


def _held(shard_dir: Path) -> Held:
    """What this rank's shard holds (:func:`_settle`): the marks of its checkpoint and of a whole staged one."""
    checkpoint = shard_dir / CHECKPOINT
    return _mark(checkpoint), _mark(staged_path(checkpoint))


def _mark(path: Path) -> Mark | None:
    """The iteration and run identity of the checkpoint at ``path`` if it reads back and checks as one (its digest),
    else None."""
    if not path.is_file():  # (a FIFO would block the read; check_output says what is wrong with a checkpoint)
        return None
    try:
        checkpoint = read_checkpoint(path)
    except ArtifactError:  # cut short by the disk, or not a checkpoint
        return None
    return int(checkpoint["done"]), json.dumps(checkpoint["identity"], sort_keys=True)


def _settled(held: Sequence[tuple[M | None, M | None]]) -> M | None:
    """The mark every rank's checkpoint is brought to from its staged one, or None: every staged file is dropped.

    The rule: N is the latest mark any rank holds (as its checkpoint or as a whole staged file): its iteration, then its
    run's identity. If every rank holds N, each renames its staged file of N in (roll forward); otherwise each drops its
    staged file, and the ranks resume from their checkpoints if these agree (else the shards are refused as before:
    'stopped at different iterations'). Before fix56a a mark was the iteration alone: ranks whose files of one iteration
    came from two runs (another seed or method: each machine has its own output folder, which a user may have copied or
    reused) were rolled forward into a mixture, where now no file is brought in.

    Why it is safe: coupled ranks are in step, so their files of one iteration are one state of the run. A rank renames
    its staged file only after every rank said its own was written whole (:meth:`RankShard.save`), and a staged file
    leaves only by that rename or, when some rank's write failed, by every rank dropping it. So a kill -9 (of one rank,
    or of the whole launch) between the agreement and the last rename leaves every rank holding N, renamed or staged:
    rolling forward finishes what the agreement decided. Every rank holding N also means every rank's write of N
    succeeded, so where the kill came before the agreement, rolling forward is what it would have decided. A rank
    without N (its write cut by the kill, or its staged file cut since) means no rank renamed N (a rename follows the
    agreement, which needs every rank's write), and every rank's checkpoint is still the older one they share."""
    latest = max((n for pair in held for n in pair if n is not None), default=None)
    if latest is None or not any(staged == latest for _, staged in held):
        return None  # nothing staged to bring in
    return latest if all(latest in pair for pair in held) else None


def _settle(shard_dir: Path, target: M | None, mine: tuple[M | None, M | None]) -> None:
    """Bring this rank's staged checkpoint in when it is of ``target`` (:func:`_settled`), else drop it; ``mine``: what
    this rank said it holds (:func:`_held`, read under its shard's lock: not read again)."""
    checkpoint = shard_dir / CHECKPOINT
    staged = staged_path(checkpoint)
    if not staged.is_file():
        return
    if target is not None and mine[0] != target and mine[1] == target:
        _rename_in(staged, checkpoint)
    else:
        with writing(checkpoint):  # a disk read-only since the kill: one line, shared by _agree (review55: an internal error)
            staged.unlink(missing_ok=True)


class PeerFailedError(NasProxyError):
    """This rank stopped because another's step failed: the other's error is the one said (:func:`_agree`)."""


def distill_sharded(
    config: DistillConfig,
    out: Path | str,
    resume: bool = False,
    force: bool = False,
    progress: bool = False,  # the library is silent unless asked; the CLI asks
    callback: Callable[[int, dict[str, float]], None] | None = None,
    command: str | None = None,
    join_timeout: float = JOIN_SECONDS,
) -> DistillResult | None:
    """Run this process's shard of a torchrun launch; rank 0 merges and returns the artifact, the
    other ranks return None. Every rank raises the same error when any rank fails. A rank waits at most
    ``join_timeout`` seconds for the launch to come together (:mod:`nas_proxy.distill.join`)."""
    checks.number("join_timeout", join_timeout, 0, low_open=True)
    if config.select_by is not None:
        raise InvalidArgumentError(SELECT_BY)
    rank, world, local_rank = _torchrun_env()
    if (classes := class_count(config.dataset)) is not None:  # every rank says it before the join, which waits for ranks
        shard_classes(classes, rank, world)  # a launch cannot give (probe57: WORLD_SIZE=11 on digits waited the join's timeout)
    watch_launcher()  # a rank of distill --launch ends when its launch is gone (killed -9, it left the ranks behind)
    try:
        device = _rank_device(config.device, local_rank)
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        owned = not dist.is_initialized()  # ours to tear down (a caller's own group is left to it)
        if owned:
            missing = [k for k in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(k)]
            if missing:  # torchrun sets them; without them init_process_group fails with a ValueError
                raise InvalidArgumentError(
                    f"--distributed joins a torchrun launch, but {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set; "
                    "launch with: torchrun --nproc-per-node N -m nas_proxy distill ... --distributed"
                )
            port = os.environ["MASTER_PORT"].strip()
            if not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):  # else a ValueError of int() or of the store
                raise InvalidArgumentError(
                    f"MASTER_PORT is {os.environ['MASTER_PORT']!r}, not a TCP port (1 to 65535); "
                    "launch with: torchrun --nproc-per-node N -m nas_proxy distill ... --distributed"
                )
            _check_master_addr(os.environ["MASTER_ADDR"], int(port))  # as torch reads it: before branch probe41 stripped, so
            # '127.0.0.1 ' (a blank, a newline) passed here and init_process_group waited WAIT (7 days) for that host, deaf to SIGTERM
            join(backend, device, rank, world, join_timeout, WAIT)  # interruptible, at most join_timeout (before fix42b: WAIT, deaf)
        try:
            with ExitStack() as locks, read_once():  # released after the merge; the data read once (its check, the shard)
                return _run_shard(config, out, resume, force, progress, callback, command, rank, world, device, backend, locks)
        finally:
            if owned:
                # every rank leaves through here, after the merge (below): a rank that exited while its process
                # group's threads still ran could abort in their destructors ("terminate called without an
                # active exception", SIGABRT, seen under load)
                dist.destroy_process_group()
    finally:
        end_watch()  # its watch ends with its work (fix55a)


def _run_shard(
    config: DistillConfig,
    out: Path | str,
    resume: bool,
    force: bool,
    progress: bool,
    callback: Callable[[int, dict[str, float]], None] | None,
    command: str | None,
    rank: int,
    world: int,
    device: torch.device,
    backend: str,
    locks: ExitStack,
) -> DistillResult | None:
    objects = _cpu_group() if backend == "nccl" else None  # objects (and flags) travel on the CPU
    out = Path(out)
    shard_config = replace(config, device=str(device))
    shard_dir = shard_dirs(out, world)[rank]
    _agree(lambda: _lock(locks, shard_config, out, shard_dir, rank), objects)
    batchnorm = uses_batchnorm(config.nets, config.distill_norm())
    coupled = batchnorm or config.nets is not None  # a space run normalises each step by the whole loss (all ranks')
    held = _agree(lambda: _held(shard_dir), objects)  # what a kill left staged, said to every rank: all decide alike
    target = None if force else _settled(held)
    prepared = _agree(lambda: _prepare(out, shard_dir, shard_config, world, resume, force, target, held[rank]), objects)
    done, starts = [d for d, _ in prepared], [s for _, s in prepared]
    if resume and not any(starts):
        raise OutputConflictError(f"nothing to resume in {out}: no shard has a checkpoint", remedy="drop --resume to start")
    if coupled and len(set(done)) > 1:
        raise OutputConflictError(
            f"the shards in {out / SHARDS} stopped at different iterations ({done}); batch norm or --nets couples them, "
            "so they resume only from the same iteration",
            remedy="start again with --force",
            sep=": ",
        )
    shard = RankShard(rank, world, coupled, objects, batchnorm)
    resume_shard, show = resume and starts[rank], progress and rank == 0
    _agree(lambda: distill(shard_config, shard_dir, resume_shard, force, show, callback=callback, command=command, shard=shard), objects)
    synthetic = load_synthetic(shard_dir, shard=True)
    part = (synthetic.images, synthetic.labels, synthetic.meta, read_checkpoint(shard_dir / CHECKPOINT)["history"])
    parts: list[Any] = [None] * world if rank == 0 else []
    dist.gather_object(part, parts if rank == 0 else None, dst=0, group=objects)
    merged: list[DistillResult] = []

    def merge() -> None:  # rank 0's work; every rank waits for it in _agree, so none leaves while rank 0 still talks
        if rank != 0:
            return
        result = _merged(out, parts) or _merge(out, parts, backend, command)
        if config.soft_labels.teachers > 0:  # the shards skip them: labels are made once, on the merged set
            from nas_proxy.distill.soft_labels import add_soft_labels

            result.meta = add_soft_labels(
                out, config.soft_labels, seed=config.seed, device=str(device), data_root=config.data_root, progress=progress
            )
        merged.append(result)

    _agree(merge, objects)
    return merged[0] if rank == 0 else None


def _lock(locks: ExitStack, config: DistillConfig, out: Path, shard_dir: Path, rank: int) -> None:
    """Hold this rank's folder (and rank 0 the run's ``out``, which a plain run locks too) until ``locks`` closes:
    a second launch on the same ``--out`` is refused while the first one's rank 0 (or rank r, its shard) lives.
    The OS releases the locks with the process, so the same command resumes after kill -9. What the request
    refuses by itself is refused first: the locks make a missing ``--out``."""
    config.validate()
    checks.not_inside_a_synthetic_set("--out", out)  # a set is resumed in place; one in another's folder is not
    if rank == 0:
        locks.enter_context(output_lock(out))
    locks.enter_context(output_lock(shard_dir))


def _check_master_addr(host: str, port: int) -> None:
    """A MASTER_ADDR that names no host is refused in one line; init_process_group would retry it
    for :data:`WAIT`, warning on stderr every second."""
    import socket

    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise InvalidArgumentError(
            f"MASTER_ADDR is {host!r}, which names no host here ({getattr(e, 'strerror', None) or e}); "
            "launch with: torchrun --nproc-per-node N -m nas_proxy distill ... --distributed"
        ) from None


def _torchrun_env() -> tuple[int, int, int]:
    names = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
    if any(name not in os.environ for name in names):
        raise InvalidArgumentError(
            "--distributed runs one rank of a torchrun launch, but RANK, WORLD_SIZE and LOCAL_RANK are not set; "
            "launch with: torchrun --nproc-per-node N -m nas_proxy distill ... --distributed"
        )
    values = []
    for name in names:  # a value set but not a number: saying "not set" would name the wrong cause
        try:
            values.append(checks.parse_int(os.environ[name].strip()))  # set by a launcher, not typed as an option
        except ValueError:
            raise InvalidArgumentError(
                f"{name} is {shown(os.environ[name])}, not an integer (torchrun sets RANK, WORLD_SIZE and LOCAL_RANK); "
                "launch with: torchrun --nproc-per-node N -m nas_proxy distill ... --distributed"
            ) from None
    rank, world, local = values
    if not (0 <= rank < world and 0 <= local <= rank):
        raise InvalidArgumentError(
            f"RANK {rank}, WORLD_SIZE {world} and LOCAL_RANK {local} are not a torchrun launch's (0 <= LOCAL_RANK <= RANK < WORLD_SIZE); "
            "launch with: torchrun --nproc-per-node N -m nas_proxy distill ... --distributed"
        )
    return rank, world, local


def _cpu_group() -> dist.ProcessGroup:
    group = dist.new_group(backend="gloo", timeout=WAIT)
    assert isinstance(group, dist.ProcessGroup)  # every rank is a member
    return group


def _rank_device(device: str, local_rank: int) -> torch.device:
    """cpu, or the GPU of this rank on its machine (cuda:LOCAL_RANK)."""
    resolved = resolve_device(device)
    if resolved.type != "cuda":
        return resolved
    if resolved.index is not None:
        raise InvalidArgumentError(f"with --distributed each rank uses cuda:LOCAL_RANK; got --device {device}, pass cuda or auto")
    return torch.device("cuda", local_rank)


def check_launch(config: DistillConfig, out: Path, world: int, resume: bool, force: bool) -> None:
    """What every rank of a ``distill --launch`` on this machine would refuse before it starts, refused by the
    launch itself in one line: else each of the ``world`` ranks started (seconds each) to say it, and the
    launch called the refusal a failed rank whose checkpoints a second run would continue."""
    if config.select_by is not None:
        raise InvalidArgumentError(SELECT_BY)
    if _rank_device(config.device, 0).type == "cuda" and world > (gpus := torch.cuda.device_count()):  # rank r: cuda:r
        raise InvalidArgumentError(
            f"--launch {world} starts {world} ranks, each on its own GPU (cuda:LOCAL_RANK), but {gpus} CUDA GPU"
            f"{'s are' if gpus > 1 else ' is'} visible; launch at most {gpus}, or pass --device cpu"
        )
    config.validate()
    if (classes := class_count(config.dataset)) is not None and world > classes:  # the ranks' own check: shard_classes
        raise InvalidArgumentError(
            f"--launch {world} starts {world} ranks, each distilling its own classes, but {config.dataset} has {classes} classes; "
            f"launch at most {classes}"
        )
    checks.not_inside_a_synthetic_set("--out", out)
    others = _check_out(out, world, force)
    if resume and not others and not any(_started(d) for d in shard_dirs(out, world)):
        raise OutputConflictError(f"nothing to resume in {out}: no shard has a checkpoint", remedy="drop --resume to start")


def shard_dirs(out: Path, world: int) -> list[Path]:
    """The folders of the ``world`` shards of a launch on ``out``, rank r's r-th (each rank makes and locks its own)."""
    return [out / SHARDS / f"{r}-of-{world}" for r in range(world)]


def _started(shard_dir: Path) -> bool:
    return shard_dir.is_dir() and any(shard_dir.iterdir())


def _check_out(out: Path, world: int, force: bool) -> list[str]:
    """Refuse an ``out`` that holds something other than this launch's run; returns the shard folders of a
    launch of another size (which ``force`` replaces)."""
    if out.exists() and not out.is_dir():
        raise OutputConflictError(f"{out} is {checks.file_kind(out)}, not a directory")
    if (out / CHECKPOINT).exists() and not force:
        raise OutputConflictError(f"{out} holds a single-process run", remedy="choose a new directory or pass --force")
    shards = out / SHARDS
    others = sorted(d.name for d in shards.iterdir() if not d.name.endswith(f"-of-{world}")) if shards.is_dir() else []
    if others and not force:
        raise OutputConflictError(
            f"{out} holds shards of a run with another number of processes ({', '.join(others)})",
            remedy="launch that many to resume it, or pass --force to replace it",
        )
    own = (SHARDS, SAVED, EVALUATIONS, TEACHERS, *OWN_FILES)  # and a probe a kill -9 left (files.PROBE: review61)
    if out.is_dir() and not force and any(p.name not in own and not p.name.startswith(PROBE) for p in out.iterdir()):
        raise OutputConflictError(f"{out} is not empty and holds no nasproxy run", remedy="choose a new directory or pass --force")
    return others


def _prepare(
    out: Path,
    shard_dir: Path,
    config: DistillConfig,
    world: int,
    resume: bool,
    force: bool,
    target: Mark | None = None,
    mine: Held = (None, None),
) -> tuple[int, bool]:
    """Check ``out`` and this rank's shard, its staged checkpoint settled for ``target`` (:func:`_settled`); returns
    (iterations done, whether the shard has a run)."""
    config.validate()
    checks.not_inside_a_synthetic_set("--out", out)  # a set is resumed in place; one in another's folder is not
    others = _check_out(out, world, force)
    _settle(shard_dir, target, mine)
    shards = out / SHARDS
    if force:  # every rank cleans what it sees: with one output directory per machine, each has its own
        for name in others:
            shutil.rmtree(shards / name, ignore_errors=True)
        for name in OWN_FILES:
            (out / name).unlink(missing_ok=True)
    started = _started(shard_dir)
    checkpoint = check_output(shard_dir, config, resume and started, force)
    if checkpoint is not None:  # each rank reads its own copy of the data: checked here, where every rank hears a refusal,
        # not in distill alone, where the others would already be in the loop's collectives (batch norm, --nets)
        check_data(shard_dir, checkpoint, load_dataset(config.dataset, config.data_root, image_size=config.image_size))
    return (0 if checkpoint is None else int(checkpoint["done"])), started


def _agree(step: Callable[[], T], group: dist.ProcessGroup | None) -> list[T]:
    """Run ``step`` on every rank and return all ranks' results; if any rank raised a user error,
    every rank raises it (naming the rank), so that none waits for a peer that gave up."""
    try:
        outcome: tuple[Any, NasProxyError | None] = (step(), None)
    except NasProxyError as e:
        outcome = (None, e)
    outcomes: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(outcomes, outcome, group=group)
    failed = [(r, error) for r, (_, error) in enumerate(outcomes) if error is not None]
    causes = [f for f in failed if not isinstance(f[1], PeerFailedError)] or failed  # the cause, not its echoes
    if causes:
        r, error = causes[0]
        # its class, attributes (an interrupt's 143, fix42b) and remedy kept: before stop 50 type(error)(text) made it
        # again, which a class of other arguments could not (DiskFullError: an internal error) and left the remedy in
        # the cause (fix50a's note)
        raise error.with_cause(f"{error.cause} (rank {r} of {len(outcomes)})")
    return [value for value, _ in outcomes]


def _merged(out: Path, parts: list[Any]) -> DistillResult | None:
    """The set a launch of these very shards merged before, whole: the same command run again after
    it finished takes it as it is, as a plain run takes its finished set (merging again rewrote every
    file and replaced ``meta.json``'s ``created`` and ``command`` with the later call's)."""
    meta = finished_set(out, int(parts[0][2]["iterations_done"]))
    if meta is None or meta["config"].get("resolved", {}).get("sharding", {}).get("world_size") != len(parts):
        return None
    there = load_synthetic(out)
    images, labels = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
    if not (torch.equal(there.images, images) and torch.equal(there.labels, labels)):
        return None
    # its picture and its losses, outside the tensors' hash, written again where torn, as a plain run's (before review53
    # the same launch kept them cut, 'wrote ... grid.png')
    mend_grid(out)
    mend_losses(out / LOSSES, _summed(parts), METHODS.get(meta["method"]).terms)
    return DistillResult(out, meta)


def _summed(parts: list[Any]) -> list[list[float]]:
    """The whole run's loss history from the shards' (each part's last item): a shard's loss is its classes' share of
    the sum over classes, so the run's is the sum, read-back by read-back."""
    histories = [p[3] for p in parts]
    assert all([h[0] for h in hist] == [h[0] for h in histories[0]] for hist in histories), "shards logged different iterations"
    return [[rows[0][0], *(sum(col) for col in zip(*(r[1:] for r in rows), strict=True))] for rows in zip(*histories, strict=True)]


def _merge(out: Path, parts: list[Any], backend: str, command: str | None) -> DistillResult:
    """Rank 0: the shards' images in class order, their summed losses, one ``meta.json``."""
    images = torch.cat([p[0] for p in parts])  # (K * ipc, C, H, W): contiguous blocks in rank order
    labels = torch.cat([p[1] for p in parts])
    metas, history = [p[2] for p in parts], _summed(parts)
    first = metas[0]
    config, terms = first["config"], METHODS.get(first["method"]).terms
    sharding = {
        "world_size": len(parts),
        "scheme": SCHEME,
        "classes": [sorted(set(p[1].tolist())) for p in parts],
        "backend": backend,
        "batchnorm_all_reduced": first["shard"]["batchnorm_all_reduced"],
        "shards": f"{SHARDS}/{{rank}}-of-{len(parts)}",
    }
    keep = {k: v for k, v in first.items() if k not in ("shard", "format", "format_version", "tensors", "tensors_sha256")}
    meta = {
        **keep,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": command,
        "config": {**config, "resolved": {**config["resolved"], "sharding": sharding}},
        "device": ", ".join(sorted({m["device"] for m in metas})),
        "seconds": max(m["seconds"] for m in metas),  # the shards run side by side
        "loss": loss_summary(history, terms),
    }
    out.mkdir(parents=True, exist_ok=True)
    write_losses(out / LOSSES, history, terms)
    save_synthetic(out, images, labels, meta, tuple(first["dataset"]["mean"]), tuple(first["dataset"]["std"]))
    return DistillResult(out, load_synthetic(out).meta)


__all__ = ["SHARDS", "RankShard", "check_launch", "distill_sharded", "shard_classes"]
