"""The bad input files of branch probe31's cases (``tests/bad_inputs.py``, ``STRANGER``), written
into the same workspace under ``stranger/`` and ``art/``.

Ground truth written as fractions (0.8 for 80 %), an accuracy column under another name, values
of 5,000 digits, empty and other-version SQLite files, a journal that names a study by a number,
and synthetic sets whose ``meta.json`` holds a NUL byte in a file name, a number for a folder or
no object for the distillation's options.

Branch probe38's (``PROBE38``): an image folder of one flat colour, and one of floating-point TIFFs;
space files whose name is empty or holds a newline; a set whose tensors file holds one more tensor.

Branch probe35's (``PROBE35``): a ``meta.json`` whose costs are text or NaN, or whose soft-label
record is no object, an output path that is a symbolic link to nothing, and an image folder
with a FIFO among its images.

Branch probe36's (``PROBE36``): copies of the finished study ``done`` whose journal was edited by
hand (its kind, budget, settings, a trial's value, the objectives' direction, the space's record,
a record of an operation Optuna does not know), and a preset whose description is a number.

The lead's of stop 36 (``LEAD36``): dataset files and a distillation checkpoint that are FIFOs
(a read would block for ever; before, reported as missing), a set whose ``method`` is empty, and
a set whose recorded normalisation ``std`` is not the data's, output folders whose ``config.toml`` is
another command's or a user's.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
from pathlib import Path

import torch

from tests.bad_inputs_files import GOOD_SPEC, _variant

BIG = "1" + "0" * 5000  # longer than any message should quote


def _quoted(spec: dict[str, object]) -> str:
    """A spec as one CSV field."""
    return '"' + json.dumps(spec).replace('"', '""') + '"'


def build_stranger(root: Path) -> None:
    """Add probe31's inputs to the workspace ``root``."""
    from nas_proxy.correlate.archs import from_space
    from nas_proxy.spaces import get_space

    folder = root / "stranger"
    folder.mkdir()
    archs = from_space(get_space("convnet-cpu"), 8, 0)
    fractions = [0.6 + i / 100 for i in range(8)]
    files = {
        "frac.json": json.dumps([{"spec": a.spec, "accuracy": f} for a, f in zip(archs, fractions, strict=True)]),
        "frac.csv": "spec,accuracy\n" + "".join(f"{_quoted(a.spec)},{f}\n" for a, f in zip(archs, fractions, strict=True)),
        "frac-table.csv": "arch_id,seed,spec,test_accuracy\n"
        + "".join(f"x{i},0,{_quoted(a.spec)},{f}\n" for i, (a, f) in enumerate(zip(archs, fractions, strict=True))),
        "acc.csv": "spec,acc\n" + "".join(f"{_quoted(a.spec)},{60 + i}\n" for i, a in enumerate(archs[:3])),
        "Accuracy.csv": "spec,Accuracy\n" + "".join(f"{_quoted(a.spec)},{60 + i}\n" for i, a in enumerate(archs[:3])),
        "test-accuracy.csv": "spec,test_accuracy\n" + "".join(f"{_quoted(a.spec)},{60 + i}\n" for i, a in enumerate(archs[:3])),
        "acc.json": json.dumps([{"spec": a.spec, "acc": 60 + i} for i, a in enumerate(archs[:3])]),
        "acc-long.json": json.dumps([{"spec": GOOD_SPEC, "accuracy": "9" * 5000}]),
        "empty.db": "",
        # a journal whose first record creates a study named by a number
        "name-number.log": '{"op_code": 0, "worker_id": "w", "study_name": 5, "directions": [1]}\n',
    }
    for name, text in files.items():
        (folder / name).write_text(text)
    ids = [f"a{i}" for i in range(6)]
    header = "arch_id,seed,epochs,test_accuracy,val_accuracy,val_accuracy_1ep,seconds\n"
    rows = [f"{a},{seed},3,{80 + i},{80.5 + i},{70 + i},10\n" for seed in (0, 1) for i, a in enumerate(ids)]
    (folder / "ladder-frac.csv").write_text(
        header
        + "".join(f"{a},{seed},3,{0.80 + i / 100},{0.805 + i / 100},{0.70 + i / 100},10\n" for seed in (0, 1) for i, a in enumerate(ids))
    )
    (folder / "ladder-long-seed.csv").write_text(header + rows[0].replace("a0,0,", f"a0,{BIG},") + "".join(rows[1:]))
    (folder / "ladder-long-accuracy.csv").write_text(header + rows[0].replace(",80,", f",{'9' * 5000},") + "".join(rows[1:]))
    for name, version in (("optuna-old.db", "v0.9.0.a"), ("optuna-new.db", "v9.9.9")):  # Optuna's tables, another schema
        with sqlite3.connect(folder / name) as db:
            db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
            db.execute("INSERT INTO alembic_version VALUES (?)", (version,))
            db.execute("CREATE TABLE studies (study_id INTEGER PRIMARY KEY, study_name VARCHAR(512))")
            db.execute("CREATE TABLE version_info (version_info_id INTEGER PRIMARY KEY, schema_version INTEGER, library_version TEXT)")
            db.execute("INSERT INTO version_info VALUES (1, 12, ?)", (version,))
    _variant(root, "tensors-nul", {"tensors": "synthetic.safetensors\u0000"})
    _variant(root, "data-root-number", {"data_root": 5})
    _variant(root, "config-none", {"config": None})
    _variant(root, "config-list", {"config": [1, 2]})


def build_probe35(root: Path) -> None:
    """Add probe35's inputs to the workspace ``root``."""
    _variant(root, "seconds-text", {"seconds": "fast"})
    _variant(root, "seconds-nan", {"seconds": float("nan")})  # json.dumps writes NaN, which json.loads reads
    from safetensors.torch import load_file

    tensors = load_file(str(root / "syn" / "synthetic.safetensors"))
    tensors["soft_labels"] = torch.full((len(tensors["labels"]), 10), 0.1)  # soft labels that pass every check of their own
    _variant(root, "soft-record-number", {"soft_labels": 5}, tensors)
    _variant(root, "soft-seconds-text", {"soft_labels": {"seconds": "fast"}}, tensors)
    (root / "stranger" / "dangling").symlink_to("nowhere")  # a link to a folder that does not exist
    fifo = root / "img" / "fifo"  # an image folder whose dog/0.png is a FIFO: reading it would block forever
    shutil.copytree(root / "img" / "two-classes", fifo)
    (fifo / "dog" / "0.png").unlink()
    os.mkfifo(fifo / "dog" / "0.png")


# journal of the study ``done`` -> (pattern, replacement): one edit each, made by hand
TAMPERED = {
    "kind-calibrate": (r'"nasproxy_kind":"search"', '"nasproxy_kind":"calibrate"'),
    "budget-text": (r'"nasproxy_budget":1\b', '"nasproxy_budget":"x"'),
    "no-config": (r'"user_attr":\{"nasproxy":\{"config"', '"user_attr":{"other":{"config"'),
    "value-text": (r'"state":1,"values":\[[^]]*\]', '"state":1,"values":["ten"]'),  # the trial's accuracy differs by machine
    "value-nan": (r'"state":1,"values":\[[^]]*\]', '"state":1,"values":[NaN]'),
    "directions": (r'"directions":\[2\]', '"directions":[1]'),
    "space-record": (r'"params":\{"depth":\[1,2,3\],', '"params":{"depth":[1,2],'),
}


def build_probe36(root: Path) -> None:
    """Add probe36's inputs to the workspace ``root``."""
    journal = (root / "studies" / "done" / "journal.log").read_text()
    for name, (pattern, new) in TAMPERED.items():
        edited, n = re.subn(pattern, new, journal, count=1)
        assert n == 1, name
        folder = root / "tampered" / name
        folder.mkdir(parents=True)
        (folder / "journal.log").write_text(edited)
    unknown = root / "tampered" / "unknown-operation"  # a record whose op_code this Optuna has no operation for
    unknown.mkdir()
    (unknown / "journal.log").write_text(journal + '{"op_code": 99, "worker_id": "w", "study_id": 0}\n')
    preset = (root / "presets" / "good.toml").read_text()
    (root / "presets" / "description-number.toml").write_text(preset.replace('name = "p"', 'name = "p"\ndescription = 5', 1))


def _fifo(path: Path) -> None:
    """``path`` replaced by a FIFO."""
    path.unlink(missing_ok=True)
    os.mkfifo(path)


def build_lead36(root: Path) -> None:
    """Add the lead's inputs of stop 36 to the workspace ``root``."""
    from tests import fabricate

    data = root / "data"
    fabricate.mnist(data / "fifo-mnist")
    _fifo(data / "fifo-mnist" / "t10k-images-idx3-ubyte.gz")
    for name, file in (("fifo-cifar", "test_batch"), ("fifo-cifar-meta", "batches.meta")):
        fabricate.cifar10(data / name)
        _fifo(data / name / "cifar-10-batches-py" / file)
    fabricate.svhn(data / "fifo-svhn")
    _fifo(data / "fifo-svhn" / "test_32x32.mat")
    _fifo(_variant(root, "fifo-checkpoint") / "checkpoint.safetensors")
    meta = json.loads((root / "syn" / "meta.json").read_text())
    _variant(root, "method-empty", {"method": ""})
    _variant(root, "method-path", {"method": "../datadam"})
    _variant(root, "std-other", {"dataset": {**meta["dataset"], "std": [2.5]}})
    outs = root / "outs"  # output folders holding another command's resolved options, or a user's config.toml
    for command in ("search", "correlate"):
        (outs / command).mkdir(parents=True)
        (outs / command / "config.toml").write_text(f'[{command}]\nspace = "convnet-cpu"\n')
    (outs / "user").mkdir()
    (outs / "user" / "config.toml").write_text("learning_rate = 0.1\n")
    (outs / "damaged").mkdir()  # a search's, 16 bytes of it overwritten (drill48)
    (outs / "damaged" / "config.toml").write_text('[search]\nspace = "convnet-cpu"\nstu\x00\x00\x00\x00\x00\x00\x00\x00 = 3\n')


def build_probe37(root: Path) -> None:
    """Add probe37's inputs to the workspace ``root``."""
    ladders = root / "ladders"
    scores = (ladders / "scores.csv").read_text()
    (ladders / "scores-torn.csv").write_text(scores.rstrip("\n")[:-1])  # the last row's seconds cut short, no newline
    table = (ladders / "table.csv").read_text()
    (ladders / "table-torn.csv").write_text(table.rstrip("\n")[:-1])
    spaces = root / "spaces"  # integers no network is built with: before, an internal error (torch overflowed) or hours of building
    (spaces / "width-1e20.toml").write_text('family = "convnet"\n[params]\nwidth = [16, 99999999999999999999]\n')
    (spaces / "cells-1e8.toml").write_text('family = "nb201"\ncells_per_stage = 99999999\n')
    (spaces / "depth-1e6.toml").write_text('family = "macro"\n[params]\ndepth = [1000000]\n')


def build_probe38(root: Path) -> None:
    """Add probe38's inputs to the workspace ``root``."""
    from PIL import Image

    img = root / "img"
    for name, mode, pixel in (("flat", "RGB", (0, 0, 0)), ("float", "F", 0.5)):  # one flat colour; floating-point pixels
        for k in ("cat", "dog"):
            (img / name / k).mkdir(parents=True)
            for i in range(3):
                Image.new(mode, (8, 8), pixel).save(img / name / k / f"{i}.{'tif' if mode == 'F' else 'png'}")
    from safetensors.torch import load_file

    tensors = load_file(str(root / "syn" / "synthetic.safetensors"))
    _variant(root, "extra-tensor", None, {**tensors, "extra": torch.zeros(3)})  # another tool's tensor beside the set's
    for name, value in (("name-empty", ""), ("name-newline", "a\\nb")):  # a name no one-line message can show
        (root / "spaces" / f"{name}.toml").write_text(f'family = "convnet"\nname = "{value}"\n[params]\nwidth = [16, 32]\n')
