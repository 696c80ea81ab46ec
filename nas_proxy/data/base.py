"""The in-memory dataset every stage works on, and its seeded validation split."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from nas_proxy.errors import ArtifactError, DataChangedError, InvalidArgumentError
from nas_proxy.protocols import DataRef


@dataclass
class Dataset:
    """Normalised image tensors of one dataset.

    ``train_x``/``test_x`` are float32 ``(N, C, H, W)`` already normalised with ``mean``/``std``;
    labels are int64 ``(N,)`` in ``[0, num_classes)``.
    """

    name: str
    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    class_names: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    flip: bool = True  # is a horizontal flip label-preserving? (not for digits: DSA skips it)
    source: str = ""  # where the files came from, recorded in artifacts
    notes: dict[str, object] = field(default_factory=dict)
    # content_sha256(): the reader's digest of the uint8 pixels and labels it read (registry._from_arrays), else made once
    content: str = field(default="", repr=False)

    @property
    def channels(self) -> int:
        return int(self.train_x.shape[1])

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.train_x.shape[2]), int(self.train_x.shape[3])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def check_described(self, described: dict[str, Any], what: str) -> None:
        """Refuse this dataset for an artifact (``what``) whose ``meta.json`` described the data it was made
        from as ``described`` (``describe()``'s record) when shapes, classes or normalisation differ: the
        wrong files under the name, or a meta.json naming one dataset over another's images (a network built
        for one would meet the other's images in its first layer, or in every trial of a search)."""
        name = described.get("name")
        shape = [described.get("channels"), *list(described.get("image_size") or [])]
        if shape != [self.channels, *self.image_size] or described.get("num_classes") != self.num_classes:
            raise ArtifactError(
                f"{what} was made from {name} with {described.get('num_classes')} classes of {'x'.join(map(str, shape))} images; "
                f"the data found now for {name} have {self.num_classes} classes of {self.channels}x{self.image_size[0]}x{self.image_size[1]}: "
                "not the data it was made from (its meta.json names another dataset, or --data-root points elsewhere)"
            )
        recorded = described.get("labels_sha256")  # absent from sets made before branch probe41
        if recorded is not None and recorded != self.labels_sha256():  # same shapes, classes and fixed statistics: MNIST's
            raise DataChangedError(  # files read as fashion-mnist's; before branch probe41 a set was then scored at chance, silently
                f"{what} was made from {name} files whose labels differ from those found now in {self.source} "
                f"(labels_sha256 {str(recorded)[:12]}... there, {self.labels_sha256()[:12]}... now): not the data it was made from "
                "(--data-root points at another dataset's files, or the files changed)",
                remedy="give the folder it was made from",
            )
        for key, now in (("mean", self.mean), ("std", self.std)):  # a set's images are in the normalised units of both
            if [round(float(v), 4) for v in described.get(key) or []] != [round(v, 4) for v in now]:
                raise ArtifactError(
                    f"{what} used normalisation {key} {described.get(key)}, the data found now for {name} give {list(now)}: not the same dataset"
                )
        changed = data_changed(  # the same labels, other pixels: images edited in place (turned, replaced by others of
            f"{what} was made from",  # the class), or another copy; before fix50e used without a word
            described.get("content_sha256"),  # absent from sets made before branch fix50e: read as before
            self.content_sha256(),
            str(name),
            self.source,
            otherwise="distill again from this one",
        )
        if changed is not None:
            raise changed

    def describe(self) -> dict[str, object]:
        """JSON-able facts recorded in every artifact made from this dataset."""
        return {
            "name": self.name,
            "source": self.source,
            "channels": self.channels,
            "image_size": list(self.image_size),
            "num_classes": self.num_classes,
            "class_names": self.class_names,
            "mean": list(self.mean),
            "std": list(self.std),
            "flip": self.flip,
            "train_size": int(self.train_y.numel()),
            "test_size": int(self.test_y.numel()),
            "labels_sha256": self.labels_sha256(),
            "content_sha256": self.content_sha256(),
            **self.notes,
        }

    def labels_sha256(self) -> str:
        """SHA-256 of the train then test labels (int64, little-endian): which files these are, where
        name, shapes, classes and fixed normalisation agree (MNIST's files and Fashion-MNIST's)."""
        digest = hashlib.sha256()
        for y in (self.train_y, self.test_y):
            digest.update(y.to(torch.int64).contiguous().numpy().astype("<i8", copy=False).tobytes())
        return digest.hexdigest()

    def content_sha256(self) -> str:
        """SHA-256 of the data read, pixels and labels (:func:`arrays_sha256`): which images these are, where the labels
        agree too (an image folder's photos turned or replaced in place). Made once per dataset: by its reader from the
        uint8 arrays it read (0.1 s for Fashion-MNIST's 70,000), else here from the tensors."""
        if not self.content:
            self.content = arrays_sha256(self.train_x, self.train_y, self.test_x, self.test_y)
        return self.content

    def denormalise(self, x: Tensor) -> Tensor:
        """Back to [0, 1] pixel values (for pictures)."""
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        return (x * std + mean).clamp(0, 1)

    def split(self, seed: int = DataRef.split_seed, val_fraction: float = DataRef.val_fraction) -> Splits:
        """Hold out a stratified validation split from train, deterministic in ``seed``.

        Distillation sees only ``splits.train``; the search stage scores candidates on
        ``splits.val``; the test set is for final reports only.
        """
        train_idx, val_idx = self._split_indices(seed, val_fraction)
        return Splits(
            dataset=self,
            train_x=self.train_x[train_idx],
            train_y=self.train_y[train_idx],
            val_x=self.train_x[val_idx],
            val_y=self.train_y[val_idx],
            seed=seed,
            val_fraction=val_fraction,
        )

    def smallest_class(self, seed: int = DataRef.split_seed, val_fraction: float = DataRef.val_fraction) -> int:
        """Images in the smallest class of ``split(seed, val_fraction)``'s distillation part (:meth:`Splits.smallest_class`,
        refused as the split is), counted without copying an image: a random subset's check (every rung of a ladder, every
        set of a correlation) split Fashion-MNIST's images once each before stop 53, 0.48 s against 0.02 s."""
        train_idx, _ = self._split_indices(seed, val_fraction)
        return int(torch.bincount(self.train_y[train_idx], minlength=self.num_classes).min())

    def _split_indices(self, seed: int, val_fraction: float) -> tuple[Tensor, Tensor]:
        """The indices (train, val) of :meth:`split`; refused where the validation part would be empty."""
        train_idx, val_idx = stratified_split(self.train_y, val_fraction, seed)
        if val_idx.numel() == 0:  # a search would score every candidate on nothing
            largest = int(torch.bincount(self.train_y).max())
            said = f"val_fraction {val_fraction:g} of {self.name}'s {self.train_y.numel()} training images leaves 0 validation images"
            if largest < 2:  # each class keeps one image to train on: no fraction holds one out (the fix said "raise it to 0.5")
                raise InvalidArgumentError(f"{said}: each class has 1 training image, which it keeps; give some class at least 2")
            fewest = next((n for n in range(largest + 1, 100 * largest + 2) if round(val_fraction * n) >= 1), None)
            more = f", or give some class at least {fewest} training images" if fewest is not None else ""
            raise InvalidArgumentError(  # a search on real data takes no --val-fraction (before stop 52: only "raise it")
                f"{said}; raise it to at least {least_fraction(largest):g} (one image of the largest class) where the command "
                f"takes one (distill --val-fraction){more}"
            )
        return train_idx, val_idx


@dataclass
class Splits:
    """The three disjoint parts of a dataset: distillation/training, validation, test."""

    dataset: Dataset
    train_x: Tensor
    train_y: Tensor
    val_x: Tensor
    val_y: Tensor
    seed: int
    val_fraction: float

    @property
    def test_x(self) -> Tensor:
        return self.dataset.test_x

    @property
    def test_y(self) -> Tensor:
        return self.dataset.test_y

    def describe(self) -> dict[str, object]:
        return {
            "seed": self.seed,
            "val_fraction": self.val_fraction,
            "train_size": int(self.train_y.numel()),
            "val_size": int(self.val_y.numel()),
        }

    def smallest_class(self) -> int:
        """Images in the smallest class of the distillation split (the largest allowed IPC)."""
        counts = torch.bincount(self.train_y, minlength=self.dataset.num_classes)
        return int(counts.min())


def arrays_sha256(*arrays: Any) -> str:
    """SHA-256 of numpy arrays or CPU tensors, each by its dtype, shape and bytes (C order), in the order given."""
    import numpy as np

    digest = hashlib.sha256()
    for a in arrays:
        array = np.ascontiguousarray(a.numpy() if isinstance(a, Tensor) else a)
        digest.update(f"{array.dtype.str}{array.shape};".encode())
        digest.update(array.reshape(-1).view(np.uint8).data)  # no copy (tobytes() would copy 220 MB)
    return digest.hexdigest()


def data_changed(
    made: str, recorded: object, found: str, data: str, source: str = "", otherwise: str | None = None
) -> DataChangedError | None:
    """The refusal of the data found now (content_sha256 ``found``) for what was made from data whose content_sha256 was
    ``recorded``; None when they agree, or when ``recorded`` is None (an artifact made before branch fix50e: read as
    before). The one wording every digest comparison says, a refusal's or a warning's (its :attr:`~NasProxyError.cause`):
    ``made`` is what was made and how, up to the data (``"syn was made from"``, ``"the ground truth study S in gt.log
    was trained on"``), ``data`` the dataset's name, ``source`` where it was found now; ``otherwise``: the remedy's
    other way, after "give the data it was made from" (None: no remedy, a caller that makes it again itself)."""
    if recorded is None or recorded == found:
        return None
    where = f" in {source}" if source else ""
    return DataChangedError(
        f"{made} {data} images that differ from those found now{where} (content_sha256 {str(recorded)[:12]}... there, "
        f"{found[:12]}... now): not the data it was made from (its images changed since, or --data-root points at another copy)",
        remedy=None if otherwise is None else f"give the data it was made from, or {otherwise}",
    )


def least_fraction(largest: int) -> float:
    """The least fraction, of 2 significant digits, that holds out one image of a class of ``largest``: round() takes
    half an image to none (ties to even), so 0.5 / largest said before (0.25 of 2 images, 0.12 of 4) held out none."""
    exact = 0.5 / largest
    step = 10.0 ** (math.floor(math.log10(exact)) - 1)  # the second significant digit
    fraction = math.floor(exact / step) * step
    while round(float(f"{fraction:.2g}") * largest) < 1:
        fraction += step
    return float(f"{fraction:.2g}")


def stratified_split(labels: Tensor, val_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """Indices (train, val): ``round(val_fraction * n_k)`` of every class k go to val.

    Every class keeps at least one training image; the order within each part is by index,
    so the split depends only on the labels, the fraction and the seed.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise InvalidArgumentError(f"val_fraction must be in [0, 1), got {val_fraction}")
    g = torch.Generator().manual_seed(seed)
    train_parts, val_parts = [], []
    for k in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == k).flatten()
        idx = idx[torch.randperm(idx.numel(), generator=g)]
        n_val = min(round(val_fraction * idx.numel()), idx.numel() - 1)
        val_parts.append(idx[:n_val])
        train_parts.append(idx[n_val:])
    return torch.cat(train_parts).sort().values, torch.cat(val_parts).sort().values


def normalise_(x: Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> Tensor:
    """``x``, float32 in [0, 1], (N, C, H, W), normalised in place and returned. Before stop 61 ``(x - m) / s`` made two
    copies of a split, the peak of a dataset's load: 20,000 32x32 RGB images (234 MiB) grew the peak RSS by 731 MiB,
    in place by 287 (review61; the same values, bit for bit)."""
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return x.sub_(m).div_(s)


STD_FLOOR = 1e-6  # the least std a channel is normalised by (a flat channel would divide by 0)


STATS_CHUNK = 1 << 20  # values of a split turned to float64 at a time by channel_stats (8 MB)


def channel_stats(x: Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std (Bessel's, as ``Tensor.std``) of ``x`` in [0, 1], (N, C, H, W), summed in float64 a
    chunk of images at a time (:data:`STATS_CHUNK` values), in two passes: the mean, then the squared deviations from it.
    Before stop 54 a float64 copy of the whole split was made, the peak of an image folder's load (8 bytes a value)."""
    n, c = x.shape[0], x.shape[1]
    count = n * x[0].numel() // c if n else 0  # values per channel
    rows = max(1, STATS_CHUNK // max(1, x[0].numel()))  # images a chunk
    total = torch.zeros(c, dtype=torch.float64)
    for i in range(0, n, rows):
        total += x[i : i + rows].double().sum(dim=(0, 2, 3))
    mean = total / count if count else torch.full((c,), float("nan"), dtype=torch.float64)
    squares = torch.zeros(c, dtype=torch.float64)
    for i in range(0, n, rows):
        squares += (x[i : i + rows].double() - mean.view(1, c, 1, 1)).square_().sum(dim=(0, 2, 3))
    std = (squares / (count - 1) if count > 1 else torch.full((c,), float("nan"), dtype=torch.float64)).sqrt().clamp_min(STD_FLOOR)
    return tuple(round(v, 6) for v in mean.tolist()), tuple(round(v, 6) for v in std.tolist())
