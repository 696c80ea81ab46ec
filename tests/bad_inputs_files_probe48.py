"""The bad input files of branch probe48's cases (``tests/bad_inputs.py``, ``PROBE48``), written into the same
workspace: dataset files a user converted or copied by hand, in each registered format: an IDX header whose dims
overflow 64 bits or that its file is shorter than, CIFAR batches of height-width-channel pixels, of float labels, of labels shifted from one batch to the next, saved
with numpy.savez, or with a meta file naming a class twice or not at all, SVHN files whose 'y' holds 11 or 7.5 or that
are MATLAB v7.3 (HDF5), CIFAR's archive not extracted, an image folder holding a link to nothing where a class folder was; and a torch.save file
and a numpy.savez file given where text is asked for."""

from __future__ import annotations

import os
import pickle
import shutil
import struct
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tests import fabricate


def build_probe48(root: Path) -> None:
    """Add probe48's inputs to the workspace ``root``."""
    data = root / "data"
    y = np.arange(200, dtype=np.int64) % 10
    fabricate.idx_files(data / "idx-dims-overflow", y, y[:20], gz=False)  # dims whose product is 2**64: 0 modulo 2**64
    header = struct.pack(">BBBB", 0, 0, 8, 3) + struct.pack(">3I", 2**31, 2**31, 4)
    (data / "idx-dims-overflow" / "train-images-idx3-ubyte").write_bytes(header)
    fabricate.idx_files(data / "idx-header-255", y, y[:20], gz=False)
    (data / "idx-header-255" / "t10k-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 255]))
    _cifar(data / "cifar-hwc", lambda b: {**b, b"data": b[b"data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()})
    _cifar(data / "cifar-float-labels", lambda b: {**b, b"labels": [k + 0.7 for k in b[b"labels"]]})
    for name, first in (("cifar-label-1e20", 1e20), ("cifar-label-inf", float("inf")), ("cifar-label-2e70", 2**70)):
        _cifar(data / name, _first_label(first))
    folder = _cifar(data / "cifar-shifted")  # batch 1 has 3 images and 5 labels, batch 2 5 and 3: the totals agree
    first, second = (pickle.loads((folder / f"data_batch_{i}").read_bytes(), encoding="bytes") for i in (1, 2))
    first[b"labels"] += second[b"labels"][:1]
    second[b"labels"] = second[b"labels"][1:]
    for i, batch in ((1, first), (2, second)):
        fabricate.write_pickle(folder / f"data_batch_{i}", batch)
    folder = _cifar(data / "cifar-npz")
    with (folder / "test_batch").open("wb") as f:
        np.savez(f, data=np.zeros((2, 3072), dtype=np.uint8), labels=np.zeros(2, dtype=np.int64))
    names = [b"cat"] * 10
    fabricate.write_pickle(_cifar(data / "cifar-meta-twice") / "batches.meta", {b"label_names": names})
    fabricate.write_pickle(_cifar(data / "cifar-meta-blank") / "batches.meta", {b"label_names": [b"plane", b" ", *names[2:]]})
    _svhn(data / "svhn-y-11", lambda y: np.where(y == 1, 11, y))
    _svhn(data / "svhn-y-half", lambda y: y + 0.5)
    fabricate.svhn(data / "svhn-v73")  # MAT v7.3: a 128-byte MATLAB header (version 0x0200) before an HDF5 file
    text = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    header = text.ljust(116, b" ") + bytes(8) + b"\x00\x02IM"
    (data / "svhn-v73" / "train_32x32.mat").write_bytes(header.ljust(512, b"\x00") + b"\x89HDF\r\n\x1a\n" + bytes(64))
    with tarfile.open(_cifar(data / "cifar-tgz").parent / "cifar-10-python.tar.gz", "w:gz") as tar:  # as downloaded
        tar.add(data / "cifar-tgz" / "cifar-10-batches-py", "cifar-10-batches-py")
    shutil.rmtree(data / "cifar-tgz" / "cifar-10-batches-py")
    img = fabricate.image_folder(root / "img" / "dangling-class", ["cat", "dog"], 3)
    os.symlink("no-such-folder", img / "emu")
    _arrays(root)


def _arrays(root: Path) -> None:
    """Files of arrays where text is asked for: a torch.save file given as a search's best.json (another tool's
    results), and a numpy.savez file named archs.json."""
    import torch

    torch.save({"data": [[torch.zeros(10, 1, 16, 16), torch.arange(10)]]}, root / "best" / "res_DC_digits.pt")
    with (root / "archs" / "arrays.json").open("wb") as f:
        np.savez(f, depth=np.arange(3))


def _cifar(root: Path, change: Callable[[dict[bytes, Any]], dict[bytes, Any]] | None = None) -> Path:
    """Fabricated CIFAR-10 files under ``root``, each batch passed through ``change``."""
    fabricate.cifar10(root)
    folder = root / "cifar-10-batches-py"
    if change is not None:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            batch = pickle.loads((folder / name).read_bytes(), encoding="bytes")
            fabricate.write_pickle(folder / name, change(batch))
    return folder


def _first_label(value: float) -> Callable[[dict[bytes, Any]], dict[bytes, Any]]:
    """A change of a CIFAR batch: its first label replaced by ``value``."""
    return lambda batch: {**batch, b"labels": [value, *batch[b"labels"][1:]]}


def _svhn(root: Path, change: Callable[[np.ndarray], np.ndarray]) -> None:
    """Fabricated SVHN files under ``root``, 'y' of each passed through ``change``."""
    from scipy.io import loadmat, savemat

    fabricate.svhn(root)
    for name in ("train_32x32.mat", "test_32x32.mat"):
        mat = loadmat(root / name)
        savemat(root / name, {"X": mat["X"], "y": change(mat["y"])})
