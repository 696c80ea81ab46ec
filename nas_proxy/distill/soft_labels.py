"""Soft labels for a synthetic set: the mean softmax of teachers trained on real data.

Qin et al. (NeurIPS 2024, REFERENCE §8) found that soft labels from expert teachers explain most of
distillation's gain, and that random real images with ensemble soft labels match distilled sets.
Here N teachers are drawn from a search space, stratified so that they differ in every dimension
(:func:`nas_proxy.spaces.stratified.stratified_specs`), each trained from scratch on the real
**training split** (the distillation's; a seeded, stratified subset of ``images`` of it when given),
never on the validation split or the test set; the validation split only scores them. An image's
soft label is the teachers' mean ``softmax(logits / temperature)`` on the image as stored (no
augmentation), over the teachers that learned something (``learned_threshold``); a proxy trained on the set then learns these rows (under DSA an augmented image keeps
its source image's row).

Trained teachers are files (``DIR/teachers/ARCH-KEY.safetensors``, the key hashing the spec, seed,
protocol and data), written atomically one by one: a run killed at any point retrains only the
teacher it was training, and sets labelled with the same teachers (a random subset and a distilled
set of one dataset and seed) share them through ``cache``.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import save
from torch import Tensor, nn

from nas_proxy import checks
from nas_proxy.data import stratified_split
from nas_proxy.digests import json_sha256
from nas_proxy.distill.config import DEFAULT_TEACHER_SPACE as DEFAULT_SPACE
from nas_proxy.distill.config import DistillConfig, SoftLabelConfig
from nas_proxy.errors import (
    ArtifactError,
    InvalidArgumentError,
    NasProxyError,
    NasProxyWarning,
    NewerFormatError,
    OutputConflictError,
    shown,
)
from nas_proxy.files import write_bytes
from nas_proxy.progress import meter
from nas_proxy.protocols import resolve_root
from nas_proxy.synthetic import TEACHERS, tensors_digest
from nas_proxy.training import TrainConfig, accuracy, train_model
from nas_proxy.utils import derive_seed, resolve_device

# A teacher whose validation accuracy is below this many times chance (the largest class's share)
# learned nothing in its epochs (a deep sigmoid network without norm, say: 10 % on Fashion-MNIST
# after 2 epochs); its near-constant softmax would only bias every label, so it is left out.
CHANCE_MULTIPLE = 2.0
TEACHER_DIGEST = "sha256"  # a cached teacher's metadata field: the digest of its weights and record (synthetic.tensors_digest)


def learned_threshold(chance: float) -> float:
    """The validation accuracy (%) a teacher must reach to count as having learned: CHANCE_MULTIPLE x
    ``chance``, or half the way from chance to 100 % where that is lower: twice chance is out of reach
    when the largest class holds half the images or more (two classes), and 2/3 of the way above a third."""
    return min(CHANCE_MULTIPLE * chance, (100.0 + chance) / 2)


class TeacherRetrainedWarning(NasProxyWarning):
    """A cached teacher's file is unreadable (cut short by a kill or a full disk, damaged): trained again."""


@dataclass
class Teacher:
    """One trained teacher: its network and its record in ``meta.json``."""

    model: nn.Module
    record: dict[str, Any]  # spec, arch_id, seed, val_accuracy (%), seconds (training), file, cached


def teacher_indices(train_y: Tensor, split_seed: int, val_fraction: float, images: int | None, seed: int) -> tuple[Tensor, Tensor]:
    """Indices into a dataset's training tensors: (the images every teacher trains on, the
    validation images that score them). The first are the distillation split's (``stratified_split``'s
    first part, as ``Dataset.split`` makes it), a stratified, seeded subset of ``images`` of them
    when given; the second its validation part. The test set is another tensor, never indexed."""
    train_idx, val_idx = stratified_split(train_y, val_fraction, split_seed)
    if images is not None and images > train_idx.numel():  # more than there are, as --ipc is refused
        raise InvalidArgumentError(
            f"--teacher-images {images} is more than the {train_idx.numel()} training images of the set's split; "
            "give fewer, or leave it out for all of them"
        )
    if images is not None and images < train_idx.numel():
        _, keep = stratified_split(train_y[train_idx], images / train_idx.numel(), derive_seed(seed, "teacher-images"))
        train_idx = train_idx[keep]
    return train_idx, val_idx


def add_soft_labels(
    path: Path | str,
    config: SoftLabelConfig,
    out: Path | str | None = None,
    seed: int | None = None,
    device: str = DistillConfig.device,
    data_root: str | None = None,
    progress: bool = False,  # the library is silent unless asked; the CLI asks
) -> dict[str, Any]:
    """Label the synthetic set at ``path`` with ``config.teachers`` teachers; returns its new ``meta.json``.

    The set is rewritten in place, or copied to ``out`` with the labels added (``meta.json``'s
    ``derived_from`` names the source). A set that already carries labels of this ``config`` is left
    as it is. ``seed`` (None: the set's) draws the teachers, their data and their initialisation.
    """
    from nas_proxy.synthetic import META, load_synthetic, save_synthetic

    config.validate()
    if config.teachers < 1:
        raise InvalidArgumentError(f"soft labels need at least 1 teacher, got {config.teachers}; pass --soft-labels N")
    src = Path(path)
    syn = load_synthetic(src)
    seed = int(syn.meta.get("seed", 0)) if seed is None else seed
    checks.number("seed", seed, 0, checks.SEED_MAX, integer=True)
    dst = Path(out) if out is not None else src
    if config.cache:
        check_teacher_dir(config.cache, dst)
    derived = dst.resolve() != src.resolve()
    if derived:
        _check_copy_target(dst, syn.meta)
        there = _whole_copy(dst)
        if there is not None and _labelled(there, config, seed):
            return there
    elif _labelled(syn.meta, config, seed):
        return syn.meta
    cache = Path(config.cache) if config.cache else dst / TEACHERS
    t0 = time.perf_counter()
    soft, record = soft_labels(
        syn.images,
        syn.labels,
        syn.meta,
        config,
        seed,
        cache,
        device,
        resolve_root(syn.dataset["name"], data_root, syn.meta.get("data_root")),
        progress,
    )
    record["seconds_this_run"] = round(time.perf_counter() - t0, 3)  # cached teachers cost nothing here
    record["cache"] = str(config.cache) if config.cache else TEACHERS
    meta = {
        k: v for k, v in syn.meta.items() if k not in ("format", "format_version", "tensors", "tensors_sha256", "num_images", "image_shape")
    }
    meta["soft_labels"] = record
    if derived:
        meta["derived_from"] = {"path": str(src), "tensors_sha256": syn.meta["tensors_sha256"]}
    d = syn.dataset
    save_synthetic(dst, syn.images, syn.labels, meta, tuple(d["mean"]), tuple(d["std"]), soft_labels=soft)
    return checks.read_json("synthetic set", dst / META)  # as written, unless replaced meanwhile: then refused in one line


def _labelled(meta: dict[str, Any], config: SoftLabelConfig, seed: int) -> bool:
    """Whether a set's ``meta.json`` records soft labels of ``config`` drawn with ``seed``."""
    record = meta.get("soft_labels", {})
    return bool(record.get("config") == config.identity() and record.get("seed") == seed)


def check_teacher_dir(cache: str, dst: Path | str) -> None:
    """A shared teacher cache in the folder the labelled set is written to, but for the set's own
    ``teachers/``, is refused: the set's folder holds its own files only (before, the teachers were
    written among them, and the same command after it was refused, '--teacher-dir is a synthetic set')."""
    dst = Path(dst)
    folder, real, own = (os.path.realpath(p) for p in (dst, cache, dst / TEACHERS))
    if (real == folder or real.startswith(folder + os.sep)) and not (real == own or real.startswith(own + os.sep)):
        raise InvalidArgumentError(
            f"--teacher-dir {shown(cache)} is in {dst}, where the labelled set is written, whose folder holds its own files only: "
            f"leave it out for the set's own {dst / TEACHERS}, or give a directory of its own"
        )


def _whole_copy(dst: Path) -> dict[str, Any] | None:
    """The ``meta.json`` of the labelled copy in ``dst``; None where there is none, or one cut short (a torn
    write): the copy is then made again from its source (whole), its teachers read from their cache."""
    from nas_proxy.synthetic import META, load_synthetic

    if not (dst / META).is_file():
        return None
    try:
        return load_synthetic(dst).meta
    except NewerFormatError:  # whole, a newer nasproxy's: not made again over (review41)
        raise
    except ArtifactError:
        return None


def _check_copy_target(dst: Path, source_meta: dict[str, Any]) -> None:
    """``dst`` may be new, empty, hold only a teacher cache, or hold a copy of the same source (or a copy
    cut short: its ``meta.json`` unreadable, it is made again)."""
    from nas_proxy.files import check_writable
    from nas_proxy.synthetic import GRID, META, TENSORS, read_meta

    check_writable(dst)  # a name too long, '-', no permission: before any teacher trains
    if dst.exists() and not dst.is_dir():
        raise OutputConflictError(f"{dst} is {checks.file_kind(dst)}, not a directory")
    if not dst.is_dir():
        return
    if any(p.name not in (TEACHERS, META, TENSORS, GRID) and not p.name.startswith(".") for p in dst.iterdir()):
        raise OutputConflictError(f"{dst} is not empty and holds no soft-labelled copy of this set; choose a new directory")
    if (dst / META).is_file():
        try:
            there = read_meta(dst).get("derived_from", {}).get("tensors_sha256")
        except NewerFormatError:
            raise
        except ArtifactError:  # cut short: only a copy's files are there (above), made again
            return
        if there != source_meta["tensors_sha256"]:
            raise OutputConflictError(f"{dst} holds a copy of another set (tensors {there}); choose a new directory or delete it")


def teacher_specs(
    config: SoftLabelConfig, nets: str | None, seed: int, shape: tuple[int, int, int], num_classes: int
) -> list[dict[str, Any]]:
    """The specs of ``config.teachers`` teachers drawn with ``seed`` from ``config.space`` (None: the
    distillation's space ``nets``, else the default), each checked to build for ``shape`` (C, H, W)
    images: refused in one line before anything is trained or written."""
    from nas_proxy.spaces import build_model, get_space
    from nas_proxy.spaces.stratified import stratified_specs

    space_name = config.space or nets or DEFAULT_SPACE
    try:
        space = get_space(space_name)
    except NasProxyError as e:
        if config.space is not None or nets is None:
            raise
        raise InvalidArgumentError(
            f"the teachers default to the set's distillation space, which cannot be opened here ({' '.join(str(e).split())}); "
            "name their space with --teacher-space"
        ) from None
    # a space known to be too small is refused before the draw, which tries 50 draws per teacher asked for
    # (--soft-labels 2147483647: hours of Optuna trials before this very error)
    size = space.size()
    too_small = size is not None and size < config.teachers
    specs = [] if too_small else stratified_specs(space, config.teachers, seed)
    if len(specs) < config.teachers:
        raise InvalidArgumentError(
            f"--teacher-space {space_name} holds {size if too_small else len(specs)} architectures, "
            f"fewer than the {config.teachers} teachers asked for"
        )
    c, h, w = shape
    for spec in specs:
        try:
            with torch.device("meta"):  # no memory, no time: only whether it builds
                build_model(spec, c, num_classes, (h, w))
        except (NasProxyError, RuntimeError, ValueError) as e:
            raise InvalidArgumentError(
                f"--teacher-space {space_name} cannot build a teacher for {c}x{h}x{w} images ({' '.join(str(e).split())[:200]}); "
                "give a space whose networks fit them"
            ) from None
    return specs


def soft_labels(
    images: Tensor,
    labels: Tensor,
    meta: dict[str, Any],
    config: SoftLabelConfig,
    seed: int,
    cache: Path,
    device: str = DistillConfig.device,
    data_root: str | None = None,
    progress: bool = False,
) -> tuple[Tensor, dict[str, Any]]:
    """(N, classes) soft labels of ``images`` (a set whose ``meta.json`` is ``meta``: its dataset,
    split and distillation space) and their ``meta.json`` record."""
    from nas_proxy.data import load_dataset

    d, split = meta["dataset"], meta["split"]
    dataset = load_dataset(d["name"], data_root, image_size=int(d["image_size"][0]))
    dataset.check_described(d, "the set")
    space_name = config.space or meta.get("config", {}).get("nets") or DEFAULT_SPACE
    specs = teacher_specs(config, space_name, seed, (dataset.channels, *dataset.image_size), dataset.num_classes)
    if config.images is not None and config.images < dataset.num_classes:
        raise InvalidArgumentError(f"--teacher-images must be at least the {dataset.num_classes} classes, got {config.images}")
    split_seed, val_fraction = int(split["seed"]), float(split["val_fraction"])
    idx, val_idx = teacher_indices(dataset.train_y, split_seed, val_fraction, config.images, seed)
    dev = resolve_device(device)
    x, y = dataset.train_x[idx], dataset.train_y[idx]  # (M, C, H, W), (M,): the teachers' only training data
    val_x, val_y = dataset.train_x[val_idx], dataset.train_y[val_idx]  # scores the teachers, never trains them
    protocol = TrainConfig(epochs=config.epochs, dsa=False)
    data_key = {"dataset": d["name"], "split_seed": split_seed, "val_fraction": val_fraction, "image_size": d["image_size"]}
    data_key |= {"train_images": int(idx.numel()), "subset_seed": seed if config.images is not None else None}
    teachers = [
        train_teacher(spec, seed, x, y, val_x, val_y, dataset.flip, protocol, data_key, cache, dev, dataset.num_classes)
        for spec in meter(specs, "teachers", unit="net", enabled=progress)
    ]
    chance = 100.0 * float(torch.bincount(val_y).max()) / val_y.numel()  # % of always answering the largest class
    for t in teachers:
        t.record["used"] = t.record["val_accuracy"] >= learned_threshold(chance)
    used = [t.model for t in teachers if t.record["used"]]
    if not used:
        best = max(t.record["val_accuracy"] for t in teachers)
        raise InvalidArgumentError(
            f"no teacher reached {learned_threshold(chance):.1f} % validation accuracy ({CHANCE_MULTIPLE:g}x chance, {chance:.1f} %, "
            f"at most half way to 100 %; best {best:.1f} %); "
            "train them longer (--teacher-epochs, --teacher-images) or draw others (--teacher-space, --seed)"
        )
    t0 = time.perf_counter()
    soft = label(images, used, config.temperature)  # (N, classes)
    seconds_labels = time.perf_counter() - t0
    members = [t.record for t in teachers]
    record = {
        "config": config.identity(),
        "seed": seed,  # drew the teachers, their images and their initialisation
        "space": space_name,
        "members": members,
        "used": len(used),  # members whose labels are averaged (at or above learned_threshold(chance))
        "val_accuracy_mean": round(sum(m["val_accuracy"] for m in members) / len(members), 4),
        "protocol": {k: v for k, v in protocol.to_dict().items() if k not in ("channels_last", "cuda_graph")}
        | {"amp": protocol.uses_amp(dev), "batch_used": min(protocol.batch_size, int(idx.numel()))},  # capped to them (fix62b)
        "train_images": int(idx.numel()),  # of the training split; the validation split and the test set: none
        # the labels' one-off cost: every teacher's training (cached ones count what they cost when trained) and the labelling
        "seconds": round(sum(m["seconds"] for m in members) + seconds_labels, 3),
        "device": str(dev),
        "agreement": round(float((soft.argmax(1) == labels).float().mean()), 4),  # share whose top soft class is the hard label
        "mean_top_probability": round(float(soft.max(1).values.mean()), 4),
    }
    return soft, record


def train_teacher(
    spec: dict[str, Any],
    seed: int,
    x: Tensor,
    y: Tensor,
    val_x: Tensor,
    val_y: Tensor,
    flip: bool,
    protocol: TrainConfig,
    data_key: dict[str, Any],
    cache: Path,
    device: torch.device,
    num_classes: int,
) -> Teacher:
    """``spec`` trained on ``x``/``y`` with ``protocol`` (a TrainConfig), or read from ``cache``
    when a teacher of the same spec, seed, protocol and data is there; scored on ``val_x``/``val_y``."""
    from nas_proxy.spaces import arch_id, build_model

    aid = arch_id(spec)
    run_seed = derive_seed(seed, "teacher", aid)  # the same teacher in every ensemble that draws this spec
    key = _key({"spec": spec, "seed": run_seed, "protocol": protocol.to_dict(), "data": data_key})
    file = cache / f"{aid}-{key}.safetensors"
    torch.manual_seed(run_seed)
    model = build_model(spec, int(x.shape[1]), num_classes, (int(x.shape[2]), int(x.shape[3]))).to(device)
    cached = _read_teacher(file, model, {"spec": spec, "arch_id": aid, "seed": run_seed, "file": file.name})
    if cached is not None:
        return Teacher(model.eval(), {**cached, "cached": True})
    t0 = time.perf_counter()
    train_model(model, x, y, protocol, run_seed, flip)
    seconds = time.perf_counter() - t0
    val = 100.0 * accuracy(model, val_x.to(device), val_y.to(device), amp=protocol.uses_amp(device))
    record = {
        "spec": spec,
        "arch_id": aid,
        "seed": run_seed,
        "val_accuracy": round(val, 4),
        "seconds": round(seconds, 3),
        "file": file.name,
    }
    _keep_teacher(file, model, record)
    return Teacher(model.eval(), {**record, "cached": False})


def _keep_teacher(file: Path, model: nn.Module, record: dict[str, Any]) -> None:
    """Write a trained teacher's weights and record as ``file``, with their sha256 (:data:`TEACHER_DIGEST`)."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    # in memory, then written by us: safetensors' save_file renames its own 0600 temporary over the target
    metadata = {"record": json.dumps(record)}
    write_bytes(file, save(state, metadata={**metadata, TEACHER_DIGEST: tensors_digest(state, metadata)}))


def _read_teacher(file: Path, model: nn.Module, identity: dict[str, Any]) -> dict[str, Any] | None:
    """The record of a cached teacher, its weights loaded into ``model``; None when absent or unreadable.
    ``identity``: what its record must say of it (spec, arch_id, seed, file), as :func:`train_teacher` writes it."""
    from nas_proxy.synthetic import read_safetensors

    def refusal(what: str) -> str:
        return f"teacher cache {file.parent}: {file.name} is {what}, not a teacher's file, where this teacher is kept; move it away, or give another --teacher-dir"

    if not os.path.lexists(file):
        return None
    found = checks.status("teacher cache", file)  # (a link loop: refused in one line)
    if found is None:
        raise InvalidArgumentError(refusal("a symbolic link to nothing"))
    checks.regular_file(found.st_mode, refusal)  # before stop 47 a FIFO there was written over, a folder refused after training
    try:
        tensors, metadata = read_safetensors(file)
        written = metadata.pop(TEACHER_DIGEST, None)  # absent from a teacher an earlier nasproxy kept: read as before
        if written is not None and written != tensors_digest(tensors, metadata):
            raise ValueError("its weights or record no longer match the sha256 written with them")  # before drill48: loaded
        if "record" not in (metadata or {}):
            raise ValueError("it holds no teacher's record (another program's weights?)")
        record = json.loads(metadata["record"])
        _check_record(record, identity)
        if not all(bool(v.isfinite().all()) for v in tensors.values() if v.is_floating_point()):
            raise ValueError("its weights hold NaN or infinity")  # before probe46, every soft label NaN, exit 0
        model.load_state_dict(tensors)
    except (SafetensorError, OSError, KeyError, ValueError, RuntimeError) as e:
        # a damaged cache entry: trained again (and written over), said as the torn selection.json is
        why = " ".join(str(e).split())[:200] or type(e).__name__
        warnings.warn(TeacherRetrainedWarning(f"cached teacher {file} is unreadable ({why}); it is trained again"), stacklevel=2)
        return None
    return dict(record)


def _check_record(record: Any, identity: dict[str, Any]) -> None:
    """A ValueError unless ``record`` is a teacher's as :func:`train_teacher` writes it for ``identity``. Before branch
    probe46 a record edited or of another teacher was taken as it stood: a val_accuracy of "abc" was an internal error
    (TypeError), NaN "no teacher reached 20.0 % ... best nan %", 150 a teacher, another spec's the set's record."""
    if not isinstance(record, dict):
        raise ValueError(f"its record is {shown(record)}, not a JSON object")
    for key, value in identity.items():
        if record.get(key) != value:
            what = (
                f"spec is not that of architecture {identity['arch_id']} (the file's name)"
                if key == "spec"
                else f"{key} is {shown(record.get(key))}, not {shown(value)}"
            )
            raise ValueError(f"its record's {what}")
    for key, high in (("val_accuracy", 100.0), ("seconds", None)):
        value = record.get(key)
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
            or not 0 <= value <= (high or math.inf)
        ):
            raise ValueError(f"its record's {key} is {shown(value)}, not {'a percentage' if high else 'a number of seconds'}")


def _key(parts: dict[str, Any]) -> str:
    """16 hex digits naming what a teacher depends on."""
    return json_sha256(parts, default=str)[:16]


@torch.no_grad()
def label(images: Tensor, teachers: list[nn.Module], temperature: float, batch_size: int = 1024) -> Tensor:
    """The teachers' mean ``softmax(logits / temperature)`` on ``images`` (N, C, H, W): (N, classes),
    float32, on the CPU."""
    rows = []
    for start in range(0, images.shape[0], batch_size):
        probs = []
        for t in teachers:
            device = next(t.parameters()).device
            logits = t.eval()(images[start : start + batch_size].to(device)).float()  # (B, classes), float32: no autocast
            probs.append(F.softmax(logits / temperature, dim=1).cpu())
        rows.append(torch.stack(probs).mean(0))  # (B, classes)
    return torch.cat(rows)


__all__ = [
    "TEACHERS",
    "SoftLabelConfig",
    "Teacher",
    "TeacherRetrainedWarning",
    "add_soft_labels",
    "check_teacher_dir",
    "label",
    "soft_labels",
    "teacher_indices",
    "train_teacher",
]
