"""Small dataset files in the real on-disk formats, with each label written into the pixels.

Every fabricated image follows :func:`pattern`, so a test can check that a loader maps labels to
the right images and keeps channels and orientation. ``FABRICATORS`` has one entry per registered
dataset name; a new dataset is tested by registering it and adding its fabricator here.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

U8 = NDArray[np.uint8]
I64 = NDArray[np.int64]

MARKER = 254  # top-right pixel of channel 0: shows that rows, columns and channels kept their places

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
DIGIT_CLASSES = [str(i) for i in range(10)]


def levels(label: int) -> tuple[int, int, int]:
    """The (R, G, B) values of class ``label`` (0..99): pairwise different, so a swap of planes shows."""
    return 2 * label, 2 * label + 1, 255 - 2 * label


def pattern(label: int, size: int, channels: int, marker: bool = True) -> U8:
    """(size, size, channels) uint8: channel c is ``levels(label)[c]``, plus the marker pixel."""
    img = np.empty((size, size, channels), dtype=np.uint8)
    img[...] = np.asarray(levels(label)[:channels], dtype=np.uint8)
    if marker:
        img[0, size - 1, 0] = MARKER
    return img


def images(labels: I64, size: int, channels: int, marker: bool = True) -> U8:
    """(N, size, size, channels) uint8, image i drawn with :func:`pattern` of ``labels[i]``."""
    return np.stack([pattern(int(k), size, channels, marker) for k in labels])


def shuffled_labels(classes: list[int], per_class: int, seed: int) -> I64:
    """Every class ``per_class`` times, in a fixed shuffled order (a loader must not sort them)."""
    y = np.repeat(np.asarray(classes, dtype=np.int64), per_class)
    return np.random.default_rng(seed).permutation(y)


@dataclass
class Fabricated:
    """What a loader should return for the files a fabricator wrote."""

    spec: str  # the name to pass to load_dataset
    root: Path | None  # the --data-root to pass
    channels: int
    image_size: tuple[int, int]
    class_names: list[str]
    flip: bool
    train_y: I64 | None  # in file order; None when the loader splits train/test itself
    test_y: I64 | None
    label_counts: tuple[I64, I64] | None = None  # per-class (train, test) counts when the order is the loader's
    content: str = "marked"  # "marked": pattern(label); "flat": pattern(label, marker=False); "unknown"


# ---------------------------------------------------------------- IDX (MNIST, Fashion-MNIST)


def idx_bytes(array: U8) -> bytes:
    """An unsigned-byte IDX file: magic 0x000008NN (NN = number of dims), big-endian dims, data."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx(path: Path, array: U8) -> Path:
    """Write ``array`` as IDX, gzipped when ``path`` ends in ``.gz``."""
    data = idx_bytes(array)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def idx_files(folder: Path, train_y: I64, test_y: I64, gz: bool = True, size: int = 28) -> None:
    """The four MNIST-style files (train-*, t10k-*) with grey images of ``pattern``."""
    ext = ".gz" if gz else ""
    for split, y in (("train", train_y), ("t10k", test_y)):
        write_idx(folder / f"{split}-images-idx3-ubyte{ext}", images(y, size, 1)[..., 0])
        write_idx(folder / f"{split}-labels-idx1-ubyte{ext}", y.astype(np.uint8))


def fashion_mnist(root: Path) -> Fabricated:
    """torchvision's layout: ROOT/FashionMNIST/raw/ with uncompressed IDX files."""
    train_y, test_y = shuffled_labels(list(range(10)), 2, seed=1), shuffled_labels(list(range(10)), 1, seed=2)
    idx_files(root / "FashionMNIST" / "raw", train_y, test_y, gz=False)
    return Fabricated("fashion-mnist", root, 1, (28, 28), FASHION_CLASSES, True, train_y, test_y)


def mnist(root: Path) -> Fabricated:
    """Gzipped IDX files directly in ROOT."""
    train_y, test_y = shuffled_labels(list(range(10)), 2, seed=3), shuffled_labels(list(range(10)), 1, seed=4)
    idx_files(root, train_y, test_y, gz=True)
    return Fabricated("mnist", root, 1, (28, 28), DIGIT_CLASSES, False, train_y, test_y)


# ---------------------------------------------------------------- CIFAR python pickles


class Python2Pickler(pickle._Pickler):
    """Pickles as Python 2's cPickle wrote the official CIFAR files: protocol 2, strings as
    Python 2 ``str`` (opcode SHORT_BINSTRING), numpy under its old path ``numpy.core.multiarray``."""

    dispatch: ClassVar[dict[type, Any]] = dict(pickle._Pickler.dispatch)
    # undocumented members of pickle._Pickler that typeshed leaves out (write is the file's, set by __init__)
    write: Callable[[bytes], object]
    memoize: Callable[[object], None]

    def save_py2_str(self, obj: str | bytes) -> None:
        data = obj if isinstance(obj, bytes) else obj.encode("latin1")
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_str

    def save_global(self, obj: Any, name: str | None = None) -> None:
        module = obj.__module__.replace("numpy._core", "numpy.core")
        self.write(pickle.GLOBAL + f"{module}\n{name or obj.__qualname__}\n".encode())
        self.memoize(obj)


def write_pickle(path: Path, obj: object, python2: bool = True) -> Path:
    """Protocol 2, as the official files; ``python2=False`` is what ``pickle.dump`` writes today
    (bytes become ``_codecs.encode`` calls)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        if python2:
            Python2Pickler(f, protocol=2).dump(obj)
        else:
            pickle.dump(obj, f, protocol=2)
    return path


def cifar_rows(labels: I64) -> U8:
    """(N, 3072) uint8 rows as CIFAR stores them: the R plane, then G, then B, each row-major."""
    return images(labels, 32, 3).transpose(0, 3, 1, 2).reshape(len(labels), 3072)


def cifar_batch(labels: I64, label_key: str, batch_label: str) -> dict[bytes, Any]:
    return {
        b"batch_label": batch_label.encode(),
        label_key.encode(): [int(k) for k in labels],
        b"data": cifar_rows(labels),
        b"filenames": [f"img_{i}.png".encode() for i in range(len(labels))],
    }


def cifar10(root: Path, python2: bool = True) -> Fabricated:
    """ROOT/cifar-10-batches-py/: data_batch_1..5 (4 images each), test_batch, batches.meta."""
    folder = root / "cifar-10-batches-py"
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    train_y = shuffled_labels(list(range(10)), 2, seed=5)
    test_y = shuffled_labels(list(range(10)), 1, seed=6)
    for i, part in enumerate(np.split(train_y, 5), start=1):
        write_pickle(folder / f"data_batch_{i}", cifar_batch(part, "labels", f"training batch {i} of 5"), python2)
    write_pickle(folder / "test_batch", cifar_batch(test_y, "labels", "testing batch 1 of 1"), python2)
    meta = {b"label_names": [n.encode() for n in names], b"num_cases_per_batch": 4, b"num_vis": 3072}
    write_pickle(folder / "batches.meta", meta, python2)
    return Fabricated("cifar10", root, 3, (32, 32), names, True, train_y, test_y)


CIFAR100_CLASSES = [f"class_{i:02d}" for i in range(100)]


def cifar100(root: Path, python2: bool = True) -> Fabricated:
    """ROOT/cifar-100-python/: train (every fine label once, as a real copy holds each: a class with no training
    image is refused since probe46), test (fine labels from both ends of 0..99), meta."""
    folder = root / "cifar-100-python"
    train_y, test_y = shuffled_labels(list(range(100)), 1, seed=7), shuffled_labels([0, 1, 42, 98, 99], 1, seed=8)
    for name, y in (("train", train_y), ("test", test_y)):
        batch = cifar_batch(y, "fine_labels", name)
        batch[b"coarse_labels"] = [int(k) // 5 for k in y]
        write_pickle(folder / name, batch, python2)
    meta = {b"fine_label_names": [n.encode() for n in CIFAR100_CLASSES], b"coarse_label_names": [f"super_{i}".encode() for i in range(20)]}
    write_pickle(folder / "meta", meta, python2)
    return Fabricated("cifar100", root, 3, (32, 32), CIFAR100_CLASSES, True, train_y, test_y)


# ---------------------------------------------------------------- SVHN .mat


def svhn_mat(path: Path, digits: I64) -> Path:
    """A cropped-digits file: X (32, 32, 3, N) uint8, y (N, 1) with digit 0 stored as 10."""
    from scipy.io import savemat

    x = images(digits, 32, 3).transpose(1, 2, 3, 0)  # (N, H, W, C) -> (H, W, C, N)
    y = np.where(digits == 0, 10, digits).astype(np.float64).reshape(-1, 1)  # MATLAB doubles
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, {"X": x, "y": y})
    return path


def svhn(root: Path) -> Fabricated:
    train_y, test_y = shuffled_labels(list(range(10)), 2, seed=9), shuffled_labels(list(range(10)), 1, seed=10)
    svhn_mat(root / "train_32x32.mat", train_y)
    svhn_mat(root / "test_32x32.mat", test_y)
    return Fabricated("svhn", root, 3, (32, 32), DIGIT_CLASSES, False, train_y, test_y)


# ---------------------------------------------------------------- image folders (PNG)


def png(path: Path, label: int, mode: str, size: tuple[int, int]) -> Path:
    """A flat image of class ``label`` (``levels``), ``size`` = (width, height), mode "L" or "RGB"."""
    from PIL import Image

    color: int | tuple[int, ...] = levels(label)[0] if mode == "L" else levels(label)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)
    return path


def image_folder(path: Path, classes: list[str], per_class: int, mode: str = "RGB", size: tuple[int, int] = (12, 10)) -> Path:
    """PATH/<class>/<i>.png; class k (in sorted order) is drawn with ``levels(k)``."""
    for k, name in enumerate(sorted(classes)):
        for i in range(per_class):
            png(path / name / f"{i}.png", k, mode, size)
    return path


def imagefolder(root: Path) -> Fabricated:
    """Flat layout, RGB, 3 classes of 5 images: the loader holds out 1 of each as test."""
    classes = ["cat", "dog", "emu"]
    folder = image_folder(root / "pets", classes, 5, "RGB")
    counts = (np.full(3, 4, dtype=np.int64), np.full(3, 1, dtype=np.int64))
    return Fabricated(f"imagefolder:{folder}", None, 3, (32, 32), classes, True, None, None, counts, content="flat")


def digits(root: Path) -> Fabricated:
    """scikit-learn ships digits: nothing to write."""
    return Fabricated("digits", None, 1, (16, 16), DIGIT_CLASSES, False, None, None, content="unknown")


FABRICATORS: dict[str, Callable[[Path], Fabricated]] = {
    "fashion-mnist": fashion_mnist,
    "mnist": mnist,
    "cifar10": cifar10,
    "cifar100": cifar100,
    "svhn": svhn,
    "digits": digits,
    "imagefolder": imagefolder,
}
