"""Datasets: every registered one loads from files in its real format, labels map to the right
pixels, the validation split is seeded and stratified, and bad inputs give errors that say what to do."""

from __future__ import annotations

import gzip
import json
import os
import pickle
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from nas_proxy.data import DATASETS, Dataset, load_dataset, stratified_split
from nas_proxy.data import registry as data_registry
from nas_proxy.errors import DataNotFoundError, InvalidArgumentError, NasProxyWarning, UnknownNameError
from tests import fabricate as fab
from tests.close import assert_close

# ---------------------------------------------------------------- helpers


def pixels(ds: Dataset, x: torch.Tensor) -> np.ndarray:
    """Normalised (N, C, H, W) -> the uint8 (N, H, W, C) values that were in the files."""
    return (ds.denormalise(x) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def assert_content_matches_labels(ds: Dataset, f: fab.Fabricated) -> None:
    """Every image, train and test, is the pattern of its own label."""
    for x, y in ((ds.train_x, ds.train_y), (ds.test_x, ds.test_y)):
        expected = fab.images(y.numpy(), ds.image_size[0], ds.channels, marker=f.content == "marked")
        np.testing.assert_array_equal(pixels(ds, x), expected)


def assert_normalised_on_train(ds: Dataset) -> None:
    """Datasets whose statistics are computed: train has mean 0 and std 1 in every channel."""
    mean, std = ds.train_x.mean(dim=(0, 2, 3)), ds.train_x.std(dim=(0, 2, 3))
    assert_close(mean, torch.zeros(ds.channels), atol=1e-3, rtol=0)
    assert_close(std, torch.ones(ds.channels), atol=1e-3, rtol=0)


def load(f: fab.Fabricated) -> Dataset:
    return load_dataset(f.spec, root=f.root)


def idx_pair(folder: Path, gz: bool = True) -> tuple[np.ndarray, np.ndarray]:
    train_y = fab.shuffled_labels(list(range(10)), 2, seed=11)
    test_y = fab.shuffled_labels(list(range(10)), 1, seed=12)
    fab.idx_files(folder, train_y, test_y, gz=gz)
    return train_y, test_y


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits")


# ---------------------------------------------------------------- every registered dataset


@pytest.mark.parametrize("name", DATASETS.names())
def test_every_registered_dataset_loads_from_its_format(name: str, tmp_path: Path) -> None:
    assert name in fab.FABRICATORS, f"dataset {name!r} is registered but tests/fabricate.py has no fabricator for it"
    f = fab.FABRICATORS[name](tmp_path)
    ds = load(f)

    assert ds.channels == f.channels and ds.image_size == f.image_size
    assert ds.class_names == f.class_names and ds.num_classes == len(f.class_names)
    assert data_registry.class_count(f.spec) == ds.num_classes  # known without reading it: distill --launch's check
    assert ds.flip is f.flip
    assert ds.train_x.dtype == ds.test_x.dtype == torch.float32
    assert ds.train_y.dtype == ds.test_y.dtype == torch.int64
    assert ds.train_x.shape == (len(ds.train_y), f.channels, *f.image_size)
    assert ds.test_x.shape == (len(ds.test_y), f.channels, *f.image_size)
    if f.train_y is not None and f.test_y is not None:  # file order is kept
        np.testing.assert_array_equal(ds.train_y.numpy(), f.train_y)
        np.testing.assert_array_equal(ds.test_y.numpy(), f.test_y)
    if f.label_counts is not None:
        np.testing.assert_array_equal(torch.bincount(ds.train_y, minlength=ds.num_classes).numpy(), f.label_counts[0])
        np.testing.assert_array_equal(torch.bincount(ds.test_y, minlength=ds.num_classes).numpy(), f.label_counts[1])
    if f.content != "unknown":
        assert_content_matches_labels(ds, f)
    if f.root is not None:
        assert ds.source.startswith(str(f.root)), f"{name} was read from {ds.source}, not the fabricated files"
    json.dumps(ds.describe())  # artifacts record it: plain JSON types only (str class names, not bytes)


def test_idx_reads_gzipped_and_raw_files_alike(tmp_path: Path) -> None:
    train_y, test_y = idx_pair(tmp_path / "gz", gz=True)
    idx_pair(tmp_path / "raw", gz=False)
    a, b = load_dataset("mnist", tmp_path / "gz"), load_dataset("mnist", tmp_path / "raw")
    assert_close(a.train_x, b.train_x, rtol=0, atol=0)
    np.testing.assert_array_equal(a.train_y.numpy(), train_y)
    np.testing.assert_array_equal(b.test_y.numpy(), test_y)


def test_idx_keeps_orientation(tmp_path: Path) -> None:
    idx_pair(tmp_path)
    img = pixels(ds := load_dataset("mnist", tmp_path), ds.train_x)[0, ..., 0]  # (28, 28)
    assert img[0, -1] == fab.MARKER and img[-1, 0] != fab.MARKER  # top-right, not transposed


def test_mnist_in_torchvision_layout(tmp_path: Path) -> None:
    train_y, _ = idx_pair(tmp_path / "MNIST" / "raw")
    ds = load_dataset("mnist", tmp_path)
    np.testing.assert_array_equal(ds.train_y.numpy(), train_y)
    assert ds.source == str(tmp_path / "MNIST" / "raw")


def test_fashion_mnist_from_root_wins_over_the_system_copy(tmp_path: Path) -> None:
    fab.fashion_mnist(tmp_path)
    ds = load_dataset("fashion-mnist", tmp_path)
    assert len(ds.train_y) == 20 and ds.source == str(tmp_path / "FashionMNIST" / "raw")


def test_idx_images_and_labels_come_from_one_folder(tmp_path: Path) -> None:
    """A stray images file in ROOT must not be paired with the labels of ROOT/MNIST/raw."""
    train_y, _ = idx_pair(tmp_path / "MNIST" / "raw")
    stray = fab.images(np.zeros(20, dtype=np.int64), 28, 1)[..., 0]  # same count, all class 0
    fab.write_idx(tmp_path / "train-images-idx3-ubyte.gz", stray)
    ds = load_dataset("mnist", tmp_path)
    np.testing.assert_array_equal(ds.train_y.numpy(), train_y)
    np.testing.assert_array_equal(pixels(ds, ds.train_x), fab.images(train_y, 28, 1))


def test_idx_train_and_test_come_from_one_folder(tmp_path: Path) -> None:
    """ROOT holding only a t10k pair must not be mixed with the train pair of ROOT/MNIST/raw."""
    _, test_y = idx_pair(tmp_path / "MNIST" / "raw")
    fab.write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", fab.images(np.zeros(3, dtype=np.int64), 28, 1)[..., 0])
    fab.write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(3, dtype=np.uint8))
    ds = load_dataset("mnist", tmp_path)
    np.testing.assert_array_equal(ds.test_y.numpy(), test_y)
    assert ds.source == str(tmp_path / "MNIST" / "raw")


@pytest.mark.skipif(
    not (data_registry.DEBIAN_FASHION_MNIST / "t10k-labels-idx1-ubyte.gz").is_file(), reason="dataset-fashion-mnist is not installed"
)
def test_real_fashion_mnist_from_the_debian_package() -> None:
    ds = load_dataset("fashion-mnist")
    assert ds.source == str(data_registry.DEBIAN_FASHION_MNIST)
    assert ds.train_x.shape == (60000, 1, 28, 28) and ds.test_x.shape == (10000, 1, 28, 28)
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"
    assert torch.bincount(ds.train_y).tolist() == [6000] * 10
    assert torch.bincount(ds.test_y).tolist() == [1000] * 10
    # the published statistics fit the real files: train is normalised to about N(0, 1)
    assert abs(ds.train_x.mean().item()) < 0.01 and abs(ds.train_x.std().item() - 1) < 0.01


# ---------------------------------------------------------------- label mapping and channels


@pytest.mark.parametrize("python2", [True, False], ids=["python2-pickle", "python3-pickle"])
def test_cifar10_planes_become_rgb_channels(tmp_path: Path, python2: bool) -> None:
    f = fab.cifar10(tmp_path, python2=python2)
    ds = load(f)
    assert f.train_y is not None  # CIFAR-10's files keep their order
    k = int(f.train_y[0])
    img = pixels(ds, ds.train_x[:1])[0]  # (32, 32, 3)
    assert tuple(img[5, 5]) == fab.levels(k)  # R, G, B in that order
    assert img[0, -1, 0] == fab.MARKER and img[-1, 0, 0] != fab.MARKER
    assert ds.class_names == f.class_names and all(isinstance(n, str) for n in ds.class_names)


@pytest.mark.parametrize("python2", [True, False], ids=["python2-pickle", "python3-pickle"])
def test_cifar100_uses_fine_labels_and_names(tmp_path: Path, python2: bool) -> None:
    f = fab.cifar100(tmp_path, python2=python2)
    ds = load(f)
    assert ds.num_classes == 100 and ds.class_names[99] == "class_99"
    assert sorted(set(ds.train_y.tolist())) == list(range(100)) and sorted(set(ds.test_y.tolist())) == [0, 1, 42, 98, 99]
    assert_content_matches_labels(ds, f)


def test_cifar_pickled_with_protocol_5_is_read(tmp_path: Path) -> None:
    """Python 3.14's pickle.dump writes protocol 5, which stores an array through numpy's _frombuffer: before branch
    probe48 a batch saved so was refused ("refusing to load numpy._core.numeric._frombuffer from a dataset file")."""
    f = fab.cifar10(tmp_path, python2=False)
    for batch in (tmp_path / "cifar-10-batches-py").iterdir():
        batch.write_bytes(pickle.dumps(pickle.loads(batch.read_bytes(), encoding="latin1"), protocol=5))
    ds = load(f)
    np.testing.assert_array_equal(ds.train_y.numpy(), f.train_y)
    assert_content_matches_labels(ds, f)


def test_cifar_without_meta_falls_back_to_the_standard_names(tmp_path: Path) -> None:
    fab.cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "batches.meta").unlink()
    assert load_dataset("cifar10", tmp_path).class_names == data_registry.CIFAR10_CLASSES


def test_svhn_label_10_is_digit_0(tmp_path: Path) -> None:
    f = fab.svhn(tmp_path)
    ds = load(f)
    assert ds.train_y.min() == 0 and ds.train_y.max() == 9
    np.testing.assert_array_equal(ds.train_y.numpy(), f.train_y)
    zero = int(np.flatnonzero(f.train_y == 0)[0])  # stored as 10 in the file
    assert tuple(pixels(ds, ds.train_x[zero : zero + 1])[0, 5, 5]) == fab.levels(0)


@pytest.mark.parametrize(
    ("name", "absent", "needle"),
    [
        # SVHN writes digit 0 as 10: before stop 47 "no image of class 0 ('0')" sent a stranger looking for a 0
        ("svhn", 0, "no image of class 0 ('0': no value 10 in the 'y' of train_32x32.mat (its digit 0)); every class"),
        ("svhn", 7, "no image of class 7 ('7': no value 7 in the 'y' of train_32x32.mat); every class"),
        ("mnist", 9, "no image of class 9 ('9': no label value 9 in its train-labels-idx1 file); every class"),
        ("cifar10", 3, "no image of class 3 ('cat': no value 3 in the 'labels' of data_batch_1 to 5); every class"),
        ("cifar100", 42, "no image of class 42 ('class_42': no value 42 in the 'fine_labels' of train); every class"),
    ],
)
def test_a_class_without_training_images_is_named_as_its_files_write_it(name: str, absent: int, needle: str, tmp_path: Path) -> None:
    train_y = fab.shuffled_labels([k for k in range(100 if name == "cifar100" else 10) if k != absent], 2, seed=1)
    if name == "svhn":
        fab.svhn(tmp_path)
        fab.svhn_mat(tmp_path / "train_32x32.mat", train_y)
    elif name == "mnist":
        fab.idx_files(tmp_path, train_y, np.arange(10, dtype=np.int64), gz=False)
    else:
        getattr(fab, name)(tmp_path)
        folder, key = ("cifar-10-batches-py", "labels") if name == "cifar10" else ("cifar-100-python", "fine_labels")
        parts = np.array_split(train_y, 5) if name == "cifar10" else [train_y]
        for i, part in enumerate(parts, start=1):
            fab.write_pickle(tmp_path / folder / (f"data_batch_{i}" if name == "cifar10" else "train"), fab.cifar_batch(part, key, "train"))
    with pytest.raises(DataNotFoundError, match=re.escape(needle)):
        load_dataset(name, tmp_path)


def test_digits_is_normalised_and_held_out(digits: Dataset) -> None:
    assert len(digits.train_y) + len(digits.test_y) == 1797
    assert abs(len(digits.test_y) / 1797 - 1 / 3) < 0.01
    assert digits.image_size == (16, 16) and not digits.flip
    assert_normalised_on_train(digits)
    assert load_dataset("digits").test_y.equal(digits.test_y)  # one fixed test set for every run


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_imagefolder_flat_is_normalised(tmp_path: Path, mode: str) -> None:
    folder = fab.image_folder(tmp_path / "imgs", ["b", "a", "c"], 5, mode)
    ds = load_dataset(f"imagefolder:{folder}", image_size=8)
    assert ds.class_names == ["a", "b", "c"] and ds.channels == (1 if mode == "L" else 3)
    assert ds.image_size == (8, 8) and ds.train_x.shape[0] == 12 and ds.test_x.shape[0] == 3
    assert_normalised_on_train(ds)
    assert_content_matches_labels(ds, fab.Fabricated("", None, ds.channels, (8, 8), [], True, None, None, content="flat"))


def test_imagefolder_leaves_hidden_files_out(tmp_path: Path) -> None:
    """macOS writes '._NAME' (AppleDouble, no image) beside each file it copies to a foreign disk: before branch probe48
    the first refused the folder ("cannot identify image file"); hidden files are left out, as hidden folders are."""
    folder = fab.image_folder(tmp_path / "imgs", ["a", "b"], 3)
    for image in list(folder.glob("*/*.png")):
        (image.parent / f"._{image.name}").write_bytes(b"\x00\x05\x16\x07" + bytes(60))
    ds = load_dataset(f"imagefolder:{folder}", image_size=8)
    assert ds.train_y.numel() + ds.test_y.numel() == 6


def test_imagefolder_train_test_layout(tmp_path: Path) -> None:
    fab.image_folder(tmp_path / "train", ["x", "y"], 3, "L", size=(16, 16))
    fab.image_folder(tmp_path / "test", ["x", "y"], 2, "L", size=(16, 16))
    ds = load_dataset(f"imagefolder:{tmp_path}", image_size=16)
    assert ds.train_y.tolist() == [0, 0, 0, 1, 1, 1] and ds.test_y.tolist() == [0, 0, 1, 1]
    assert ds.channels == 1 and ds.notes["test_split"] == "train/ and test/ folders"
    assert data_registry.class_count(f"imagefolder:{tmp_path}") == 2  # train/'s classes, not the folders train and test
    # a layout the loader refuses (train/ alone: one class folder): no count, so that the loader says why (the launch
    # said "has 1 classes; launch at most 1", and --launch 1 then "no images under ...": the review of stop 43)
    assert data_registry.class_count(f"imagefolder:{tmp_path}/test/..") == 2
    fab.image_folder(tmp_path / "alone" / "train", ["x", "y"], 1, "L", size=(16, 16))
    assert data_registry.class_count(f"imagefolder:{tmp_path / 'alone'}") is None
    assert_normalised_on_train(ds)
    assert_content_matches_labels(ds, fab.Fabricated("", None, 1, (16, 16), [], True, None, None, content="flat"))


def test_imagefolder_mixed_grey_and_rgb_becomes_rgb(tmp_path: Path) -> None:
    fab.image_folder(tmp_path, ["a", "b"], 3, "RGB")
    fab.png(tmp_path / "a" / "grey.png", 0, "L", (12, 10))
    assert load_dataset(f"imagefolder:{tmp_path}", image_size=8).channels == 3


def test_imagefolder_16_bit_greyscale_is_scaled_not_clipped(tmp_path: Path) -> None:
    """A 16-bit PNG's 0-65535 read as 0-255: before branch probe38, PIL's conversion clipped every
    value above 255, and such a folder was read as one flat white image (its set distilled, exit 0)."""
    from PIL import Image

    from nas_proxy.data.images import read_image_folder

    for name, value in (("dark", 8000), ("light", 60000)):
        (tmp_path / name).mkdir()
        for i in range(3):
            Image.fromarray(np.full((8, 8), value + i, dtype=np.uint16)).save(tmp_path / name / f"{i}.png")
    with Image.open(tmp_path / "dark" / "0.png") as im:  # closed (fix62c: a ResourceWarning before)
        assert im.mode.startswith("I")  # read as 16-bit
    x, y, classes = read_image_folder(tmp_path, 8)
    assert classes == ["dark", "light"] and x.dtype == np.uint8 and x.shape == (6, 8, 8, 1)
    assert np.unique(x[y == 0]).tolist() == [31] and np.unique(x[y == 1]).tolist() == [233]  # 8000 / 257, 60000 / 257


# ---------------------------------------------------------------- validation split


def test_digits_are_scikit_learns_read_without_importing_it() -> None:
    """digits reads the CSV scikit-learn ships instead of importing scikit-learn (a CPU-second per
    process): the arrays are load_digits()'s, bit for bit, and scikit-learn is not imported (in a process
    without nasproxy imported, forked warm: none of the libraries the warm server preloads imports scikit-learn)."""
    from sklearn.datasets import load_digits

    from nas_proxy.data.registry import _digits_arrays
    from tests import run_code

    images, target = _digits_arrays()
    bunch = load_digits()
    assert images.dtype == bunch.images.dtype and np.array_equal(images, bunch.images)
    assert target.dtype == bunch.target.dtype and np.array_equal(target, bunch.target)
    probe = "import sys; from nas_proxy.data import load_dataset; load_dataset('digits'); print('sklearn' in sys.modules)"
    assert run_code.run(probe, capture_output=True, check=True).stdout.strip() == "False"


def test_split_is_deterministic_in_the_seed(digits: Dataset) -> None:
    a, b, c = digits.split(seed=3), digits.split(seed=3), digits.split(seed=4)
    assert a.val_x.equal(b.val_x) and a.val_y.equal(b.val_y) and a.train_y.equal(b.train_y)
    assert not a.val_x.equal(c.val_x)


def test_split_is_disjoint_covering_and_stratified(digits: Dataset) -> None:
    train_idx, val_idx = stratified_split(digits.train_y, 0.1, seed=0)
    assert set(train_idx.tolist()).isdisjoint(val_idx.tolist())
    assert sorted(train_idx.tolist() + val_idx.tolist()) == list(range(len(digits.train_y)))
    per_class = torch.bincount(digits.train_y, minlength=10)
    per_class_val = torch.bincount(digits.train_y[val_idx], minlength=10)
    assert per_class_val.tolist() == [round(0.1 * n) for n in per_class.tolist()]
    splits = digits.split(seed=0, val_fraction=0.1)  # the Splits hold exactly those rows
    assert splits.val_x.equal(digits.train_x[val_idx]) and splits.train_y.equal(digits.train_y[train_idx])
    assert splits.test_x is digits.test_x


def test_split_keeps_a_training_image_in_every_class() -> None:
    labels = torch.tensor([0, 0, 0, 0, 1, 2, 2])
    train_idx, val_idx = stratified_split(labels, 0.9, seed=0)
    assert set(labels[train_idx].tolist()) == {0, 1, 2} and len(val_idx) == 4


@pytest.mark.parametrize("fraction", [-0.1, 1.0])
def test_split_rejects_bad_fractions(fraction: float) -> None:
    with pytest.raises(InvalidArgumentError, match="val_fraction must be in"):
        stratified_split(torch.tensor([0, 1, 0, 1]), fraction, seed=0)


# ---------------------------------------------------------------- errors


def test_unknown_dataset_lists_the_known_names() -> None:
    with pytest.raises(UnknownNameError, match=r"known: .*fashion-mnist.*Did you mean 'cifar10'"):
        load_dataset("cifar-10")


def test_image_size_too_small_or_too_large() -> None:
    """probe42: 2,147,483,647 was an OverflowError in PIL's resize (an internal error), 100,000 ran for minutes."""
    for size in (2, 1025, 2147483647):
        with pytest.raises(InvalidArgumentError, match=rf"image size must be in \[4, 1024\], got {size}"):
            load_dataset("digits", image_size=size)


def test_missing_fashion_mnist_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data_registry, "DEBIAN_FASHION_MNIST", tmp_path / "absent")
    with pytest.raises(DataNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist")


def test_a_data_root_without_fashion_mnist_is_not_replaced_by_the_debian_copy(tmp_path: Path) -> None:
    # before branch probe41 the Debian copy was read in place of the folder the user named, without a word
    with pytest.raises(
        DataNotFoundError,
        match=r"looked in .*; that folder .* is the one read, and it lacks the four IDX files: give --data-root with the folder that holds them \(the default place: /usr",
    ):
        load_dataset("fashion-mnist", tmp_path)


def test_missing_mnist_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"looked in .*--data-root.*--download"):
        load_dataset("mnist", tmp_path)
    with pytest.raises(DataNotFoundError, match=r"no --data-root given"):
        load_dataset("mnist")


def test_download_needs_a_root() -> None:
    with pytest.raises(InvalidArgumentError, match="--data-root"):
        load_dataset("mnist", download=True)


@pytest.mark.parametrize("name", ["cifar10", "cifar100", "svhn"])
def test_missing_files_without_and_with_root(name: str, tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="needs --data-root"):
        load_dataset(name)
    with pytest.raises(DataNotFoundError, match=r"not found .*--download"):
        load_dataset(name, tmp_path)


@pytest.mark.parametrize("gz", [True, False])
def test_truncated_idx_file(tmp_path: Path, gz: bool) -> None:
    idx_pair(tmp_path, gz=gz)
    path = tmp_path / ("train-images-idx3-ubyte" + (".gz" if gz else ""))
    raw = fab.idx_bytes(fab.images(np.zeros(20, dtype=np.int64), 28, 1)[..., 0])[:-100]
    path.write_bytes(gzip.compress(raw) if gz else raw)
    with pytest.raises(DataNotFoundError, match="truncated"):
        load_dataset("mnist", tmp_path)


def test_corrupt_gzip_and_bad_magic(tmp_path: Path) -> None:
    idx_pair(tmp_path)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(DataNotFoundError, match="corrupt gzip"):
        load_dataset("mnist", tmp_path)
    path.write_bytes(gzip.compress(b"\x00\x00\x0d\x01" + bytes(14)))  # 0x0D: float data, not ubyte
    with pytest.raises(DataNotFoundError, match="bad magic"):
        load_dataset("mnist", tmp_path)


def test_a_gzipped_idx_that_inflates_past_its_header_is_refused_without_inflating_it(tmp_path: Path) -> None:
    """A 0.2 MB .gz whose header declares 20 images, followed by 160 MB of zeros: refused as padded, having read at
    most what the header declares and a count of what follows (64 MB), its peak allocation well under the 160 MB.
    Before stop 48 the whole stream was inflated first (gzip.decompress), the memory a bomb's size."""
    import tracemalloc

    from nas_proxy.data.formats import PADDING_COUNTED, read_idx

    whole = fab.idx_bytes(fab.images(np.zeros(20, dtype=np.int64), 28, 1)[..., 0])
    path = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(whole)
        for _ in range(10):
            f.write(bytes(1 << 24))
    tracemalloc.start()
    try:
        with pytest.raises(DataNotFoundError, match=f"is truncated or padded: more than {len(whole) + PADDING_COUNTED:,} bytes, expected"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, peak


def test_idx_images_and_labels_of_different_lengths(tmp_path: Path) -> None:
    idx_pair(tmp_path)
    fab.write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(3, dtype=np.uint8))
    with pytest.raises(DataNotFoundError, match="do not match"):
        load_dataset("mnist", tmp_path)


class _RunsACommand:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


def test_cifar_pickle_with_code_is_refused_not_run(tmp_path: Path) -> None:
    fab.cifar10(tmp_path)
    marker = tmp_path / "pwned"
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    batch.write_bytes(pickle.dumps({b"data": _RunsACommand(marker), b"labels": [0]}, protocol=2))
    with pytest.raises(DataNotFoundError, match=r"refusing to load (posix|nt|os)\.system"):
        load_dataset("cifar10", tmp_path)
    assert not marker.exists()


def test_cifar_missing_batch_and_foreign_pickle(tmp_path: Path) -> None:
    fab.cifar10(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    (folder / "data_batch_3").unlink()
    with pytest.raises(DataNotFoundError, match=r"missing CIFAR file .*data_batch_3"):
        load_dataset("cifar10", tmp_path)
    fab.write_pickle(folder / "data_batch_3", [1, 2, 3])
    with pytest.raises(DataNotFoundError, match="not a CIFAR batch"):
        load_dataset("cifar10", tmp_path)
    (folder / "data_batch_3").write_bytes(b"\x80\x02}q\x00(U")  # cut short
    with pytest.raises(DataNotFoundError, match="cannot read CIFAR file"):
        load_dataset("cifar10", tmp_path)


def test_cifar_labels_out_of_range(tmp_path: Path) -> None:
    fab.cifar10(tmp_path)
    y = np.array([0, 1, 2, 10], dtype=np.int64)
    fab.write_pickle(tmp_path / "cifar-10-batches-py" / "data_batch_5", fab.cifar_batch(y, "labels", "bad"))
    with pytest.raises(DataNotFoundError, match=r"labels outside \[0, 10\)"):
        load_dataset("cifar10", tmp_path)


def test_svhn_unreadable_mat(tmp_path: Path) -> None:
    fab.svhn(tmp_path)
    (tmp_path / "train_32x32.mat").write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(DataNotFoundError, match="cannot read SVHN file"):
        load_dataset("svhn", tmp_path)


def test_imagefolder_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="needs a path"):
        load_dataset("imagefolder")
    with pytest.raises(DataNotFoundError, match="does not exist"):
        load_dataset(f"imagefolder:{tmp_path / 'absent'}")
    with pytest.raises(DataNotFoundError, match="no images under"):
        load_dataset(f"imagefolder:{tmp_path}")
    fab.image_folder(tmp_path, ["only"], 4)
    with pytest.raises(DataNotFoundError, match="at least 2 classes"):
        load_dataset(f"imagefolder:{tmp_path}")
    fab.png(tmp_path / "second" / "0.png", 1, "RGB", (12, 10))  # a class of one image
    with pytest.raises(DataNotFoundError, match="at least 2 images each"):
        load_dataset(f"imagefolder:{tmp_path}")
    (tmp_path / "second" / "1.png").write_bytes(b"not a png")
    with pytest.raises(DataNotFoundError, match=r"cannot read image .*1\.png"):
        load_dataset(f"imagefolder:{tmp_path}")


def test_imagefolder_val_folder_is_named_not_silently_skipped(tmp_path: Path) -> None:
    """A val/ beside train/ and test/ is not read (validation images come from train/): said, not silent; train/ and
    val/ without test/ are refused as that layout, not as "no images under" the folder (both before stop 46)."""
    for part in ("train", "val"):
        fab.image_folder(tmp_path / part, ["x", "y"], 3, "L", size=(16, 16))
    with pytest.raises(DataNotFoundError, match=r"holds train/ but no test/ folder"):
        load_dataset(f"imagefolder:{tmp_path}", image_size=16)
    fab.image_folder(tmp_path / "test", ["x", "y"], 2, "L", size=(16, 16))
    with pytest.warns(NasProxyWarning, match=r"val/ not read: .*validation images from train/"):
        ds = load_dataset(f"imagefolder:{tmp_path}", image_size=16)
    assert ds.train_y.tolist() == [0, 0, 0, 1, 1, 1] and ds.test_y.tolist() == [0, 0, 1, 1]


def test_imagefolder_train_test_errors(tmp_path: Path) -> None:
    fab.image_folder(tmp_path / "train", ["a"], 3)
    fab.image_folder(tmp_path / "test", ["a"], 2)
    with pytest.raises(DataNotFoundError, match="at least 2 class folders"):
        load_dataset(f"imagefolder:{tmp_path}")
    fab.image_folder(tmp_path / "train", ["b"], 3)
    with pytest.raises(DataNotFoundError, match="different class folders"):
        load_dataset(f"imagefolder:{tmp_path}")
    shutil.rmtree(tmp_path / "test")
    fab.image_folder(tmp_path / "test", ["a", "b"], 2, "L")
    with pytest.raises(DataNotFoundError, match="colour mode"):
        load_dataset(f"imagefolder:{tmp_path}")


def test_digits_loaded_twice_are_two_datasets() -> None:
    # the parsed CSV is cached per process (nas_proxy.data.registry._digits_arrays): no caller may see another's changes
    first, second = load_dataset("digits"), load_dataset("digits")
    assert torch.equal(first.train_x, second.train_x) and torch.equal(first.test_y, second.test_y)
    first.train_x.add_(1.0)
    first.test_y[:] = 0
    again = load_dataset("digits")
    assert torch.equal(again.train_x, second.train_x) and torch.equal(again.test_y, second.test_y)
    assert not torch.equal(first.train_x, again.train_x)
