"""The synthetic-set artifact: the one thing ``distill`` writes and later stages read.

A directory holding
- ``synthetic.safetensors``: ``images`` float32 (N, C, H, W), normalised like the real data,
  ``labels`` int64 (N,), grouped by class, and optionally ``soft_labels`` float32 (N, classes), each
  row a probability vector (the mean softmax of teacher networks, ``distill/soft_labels.py``);
- ``meta.json``: dataset, split, normalisation, class names, method and every hyper-parameter,
  iterations done, seed, versions, loss summary and the tensors file's SHA-256 (soft labels
  included); with soft labels, ``soft_labels`` records the teachers; written last, so a directory
  without it is unfinished;
- ``grid.png``: the de-normalised images, one row per class.

Tensors load without unpickling code: safetensors, or ``torch.load(weights_only=True)`` for a
``.pt`` file named in ``meta.json``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas_proxy import checks, interrupts
from nas_proxy.checks import inside
from nas_proxy.digests import file_sha256
from nas_proxy.errors import ArtifactError, InvalidArgumentError, NewerFormatError, shown
from nas_proxy.files import check_not_gone, make_dirs, write_bytes, write_json
from nas_proxy.protocols import IMAGE_SIZE_MAX

if TYPE_CHECKING:
    from torch import Tensor

# torch and safetensors are imported where tensors are read or written, not with this module: a command refuses a set
# path that is missing or not a set (read_meta) before it imports torch, ~2 CPU-s (fix60: evaluate /no/such/set did)


def load(data: bytes) -> dict[str, Tensor]:
    """``safetensors.torch.load``: the tensors of a safetensors file's bytes."""
    from safetensors.torch import load as load_tensors

    return load_tensors(data)


def save(tensors: dict[str, Tensor], metadata: dict[str, str] | None = None) -> bytes:
    """``safetensors.torch.save``: the bytes of a safetensors file of ``tensors``."""
    from safetensors.torch import save as save_tensors

    return save_tensors(tensors, metadata)


FORMAT = checks.SET_FORMAT
SAFETENSORS_HEADER_MAX = 100_000_000  # bytes: the safetensors library's own limit on a header
FORMAT_VERSION = 2  # 2: may hold soft labels; a set without them is still written as version 1
TENSORS = "synthetic.safetensors"
META = checks.SET_META
GRID = "grid.png"
GRID_PER_ROW = 20  # the most images of a class grid.png shows (its row)
TENSOR_NAMES = ("images", "labels", "soft_labels")  # what synthetic.safetensors holds (soft_labels only with teachers)
CHECKPOINT = "checkpoint.safetensors"
# the largest |pixel| a set may hold, in the normalised units it stores: real pixels lie within 1/std of the
# mean (a few units) and distilled ones within tens; a float32 network's batch statistics square them, so a
# set scaled x1e30 trained to a NaN loss ("training diverged", exit 3) or to chance accuracy in a search
PIXEL_MAX = 1e6
# save_synthetic's next meta.json, written before the tensors it describes: a set rewritten in place (soft
# labels added) and killed between its tensors and its meta.json is completed by the next reader
PENDING = "meta.json.next"
EVALUATIONS = "evaluations"  # `evaluate`'s finished networks, kept in the set's folder (nas_proxy/evaluate.py)
TEACHERS = "teachers"  # soft labels' teachers, cached in the set's folder (nas_proxy/distill/soft_labels.py)


@dataclass
class SyntheticSet:
    """Images, labels and the metadata of a finished distillation."""

    images: Tensor  # (N, C, H, W) float32, normalised
    labels: Tensor  # (N,) int64
    meta: dict[str, Any]
    path: Path
    soft_labels: Tensor | None = None  # (N, classes) float32 probabilities; None: hard labels only

    def targets(self, hard_labels: bool = False) -> Tensor:
        """What a network trained on the set learns: the soft labels when the set has them (unless
        ``hard_labels``), else the class indices. ``F.cross_entropy`` takes either."""
        return self.labels if hard_labels or self.soft_labels is None else self.soft_labels

    def name(self, hard_labels: bool = False) -> str:
        """The set's proxy token: ``METHOD-ipcN``, ``-soft`` added when it trains on soft labels."""
        return proxy_name(self.meta, hard_labels)

    def one_off_seconds(self, hard_labels: bool = False) -> float:
        """What making the set cost: the distillation, plus its teachers when their labels are used."""
        return one_off_seconds(self.meta, hard_labels)

    @property
    def dataset(self) -> dict[str, Any]:
        return dict(self.meta["dataset"])

    @property
    def num_classes(self) -> int:
        return int(self.meta["dataset"]["num_classes"])

    @property
    def ipc(self) -> int:
        return int(self.meta["ipc"])


def proxy_name(meta: dict[str, Any], hard_labels: bool = False) -> str:
    """``METHOD-ipcN`` of a set's ``meta.json`` (``-soft`` when it trains on its soft labels)."""
    soft = "soft_labels" in meta and not hard_labels
    return f"{meta['method']}-ipc{meta['ipc']}" + ("-soft" if soft else "")


def one_off_seconds(meta: dict[str, Any], hard_labels: bool = False) -> float:
    """The seconds a set's ``meta.json`` says it cost: distillation, plus the soft labels' teachers
    (their training, cached or not) unless ``hard_labels``."""
    seconds = float(meta.get("seconds", 0.0))
    if "soft_labels" in meta and not hard_labels:
        seconds += float(meta["soft_labels"].get("seconds", 0.0))
    return seconds


def save_synthetic(
    out: Path,
    images: Tensor,
    labels: Tensor,
    meta: dict[str, Any],
    mean: tuple[float, ...],
    std: tuple[float, ...],
    soft_labels: Tensor | None = None,
) -> Path:
    """Write the three files; ``meta.json`` last, with the tensors' hash and shapes added.

    ``soft_labels`` (N, classes) are stored beside the images (``meta`` should then carry their
    ``soft_labels`` record); the tensors' SHA-256 covers them, so every cache key changes with them.
    """
    make_dirs(out)
    images, labels = images.detach().float().cpu().contiguous(), labels.detach().long().cpu().contiguous()
    tensors = {"images": images, "labels": labels}
    if soft_labels is not None:
        tensors["soft_labels"] = soft_labels.detach().float().cpu().contiguous()
    data = save(tensors)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION if soft_labels is not None else 1,  # a set without them reads in older versions
        **meta,
        "tensors": TENSORS,
        "tensors_sha256": hashlib.sha256(data).hexdigest(),
        "num_images": int(labels.numel()),
        "image_shape": list(images.shape[1:]),
    }
    # a set rewritten in place (soft labels added): its two files cannot change in one rename, so the new
    # meta.json waits beside them until the tensors are in place, and a process killed in between leaves what
    # load_synthetic needs to finish the rewrite (a new set has no meta.json until the end: nothing to finish)
    if (out / META).exists():
        write_json(out / PENDING, meta)
    write_bytes(out / TENSORS, data)
    save_grid(out / GRID, images, labels, mean, std)
    write_json(out / META, meta)
    (out / PENDING).unlink(missing_ok=True)
    return out


def save_grid(path: Path, images: Tensor, labels: Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
    """De-normalised images as a PNG, one row per class (at most GRID_PER_ROW images per row), 1-pixel white
    gaps. Drawn with Pillow: torchvision's grid helpers import torch._dynamo, 1-2 s of every command
    that writes a set."""
    import torch
    from PIL import Image

    m = torch.tensor(mean).view(1, -1, 1, 1)
    s = torch.tensor(std).view(1, -1, 1, 1)
    pixels = (images.detach().float().cpu() * s + m).clamp(0, 1)
    _, c, h, w = pixels.shape
    per_row = min(GRID_PER_ROW, int(torch.bincount(labels).max()))
    classes = labels.unique(sorted=True).tolist()
    grid = torch.ones(c, len(classes) * (h + 1) + 1, per_row * (w + 1) + 1)
    for r, k in enumerate(classes):
        for col, image in enumerate(pixels[labels.cpu() == k][:per_row]):
            y, x = r * (h + 1) + 1, col * (w + 1) + 1
            grid[:, y : y + h, x : x + w] = image
    array = grid.mul(255).add(0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    png = io.BytesIO()
    Image.fromarray(array[:, :, 0] if c == 1 else array).save(png, format="png")
    write_bytes(path, png.getvalue())


def mend_grid(out: Path) -> bool:
    """Draw ``grid.png`` of the whole set in ``out`` again when it is missing or not a whole PNG (a picture for people,
    drawn from the tensors, so outside the tensors' hash: drill52 cut it and the same distill took the set, picture torn,
    'wrote ...'); True when it was drawn. Decoded up to the size this set's grid can have, whatever Pillow's guard against
    decompression bombs (89 million pixels), which is left as it is: before review53 the grid of 200 classes of 224-pixel images, 20 per row
    (203 million), which save_grid draws, stopped the same distill on its finished set (DecompressionBombError, an
    internal error); one of 100 such classes printed Pillow's warning. A picture larger than the set's is redrawn."""
    if _whole_png(out / GRID, _grid_pixels(read_meta(out))):
        return False
    s = load_synthetic(out)
    save_grid(out / GRID, s.images, s.labels, tuple(s.dataset["mean"]), tuple(s.dataset["std"]))
    return True


def _whole_png(path: Path, pixels: int) -> bool:
    """Whether ``path`` is a whole PNG of at most ``pixels``, decoded to its last byte (verify() passes a PNG cut inside its
    pixel data). Read by Pillow's own PNG reader, not Image.open, which holds a picture to Pillow's global
    MAX_IMAGE_PIXELS: before stop 54 that was raised for the time of this decoding, so that another thread's open of a
    hostile image in the same process had lost its guard then. The size the PNG declares is held to ``pixels`` here,
    before a byte of its pixels is decoded."""
    from PIL import PngImagePlugin, UnidentifiedImageError

    if not path.is_file():  # a FIFO there would be opened and waited on for ever (review55), a device read to its end
        return False
    try:
        with PngImagePlugin.PngImageFile(path) as picture:
            if picture.width * picture.height > pixels:
                return False
            picture.load()
        return True
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, EOFError):
        return False


def _grid_pixels(meta: dict[str, Any]) -> int:
    """The most pixels :func:`save_grid` draws for the set ``meta`` describes: a row per class, its ``ipc`` images (at
    most :data:`GRID_PER_ROW`) a row, each with its 1-pixel gap."""
    _, h, w = (int(n) for n in meta["image_shape"])
    rows, per_row = int(meta["dataset"]["num_classes"]), min(GRID_PER_ROW, int(meta.get("ipc") or meta["num_images"]))
    return (rows * (h + 1) + 1) * (per_row * (w + 1) + 1)


def read_meta(path: Path) -> dict[str, Any]:
    meta_path = path / META
    try:
        found = checks.status("synthetic set", path)
        if found is None:
            check_not_gone(path)  # a set the command made, its folder moved or deleted since (run's stages)
            raise checks.not_found("synthetic set", path, ArtifactError)
        if stat.S_ISREG(found.st_mode):
            raise ArtifactError(f"{path} is a file; a synthetic set is a directory made by 'nasproxy distill' (with {META} and {TENSORS})")
        checks.existing_dir("synthetic set", path)
        if checks.status("synthetic set file", meta_path) is None:
            if (path / CHECKPOINT).is_file():
                raise ArtifactError(
                    f"{path} holds an unfinished distillation (a checkpoint, no {META})",
                    remedy=f"finish it with 'nasproxy distill ... --out {path} --resume'",
                )
            raise ArtifactError(f"{path} is not a nasproxy synthetic set: no {META}")
        text = checks.read_text("synthetic set", meta_path)
    except InvalidArgumentError as e:
        raise ArtifactError(str(e)) from None
    try:
        meta = checks.loads(text)
    except (ValueError, RecursionError) as e:  # JSONDecodeError is a ValueError, as is an integer too long to read
        raise ArtifactError(f"{meta_path} is not valid JSON ({e})", remedy="the directory is corrupt, distil again") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ArtifactError(
            f"{meta_path} is not nasproxy synthetic-set metadata (format {meta.get('format') if isinstance(meta, dict) else None!r}, expected {FORMAT!r})"
        )
    if "format_version" not in meta:  # before fix61c: "must be 1 to 2, got 0", a default the file never held
        raise ArtifactError(f"{meta_path}: format_version is missing", remedy="the file is corrupt or was edited, distil again")
    version = meta["format_version"]
    if not isinstance(version, int) or isinstance(version, bool):
        raise ArtifactError(f"{meta_path}: format_version must be an integer, got {version!r}", remedy="the file is corrupt, distil again")
    if version > FORMAT_VERSION:
        raise NewerFormatError(f"{path} was written by a newer nasproxy (format {meta['format_version']})", remedy="upgrade nasproxy")
    if version < 1:
        raise ArtifactError(
            f"{meta_path}: format_version must be 1 to {FORMAT_VERSION}, got {version!r}", remedy="the file is corrupt, distil again"
        )
    _check_schema(meta, meta_path)
    return meta


def _pending_meta(path: Path, tensors_sha256: str) -> dict[str, Any] | None:
    """The ``meta.json`` a rewrite in place (:func:`save_synthetic`) left pending when it was stopped
    after replacing the tensors, if it describes the tensors there (``tensors_sha256``); it then
    becomes the set's ``meta.json`` (kept in memory only where the folder is read-only). None: none does."""
    try:
        meta = checks.read_json("synthetic set", path / PENDING)
    except (InvalidArgumentError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("tensors_sha256") != tensors_sha256 or meta.get("format") != FORMAT:
        return None
    with contextlib.suppress(OSError):
        os.replace(path / PENDING, path / META)
    return meta


# what later stages read from meta.json: key path -> (type, description)
SCHEMA: dict[tuple[str, ...], tuple[type | tuple[type, ...], str]] = {
    ("dataset",): (dict, "an object"),
    ("dataset", "name"): (str, "a string"),
    ("dataset", "num_classes"): (int, "an integer"),
    ("dataset", "channels"): (int, "an integer"),
    ("dataset", "image_size"): (list, "a list [height, width]"),
    ("dataset", "mean"): (list, "a list of numbers"),
    ("dataset", "std"): (list, "a list of numbers"),
    ("dataset", "class_names"): (list, "a list of names"),
    ("split",): (dict, "an object"),
    ("split", "seed"): (int, "an integer"),
    ("split", "val_fraction"): ((int, float), "a number"),
    ("method",): (str, "a string"),
    ("ipc",): (int, "an integer"),
    ("tensors",): (str, "a file name"),
}


def _check_schema(meta: dict[str, Any], meta_path: Path) -> None:
    for keys, (kind, description) in SCHEMA.items():
        value: Any = meta
        for key in keys:  # a table not an object is refused at its own key, checked first
            if key not in value:  # before fix61c: "must be an integer, got None" for a key the file lacks
                raise ArtifactError(f"{meta_path}: {'.'.join(keys)} is missing", remedy="the file is corrupt or was edited, distil again")
            value = value[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ArtifactError(
                f"{meta_path}: {'.'.join(keys)} must be {description}, got {shown(value)}",
                remedy="the file is corrupt or was edited, distil again",
            )
    size = meta["dataset"]["image_size"]
    if len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size):
        raise ArtifactError(f"{meta_path}: dataset.image_size must be [height, width] in pixels, got {size!r}", remedy="distil again")
    try:
        _check_values(meta)
    except InvalidArgumentError as e:
        raise ArtifactError(f"{meta_path}: {e}", remedy="the file is corrupt or was edited, distil again") from None
    name = meta["dataset"]["name"]
    if name.partition(":")[0] == "imagefolder" and max(size) > IMAGE_SIZE_MAX:  # before fix43a: "image size must be in ..."
        raise ArtifactError(
            f"{meta_path}: this set was distilled from {name} at {size[0]}x{size[1]} px, and nasproxy now reads image folders "
            f"at most {IMAGE_SIZE_MAX} px a side (the cap on --image-size; sets made before it could be larger): its real images "
            "cannot be read at the set's size",
            remedy=f"distil it again with --image-size {IMAGE_SIZE_MAX} or less",
        )


def _check_values(meta: dict[str, Any]) -> None:
    """The values of ``meta.json`` that later stages compute with, each in its range and agreeing
    with the others (the tensors are checked against them in :func:`load_synthetic`)."""
    d, split = meta["dataset"], meta["split"]
    checks.number("dataset.num_classes", d["num_classes"], 1, integer=True)
    checks.number("dataset.channels", d["channels"], 1, integer=True)
    checks.positive("ipc", meta["ipc"])
    checks.number("split.seed", split["seed"], 0, checks.SEED_MAX, integer=True)
    checks.number("split.val_fraction", split["val_fraction"], 0, 1, low_open=True, high_open=True)
    names = d["class_names"]
    if len(names) != d["num_classes"] or not all(isinstance(n, str) for n in names):
        raise InvalidArgumentError(f"dataset.class_names must be {d['num_classes']} names (dataset.num_classes), got {shown(names)}")
    if problem := checks.class_names_problem(names):  # before stop 49, ten 'a's or empty names
        raise InvalidArgumentError(f"dataset.class_names {problem}")  # were taken, reports ambiguous; probe55: 'ab\u202ecd'
    # informational counts (Dataset.describe, Splits.describe): shown in reports, so in range or absent (fix42a)
    for table, key in (("dataset", "train_size"), ("dataset", "test_size"), ("split", "train_size"), ("split", "val_size")):
        checks.number(f"{table}.{key}", meta[table].get(key), 0, integer=True, optional=True)
    for key in ("mean", "std"):
        values = d[key]
        if len(values) != d["channels"]:
            raise InvalidArgumentError(f"dataset.{key} must hold one number per channel ({d['channels']}), got {values!r}")
        for v in values:
            checks.number(f"dataset.{key}", v, 0 if key == "std" else None, low_open=True)
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.+-]*", meta["method"]):  # it names the set's proxy (METHOD-ipcN) in every table
        raise InvalidArgumentError(f"method must be the name of a distillation method (such as 'datadam'), got {shown(meta['method'])}")
    if Path(meta["tensors"]).name in ("", ".") or not meta["tensors"].isprintable():  # a NUL byte: no path at all
        raise InvalidArgumentError(f"'tensors' must name a file in the synthetic set (such as {TENSORS!r}), got {shown(meta['tensors'])}")
    if not isinstance(meta.get("data_root"), str | None):
        raise InvalidArgumentError(f"data_root must be the data's folder or null, got {shown(meta['data_root'])}")
    if not isinstance(meta.get("config", {}), dict):
        raise InvalidArgumentError(f"config must be an object (the distillation's options), got {shown(meta['config'])}")
    checks.sha256("tensors_sha256", meta.get("tensors_sha256"), "the tensors file's")
    # the real data's labels (branch probe41 on): Dataset.check_described compares them
    checks.sha256("dataset.labels_sha256", d.get("labels_sha256"), "the real labels'")
    checks.sha256("dataset.content_sha256", d.get("content_sha256"), "the real data's")  # branch fix50e on: pixels and labels
    checks.number("num_images", meta.get("num_images"), 0, integer=True, optional=True)
    # the costs a search, score or correlate adds to its proxy's (one_off_seconds)
    checks.number("seconds", meta.get("seconds"), 0, checks.SECONDS_MAX, optional=True)  # fix42a: 1e300 skewed the cost column
    if "soft_labels" in meta:
        record = meta["soft_labels"]
        if not isinstance(record, dict):
            raise InvalidArgumentError(f"soft_labels must be an object (the teachers' record), got {shown(record)}")
        checks.number("soft_labels.seconds", record.get("seconds"), 0, checks.SECONDS_MAX, optional=True)


def load_synthetic(path: Path | str, shard: bool = False) -> SyntheticSet:
    """Load and check a synthetic set; every problem is an :class:`ArtifactError` naming the fix. ``shard``: one rank's
    shard of a sharded distillation (some classes only) is what is asked for (its merge); every other caller asks for a
    whole set, and a shard is refused (before probe50 one was evaluated and searched as a set of all classes, exit 0)."""
    path = Path(path)
    meta = read_meta(path)
    import torch  # once the path is a set's (fix60)

    if isinstance(record := meta.get("shard"), dict) and not shard:
        raise ArtifactError(
            f"{path} is one shard of a sharded distillation (rank {shown(record.get('rank'))} of {shown(record.get('world_size'))}), "
            "which holds some of the classes only: give the set its launch merged (distill's --out, the folder that holds "
            "shards/), or distil again"
        )
    try:
        tensor_path = inside(path, meta["tensors"], f"{META}'s 'tensors'")
    except InvalidArgumentError as e:
        raise ArtifactError(str(e), remedy="the synthetic set was edited, distil again") from None
    try:
        if checks.status("synthetic set file", tensor_path) is None:
            raise ArtifactError(f"{tensor_path} is missing", remedy="the synthetic set is incomplete, distil again")
        checks.existing_file("synthetic set file", tensor_path)
    except InvalidArgumentError as e:
        raise ArtifactError(str(e)) from None
    expected, found = meta.get("tensors_sha256"), file_sha256(tensor_path)
    if expected and found != expected:
        pending = _pending_meta(path, found)
        if pending is None:
            raise ArtifactError(f"{tensor_path} does not match the SHA-256 in {META} (truncated or modified)", remedy="distil again")
        meta = pending
    elif not expected:  # a meta.json without one (edited, or a set written by hand): every caller keys its caches and its
        meta = {**meta, "tensors_sha256": found}  # study's record on the digest; before probe50 search failed 'KeyError'
    tensors = _read_tensors(tensor_path, found)
    images, labels = tensors.get("images"), tensors.get("labels")
    if images is None or labels is None:
        raise ArtifactError(f"{tensor_path} must hold tensors 'images' and 'labels'; it has {sorted(tensors)}")
    if extra := sorted(set(tensors) - set(TENSOR_NAMES)):  # another tool's, or a hand's: not read, so never trusted
        raise ArtifactError(
            f"{tensor_path} holds {', '.join(shown(t) for t in extra)}, no tensor of a synthetic set (which holds "
            f"{', '.join(TENSOR_NAMES)} only)",
            remedy="the set was edited, distil again",
        )
    if images.ndim != 4 or labels.shape != (images.shape[0],) or labels.dtype != torch.int64:
        raise ArtifactError(
            f"{tensor_path}: images {tuple(images.shape)} / labels {tuple(labels.shape)} {labels.dtype} are not (N, C, H, W) / (N,) int64"
        )
    if list(images.shape[1:]) != list(meta.get("image_shape", images.shape[1:])):
        raise ArtifactError(f"{tensor_path}: image shape {list(images.shape[1:])} differs from {META} ({meta['image_shape']})")
    k = int(meta["dataset"]["num_classes"])
    if labels.numel() and (labels.min() < 0 or labels.max() >= k):
        raise ArtifactError(f"{tensor_path}: labels outside [0, {k})")
    _check_tensors(images, labels, meta, tensor_path)
    soft = _check_soft_labels(tensors.get("soft_labels"), meta, labels.numel(), k, tensor_path)
    return SyntheticSet(images.float(), labels, meta, path, soft)


def _check_soft_labels(soft: Tensor | None, meta: dict[str, Any], n: int, k: int, tensor_path: Path) -> Tensor | None:
    """The soft labels, checked: present exactly when ``meta.json`` records them, (N, classes),
    finite, non-negative rows that sum to 1."""
    import torch

    if (soft is None) != ("soft_labels" not in meta):
        has, says = ("no", "records") if soft is None else ("a", "does not record")
        raise ArtifactError(
            f"{tensor_path} holds {has} 'soft_labels' tensor but {META} {says} them", remedy="the set was edited, distil again"
        )
    if soft is None:
        return None
    if soft.shape != (n, k):
        raise ArtifactError(f"{tensor_path}: soft_labels {tuple(soft.shape)} are not ({n}, {k}) (images, classes)", remedy="distil again")
    # float32 only, as the images: what save_synthetic writes; another dtype is a set written by hand or another tool
    # (before probe46, float64 or float16 soft labels were read beside float16 images refused)
    if soft.dtype != torch.float32:
        raise ArtifactError(
            f"{tensor_path}: soft_labels are {str(soft.dtype).removeprefix('torch.')}, not float32 (probability rows)",
            remedy="the synthetic set was edited, distil again",
        )
    if not bool(torch.isfinite(soft).all()) or bool((soft < 0).any()) or not torch.allclose(soft.sum(1), torch.ones(n), atol=1e-4):
        raise ArtifactError(f"{tensor_path}: soft_labels must be finite probability rows (>= 0, summing to 1)", remedy="distil again")
    return soft


def _check_tensors(images: Tensor, labels: Tensor, meta: dict[str, Any], tensor_path: Path) -> None:
    """The tensors are what ``meta.json`` says: float32 pixels, all finite, of the dataset's shape,
    ``ipc`` images of every class they hold (one shard of a sharded run holds some classes only)."""
    import torch

    d = meta["dataset"]
    fix = "the synthetic set was edited or corrupted, distil again"
    if images.shape[0] == 0:
        raise ArtifactError(f"{tensor_path} holds no images", remedy=fix)
    if images.dtype != torch.float32:
        raise ArtifactError(
            f"{tensor_path}: images are {str(images.dtype).removeprefix('torch.')}, not float32 (normalised pixels)", remedy=fix
        )
    shape = [d["channels"], *d["image_size"]]
    if list(images.shape[1:]) != shape:
        raise ArtifactError(
            f"{tensor_path}: images are {list(images.shape[1:])} but {META} says dataset.channels and image_size {shape}",
            remedy=fix,
        )
    bad = int((~torch.isfinite(images)).sum())
    if bad:
        raise ArtifactError(f"{tensor_path}: {bad} pixel values are not finite (NaN or infinity)", remedy=fix)
    huge = images.abs() > PIXEL_MAX
    if bool(huge.any()):
        raise ArtifactError(
            f"{tensor_path}: {int(huge.sum()):,} pixel values are beyond +-{PIXEL_MAX:,.0f} (the largest {images.abs().max().item():g}), "
            "where no distilled pixel lies",
            remedy=fix,
        )
    if meta.get("num_images") is not None and meta["num_images"] != labels.numel():
        raise ArtifactError(f"{tensor_path} holds {labels.numel()} images but {META} says num_images {meta['num_images']}", remedy=fix)
    counts = torch.bincount(labels, minlength=int(d["num_classes"])).tolist()
    wrong = [(c, n) for c, n in enumerate(counts) if n and n != meta["ipc"]]  # a class absent: a shard's set (of some classes)
    if wrong:
        c, n = wrong[0]
        raise ArtifactError(
            f"{tensor_path}: every class must hold ipc = {meta['ipc']} images ({META}), but class {c} holds {n} "
            f"({len(wrong)} classes differ)",
            remedy=fix,
        )
    absent = [c for c, n in enumerate(counts) if not n]
    if absent and "shard" not in meta:  # only one rank's shard of a sharded run holds some classes (its meta.json says so);
        # before probe50 a set of 5 of its 10 classes was searched and evaluated as a whole one (exit 0)
        raise ArtifactError(
            f"{tensor_path} holds no image of class {absent[0]} ({shown(d['class_names'][absent[0]])}; {len(absent)} of the "
            f"{len(counts)} classes of {META} have none), where a synthetic set holds ipc = {meta['ipc']} of every class; {fix}"
        )


def tensors_digest(tensors: dict[str, Tensor], metadata: dict[str, str]) -> str:
    """sha256 of a safetensors file's tensors (names, dtypes, shapes, bytes) and its other metadata fields, written
    among them (a checkpoint's, a cached teacher's): a file whose bytes changed since (a bad block, a partial write
    that kept the size) no longer matches it. The format itself checks only that the header accounts for the size."""
    import torch

    h = hashlib.sha256(json.dumps(metadata, sort_keys=True).encode())
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{list(t.shape)}".encode())
        # flattened first: a 0-dim tensor (batch norm's num_batches_tracked) cannot be viewed as bytes of another size
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def read_safetensors(path: Path, sha256: str | None = None) -> tuple[dict[str, Tensor], dict[str, str]]:
    """A safetensors file's tensors and metadata, with a Ctrl-C or SIGTERM held until the read ends:
    a KeyboardInterrupt raised inside it is lost in torch's C code, which then reports a malformed
    file ("could not determine the shape of object type ..."), and the caller's "truncated or
    corrupt" would name a whole file (the start-up drill of tests/cli/test_startup.py caught it).
    ``sha256``: the digest the caller checked; bytes read that have another were written since (:func:`_unchanged`)."""
    with interrupts.deferred():
        header = safetensors_header(path)  # before the whole file is read: a foreign 10 GB file is refused from its first bytes
        data = path.read_bytes()  # not safe_open(str(path)): safetensors takes only UTF-8 paths, and a folder named
        _unchanged(path, data, sha256)
        tensors = load(data)  # in another encoding (b'set\xff', written by distill) was called "truncated or corrupt"
    return tensors, dict(header.get("__metadata__") or {})


def _unchanged(path: Path, data: bytes, sha256: str | None) -> None:
    """Refuse ``data``, the bytes of ``path`` read to be loaded, where they are not those whose digest ``sha256`` was
    checked a moment before: another process replaced the file between the two reads (probe57: the tensors loaded were
    not those the digest checked, and every record keyed them by the other's digest, exit 0)."""
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise ArtifactError(
            f"{path} changed while it was read: its SHA-256 differs from the one checked a moment before, so another process is writing it",
            remedy="run the same command again once that process is done",
        )


def safetensors_header(path: Path) -> dict[str, Any]:
    """``path``'s safetensors header (the tensors' names, dtypes, shapes and offsets, and ``__metadata__``),
    read from its first bytes alone; ValueError where they are not a safetensors header that accounts for
    the file's size exactly (another format, a file cut short or grown). What :func:`read_safetensors`
    checks before reading the whole file, and what tells a file's tensors without reading them."""
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        length = int.from_bytes(f.read(8), "little")  # the format: an 8-byte little-endian length, then that much JSON
        if size < 8 or not 2 <= length <= min(SAFETENSORS_HEADER_MAX, size - 8):
            raise ValueError(f"its first 8 bytes give no header length that fits its {size:,} bytes")
        first = f.read(1)  # a header is a JSON object: another format is told before its length is read
        raw = first + f.read(length - 1) if first == b"{" else b""
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError):  # (nested too deep: before review61 an internal error of the caller)
        header = None
    if not isinstance(header, dict):
        raise ValueError("its header is not a JSON object")
    end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(v) is int for v in offsets) and 0 <= offsets[0] <= offsets[1]):
            raise ValueError(f"its header gives tensor {name!r} no valid data_offsets")
        end = max(end, offsets[1])
    if 8 + length + end != size:
        raise ValueError(f"it holds {size:,} bytes where its header accounts for {8 + length + end:,}")
    return header


def _read_tensors(path: Path, sha256: str | None = None) -> dict[str, Tensor]:
    """The tensors of a set's file, whose bytes must have the digest ``sha256`` where it is given (see :func:`_unchanged`)."""
    import torch
    from safetensors import SafetensorError
    from torch import Tensor

    if path.suffix == ".safetensors":
        try:
            return read_safetensors(path, sha256)[0]
        except (SafetensorError, OSError, ValueError) as e:
            raise ArtifactError(f"{path} is not a readable safetensors file ({e}); it is truncated or corrupt") from None
    if path.suffix in (".pt", ".pth"):
        try:
            with interrupts.deferred():  # as read_safetensors
                data = path.read_bytes()
                _unchanged(path, data, sha256)
                obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except ArtifactError:
            raise
        except Exception as e:  # noqa: BLE001 - torch raises many types for a refused pickle
            if "Unsupported global" in str(e):  # a pickled object that would need code to rebuild
                raise ArtifactError(
                    f"{path} needs unpickling arbitrary Python objects to load; nasproxy refuses that. Save plain tensors: torch.save({{'images': x, 'labels': y}}, path) or use safetensors"
                ) from None
            raise ArtifactError(f"{path} cannot be read as a tensor file ({type(e).__name__}); it is truncated or corrupt") from None
        if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
            raise ArtifactError(f"{path} must hold a dict of tensors with 'images' and 'labels'")
        return obj
    raise ArtifactError(f"{path}: unknown tensor file type {path.suffix!r}; use .safetensors or .pt")
