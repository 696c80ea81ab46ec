"""The bad input files of :mod:`tests.bad_inputs`, written once into a workspace folder.

Every file is small and in the real format (a synthetic set made by ``distill``, IDX, CIFAR
pickles, SVHN ``.mat``, PNG), broken in one way. Paths are relative to the workspace, which is the
working directory while the cases run.
"""

from __future__ import annotations

import gzip
import json
import os
import pickle
import shutil
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch
from safetensors.torch import save_file

from nas_proxy.digests import file_sha256
from nas_proxy.distill import DistillConfig, distill
from tests import fabricate

GOOD_SPEC = {"family": "convnet", "depth": 1, "width": 16, "activation": "relu", "normalization": "none", "pooling": "avgpooling"}

PRESET = """name = "p"
[distill]
dataset = "digits"
ipc = 1
iterations = 1
batch_real = 4
[search]
space = "convnet-cpu"
n_trials = 1
[search.proxy]
epochs = 1
[correlate]
n_archs = 3
n_boot = 100
[correlate.ground_truth]
epochs = 2
images = 20
"""

# preset variants: file stem -> (text to replace, replacement) in PRESET, or the whole text
PRESETS: dict[str, tuple[str, str] | str] = {
    "bad-toml": "name = \n",
    "top-key": ('name = "p"', 'name = "p"\nseed = 1'),
    "section": ("[correlate]", "[evaluate]\nruns = 1\n[correlate]"),
    "distill-key": ("ipc = 1", "ipc = 1\nepochs = 5"),
    "search-key": ("n_trials = 1", "n_trials = 1\nworker = 2"),
    "correlate-key": ("n_archs = 3", "n_archs = 3\nfull_seed = 1"),
    "old-prefix": ("n_archs = 3", "n_archs = 3\nfull_epochs = 1"),
    "old-flat-proxy": ("n_trials = 1", "n_trials = 1\nreport_every = 1"),
    "proxy-type": ("epochs = 1", 'epochs = 1\ndsa = "yes"'),
    "hard-labels-no-soft": ("epochs = 1", "epochs = 1\nhard_labels = true"),
    "proxy-not-table": ("[search.proxy]\nepochs = 1", "proxy = 1"),
    "proxy-name-unknown": ("n_trials = 1", 'n_trials = 1\nproxy_name = "bogus"'),
    "proxy-training-idle": 'name = "p"\n[search]\nspace = "convnet-cpu"\ndataset = "digits"\nproxy_name = "synflow"\nn_trials = 1\n[search.proxy]\nreport_every = 5\n',
    "promote-protocol-unknown": ("n_trials = 1", 'n_trials = 1\npromote = 1\npromote_protocol = "fats"'),
    "promote-protocol-number": ("n_trials = 1", "n_trials = 1\npromote = 1\npromote_protocol = 1"),
    "promote-protocol-idle": ("n_trials = 1", 'n_trials = 1\npromote_protocol = "fast"'),
    "proxy-name-string": ("[search.proxy]\nepochs = 1", 'proxy = "random-ipc10"'),
    "proxy-name-distill": ("n_trials = 1", 'n_trials = 1\nproxy_name = "random-ipc10"'),
    "proxy-name-dataset": ("n_trials = 1", 'n_trials = 1\ndataset = "digits"'),
    # a search on real data (no [distill]) whose ladder is no string
    "ladder-number": 'name = "p"\n[search]\nspace = "convnet-cpu"\ndataset = "digits"\nn_trials = 1\nladder = 3\n',
    "ladder-list": 'name = "p"\n[search]\nspace = "convnet-cpu"\ndataset = "digits"\nn_trials = 1\nladder = ["synflow:1.0", "full:1"]\n',
    "correlate-seed": ("n_archs = 3", "n_archs = 3\nseed = 1"),
    "name-dotdot": ('name = "p"', 'name = ".."'),
    "name-slash": ('name = "p"', 'name = "../elsewhere"'),
    "name-number": ('name = "p"', "name = 5"),
    "runs-number": ('name = "p"', 'name = "p"\nruns = 5'),
    "device": ('name = "p"', 'name = "p"\ndevice = "tpu"'),
    "ipc-zero": ("ipc = 1", "ipc = 0"),
    "ipc-text": ("ipc = 1", 'ipc = "ten"'),
    "dataset": ('dataset = "digits"', 'dataset = "fashion-mnst"'),
    "val-fraction": ("ipc = 1", "ipc = 1\nval_fraction = 0.0"),
    "lambda": ("ipc = 1", "ipc = 1\nlambda_mmd = -1.0"),
    "method": ("ipc = 1", 'ipc = 1\nmethod = "dc"'),
    "lr-nan": ("epochs = 1", "epochs = 1\nlr = nan"),
    "sampler": ("n_trials = 1", 'n_trials = 1\nsampler = "cmaes"'),
    "space": ('space = "convnet-cpu"', 'space = "convnet-cpuu"'),
    "no-space": ('space = "convnet-cpu"\n', ""),
    "n-trials": ("n_trials = 1", "n_trials = 0"),
    "objectives": ("n_trials = 1", 'n_trials = 1\nobjectives = ["params"]'),
    "objectives-text": ("n_trials = 1", 'n_trials = 1\nobjectives = "accuracy"'),
    "workers": ("n_trials = 1", "n_trials = 1\nworkers = 0"),
    "timeout": ("n_trials = 1", "n_trials = 1\ntimeout = -5"),
    "epochs": ("epochs = 1", "epochs = 0"),
    "n-archs": ("n_archs = 3", "n_archs = 0"),
    "full-lr": ("epochs = 2", "epochs = 2\nlr = inf"),
    "full-early": ("epochs = 2", "epochs = 2\nearly = [0.5, 9.0]"),
    "bootstrap": ("n_boot = 100", "n_boot = 0"),
    "proxies": ("n_boot = 100", 'n_boot = 100\nproxies = "all"'),
    "ceiling": ("n_boot = 100", "n_boot = 100\nceiling = -1"),
    "gt-storage": ("n_boot = 100", "n_boot = 100\ngt_storage = 5"),
}

# --config files of single commands: file name -> text
CONFIGS = {
    "distill-type.toml": '[distill]\nipc = "ten"\n',
    "distill-key.toml": "[distill]\nipcs = 1\n",
    "distill-inf.toml": "[distill]\nimage_lr = inf\n",
    "table.toml": "[distil]\nipc = 1\n",
    "top-key.toml": "seed = 1\n",
    "evaluate-nan.toml": "[evaluate.train]\nlr = nan\n",
    "evaluate-key.toml": "[evaluate]\nepochs = 1\n",
    "proxy-float.toml": "[search.proxy]\nepochs = 1.5\n",
    "objectives.toml": '[search]\nobjectives = "accuracy"\n',
    "search-seed.toml": "[search]\nseed = -1\n",
    "worker-bool.toml": "[worker]\nworker_index = true\n",
    "port-text.toml": '[dashboard]\nport = "http"\n',
    "early-nan.toml": "[correlate.ground_truth]\nearly = [0.5, nan]\n",
    "correlate-key.toml": "[correlate]\nsplit_seed = 1\n",
    "space-number.toml": "[search]\nspace = 5\n",
    "train-protocol.toml": '[train]\nprotocol = "fats"\n',
    "proxy-epochs.toml": "[search.proxy]\nepochs = 3\n",
    "correlate-proxy-epochs.toml": "[correlate.proxy]\nepochs = 3\n",
}

SPACES = {
    "bad.toml": "family = \n",
    "nofamily.toml": "[params]\ndepth = [1, 2]\n",
    "unknown-family.toml": 'family = "resnet"\n',
    "unknown-param.toml": 'family = "convnet"\n[params]\nkernel = [3, 5]\n',
    "bad-value.toml": 'family = "convnet"\n[params]\nactivation = ["swish"]\n',
    "params-list.toml": 'family = "convnet"\nparams = [1, 2]\n',
    "list.json": "[1, 2]\n",
    "bad.json": "{family: convnet}\n",
    "space.yaml": "family: convnet\n",
}

ARCHS: dict[str, Any] = {
    "good.json": [GOOD_SPEC],
    "empty.json": [],
    "numbers.json": [1, 2],
    "object.json": {"depth": 1},
    "outside.json": [{**GOOD_SPEC, "depth": 9}],
    "best-nospec.json": {"study": "s", "top": [{"number": 0}]},
    "acc-150.json": [{"spec": GOOD_SPEC, "accuracy": 150}],
    "acc-text.json": [{"spec": GOOD_SPEC, "accuracy": "high"}],
    "acc-partial.json": [{"spec": GOOD_SPEC, "accuracy": 80}, {"spec": {**GOOD_SPEC, "width": 32}}],
}


# proxy profiles (--proxy-profile): file stem -> text; "good" is valid, every other breaks one rule
PROFILE = 'format = "nasproxy-proxy-profile"\nformat_version = 1\n[proxy]\nepochs = 1\n'
PROFILES = {
    "good": PROFILE,
    "unknown-key": PROFILE.replace("epochs = 1", "epoch = 1"),
    "wrong-type": PROFILE.replace("epochs = 1", 'epochs = "ten"'),
    "bool-type": PROFILE.replace("epochs = 1", "epochs = true"),
    "nan": PROFILE + "lr = nan\n",
    "zero": PROFILE.replace("epochs = 1", "epochs = 0"),
    "no-format": "[proxy]\nepochs = 1\n",
    "newer": PROFILE.replace("format_version = 1", "format_version = 99"),
    "top-key": PROFILE.replace("format_version = 1", "format_version = 1\nseed = 3"),
    "calibration-key": PROFILE + "[calibration]\naccuracy = 80.0\n",
    "calibration-inf": PROFILE + "[calibration]\nheldout_fidelity = inf\n",
    "calibration-type": PROFILE + "[calibration]\nfolds = 2.5\n",
}


def build(root: Path) -> None:
    """Write every input the cases name into ``root`` (about two seconds, most of it the distillation)."""
    root.mkdir(parents=True, exist_ok=True)
    config = DistillConfig(dataset="digits", ipc=1, iterations=1, batch_real=4, net_width=8, device="cpu", checkpoint_every=1000)
    distill(config, root / "syn", progress=False)
    _artifacts(root)
    _datasets(root / "data")
    _images(root / "img")
    for name, content in SPACES.items():
        (root / "spaces").mkdir(exist_ok=True)
        (root / "spaces" / name).write_text(content)
    (root / "spaces" / "dir.toml").mkdir()
    _presets(root / "presets")
    (root / "configs").mkdir()
    for name, content in CONFIGS.items():
        (root / "configs" / name).write_text(content)
    _archs(root / "archs")
    _profiles(root / "profiles")
    _storages(root)
    from tests.bad_inputs_files_more import build_more

    build_more(root)


# ---------------------------------------------------------------- synthetic-set artifacts


def _variant(root: Path, name: str, meta: dict[str, Any] | None = None, tensors: dict[str, torch.Tensor] | None = None) -> Path:
    """A copy of ``syn`` with ``meta`` merged into meta.json and ``tensors`` written (hash updated)."""
    src, dst = root / "syn", root / "art" / name
    shutil.copytree(src, dst)
    m = json.loads((dst / "meta.json").read_text())
    if tensors is not None:
        save_file(tensors, str(dst / "synthetic.safetensors"))
        m["tensors_sha256"] = file_sha256(dst / "synthetic.safetensors")
    m.update(meta or {})
    (dst / "meta.json").write_text(json.dumps(m))
    return dst


def _artifacts(root: Path) -> None:
    from safetensors.torch import load_file

    t = load_file(str(root / "syn" / "synthetic.safetensors"))
    images, labels = t["images"], t["labels"]
    meta = json.loads((root / "syn" / "meta.json").read_text())
    (root / "art").mkdir()
    (root / "art" / "no-meta").mkdir()
    shutil.copy(root / "syn" / "synthetic.safetensors", root / "art" / "no-meta")
    (root / "art" / "unfinished").mkdir()
    shutil.copy(root / "syn" / "synthetic.safetensors", root / "art" / "unfinished" / "checkpoint.safetensors")
    (_variant(root, "bad-json") / "meta.json").write_text("{not json")
    (_variant(root, "meta-list") / "meta.json").write_text("[1, 2]")
    _variant(root, "foreign-format", {"format": "something-else"})
    _variant(root, "newer", {"format_version": 99})
    _variant(root, "version-text", {"format_version": "one"})
    _variant(root, "no-dataset", {"dataset": None})
    _variant(root, "classes-text", {"dataset": {**meta["dataset"], "num_classes": "ten"}})
    _variant(root, "size-text", {"dataset": {**meta["dataset"], "image_size": "16x16"}})
    _variant(root, "split-text", {"split": {**meta["split"], "val_fraction": "a tenth"}})
    _variant(root, "no-split", {"split": None})
    _variant(root, "split-seed", {"split": {**meta["split"], "seed": 7}})
    _variant(root, "escape", {"tensors": "../../syn/synthetic.safetensors"})
    _variant(root, "absolute", {"tensors": "/etc/hostname"})
    link = _variant(root, "symlink", {"tensors": "link.safetensors"}) / "link.safetensors"
    os.symlink(os.path.relpath(root / "syn" / "synthetic.safetensors", link.parent), link)
    (_variant(root, "missing-tensors") / "synthetic.safetensors").unlink()
    modified = _variant(root, "modified") / "synthetic.safetensors"
    modified.write_bytes(modified.read_bytes()[:-8] + b"\x00" * 8)
    truncated = _variant(root, "truncated", {"tensors_sha256": None}) / "synthetic.safetensors"
    truncated.write_bytes(truncated.read_bytes()[:40])
    evil = _variant(root, "pickle-pt", {"tensors": "t.pt", "tensors_sha256": None}) / "t.pt"
    torch.save({"images": images, "labels": labels, "extra": {"how": __import__("argparse").Namespace()}}, evil)
    (_variant(root, "garbage-pt", {"tensors": "t.pt", "tensors_sha256": None}) / "t.pt").write_bytes(b"not a tensor file" * 10)
    (_variant(root, "txt", {"tensors": "t.txt", "tensors_sha256": None}) / "t.txt").write_text("1 2 3\n")
    _variant(root, "no-labels", tensors={"images": images})
    _variant(root, "labels-range", tensors={"images": images, "labels": labels + 50})
    _variant(root, "labels-float", tensors={"images": images, "labels": labels.float()})
    _variant(root, "shape", {"image_shape": [3, 16, 16]})


# ---------------------------------------------------------------- dataset files


def _datasets(data: Path) -> None:
    (data / "empty").mkdir(parents=True)
    train_y, test_y = fabricate.shuffled_labels(list(range(10)), 2, 1), fabricate.shuffled_labels(list(range(10)), 1, 2)

    def idx(name: str) -> Path:
        fabricate.idx_files(data / name, train_y, test_y, gz=False)
        return data / name

    images = idx("idx-truncated") / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-100])
    (idx("idx-magic") / "train-images-idx3-ubyte").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    (idx("idx-gzip") / "train-images-idx3-ubyte").unlink()
    (data / "idx-gzip" / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"x" * 100)[:30])
    fabricate.write_idx(idx("idx-count") / "train-labels-idx1-ubyte", train_y[:-3].astype(np.uint8))
    fabricate.write_idx(idx("idx-labels") / "train-labels-idx1-ubyte", (train_y + 5).astype(np.uint8))

    def cifar(name: str) -> Path:
        fabricate.cifar10(data / name)
        return data / name / "cifar-10-batches-py"

    batch = cifar("cifar-truncated") / "data_batch_1"
    batch.write_bytes(batch.read_bytes()[:200])
    (cifar("cifar-evil") / "data_batch_1").write_bytes(pickle.dumps({"data": __import__("os").getcwd}, protocol=2))
    fabricate.write_pickle(cifar("cifar-list") / "data_batch_1", [1, 2, 3])
    fabricate.write_pickle(cifar("cifar-nodata") / "data_batch_1", {b"batch_label": b"x", b"labels": [0, 1]})
    rows = np.zeros((4, 100), dtype=np.uint8)
    fabricate.write_pickle(cifar("cifar-rows") / "data_batch_1", {b"labels": [0, 1, 2, 3], b"data": rows})
    fabricate.write_pickle(cifar("cifar-meta-nonames") / "batches.meta", {b"num_cases_per_batch": 4, b"num_vis": 3072})
    fabricate.write_pickle(cifar("cifar-meta-short") / "batches.meta", {b"label_names": [b"cat", b"dog"]})
    fabricate.cifar100(data / "cifar100-notrain")
    (data / "cifar100-notrain" / "cifar-100-python" / "train").unlink()

    fabricate.svhn(data / "svhn-garbage")
    (data / "svhn-garbage" / "train_32x32.mat").write_bytes(b"MATLAB 5.0 MAT-file" + b"\x00" * 40)
    fabricate.svhn(data / "svhn-nokeys")
    from scipy.io import savemat

    savemat(data / "svhn-nokeys" / "train_32x32.mat", {"images": np.zeros((2, 2))})


# ---------------------------------------------------------------- image folders


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG that declares ``width`` x ``height`` grey pixels but holds a few bytes of them: what a
    decompression bomb looks like to a reader before it decodes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def _images(img: Path) -> None:
    fabricate.image_folder(img / "one-image", ["cat", "dog"], 3)
    fabricate.image_folder(img / "two-classes", ["cat", "dog"], 3)  # readable: what a set's meta.json may name falsely
    for extra in (img / "one-image" / "dog").glob("[12].png"):
        extra.unlink()
    fabricate.image_folder(img / "corrupt", ["cat", "dog"], 3)
    (img / "corrupt" / "dog" / "1.png").write_text("not a picture")
    fabricate.image_folder(img / "bomb", ["cat", "dog"], 3)
    _png_header_only(img / "bomb" / "dog" / "9.png", 20000, 20000)
    fabricate.image_folder(img / "big", ["cat", "dog"], 3)
    _png_header_only(img / "big" / "dog" / "9.png", 10000, 10000)
    fabricate.image_folder(img / "split-classes" / "train", ["cat", "dog"], 2)
    fabricate.image_folder(img / "split-classes" / "test", ["cat", "emu"], 1)
    fabricate.image_folder(img / "split-modes" / "train", ["cat", "dog"], 2, "RGB")
    fabricate.image_folder(img / "split-modes" / "test", ["cat", "dog"], 1, "L")
    for k in ("cat", "dog"):
        (img / "no-images" / k).mkdir(parents=True)
        (img / "no-images" / k / "readme.txt").write_text("pictures go here")


# ---------------------------------------------------------------- presets, archs, storages


def _presets(folder: Path) -> None:
    folder.mkdir()
    (folder / "good.toml").write_text(PRESET)
    for stem, change in PRESETS.items():
        content = change if isinstance(change, str) else PRESET.replace(*change, 1)
        assert content != PRESET, stem
        (folder / f"{stem}.toml").write_text(content)


def _archs(folder: Path) -> None:
    folder.mkdir()
    for name, content in ARCHS.items():
        (folder / name).write_text(json.dumps(content))
    (folder / "binary.json").write_bytes(b"\xff\xfe\x00\x01" * 8)
    (folder / "nospec.csv").write_text("depth,width\n1,16\n")
    (folder / "badspec.csv").write_text("spec,accuracy\ndepth=1,80\n")
    (folder / "specs.csv").write_text("spec\n" + json.dumps(json.dumps(GOOD_SPEC)) + "\n")
    _truths(folder)


def _profiles(folder: Path) -> None:
    folder.mkdir()
    for stem, text in PROFILES.items():
        (folder / f"{stem}.toml").write_text(text)


def _truths(folder: Path) -> None:
    """Ground truth for calibrate: 8 architectures of convnet-cpu with an accuracy, 2 of them, a broken table."""
    from nas_proxy.correlate.archs import from_space
    from nas_proxy.spaces import get_space

    archs = from_space(get_space("convnet-cpu"), 8, 0)
    (folder / "truth-8.json").write_text(json.dumps([{"spec": a.spec, "accuracy": 60.0 + i} for i, a in enumerate(archs)]))
    (folder / "truth-2.json").write_text(json.dumps([{"spec": a.spec, "accuracy": 60.0 + i} for i, a in enumerate(archs[:2])]))
    (folder / "table-bad.csv").write_text("arch_id,seed,spec,test_accuracy\nx,0," + json.dumps(json.dumps(GOOD_SPEC)) + ",high\n")


def _storages(root: Path) -> None:
    from nas_proxy.cli import end_heartbeats
    from nas_proxy.search import ProxyConfig, SearchConfig, search

    cwd = Path.cwd()
    os.chdir(root)  # the study records the synthetic set's path as the cases name it
    try:
        config = SearchConfig(synthetic="syn", space="convnet-cpu", sampler="random", device="cpu", proxy=ProxyConfig(epochs=1))
        search(config, "done", 1, progress=False)
    finally:
        end_heartbeats()  # as the command's process ends (before probe44b, its beat went on, a case's write a minute later)
        os.chdir(cwd)
    (root / "notes.txt").write_text("my notes about the experiment\n")
    (root / "storage-dir").mkdir()
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(root / "journal.log")))
    optuna.create_study(study_name="other", storage=storage)
    (root / "foreign.db").write_text("not a database\n")
