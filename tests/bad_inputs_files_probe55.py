"""The bad input files of branch probe55's cases (``tests/bad_inputs.py``, ``PROBE55``), written into the same
workspace: lying metadata, foreign files and names a stranger brings (see each builder)."""

from __future__ import annotations

import json
import pickle
import shutil
import sqlite3
import struct
from pathlib import Path

import numpy as np

from tests import fabricate
from tests.bad_inputs_files import GOOD_SPEC


def build_probe55(root: Path) -> None:
    """Add probe55's inputs to the workspace ``root``."""
    _images(root / "img" / "p55")
    _tables(root / "archs" / "p55")
    _storages(root / "p55")
    _sets(root)
    _datasets(root / "data" / "p55")
    _checkpoint(root)


def _folder(root: Path, name: str, per_class: int = 3) -> Path:
    """An image folder of two classes, ``per_class`` small RGB PNGs each."""
    from PIL import Image

    folder = root / name
    for k, cls in enumerate(("cat", "dog")):
        (folder / cls).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(fabricate.pattern(k, 8, 3)).save(folder / cls / f"{i}.png")
    return folder


def _images(root: Path) -> None:
    from PIL import Image

    pixels = fabricate.pattern(0, 8, 3)
    # a zero-byte file, and a PNG cut short, named like images
    (_folder(root, "zero-byte") / "cat" / "0.png").write_bytes(b"")
    png = _folder(root, "cut-png") / "cat" / "0.png"
    png.write_bytes(png.read_bytes()[:40])
    # a CMYK JPEG among RGB PNGs
    Image.fromarray(pixels).convert("CMYK").save(_folder(root, "cmyk") / "cat" / "3.jpg")
    # a palette PNG with a transparent colour
    im = Image.fromarray(pixels).convert("P")
    im.info["transparency"] = 0
    im.save(_folder(root, "palette") / "cat" / "3.png", transparency=0)
    # an animated GIF
    frames = [Image.fromarray(fabricate.pattern(k, 8, 3)) for k in range(2)]
    frames[0].save(_folder(root, "animated") / "cat" / "3.gif", save_all=True, append_images=frames[1:])
    # a 16-bit PNG
    Image.fromarray(pixels[..., 0].astype(np.uint16) * 257).save(_folder(root, "sixteen") / "cat" / "3.png")
    # a broken image whose file name holds an escape sequence, a right-to-left override, a line separator
    for name, file in (("esc-name", "\x1b[2J\x1b[31mred.png"), ("rtl-name", "x\u202egnp.png"), ("ls-name", "a\u2028b.png")):
        (_folder(root, name) / "cat" / file).write_bytes(b"not an image")
    # class folders named with an escape, a newline, a right-to-left override
    for name, cls in (("esc-class", "\x1b[31mred"), ("nl-class", "a\nb"), ("rtl-class", "ab\u202ecd"), ("ls-class", "a\u2028b")):
        folder = _folder(root, name)
        (folder / "cat").rename(folder / cls)
    # a zip and a tar of an image folder, given where the folder is asked for
    src = _folder(root, "zipped")
    shutil.make_archive(str(root / "folder"), "zip", src)
    shutil.make_archive(str(root / "folder"), "gztar", src)


def _spec(depth: int, width: int) -> dict[str, object]:
    return {**GOOD_SPEC, "depth": depth, "width": width}


SPECS = [_spec(d, w) for d in (1, 2, 3) for w in (16, 32)][:6]


def _csv_rows(accuracies: list[str], sep: str = ",", newline: str = "\n") -> str:
    rows = ["spec" + sep + "accuracy"]
    for spec, acc in zip(SPECS, accuracies, strict=False):
        quoted = '"' + json.dumps(spec).replace('"', '""') + '"'
        rows.append(quoted + sep + acc)
    return newline.join(rows) + newline


def _tables(root: Path) -> None:
    root.mkdir(parents=True)
    good = ["60", "61", "62", "63", "64", "65"]
    (root / "crlf.csv").write_text(_csv_rows(good, newline="\r\n"), newline="")
    (root / "semicolon.csv").write_text(_csv_rows(good, sep=";"))
    (root / "tab.csv").write_text(_csv_rows(good, sep="\t"))
    (root / "cr.csv").write_text(_csv_rows(good, newline="\r"), newline="")
    for name, bad in (("nan", "nan"), ("inf", "inf"), ("negative", "-5"), ("over", "100.5"), ("percent", "60%"), ("blank", "")):
        (root / f"acc-{name}.csv").write_text(_csv_rows(["60", "61", bad, "63", "64", "65"]))
    dup = _csv_rows(good).splitlines()
    (root / "dup.csv").write_text("\n".join([*dup, dup[1].replace(",60", ",70")]) + "\n")
    (root / "header-only.csv").write_text("spec,accuracy\n")
    (root / "zero.csv").write_bytes(b"")
    (root / "esc-header.csv").write_text(_csv_rows(good).replace("accuracy", "acc\x1b[2Juracy", 1).replace("spec", "sp\x1b[31mec", 1))
    (root / "two-acc.csv").write_text(_csv_rows(good).replace("spec,accuracy", "spec,accuracy,accuracy").replace("\n", ",1\n")[:-3] + "\n")
    esc = [{**s, "activation": "re\x1b[31mlu"} if i == 0 else s for i, s in enumerate(SPECS)]
    (root / "esc-spec.json").write_text(json.dumps([{"spec": s, "accuracy": 60 + i} for i, s in enumerate(esc)]))
    key = [{**s, "kern\x1b[2Jel": 3} if i == 0 else s for i, s in enumerate(SPECS)]
    (root / "esc-key.json").write_text(json.dumps([{"spec": s, "accuracy": 60 + i} for i, s in enumerate(key)]))
    (root / "nan-literal.json").write_text(
        json.dumps([{"spec": s, "accuracy": float("nan") if i == 2 else 60 + i} for i, s in enumerate(SPECS)])
    )
    (root / "inf-literal.json").write_text(
        json.dumps([{"spec": s, "accuracy": float("inf") if i == 2 else 60 + i} for i, s in enumerate(SPECS)])
    )


def _storages(root: Path) -> None:
    import optuna

    root.mkdir(parents=True)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    # plain optuna's studies, other parameter names, where nasproxy's study name is asked for
    for url in (f"sqlite:///{root}/plain.db",):
        study = optuna.create_study(study_name="s1", storage=url)
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(root / "plain.log")))
    study = optuna.create_study(study_name="s1", storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    # a journal of study names that drive a terminal (escape sequences), made by plain optuna
    storage = JournalStorage(JournalFileBackend(str(root / "esc.log")))
    optuna.create_study(study_name="\x1b[2J\x1b[31mowned", storage=storage)
    optuna.create_study(study_name="rtl\u202eevil", storage=storage)
    # a journal whose records a later optuna might write (an op code this one has not)
    lines = (root / "plain.log").read_text().splitlines()
    future = json.loads(lines[-1])
    future["op_code"] = 99
    (root / "future.log").write_text("\n".join([*lines, json.dumps(future)]) + "\n")
    # an RDB of an older schema
    shutil.copy(root / "plain.db", root / "old.db")
    with sqlite3.connect(root / "old.db") as db:
        db.execute("UPDATE version_info SET schema_version = 11, library_version = '1.3.0'")
        db.execute("UPDATE alembic_version SET version_num = 'v1.3.0.a'")


def _sets(root: Path) -> None:
    """Synthetic sets whose safetensors header lies about its tensors."""
    from tests.bad_inputs_files import _variant

    src = root / "syn" / "synthetic.safetensors"
    data = src.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + n])
    for name, change in (
        ("header-shape", lambda h: h["images"].update(shape=[h["images"]["shape"][0] * 2, *h["images"]["shape"][1:]])),
        ("header-dtype", lambda h: h["images"].update(dtype="F16")),
        ("header-labels-i32", lambda h: h["labels"].update(dtype="I32", shape=[h["labels"]["shape"][0] * 2])),
    ):
        h = json.loads(json.dumps(header))
        change(h)
        raw = json.dumps(h).encode()
        raw += b" " * (-len(raw) % 8)
        dst = _variant(root, f"p55-{name}")
        (dst / "synthetic.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n :])
        from nas_proxy.digests import file_sha256

        m = json.loads((dst / "meta.json").read_text())
        m["tensors_sha256"] = file_sha256(dst / "synthetic.safetensors")
        (dst / "meta.json").write_text(json.dumps(m))
    # meta.json with NaN and 1e400 (JSON as Python reads it), and the same key twice
    dst = _variant(root, "p55-meta-nan")
    m = json.loads((dst / "meta.json").read_text())
    m["dataset"]["mean"][0] = float("nan")
    (dst / "meta.json").write_text(json.dumps(m))
    dst = _variant(root, "p55-ipc-1e400")
    (dst / "meta.json").write_text((dst / "meta.json").read_text().replace('"ipc": 1', '"ipc": 1e400', 1))
    dst = _variant(root, "p55-ipc-twice")
    (dst / "meta.json").write_text((dst / "meta.json").read_text().replace('"ipc": 1', '"ipc": 1, "ipc": 2', 1))
    # class names that reorder the text printed around them (a right-to-left override, a line separator)
    for name, first in (("rtl-class-name", "ab\u202ecd"), ("ls-class-name", "a\u2028b")):
        dst = _variant(root, f"p55-{name}")
        m = json.loads((dst / "meta.json").read_text())
        m["dataset"]["class_names"][0] = first
        (dst / "meta.json").write_text(json.dumps(m))
    # a zip and a tar of a synthetic set
    shutil.make_archive(str(root / "art" / "p55-set"), "zip", root / "syn")
    shutil.make_archive(str(root / "art" / "p55-set"), "gztar", root / "syn")


def _datasets(root: Path) -> None:
    """Dataset files in their real formats whose headers or arrays lie."""
    from scipy.io import loadmat, savemat

    y = np.arange(200, dtype=np.int64) % 10
    fabricate.idx_files(root / "idx-2px", y, y[:20], gz=False, size=2)  # MNIST files of 2x2 images
    fabricate.idx_files(root / "idx-float", y, y[:20], gz=False)  # images stored as float32 (type 0x0D)
    images = fabricate.images(y, 28, 1)[..., 0].astype(">f4")
    header = struct.pack(">BBBB", 0, 0, 0x0D, 3) + struct.pack(">3I", *images.shape)
    (root / "idx-float" / "train-images-idx3-ubyte").write_bytes(header + images.tobytes())
    fabricate.idx_files(root / "idx-swapped", y, y[:20], gz=False)  # the labels file and the images file swapped
    folder = root / "idx-swapped"
    a, b = folder / "train-images-idx3-ubyte", folder / "train-labels-idx1-ubyte"
    a.rename(folder / "x")
    b.rename(a)
    (folder / "x").rename(b)
    from tests.bad_inputs_files_probe48 import _cifar

    names = ["plane", "car\u202e", *[f"c{k}" for k in range(2, 10)]]  # class 1 'car' and a right-to-left override
    (_cifar(root / "cifar-meta-rtl") / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}, protocol=2))  # as Python 3
    fabricate.svhn(root / "svhn-nhwc")  # X as (N, 32, 32, 3), as a converted copy keeps it
    for name in ("train_32x32.mat", "test_32x32.mat"):
        mat = loadmat(root / "svhn-nhwc" / name)
        savemat(root / "svhn-nhwc" / name, {"X": mat["X"].transpose(3, 0, 1, 2).copy(), "y": mat["y"]})


def _checkpoint(root: Path) -> None:
    """An unfinished run whose checkpoint is another run's (IPC 2 where the folder's run has IPC 1)."""
    from nas_proxy.distill import DistillConfig, distill

    other = root / "p55" / "ipc2"
    config = DistillConfig(dataset="digits", ipc=2, iterations=1, batch_real=4, net_width=8, device="cpu", checkpoint_every=1000)
    distill(config, other, progress=False)
    dst = root / "p55" / "ckpt-other"
    shutil.copytree(root / "syn", dst)
    shutil.copy(other / "checkpoint.safetensors", dst / "checkpoint.safetensors")
    (dst / "meta.json").unlink()
    (dst / "synthetic.safetensors").unlink()
    shutil.rmtree(other)
