"""Run a distillation: the class pool, the iteration loop, the artifact.

Every iteration draws its network, real batch and augmentation from a seed derived from
(run seed, iteration), so a resumed run computes exactly what an uninterrupted one does
(``distill/checkpoint.py`` keeps the rest).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from nas_proxy import checks, interrupts
from nas_proxy.data import load_dataset
from nas_proxy.distill.batchnorm import set_phase, wrap_batchnorms
from nas_proxy.distill.checkpoint import (
    LOSSES,
    OWN_FILES,
    State,
    check_data,
    check_output,
    finished_set,
    leftover_files,
    loss_summary,
    mend_losses,
    write_checkpoint,
    write_losses,
)
from nas_proxy.distill.config import DistillConfig, Resolved, check_batch_real, check_ipc, resolve
from nas_proxy.distill.methods import METHODS, Features
from nas_proxy.distill.nets import OneNet, SpaceNets, block_features, open_space
from nas_proxy.distill.selection import Ranker, Selection
from nas_proxy.errors import DivergedError, InterruptedRunError, InvalidArgumentError
from nas_proxy.files import make_dirs
from nas_proxy.models import ConvNet
from nas_proxy.progress import Meter
from nas_proxy.synthetic import CHECKPOINT, META, PIXEL_MAX, mend_grid, save_synthetic
from nas_proxy.utils import derive_seed, generator, package_version, resolve_device


@dataclass
class DistillResult:
    path: Path
    meta: dict[str, Any]


class ClassShard:
    """The classes one process distils, and how its shard couples with the others.

    This base distils every class in one process (a plain run); ``distill/sharded.py`` subclasses
    it for one rank of a multi-process run. Hooks are called by the loop, identically on every rank.
    """

    rank = 0  # this process's among the run's (a plain run: 0): rank 0 says what concerns the whole run

    def classes(self, num_classes: int) -> list[int]:
        """The classes this process distils, ascending."""
        return list(range(num_classes))

    def prepare(self, net: nn.Module, rule: str) -> nn.Module:
        """The distillation network as this process runs it: its batch norms normalising by
        ``rule`` (``distill/batchnorm.py``), over all shards in a sharded run."""
        return wrap_batchnorms(net, rule)

    def total(self, loss: Tensor) -> Tensor:
        """A () tensor: ``loss`` summed over all shards (the whole run's loss)."""
        return loss

    def all_ok(self, ok: Tensor) -> Tensor:
        """A () bool: ``ok`` on every shard (a step is applied only where all shards' steps are finite)."""
        return ok

    def any_stop(self, stop: bool) -> bool:
        """Ctrl-C seen on any shard (shards that must stay in step stop at the same iteration)."""
        return stop

    def describe(self) -> dict[str, Any] | None:
        """What the artifact records about the sharding (None: not sharded)."""
        return None

    def save(self, path: Path, write: Callable[[Path], None]) -> None:
        """This shard's checkpoint, ``write(p)`` writing it at ``p``: here at ``path`` (shards that stay in step replace
        theirs together, or none does: distill/sharded.py)."""
        write(path)


def _checkpoint(out: Path, config: DistillConfig, state: State, shard: ClassShard) -> None:
    """Write ``state`` as ``out``'s checkpoint, as ``shard`` saves one."""
    shard.save(out / CHECKPOINT, lambda path: write_checkpoint(out, config, state, path))


class ClassPool:
    """The distillation split on the device, sorted by class, for vectorised per-class sampling."""

    def __init__(self, x: Tensor, y: Tensor, num_classes: int, device: torch.device) -> None:
        order = torch.argsort(y, stable=True)
        # (N, C, H, W), class-contiguous, in plain NCHW strides: a checkpoint's tensors come back that way, and
        # a one-channel set read as (N, H, W, 1) (stride 1 on C) would send a convolution of the uninterrupted
        # run down another kernel than the resumed one's, so a resumed run drifted by float rounding
        self.x = x[order].to(device).clone(memory_format=torch.contiguous_format)
        counts = torch.bincount(y, minlength=num_classes)
        self.counts = counts.to(device)  # (K,)
        self.offsets = (torch.cumsum(counts, 0) - counts).to(device)  # (K,) first index of each class
        self.num_classes, self.largest = num_classes, int(counts.max())
        self.positions = torch.arange(self.largest, device=device)  # (max_n,)

    def sample(self, per_class: int, g: torch.Generator, classes: Tensor | None = None) -> Tensor:
        """``per_class`` distinct images of every class (or of ``classes`` only: the same images a
        draw for all classes picks for them), grouped by class: (K * per_class, C, H, W)."""
        keys = torch.rand(self.num_classes, self.largest, generator=g, device=self.x.device)  # (K, max_n)
        keys = keys.masked_fill(self.positions >= self.counts[:, None], 2.0)  # padding never chosen
        pick = keys.topk(per_class, dim=1, largest=False).indices  # (K, per_class)
        offsets = self.offsets if classes is None else self.offsets[classes]
        pick = pick if classes is None else pick[classes]  # (len(classes), per_class)
        return self.x[(offsets[:, None] + pick).flatten()]


def distill(
    config: DistillConfig,
    out: Path | str,
    resume: bool = False,
    force: bool = False,
    progress: bool = False,  # the library is silent unless asked; the CLI asks
    callback: Callable[[int, dict[str, float]], None] | None = None,
    command: str | None = None,
    shard: ClassShard | None = None,
    ranker: Ranker | None = None,
) -> DistillResult:
    """Distil ``config.dataset`` into ``out``. See :class:`DistillConfig` for every option.

    ``callback(iterations_done, mean_losses)`` is called at every loss read-back. ``shard``
    restricts the run to some classes (one rank of ``distill/sharded.py``); None: all classes.
    ``ranker`` scores the set for ``config.select_by`` (``nas_proxy.calibrate.selection.ranker``
    builds it; required exactly when ``select_by`` is set).
    """
    shard = shard or ClassShard()
    out = Path(out)
    config.validate()
    if (config.select_by is None) != (ranker is None):
        raise InvalidArgumentError(
            "select_by and a ranker go together: build it with nas_proxy.calibrate.selection.ranker(config) and pass ranker="
        )
    optimises = METHODS.get(config.method).optimises
    device = resolve_device(config.device)
    if shard.describe() is None:  # a rank's shard lies inside its run's --out, a set once merged: sharded.py checks that --out
        checks.not_inside_a_synthetic_set("--out", out)  # a set is resumed in place; one in another's folder is not
    if config.soft_labels.teachers > 0 and config.soft_labels.cache:  # refused before the distillation, not after it
        from nas_proxy.distill.soft_labels import check_teacher_dir

        check_teacher_dir(config.soft_labels.cache, out)
    checkpoint = check_output(out, config, resume, force)  # no side effects before inputs are valid
    dataset = load_dataset(config.dataset, config.data_root, image_size=config.image_size)
    if checkpoint is not None:
        ended = not optimises or checkpoint["done"] >= config.iterations
        meta = finished_set(out, checkpoint["done"]) if ended else None
        # its pixels were made from the data it recorded: not resumed on others, nor a set finished from them taken as
        # this data's (before stop 52 the same command said 'wrote OUT', exit 0, and evaluate then refused the set:
        # 'distill again from this one', which did the same again; a --distributed rank checked both)
        check_data(out, checkpoint, dataset, finished=meta is not None)
        if meta is not None:  # complete: at most labels to add; else the set is written again from the checkpoint below
            mend_grid(out)  # its picture and its losses, written again if torn (outside the tensors' hash)
            if "history" in checkpoint:  # (a checkpoint cut short: none to write them from)
                mend_losses(out / LOSSES, checkpoint["history"], METHODS.get(config.method).terms)
            return _soft_labels(DistillResult(out, meta), config, progress, shard)
    splits = dataset.split(config.split_seed, config.val_fraction)
    smallest = splits.smallest_class()
    check_ipc(config.ipc, smallest, dataset.name)
    with checks.caps_held() as caps:  # a capped batch said once nothing more is refused (the nets, the folder: fix61d)
        if shard.rank == 0:  # once a command: every rank of a launch has the same setting (review59: each said it)
            check_batch_real(config.batch_real, smallest, dataset.name)
        shape = (int(splits.train_x.shape[1]), *dataset.image_size)
        space = open_space(config.nets, shape, dataset.num_classes) if config.nets is not None else None
        hp = resolve(config, dataset.image_size, dataset.flip, smallest, device, space)  # the one object the loop and meta.json read
        if space is None:  # the one distillation network must fit the images: refused before anything is written
            with torch.device("meta"):
                ConvNet(dataset.channels, dataset.num_classes, dataset.image_size, hp.net)
        if ranker is not None:  # before anything is written: it may refuse the calibration architectures, or their data
            ranker.check_data(dataset.content_sha256())
            ranker.start(splits.val_x, splits.val_y, dataset.flip, dataset.num_classes, device)
        if config.soft_labels.teachers > 0 and shard.describe() is None:  # the teachers are drawn and built after the set: refused now
            from nas_proxy.distill.soft_labels import teacher_specs

            teacher_specs(config.soft_labels, config.nets, config.seed, shape, dataset.num_classes)
        if force:
            for name in OWN_FILES:
                (out / name).unlink(missing_ok=True)
        for tmp in leftover_files(out):  # half-written files of a killed run
            tmp.unlink(missing_ok=True)
        make_dirs(out)  # one line where it cannot be made (inside /proc, under a file)
    caps.say()
    K = dataset.num_classes
    pool = ClassPool(splits.train_x, splits.train_y, K, device)
    classes = torch.tensor(shard.classes(K), device=device)  # (k,) the classes distilled here
    syn_labels = classes.repeat_interleave(config.ipc)  # (k * ipc,)

    if checkpoint is not None:
        state = State.restore(checkpoint, device, dataset.content_sha256())
    else:
        syn = _initial(config, pool, classes, optimises)
        terms = torch.zeros(len(hp.method.terms), device=device)
        state = State(syn, torch.zeros_like(syn), terms, 0, [], 0.0, 0, dataset.content_sha256())

    total = config.iterations if optimises else 0
    selection = None
    if ranker is not None:
        selection = Selection(out, ranker, config.select_every)
        repaired = selection.recover(syn_labels)  # a torn selection file: started again from what is whole
        # the initial set competes too (with init real: a random subset); after a repair, the checkpoint's set if due
        if selection.due(state.done, total) and (state.done == 0 or repaired):
            _checkpoint(out, config, state, shard)  # first, so that a kill while scoring resumes (and never scores twice)
            state.seconds += selection.score(state.done, state.syn, syn_labels)["seconds"]  # the run's cost counts this score too
            _checkpoint(out, config, state, shard)
    if state.done < total:
        _optimise(config, hp, pool, state, total, out, progress, callback, shard, selection)

    meta = {
        "package_version": package_version(),
        "torch_version": torch.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": command,
        "dataset": dataset.describe(),
        "data_root": config.data_root,
        "split": splits.describe(),
        "method": config.method,
        "ipc": config.ipc,
        "seed": config.seed,
        "iterations_done": total,
        # amp as it ran, not as asked (no autocast on the CPU); defaults filled in under "resolved"
        "config": {**config.resolved().to_dict(), "amp": hp.amp, "resolved": hp.to_dict()},
        "device": str(device),
        "seconds": round(state.seconds, 3),
        "loss": loss_summary(state.history, hp.method.terms),
    }
    if shard.describe() is not None:
        meta["shard"] = shard.describe()
    # the last step's loss was finite, its update was not (a next loss would have said so); every shard stops alike.
    # Pixels past PIXEL_MAX are a divergence too: every reader refuses them, and before stop 50 (fix50a) an image lr of
    # 1e30 wrote, exit 0, a set that evaluate, search and correlate then refused ('distil again', which did the same)
    if not bool(shard.all_ok(torch.isfinite(state.syn).all() & (state.syn.abs() <= PIXEL_MAX).all())):
        raise DivergedError(
            f"the last update made pixels NaN, infinite or beyond +-{PIXEL_MAX:,.0f}, where no distilled pixel lies "
            f"(its last checkpoint, if any, is kept in {out})",
            remedy=f"Lower the image lr (now {hp.image_lr:g}) and start again with --force",
            sep=". ",
            fix=f"lower the image lr (now {hp.image_lr:g})",
        )
    if config.real_per_class:
        meta["hybrid"] = {
            "real_per_class": config.real_per_class,
            "distilled_per_class": config.ipc - config.real_per_class,
            "real_rows": "the first real_per_class images of every class: the random subset's draw, never optimised",
        }
    images = state.syn
    if selection is not None:
        meta["selection"] = selection.describe()
        images = selection.selected_images()  # the artifact is the best-ranking set, not the last
    state.done = total
    _checkpoint(out, config, state, shard)
    write_losses(out / LOSSES, state.history, hp.method.terms)
    save_synthetic(out, images, syn_labels, meta, dataset.mean, dataset.std)
    return _soft_labels(DistillResult(out, checks.read_json("synthetic set", out / META)), config, progress, shard)


def _soft_labels(result: DistillResult, config: DistillConfig, progress: bool, shard: ClassShard) -> DistillResult:
    """The finished set with ``config.soft_labels``' teachers' labels (none asked: as it is; a
    shard: never, the merged set gets them)."""
    if config.soft_labels.teachers < 1 or shard.describe() is not None:
        return result
    from nas_proxy.distill.soft_labels import add_soft_labels

    meta = add_soft_labels(
        result.path, config.soft_labels, seed=config.seed, device=config.device, data_root=config.data_root, progress=progress
    )
    return DistillResult(result.path, meta)


def _initial(config: DistillConfig, pool: ClassPool, classes: Tensor, optimises: bool) -> Tensor:
    """The synthetic set before iteration 0, (k * ipc, C, H, W) grouped by class.

    Real images are the random subset's draw; noise is drawn for all classes, so that a shard
    starts from its classes' rows of a plain run. A hybrid set keeps the first ``real_per_class``
    real images of every class whatever the init.
    """
    K, ipc, device = pool.num_classes, config.ipc, pool.x.device
    g = generator(derive_seed(config.seed, "init"), device)
    if config.init == "real" or not optimises:
        return pool.sample(ipc, g, classes)
    syn = torch.randn(K, ipc, *pool.x.shape[1:], generator=g, device=device)[classes].flatten(0, 1)
    if config.real_per_class:
        real = pool.sample(ipc, generator(derive_seed(config.seed, "init"), device), classes)  # the random subset
        keep = _real_rows(config, len(classes), device)
        syn = torch.where(keep[:, None, None, None], real, syn)
    return syn


def _real_rows(config: DistillConfig, num_classes: int, device: torch.device) -> Tensor:
    """(k * ipc,) bool: the rows of a hybrid set that stay real (the first ``real_per_class`` of each class)."""
    return (torch.arange(num_classes * config.ipc, device=device) % config.ipc) < config.real_per_class


def _optimise(
    config: DistillConfig,
    hp: Resolved,
    pool: ClassPool,
    state: State,
    total: int,
    out: Path,
    progress: bool,
    callback: Callable[[int, dict[str, float]], None] | None,
    shard: ClassShard,
    selection: Selection | None,
) -> None:
    """The distillation loop, updating ``state`` in place: one forward of all real and one of all
    synthetic images (of the shard's classes) per iteration, through that iteration's network."""
    device, start = pool.x.device, state.done
    K, ipc = pool.num_classes, config.ipc
    classes = torch.tensor(shard.classes(K), device=device)  # (k,) this shard's classes
    size = (int(pool.x.shape[2]), int(pool.x.shape[3]))
    B, lr, momentum = hp.batch_real, hp.image_lr, config.momentum  # real images per class per iteration; SGD on the pixels
    method, dsa, names = hp.method, hp.dsa, hp.method.terms
    real_rows = classes.repeat_interleave(B)  # (k * B,) class of each real image
    syn_rows = classes.repeat_interleave(ipc)  # (k * ipc,)
    shape = (int(pool.x.shape[1]), *size)

    def prepare(net: nn.Module) -> nn.Module:
        return shard.prepare(net, config.batchnorm_rule())

    nets = OneNet(hp.net, shape, K, device, prepare) if hp.space is None else SpaceNets(hp.space, shape, K, device, prepare)
    frozen = _real_rows(config, len(classes), device)[:, None, None, None] if config.real_per_class else None  # hybrid
    syn, momentum_buf, window = state.syn.clone().requires_grad_(True), state.momentum, state.window
    diverged = torch.zeros((), dtype=torch.bool, device=device)
    first_bad = torch.full((), -1, dtype=torch.long, device=device)
    bar = Meter(f"distill {config.method} ipc={ipc}", total, start, unit="it", enabled=progress)
    t0 = time.perf_counter() - state.seconds
    with interrupts.stop_requests() as stop_requested:  # Ctrl-C (SIGTERM) ends the iteration, checkpoints and stops
        for it in range(start, total):
            seed = derive_seed(config.seed, "iteration", it)
            torch.manual_seed(seed)
            net = nets.network(it, seed)  # a fresh random network every iteration (drawn from the space with --nets)
            features = block_features(net)
            real = pool.sample(B, generator(derive_seed(seed, "real"), device), classes)  # (k*B, C, H, W)
            aug = dsa.sample(K, seed, device)  # one op, one parameter row per class (all K: same rows in a shard)
            real = dsa.apply(real, aug, real_rows)
            syn_aug = dsa.apply(syn, aug, syn_rows)  # same row for the same class: siamese
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=hp.amp):
                set_phase(net, "real")  # batch norm: the real batch's statistics first (distill/batchnorm.py)
                with torch.no_grad():
                    real_f = Features(*features(real))  # [(k*B, W, H_l, W_l)], (k*B, D)
                set_phase(net, "syn")
                syn_f = Features(*features(syn_aug))  # [(k*ipc, W, H_l, W_l)], (k*ipc, D)
            terms = method.loss(real_f, syn_f, len(classes))
            if terms.keys() != set(names):
                raise TypeError(f"{type(method).__name__}.loss returned the terms {sorted(terms)}; it declares {names}")
            # with a space, the gradient of log(loss) over all shards' classes (Resolved.image_lr)
            objective = terms["loss"] if hp.space is None else terms["loss"] / shard.total(terms["loss"].detach()).clamp_min(1e-12)
            (grad,) = torch.autograd.grad(objective, syn)
            if frozen is not None:
                grad = grad.masked_fill(frozen, 0.0)  # hybrid: the real rows never move (their momentum stays 0)
            with torch.no_grad():
                # NaN guard without a host sync: a non-finite step and every later one is skipped,
                # so the pixels stay at the last good state until the next read-back stops the run.
                ok = shard.all_ok(torch.isfinite(terms["loss"]) & torch.isfinite(grad).all()) & ~diverged
                first_bad = torch.where(~ok & ~diverged, torch.full_like(first_bad, it), first_bad)
                diverged |= ~ok
                momentum_buf.copy_(torch.where(ok, momentum * momentum_buf + grad, momentum_buf))
                syn.copy_(torch.where(ok, syn - lr * momentum_buf, syn))
                window += torch.where(ok, torch.stack([terms[t] for t in names]).float(), 0.0)  # (terms,)
            state.window_n += 1
            done = it + 1
            stop = shard.any_stop(stop_requested())
            if done % config.log_every == 0 or done == total or done % config.checkpoint_every == 0 or stop:
                if bool(diverged):  # the host sync: only at read-backs
                    bad = int(first_bad)
                    good = State(syn.detach(), momentum_buf, window * 0, 0, state.history, time.perf_counter() - t0, bad, state.data)
                    _checkpoint(out, config, good, shard)
                    bar.close()
                    if bad == 0:  # the loss of the initial images, before the image lr moved a pixel: the loss itself overflows
                        options = ", ".join(f"{k} {v:g}" for k, v in hp.method.options().items() if isinstance(v, float))
                        fix = f"the image lr is not the cause: lower the loss's own settings ({options or 'method ' + config.method})"
                    else:
                        fix = f"lower the image lr (now {lr})"
                    raise DivergedError(
                        f"the loss became NaN or infinite at iteration {bad}; the last good state (iteration {bad}) is "
                        f"checkpointed in {out}",
                        remedy=f"{fix[0].upper() + fix[1:]} and start again with --force",
                        sep=". ",
                        fix=fix,
                    )
                if done % config.log_every == 0 or done == total:
                    means = (window / state.window_n).tolist()
                    state.history.append([done, *means])
                    window.zero_()
                    state.window_n = 0
                    bar.set(bar.done, f"loss={means[0]:.4g}")
                    if callback is not None:
                        callback(done, dict(zip(names, means, strict=True)))
            bar.update(1)
            state.syn, state.seconds, state.done = syn.detach(), time.perf_counter() - t0, done
            scored = selection is not None and selection.due(done, total)
            if scored:
                assert selection is not None
                entry = selection.score(done, state.syn, syn_rows)
                bar.set(bar.done, f"spearman={entry['spearman']}")
                state.seconds = time.perf_counter() - t0
            if done % config.checkpoint_every == 0 or stop or scored:  # after a score: a resume never scores it again
                _checkpoint(out, config, state, shard)
            if stop and done < total:
                bar.close()
                raise _interrupted(done, total, out)
        # a signal in the last iteration, after its stop was read (its read-back, its selection score): leaving
        # stop_requests would drop it, and the run would go on (its teachers, `run`'s search) as if none came
        if shard.any_stop(stop_requested()):
            _checkpoint(out, config, state, shard)
            bar.close()
            raise _interrupted(state.done, total, out)
    bar.close()


def _interrupted(done: int, total: int, out: Path) -> InterruptedRunError:
    return InterruptedRunError(
        f"interrupted{interrupts.by_signal()} at iteration {done}/{total}; checkpoint saved in {out}; the same command continues it",
        interrupts.exit_status(),
    )
