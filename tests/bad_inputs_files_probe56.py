"""The bad input files of branch probe56's cases (``tests/bad_inputs.py``, ``PROBE56``), written into the same
workspace: --config files that lie (arrays and tables where numbers go, a table nested twice, a BOM, UTF-16, numbers past
what any option takes), search spaces, specs, profiles and presets of such numbers, and dataset files in their real
formats as other tools write them (a Python 2 CIFAR meta file in Latin-1, a MATLAB v7.3 SVHN file, IDX files of no
images or of images of 0x0 pixels)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from tests import fabricate
from tests.bad_inputs_files import GOOD_SPEC, PRESET, PROFILE

SPACE = 'family = "convnet"\n[params]\ndepth = [1]\nwidth = [16]\nactivation = "relu"\nnormalization = "none"\npooling = "avgpooling"\n'
TOO_BIG = 2**63  # one more than the largest signed 64-bit integer

CONFIGS = {  # --config files of distill (its [distill] table), and of search
    "bom.toml": "\ufeff[distill]\nipc = 0\n",
    "ipc-array.toml": "[distill]\nipc = [1, 2]\n",
    "ipc-table.toml": "[distill]\nipc = {value = 1}\n",
    "twice.toml": "[distill.distill]\nipc = 1\n",
    "other-key.toml": "[distill]\nn_trials = 3\n",  # a key of search's table in distill's
    "ipc-huge.toml": f"[distill]\nipc = {TOO_BIG}\n",
    "ipc-minus-zero.toml": "[distill]\nipc = -0\n",
    "lr-1e309.toml": "[distill]\nimage_lr = 1e309\n",  # TOML reads it as inf
    "seed-huge.toml": f"[distill]\nseed = {2**64}\n",
    "ipc-float.toml": "[distill]\nipc = 1.0\n",
    "ipc-date.toml": "[distill]\nipc = 1979-05-27\n",
    "ipc-blank.toml": '[distill]\nipc = " 5"\n',
    "nul.toml": "[distill]\nipc = 1\x00\n",
    "table-twice.toml": "[distill]\nipc = 1\n[distill]\nipc = 2\n",
    "dataset-list.toml": '[distill]\ndataset = ["digits"]\n',
    "search-seed.toml": f"[search]\nseed = {2**32}\n",
    "search-timeout-nan.toml": "[search]\ntimeout = nan\n",
}


def build_probe56(root: Path) -> None:
    """Add probe56's inputs to the workspace ``root``."""
    folder = root / "p56"
    (folder / "sub").mkdir(parents=True)
    for name, text in CONFIGS.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "utf16.toml").write_bytes("[distill]\nipc = 1\n".encode("utf-16"))  # as Windows' 'Unicode' saves it
    (folder / "wide.json").write_text(json.dumps([{**GOOD_SPEC, "width": TOO_BIG}]))
    (folder / "depth-float.json").write_text(json.dumps([{**GOOD_SPEC, "depth": 1.0}]))
    (folder / "wide-space.toml").write_text(SPACE.replace("width = [16]", f"width = [{TOO_BIG}]"))
    (folder / "inf-space.toml").write_text(SPACE.replace("width = [16]", "width = [inf]"))
    (folder / "empty-space.toml").write_text(SPACE.replace("depth = [1]", "depth = []"))
    (folder / "epochs-huge.toml").write_text(PROFILE.replace("epochs = 1", f"epochs = {TOO_BIG}"))
    (folder / "preset-huge.toml").write_text(PRESET.replace("n_trials = 1", f"n_trials = {TOO_BIG}"))
    (folder / "preset-array.toml").write_text(PRESET.replace('space = "convnet-cpu"', 'space = ["convnet-cpu"]'))
    (folder / "preset-nested.toml").write_text(PRESET + "[search.proxy.proxy]\nepochs = 1\n")
    _datasets(root / "data" / "p56")
    _images(root / "img" / "p56")
    from tests.bad_inputs_files import _variant

    # a set whose class 0 is named by a lone surrogate (JSON's "\udce9"), as a folder named in Latin-1 was recorded
    dst = _variant(root, "p56-surrogate-class")
    (dst / "meta.json").write_text((dst / "meta.json").read_text().replace('"class_names": ["', '"class_names": ["caf\\udce9', 1))


def _datasets(root: Path) -> None:
    from tests.bad_inputs_files_probe48 import _cifar

    # a CIFAR meta file of Python 2 whose class 0 is named in Latin-1: before, read as Latin-1 by guess
    names = [b"caf\xe9", *[f"c{k}".encode() for k in range(1, 10)]]
    meta = {b"label_names": names, b"num_cases_per_batch": 4, b"num_vis": 3072}
    fabricate.write_pickle(_cifar(root / "cifar-latin1") / "batches.meta", meta, python2=True)
    # SVHN files saved by MATLAB's save(..., '-v7.3'): an HDF5 file behind a MAT header
    fabricate.svhn(root / "svhn-v73")
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Dec  7 07:00:00 2026 HDF5 schema 1.00 ."
    for name in ("train_32x32.mat", "test_32x32.mat"):
        (root / "svhn-v73" / name).write_bytes(
            header.ljust(116) + bytes(8) + b"\x00\x02IM" + bytes(384) + b"\x89HDF\r\n\x1a\n" + bytes(200)
        )
    # MNIST files of no training images, of 0x0 images, and of 1x784 images (a row each)
    y = np.arange(200, dtype=np.int64) % 10
    for name, images, labels in (
        ("idx-empty", struct.pack(">BBBB3I", 0, 0, 8, 3, 0, 28, 28), struct.pack(">BBBBI", 0, 0, 8, 1, 0)),
        ("idx-0px", struct.pack(">BBBB3I", 0, 0, 8, 3, 200, 0, 0), None),
        ("idx-rows", struct.pack(">BBBB3I", 0, 0, 8, 3, 200, 1, 784) + bytes(200 * 784), None),
    ):
        fabricate.idx_files(root / name, y, y[:20], gz=False)
        (root / name / "train-images-idx3-ubyte").write_bytes(images)
        if labels is not None:
            (root / name / "train-labels-idx1-ubyte").write_bytes(labels)


def _images(root: Path) -> None:
    """An image folder whose third folder holds no image (notes beside the classes), and one whose class folder is named
    in Latin-1 (as an old archive's names unpack)."""
    import os

    from PIL import Image

    for name in ("notes-folder", "latin1-class"):
        for k, cls in enumerate(("cat", "dog")):
            (root / name / cls).mkdir(parents=True)
            for i in range(3):
                Image.fromarray(fabricate.pattern(k, 8, 3)).save(root / name / cls / f"{i}.png")
    (root / "notes-folder" / "notes").mkdir()
    (root / "notes-folder" / "notes" / "readme.txt").write_text("labelled by hand\n")
    os.rename(root / "latin1-class" / "cat", os.fsencode(root / "latin1-class") + b"/caf\xe9")
