"""Datasets by name: ``load_dataset("fashion-mnist")``, ``load_dataset("imagefolder:/path")``.

A loader takes a :class:`DataOptions` and returns a normalised :class:`Dataset`. Register a new
one with ``@DATASETS.register("name")``.
"""

from __future__ import annotations

import contextlib
import functools
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nas_proxy import checks
from nas_proxy.data.base import STD_FLOOR, Dataset, arrays_sha256, channel_stats, normalise_, stratified_split
from nas_proxy.data.formats import (
    I64,
    U8,
    cifar_arrays,
    cifar_fits,
    cifar_label_names,
    file_kind,
    idx_fits,
    present,
    read_cifar_batch,
    read_idx_pair,
    read_svhn_mat,
    svhn_fits,
)
from nas_proxy.data.images import read_image_folder, read_image_folders, say_once, subfolders
from nas_proxy.errors import DataNotFoundError, InvalidArgumentError, shown
from nas_proxy.files import shorten
from nas_proxy.protocols import IMAGE_SIZE_MAX, DataRef, image_folder, reads_no_root
from nas_proxy.registry import Registry

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

# Fixed seed of the train/test split for datasets that ship without one (digits, image folders):
# constant so that every run of every user shares one test set.
TEST_SPLIT_SEED = 0

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
DIGIT_CLASSES = [str(i) for i in range(10)]
# How many classes each registered dataset has, known without reading it (a launch's check before its ranks start);
# an image folder's is its class folders. A dataset left out here is counted when it loads.
CLASS_COUNTS = {
    "fashion-mnist": len(FASHION_CLASSES),
    "mnist": len(DIGIT_CLASSES),
    "cifar10": len(CIFAR10_CLASSES),
    "cifar100": 100,
    "svhn": len(DIGIT_CLASSES),
    "digits": len(DIGIT_CLASSES),
}


@dataclass(frozen=True)
class DataOptions:
    """How to find a dataset. ``arg`` is what follows the colon in ``imagefolder:PATH``."""

    root: Path | None = None  # --data-root
    download: bool = False  # --download: fetch with torchvision (needs internet)
    image_size: int = DataRef.image_size  # image folders only: side length after resize + centre crop
    arg: str = ""


Loader = Callable[[DataOptions], Dataset]
DATASETS: Registry[Loader] = Registry("dataset")


_once: dict[tuple[str, str | None, int], Dataset] | None = None  # (name, resolved root, size) -> its dataset, inside read_once()


@contextlib.contextmanager
def read_once() -> Iterator[None]:
    """Inside, :func:`load_dataset` reads each dataset (name, root, image size) once and returns that same
    :class:`Dataset` after: ``nasproxy run``'s plan and stages each loaded their data again, fashion-mnist 9 times
    in a short run, ~1 s and 220 MB each (before branch fix42b). No stage changes a dataset in place."""
    global _once
    outer = _once
    _once = {} if outer is None else outer
    try:
        yield
    finally:
        _once = outer


def dataset_kind(name: str) -> str:
    """The registered dataset ``name`` reads (``imagefolder:PATH``: imagefolder); an unknown one is refused, and so is
    a ``:ARG`` after a dataset that takes none: before branch probe46 ``--dataset digits:foo`` distilled digits, the
    ``:foo`` ignored without a word (and recorded as the set's dataset)."""
    kind, colon, _ = name.partition(":")
    DATASETS.get(kind)  # an unknown name: its error
    if colon and kind != "imagefolder":
        raise InvalidArgumentError(f"dataset {shown(name)}: {kind} takes nothing after a ':' (only imagefolder:PATH does); give {kind}")
    return kind


def load_dataset(name: str, root: Path | str | None = None, download: bool = False, image_size: int = DataRef.image_size) -> Dataset:
    """Load a registered dataset (``imagefolder:PATH`` for a folder of class folders); inside :func:`read_once`,
    the one read before."""
    kind = dataset_kind(name)
    checks.number("image size", image_size, 4, IMAGE_SIZE_MAX, integer=True)
    held = _once
    if held is None or download:
        return _load(name, root, download, image_size)
    sized = image_size if kind == "imagefolder" else 0  # read by image folders only (DataOptions.image_size)
    key = (name, None if root is None else str(Path(root).resolve()), sized)
    if key not in held:
        held[key] = _load(name, root, download, image_size)
    return held[key]


class DataRootError(DataNotFoundError):
    """The data root given is no folder. Its remedy names ``--data-root``, the option of the commands that take one; a
    caller that read the root from elsewhere (``run``: its preset's ``[distill] data_root``) puts its own
    (:meth:`~nas_proxy.errors.NasProxyError.with_remedy`)."""


def _load(name: str, root: Path | str | None, download: bool, image_size: int) -> Dataset:
    key, _, arg = name.partition(":")
    loader = DATASETS.get(key)
    if download and (where := reads_no_root(name)) is not None:  # before branch probe39, ignored without a word
        raise InvalidArgumentError(f"--download changes nothing with dataset {name} ({where}): drop it")
    if root:
        checks.not_too_long("data root", root)  # before probe44, an internal error (Path.is_dir raised)
    remedy = f"give the folder that holds the {key} files with --data-root"  # the command's option: run's is its preset's key
    if root and not download and Path(root).is_file():  # before stop 49, "does not exist (or is not a directory)" for the
        # cifar-10-python.tar.gz just downloaded
        raise DataRootError(f"data root {root} is {file_kind(Path(root))}, not a directory", remedy=remedy)
    if root and not download and (cause := checks.not_a_folder("data root", root)) is not None:  # a typo would be ignored (digits)
        # or blamed on missing files; a device, FIFO or socket named as such (before fix55b: "does not exist (or is not a directory)")
        raise DataRootError(cause, remedy=remedy, missing=None if Path(root).exists() else root)  # a FIFO or device is there
    return loader(DataOptions(Path(root) if root else None, download, image_size, arg))


def output_outside(option: str, name: str, out: Path | str) -> None:
    """Refuse an ``out`` folder inside the image folder that dataset ``name`` reads (``imagefolder:PATH``), or that
    folder itself, by any name (a link): each folder there is a class, so the run's own folder would be read as one
    (probe57: ``--out photos/out`` made the folder, then was refused as "photos/out holds no images", the image folder
    touched). Other datasets read files by their names, which an output folder beside them does not change."""
    kind, colon, arg = name.partition(":")
    if not (colon and kind == "imagefolder" and arg):
        return
    try:
        root, target = image_folder(arg).resolve(), Path(out).expanduser().resolve()
        there = root.is_dir()  # none there: the dataset's own refusal names it
    except (OSError, RuntimeError):  # a link loop, a folder above refusing this user: the commands' own checks say so
        return
    if there and (target == root or root in target.parents):
        raise InvalidArgumentError(
            f"{option} {shorten(out)} is {'the image folder' if target == root else 'inside the image folder'} "
            f"{shorten(arg)}, where each folder is a class: the run's own folder would be read as one; give a directory "
            "outside it"
        )


def class_count(name: str) -> int | None:
    """How many classes dataset ``name`` has, from its name or an image folder's class folders, reading no image;
    None where that is known only once it loads (a dataset registered without a count, a folder that is not there)."""
    kind, _, arg = name.partition(":")
    if kind != "imagefolder":
        return CLASS_COUNTS.get(kind)
    root = image_folder(arg)
    if not arg or not root.is_dir():
        return None
    folders = subfolders(root)
    count = len(subfolders(root / "train")) if {"train", "test"} <= set(folders) else len(folders)
    return count if count >= 2 else None  # fewer than the loader takes: it says why (the review of stop 43: "has 1 classes")


def dataset_names() -> list[str]:
    return [n + (":PATH" if n == "imagefolder" else "") for n in DATASETS.names()]


def _from_arrays(
    name: str,
    train: tuple[U8, I64],
    test: tuple[U8, I64],
    classes: list[str],
    stats: tuple[tuple[float, ...], tuple[float, ...]] | None,
    flip: bool,
    source: str,
    label_words: Callable[[int], str] | None = None,
) -> Dataset:
    """uint8 (N, H, W, C) arrays -> a normalised Dataset; ``stats=None`` computes them on train. ``label_words``: class k
    as the format's files write it ("label value 9 in its train-labels-idx1 file"), for the error that names a class absent."""

    def to_tensor(a: U8) -> torch.Tensor:
        # laid out (N, C, H, W) in memory, not a permuted view of (N, H, W, C): torch reads such a view (and for C = 1 the
        # strides (H*W, 1, W, 1)) as channels-last, and on a CPU GroupNorm (the ConvNets' instancenorm) ran 6-12x slower so
        # (perf60a: a 3-epoch digits training 1.32 -> 0.94 CPU-s); a GPU trainer asks for channels-last itself where it pays
        x = torch.from_numpy(np.require(a, requirements=["C", "W"])).permute(0, 3, 1, 2)
        return torch.empty(x.shape, dtype=torch.float32).copy_(x).div_(255.0)  # (.contiguous() keeps C = 1's strides)

    train_x, test_x = to_tensor(train[0]), to_tensor(test[0])
    mean, std = stats if stats is not None else channel_stats(train_x)
    if stats is None and len(train_x) and max(std) <= STD_FLOOR:  # computed here (an image folder): else the data's own
        raise DataNotFoundError(
            f"the {len(train_x)} training images of {name} are one flat colour, every pixel alike: nothing to learn from; check the images"
        )
    for split, y in (("train", train[1]), ("test", test[1])):
        if len(y) and (y.min() < 0 or y.max() >= len(classes)):
            raise DataNotFoundError(f"{name} {split} labels outside [0, {len(classes)}) in {source}")
    _check_splits(name, source, train_x, test_x, train[1], classes, label_words)
    content = arrays_sha256(train[0], train[1].astype("<i8"), test[0], test[1].astype("<i8"))  # the pixels as read: 0.1 s for 70,000 28x28
    return Dataset(
        name=name,
        train_x=normalise_(train_x, mean, std),  # the tensors to_tensor made, owned here
        train_y=torch.from_numpy(train[1].astype(np.int64)),
        test_x=normalise_(test_x, mean, std),
        test_y=torch.from_numpy(test[1].astype(np.int64)),
        class_names=classes,
        mean=mean,
        std=std,
        flip=flip,
        source=source,
        content=content,
    )


def _check_splits(
    name: str,
    source: str,
    train_x: torch.Tensor,
    test_x: torch.Tensor,
    train_y: I64,
    classes: list[str],
    label_words: Callable[[int], str] | None = None,
) -> None:
    """Refuse files that cannot be one dataset's: before branch probe46, MNIST files whose test images were 20x20 beside
    28x28 training images, or a test file of no image, were distilled (exit 0), and a class with no training image was
    "ipc must be between 1 and 0". The class absent is named as the files write it (``label_words``): before stop 47
    SVHN's "no image of class 0" sent a stranger looking for a 0 in a file that writes digit 0 as 10."""
    if not len(test_x):
        raise DataNotFoundError(f"{name} in {source}: its test split holds no image; nothing could be tested on it (a file cut short?)")
    if train_x.shape[1:] != test_x.shape[1:]:
        raise DataNotFoundError(
            f"{name} in {source}: its training images are {tuple(train_x.shape[1:])} (channels, height, width) and its test "
            f"images {tuple(test_x.shape[1:])}: the files are not of one dataset"
        )
    if (absent := np.flatnonzero(np.bincount(train_y, minlength=len(classes)) == 0)).size:
        k, more = int(absent[0]), f", nor of {absent.size - 1} more" if absent.size > 1 else ""
        raise DataNotFoundError(
            f"{name} in {source}: its training split holds no image of class {k} ({classes[k]!r}"
            f"{f': no {label_words(k)}' if label_words else ''}){more}; every class needs "
            "training images (are these the dataset's own files?)"
        )


def _missing(name: str, where: list[Path], how: str) -> DataNotFoundError:
    looked = ", ".join(str(p) for p in where) or "(no --data-root given)"
    return DataNotFoundError(f"{name} files not found (looked in {looked}); {how}")


def _torchvision_download(cls_name: str, root: Path, **kwargs: Any) -> None:
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)
    root.mkdir(parents=True, exist_ok=True)
    try:
        for split_kw in kwargs.pop("splits", [{"train": True}, {"train": False}]):
            cls(str(root), download=True, **split_kw)
    except (OSError, RuntimeError) as e:
        raise DataNotFoundError(f"downloading {cls_name} into {root} failed: {e}") from None


def _idx_dataset(
    name: str,
    tv_name: str,
    opts: DataOptions,
    default: Path | None,
    classes: list[str],
    stats: tuple[tuple[float, ...], tuple[float, ...]],
    flip: bool,
    how: str,
) -> Dataset:
    roots: list[Path] = []
    if opts.root is not None:
        if opts.download:
            _torchvision_download(tv_name, opts.root)
        roots += [opts.root, opts.root / tv_name / "raw"]
    elif opts.download:
        raise InvalidArgumentError("--download needs --data-root DIR to download into")
    if default is not None and opts.root is None:  # a folder the user named is the one meant (before branch probe41 the
        roots.append(default)  # Debian copy was read in its place, without a word, when it held no files)
    for root in roots:  # all four files from one folder, never train of one copy and test of another
        idx_fits(root)  # the four together, before one is read
        test = read_idx_pair([root], "t10k")
        train = read_idx_pair([root], "train") if test is not None else None
        if train is not None and test is not None:
            return _from_arrays(
                name, train, test, classes, stats, flip, str(root), lambda k: f"label value {k} in its train-labels-idx1 file"
            )
    if default is not None and opts.root is not None:
        how = (  # typed, or recorded by a set made with it (whose user typed nothing now: review41)
            f"that folder (--data-root, or the one a set's meta.json records) is the one read, and it lacks the four "
            f"IDX files: give --data-root with the folder that holds them (the default place: {default})"
        )
    raise _missing(name, roots, how)


@DATASETS.register("fashion-mnist")
def fashion_mnist(opts: DataOptions) -> Dataset:
    """Fashion-MNIST: the Debian package's files, or torchvision's layout under --data-root."""
    how = (
        "install them with 'apt-get install dataset-fashion-mnist' (Debian/Ubuntu), or pass "
        "--data-root DIR holding the four IDX files (add --download to fetch them with torchvision)"
    )
    return _idx_dataset("fashion-mnist", "FashionMNIST", opts, DEBIAN_FASHION_MNIST, FASHION_CLASSES, ((0.2860,), (0.3530,)), True, how)


@DATASETS.register("mnist")
def mnist(opts: DataOptions) -> Dataset:
    how = "pass --data-root DIR holding the four MNIST IDX files (add --download to fetch them with torchvision)"
    return _idx_dataset("mnist", "MNIST", opts, None, DIGIT_CLASSES, ((0.1307,), (0.3081,)), False, how)


def _require_root(name: str, opts: DataOptions, tv_name: str, **download_kwargs: object) -> Path:
    if opts.root is None:
        raise DataNotFoundError(f"{name} needs --data-root DIR (add --download to fetch it there with torchvision)")
    if opts.download:
        _torchvision_download(tv_name, opts.root, **download_kwargs)
    return opts.root


@DATASETS.register("cifar10")
def cifar10(opts: DataOptions) -> Dataset:
    """CIFAR-10 in its python format: DIR/cifar-10-batches-py/data_batch_{1..5}, test_batch."""
    folder = _require_root("cifar10", opts, "CIFAR10") / "cifar-10-batches-py"
    if not present(folder / "test_batch"):
        raise _missing("cifar10", [folder], _cifar_how(folder, "cifar-10-python.tar.gz"))
    batches = [folder / f"data_batch_{i}" for i in range(1, 6)]
    cifar_fits([*batches, folder / "test_batch"], folder)  # all together, before one is read
    train = cifar_arrays([read_cifar_batch(b) for b in batches], "labels", folder)
    test = cifar_arrays([read_cifar_batch(folder / "test_batch")], "labels", folder)
    meta = folder / "batches.meta"
    classes = cifar_label_names(meta, "label_names", 10) if present(meta) else CIFAR10_CLASSES
    stats = ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))
    return _from_arrays(
        "cifar10", train, test, classes, stats, True, str(folder), lambda k: f"value {k} in the 'labels' of data_batch_1 to 5"
    )


def _cifar_how(folder: Path, archive: str) -> str:
    """What to do where ``folder`` (--data-root's cifar-*-python folder) lacks CIFAR's files: before branch probe48 the one
    fix said for a --data-root that was that folder itself, or that held the archive not yet extracted, was the same."""
    root, name = folder.parent, folder.name
    if root.name == name:
        return f"--data-root {root} is the {name}/ folder itself: give the folder that holds it ({root.parent})"
    if present(root / archive):
        return f"{root} holds {archive}, not extracted: run 'tar -xzf {root / archive} -C {root}', or add --download"
    return f"pass --data-root DIR containing {name}/ (or add --download)"


@DATASETS.register("cifar100")
def cifar100(opts: DataOptions) -> Dataset:
    """CIFAR-100 (fine labels) in its python format: DIR/cifar-100-python/{train,test,meta}."""
    folder = _require_root("cifar100", opts, "CIFAR100") / "cifar-100-python"
    if not present(folder / "test"):
        raise _missing("cifar100", [folder], _cifar_how(folder, "cifar-100-python.tar.gz"))
    cifar_fits([folder / "train", folder / "test"], folder)  # both together, before one is read
    train = cifar_arrays([read_cifar_batch(folder / "train")], "fine_labels", folder / "train")
    test = cifar_arrays([read_cifar_batch(folder / "test")], "fine_labels", folder / "test")
    meta = folder / "meta"
    classes = cifar_label_names(meta, "fine_label_names", 100) if present(meta) else [str(i) for i in range(100)]
    stats = ((0.5071, 0.4866, 0.4409), (0.2673, 0.2564, 0.2762))
    return _from_arrays("cifar100", train, test, classes, stats, True, str(folder), lambda k: f"value {k} in the 'fine_labels' of train")


@DATASETS.register("svhn")
def svhn(opts: DataOptions) -> Dataset:
    """SVHN cropped digits: DIR/train_32x32.mat and DIR/test_32x32.mat (label 10 is digit 0)."""
    root = _require_root("svhn", opts, "SVHN", splits=[{"split": "train"}, {"split": "test"}])
    if not present(root / "test_32x32.mat"):
        raise _missing("svhn", [root], "pass --data-root DIR containing train_32x32.mat and test_32x32.mat (or add --download)")
    svhn_fits([root / "train_32x32.mat", root / "test_32x32.mat"], root)  # the two together, before one is read
    train, test = read_svhn_mat(root / "train_32x32.mat"), read_svhn_mat(root / "test_32x32.mat")
    stats = ((0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970))
    return _from_arrays("svhn", train, test, DIGIT_CLASSES, stats, False, str(root), _svhn_label)


def _svhn_label(k: int) -> str:
    """Digit ``k`` as train_32x32.mat's ``y`` writes it: 10 for 0."""
    return f"value {k or 10} in the 'y' of train_32x32.mat{' (its digit 0)' if k == 0 else ''}"


def _holdout(x: U8, y: I64, test_fraction: float) -> tuple[tuple[U8, I64], tuple[U8, I64]]:
    train_idx, test_idx = stratified_split(torch.from_numpy(y), test_fraction, TEST_SPLIT_SEED)
    tr, te = train_idx.numpy(), test_idx.numpy()
    return (x[tr], y[tr]), (x[te], y[te])


@functools.cache
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """What ``sklearn.datasets.load_digits()`` returns as ``images`` (N, 8, 8) and ``target``, read
    from the CSV scikit-learn ships, as load_digits reads it, without importing scikit-learn: its
    import (scipy.stats and more) costs about a CPU-second in every process that loads digits, such
    as each subprocess of the test suite's drills. Where that file is not found, load_digits().
    Parsed once per process (a command loads its dataset several times: its shape, its real batches,
    its validation split), and read-only, as the cache hands every caller the same arrays."""
    import importlib.util

    spec = importlib.util.find_spec("sklearn")  # finds the package without running it
    images, target = None, None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        csv = Path(folder) / "datasets" / "data" / "digits.csv.gz"
        if csv.is_file():
            data = np.loadtxt(csv, delimiter=",")
            images, target = data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(int)
            break
    if images is None or target is None:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        images, target = bunch.images, bunch.target
    images.setflags(write=False)
    target.setflags(write=False)
    return images, target


@DATASETS.register("digits")
def digits(opts: DataOptions) -> Dataset:
    """scikit-learn's 1,797 handwritten digits, 8x8 upsampled to 16x16 (nearest) so that
    4-block pooling ConvNets fit; a fixed stratified third is the test set."""
    images, target = _digits_arrays()
    x = (images * (255.0 / 16.0)).round().astype(np.uint8)  # (N, 8, 8), values 0..16
    x = x.repeat(2, axis=1).repeat(2, axis=2)[..., None]  # (N, 16, 16, 1)
    train, test = _holdout(x, target.astype(np.int64), 1 / 3)
    ds = _from_arrays("digits", train, test, DIGIT_CLASSES, None, False, "sklearn.datasets.load_digits")
    ds.notes["test_split"] = f"stratified 1/3, seed {TEST_SPLIT_SEED}"
    return ds


@DATASETS.register("imagefolder")
def imagefolder(opts: DataOptions) -> Dataset:
    """A user's images: PATH/<class>/*.png, or PATH/train/<class> and PATH/test/<class>.

    Without train/test folders a fixed stratified 20% of each class is the test set.
    """
    if not opts.arg:
        raise InvalidArgumentError("imagefolder needs a path: --dataset imagefolder:/path/to/images")
    root = image_folder(opts.arg)
    found = checks.status("image folder", root)  # one line when a folder above it refuses this user
    if found is None:  # a blank at its path's end said so (checks.absent: branch probe46 here, every input path from probe62)
        raise checks.not_found("image folder", root, DataNotFoundError)
    if not stat.S_ISDIR(found.st_mode):  # before branch probe46, "does not exist" for a file, a FIFO or /dev/null
        what = file_kind(root) if stat.S_ISREG(found.st_mode) else checks.kind(found.st_mode)  # a zip of the folder: said (stop 49)
        raise DataNotFoundError(f"image folder {root} is {what}, not a folder; give the folder that holds one folder of images per class")
    size = opts.image_size
    folders = subfolders(root)
    if {"train", "test"} <= set(folders):
        if others := [f for f in folders if f not in ("train", "test")]:  # before stop 46, a val/ beside them ignored without a word
            say_once(
                f"{root}: {', '.join(f + '/' for f in others)} not read: nasproxy trains on train/, tests on test/ and draws its "
                "validation images from train/ (--val-fraction)"
            )
        # both read once both fit: the memory of the two together is checked before an image is decoded
        (x_tr, y_tr, classes), (x_te, y_te, test_classes) = read_image_folders([root / "train", root / "test"], size)
        if len(classes) < 2:
            raise DataNotFoundError(f"{root}/train needs at least 2 class folders; found {classes}")
        if test_classes != classes:
            raise DataNotFoundError(f"{root}/train and {root}/test have different class folders: {classes} vs {test_classes}")
        for part, y in (("train", y_tr), ("test", y_te)):  # before branch probe46, an empty test class was tested on the others
            if (empty := np.flatnonzero(np.bincount(y, minlength=len(classes)) == 0)).size:
                raise DataNotFoundError(
                    f"{root}/{part}/{classes[empty[0]]} holds no images: every class needs images in both train/ and test/; "
                    "add some, or remove that class from both"
                )
        train, test = (x_tr, y_tr), (x_te, y_te)
        how = "train/ and test/ folders"
    else:
        try:
            x, y, classes = read_image_folder(root, size)
        except DataNotFoundError:
            if "train" in folders:  # before stop 46, "no images under ROOT" for train/ and val/ without test/
                raise DataNotFoundError(
                    f"{root} holds train/ but no test/ folder: give train/ and test/ (the validation images are drawn from train/), "
                    "or one folder of images per class"
                ) from None
            raise
        counts = np.bincount(y, minlength=len(classes))
        if len(classes) >= 2 and counts.min() == 0:  # before branch probe56, only "class sizes {'cat': 3, 'notes': 0}" said which
            raise DataNotFoundError(
                f"{root}/{classes[int(counts.argmin())]} holds no images nasproxy reads: each folder in {root} is a class, and "
                "every class needs at least 2 images; add some, or move that folder out"
            )
        if len(classes) < 2 or counts.min() < 2:
            raise DataNotFoundError(
                f"{root} needs at least 2 classes with at least 2 images each; class sizes {dict(zip(classes, counts.tolist(), strict=True))}"
            )
        train, test = _holdout(x, y, 0.2)
        how = f"stratified 20%, seed {TEST_SPLIT_SEED}"
    if train[0].shape[-1] != test[0].shape[-1]:
        raise DataNotFoundError(f"{root}: train and test images differ in colour mode (grey vs RGB)")
    ds = _from_arrays(f"imagefolder:{root}", train, test, classes, None, True, str(root))
    ds.notes.update(test_split=how, resize=f"shorter side to {size}, centre crop")
    return ds
