"""A distillation's output directory: the checkpoint, the check before a (re)start, the loss log.

The checkpoint holds only the pixels, their momentum and the loss accumulators; every iteration
draws everything else from its seed, so a resumed run computes what an uninterrupted one does.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import save
from torch import Tensor

from nas_proxy import checks
from nas_proxy.data.base import Dataset, data_changed
from nas_proxy.digests import file_sha256
from nas_proxy.distill.config import DistillConfig
from nas_proxy.distill.methods import METHODS
from nas_proxy.distill.selection import SELECTED, STATE
from nas_proxy.errors import ArtifactError, DifferentRunError, InvalidArgumentError, NasProxyError, OutputConflictError
from nas_proxy.files import PROBE, check_writable, write_bytes, write_text
from nas_proxy.synthetic import CHECKPOINT, GRID, META, PENDING, TENSORS, read_meta, read_safetensors, tensors_digest

LOSSES = "losses.csv"
SHARDS = "shards"  # OUT/shards/{rank}-of-{world}: one complete run per shard of a sharded run (distill/sharded.py)
OWN_FILES = (META, TENSORS, GRID, CHECKPOINT, LOSSES, STATE, SELECTED, PENDING)
DIGEST = "sha256"  # the checkpoint's metadata field: the digest of its tensors and its other fields (tensors_digest)
DATA = "data_sha256"  # the checkpoint's metadata field: the content_sha256 of the data distilled from (stop 51 on)


@dataclass
class State:
    """What a checkpoint holds: the pixels, their momentum, and the loss accumulators."""

    syn: Tensor  # (K * ipc, C, H, W)
    momentum: Tensor  # same shape
    window: Tensor  # (terms,) running sums of the method's loss terms since the last read-back
    window_n: int
    history: list[list[float]]  # [iteration, *terms] per read-back
    seconds: float
    done: int
    data: str = ""  # the content_sha256 of the data distilled from (Dataset.content_sha256; "": unknown, not recorded)

    @classmethod
    def restore(cls, checkpoint: dict[str, Any], device: torch.device, data: str) -> State:
        """The state a :func:`read_checkpoint` result holds, on ``device``, distilling from the data of content_sha256
        ``data`` (the checkpoint's, :func:`check_data`, or one written before it was recorded)."""
        syn, momentum, window = (checkpoint[k].to(device) for k in ("images", "momentum", "window"))
        return cls(syn, momentum, window, checkpoint["window_n"], checkpoint["history"], checkpoint["seconds"], checkpoint["done"], data)


def write_checkpoint(out: Path, config: DistillConfig, state: State, path: Path | None = None) -> None:
    """``out``'s checkpoint of ``state``, written whole or not at all (at ``path``: staged there, see RankShard.save)."""
    metadata = {
        "identity": json.dumps(config.identity(), sort_keys=True),
        "done": str(state.done),
        "window_n": str(state.window_n),
        "history": json.dumps(state.history),
        "seconds": repr(state.seconds),
    }
    if state.data:
        metadata[DATA] = state.data
    tensors = {
        "images": state.syn.detach().float().cpu().contiguous(),
        "momentum": state.momentum.float().cpu().contiguous(),
        "window": state.window.float().cpu().contiguous(),
    }
    write_bytes(path or out / CHECKPOINT, save(tensors, metadata={**metadata, DIGEST: tensors_digest(tensors, metadata)}))


def read_checkpoint(path: Path) -> dict[str, Any]:
    try:
        tensors, md = read_safetensors(path)
        written = md.pop(DIGEST, None)  # absent from a checkpoint an earlier nasproxy wrote: read as before
        if written is not None and written != tensors_digest(tensors, md):
            raise ArtifactError(
                f"checkpoint {path} is corrupt (its contents no longer match the sha256 written with them)",
                remedy="start again with --force",
            )
        return {
            **tensors,
            "identity": json.loads(md["identity"]),
            "done": int(md["done"]),
            "window_n": int(md["window_n"]),
            "history": json.loads(md["history"]),
            "seconds": float(md["seconds"]),
            DATA: md.get(DATA),  # absent from a checkpoint written before stop 51: resumed as before
        }
    except (SafetensorError, OSError, KeyError, ValueError) as e:
        raise ArtifactError(f"checkpoint {path} is unreadable ({e})", remedy="start again with --force") from None


def check_output(out: Path, config: DistillConfig, resume: bool, force: bool) -> dict[str, Any] | None:
    """Refuse to mix runs: the checkpoint to resume from, or None for a fresh start (``--force``
    included). A run of the same options is resumed with or without ``resume`` (a finished one is
    taken as it is); ``resume`` is needed only to continue a finished run to more iterations.
    Changes nothing on disk."""
    if resume and force:
        raise InvalidArgumentError("--resume and --force contradict each other; pick one")
    check_writable(out)  # first: a path the OS refuses (a name too long) cannot even be tested for existence
    checks.output_path("--out", out)  # a symbolic-link loop is refused in one line
    if out.exists() and not out.is_dir():
        raise OutputConflictError(f"{out} is {checks.file_kind(out)}, not a directory")
    if force:
        return None
    ours = [name for name in OWN_FILES if (out / name).exists()]
    if not ours:
        leftovers = leftover_files(out)  # a run killed while writing its first checkpoint: resuming it is starting it
        if resume and not leftovers:
            raise OutputConflictError(f"nothing to resume in {out}: no checkpoint there", remedy="drop --resume to start")
        # (a writability probe a kill -9 left, where the file system has no O_TMPFILE, is nasproxy's: review61)
        if out.is_dir() and any(p not in leftovers and not p.name.startswith(PROBE) for p in out.iterdir()):
            raise OutputConflictError(f"{out} is not empty and holds no nasproxy run", remedy="choose a new directory or pass --force")
        return None
    if checks.status("checkpoint", out / CHECKPOINT) is None:
        if (out / SHARDS).is_dir():  # a sharded run keeps its checkpoints in its shards (was: "an incomplete run")
            raise OutputConflictError(
                f"{out} holds a sharded run (its checkpoints in {SHARDS}/)",
                remedy="continue it with the torchrun launch that made it (--distributed), or pass --force to replace it",
                sep=": ",
            )
        raise OutputConflictError(f"{out} holds an incomplete run without a checkpoint", remedy="start again with --force")
    checks.existing_file("checkpoint", out / CHECKPOINT)  # a FIFO there would block the read for ever; a folder
    target = config.iterations if METHODS.get(config.method).optimises else 0
    try:
        checkpoint = read_checkpoint(out / CHECKPOINT)
    except ArtifactError:
        # a checkpoint cut short (a damaged disk, a copy that stopped) beside a whole finished set of these options:
        # it only continues the run further, so the same command takes the set as it is (`run` resumed after
        # its distillation used to stop here, asking for a --force that would distil it again)
        finished = finished_set(out, target)
        if finished is None or not _same_options(finished, config):
            raise
        return {"done": target}
    differ = config.differences(checkpoint["identity"])  # what the user changed: not the idle fields, nor a default following
    if differ:
        listed = "; ".join(f"{k}: {a!r} there, {b!r} now" for k, (a, b) in sorted(differ.items()))
        raise DifferentRunError(
            f"{out} holds a different run ({listed})", remedy="use its options to continue it, or --force to replace it"
        )
    # the same options continue the run (the same command resumes what a kill or Ctrl-C stopped); a finished
    # run is taken as it is, and continued to another number of iterations only when --resume asks for it
    if not resume and (out / META).is_file() and checkpoint["done"] != target:
        raise DifferentRunError(
            f"{out} already holds a finished run of {checkpoint['done']} iterations",
            remedy=f"pass --resume to continue it to {config.iterations}, or --force to replace it",
        )
    if checkpoint["done"] > config.iterations:
        raise OutputConflictError(  # before stop 51 (probe51) it named no way on
            f"{out} already ran {checkpoint['done']} iterations, more than the {config.iterations} asked for",
            remedy=f"ask for {checkpoint['done']} or more to continue it, or --force to start again with {config.iterations}",
        )
    if checkpoint["window"].numel() != len(METHODS.get(config.method).terms):  # a checkpoint of an older version
        raise OutputConflictError(
            f"{out} holds a run whose loss terms differ from {config.method}'s now", remedy="start again with --force"
        )
    return checkpoint


def check_data(out: Path, checkpoint: dict[str, Any], dataset: Dataset, finished: bool = False) -> None:
    """Refuse to resume the checkpoint in ``out`` on ``dataset`` when it was distilled from other data (images rewritten
    in place since, the same labels; another copy under --data-root): before stop 51 it was resumed without a word, its
    pixels made from the old images going on with the new ones. A checkpoint that recorded none is resumed as before.
    ``finished``: ``out`` holds that checkpoint's whole set, which the command would take as it is: the refusal names the
    set (before stop 53 it said "the checkpoint in OUT" to a user who had a finished set)."""
    changed = data_changed(
        f"the {'set' if finished else 'checkpoint'} in {out} was distilled from",
        checkpoint.get(DATA),
        dataset.content_sha256(),
        dataset.name,
        dataset.source,
        otherwise="--force to start again",
    )
    if changed is not None:
        raise changed


def _same_options(meta: dict[str, Any], config: DistillConfig) -> bool:
    """Whether the set ``meta`` describes was made with ``config``'s options (``meta.json`` records them)."""
    try:
        now = json.loads(json.dumps(config.identity()))
        there = {k: v for k, v in meta["config"].items() if k in now}
    except (KeyError, TypeError, AttributeError):
        return False
    if "amp" in now and not str(meta.get("device", "")).startswith("cuda"):
        there["amp"] = now["amp"]  # meta.json records amp as it ran: off wherever there is no CUDA
    return there == now


def finished_set(out: Path, done: int) -> dict[str, Any] | None:
    """``meta.json`` of the set in ``out`` when that set is whole and the checkpoint's (``done``
    iterations); None when it must be written again from the checkpoint: a run continued with
    ``--resume`` and killed after its last checkpoint still has the earlier run's set, and a file of
    the set cut short or missing (a torn write) does not match the hash in ``meta.json``."""
    try:
        meta = read_meta(out)
        # a FIFO or device there is not hashed (review55: the same distill hung opening a FIFO): the set is written again
        tensors = out / TENSORS
        whole = tensors.is_file() and file_sha256(tensors) == meta["tensors_sha256"] and meta["iterations_done"] == done
    except (NasProxyError, OSError, KeyError):  # read_meta refuses a cut or malformed meta.json
        return None
    return meta if whole else None


def leftover_files(out: Path) -> list[Path]:
    """The temporary files ``atomic_path`` leaves beside this run's files when the process is killed, and its own
    temporary of a coupled shard's staged checkpoint (``..checkpoint.safetensors.staged.tmp.PID-RAND.tmp``, two dots:
    before review54's find, a rank killed inside its first staged write left a shard the same command refused as "not
    empty and holds no nasproxy run")."""
    if not out.is_dir():
        return []
    return [p for name in OWN_FILES for dots in (".", "..") for p in out.glob(f"{dots}{name}.*.tmp") if p.is_file()]


def loss_summary(history: list[list[float]], terms: tuple[str, ...]) -> dict[str, Any]:
    """``meta.json``'s ``loss``: the first and last read-backs of every term, and the lowest loss."""
    if not history:
        return {"windows": 0}
    return {
        "windows": len(history),
        "first": {"iteration": history[0][0], **dict(zip(terms, history[0][1:], strict=True))},
        "last": {"iteration": history[-1][0], **dict(zip(terms, history[-1][1:], strict=True))},
        "min": min(h[1] for h in history),
        "file": LOSSES,
    }


def write_losses(path: Path, history: list[list[float]], terms: tuple[str, ...]) -> None:
    """``losses.csv``: one row per read-back, the iteration and the mean of every term since the last."""
    write_text(path, _losses_text(history, terms))


def mend_losses(path: Path, history: list[list[float]], terms: tuple[str, ...]) -> bool:
    """Write ``losses.csv`` of a finished set again where it is not what its checkpoint's ``history`` gives (cut short,
    missing: outside the tensors' hash, drill of stop 52 kept it torn; not a regular file); True when written."""
    text = _losses_text(history, terms)
    # a regular file only, to the text limit: a FIFO there is not opened (review55: the same distill hung in this read)
    with contextlib.suppress(NasProxyError):  # torn, not text, a device, a FIFO: written over
        if checks.read_text("losses file", path) == text:
            return False
    write_text(path, text)
    return True


def _losses_text(history: list[list[float]], terms: tuple[str, ...]) -> str:
    lines = [",".join(("iteration", *terms))] + [",".join([str(int(h[0]))] + [f"{v:.6g}" for v in h[1:]]) for h in history]
    return "\n".join(lines) + "\n"
