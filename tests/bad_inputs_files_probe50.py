"""The bad input files of branch probe50's cases (``tests/bad_inputs.py``, ``PROBE50``), written into the same
workspace: artifacts passed between commands as a stranger mixes them up; here a synthetic set that holds the images
of some of its dataset's classes only (a set cut down by hand, or one shard of a sharded distillation,
OUT/shards/0-of-2, taken for the whole set); a search's folder whose journal.log or trials.csv is given where its
best.json is asked for."""

from __future__ import annotations

import shutil
from pathlib import Path

from safetensors.torch import load_file

from tests.bad_inputs_files import _variant


def build_probe50(root: Path) -> None:
    """Add probe50's inputs to the workspace ``root``."""
    tensors = load_file(str(root / "syn" / "synthetic.safetensors"))
    half = tensors["labels"] < 5  # classes 0-4 of digits' 10, one image each (ipc 1): meta.json unchanged but its count
    _variant(root, "some-classes", {"num_images": int(half.sum())}, {"images": tensors["images"][half], "labels": tensors["labels"][half]})
    shard = {"rank": 0, "world_size": 2, "scheme": "contiguous", "batchnorm_all_reduced": True}  # what a rank's meta.json records
    _variant(
        root,
        "shard",
        {"num_images": int(half.sum()), "shard": shard},
        {"images": tensors["images"][half], "labels": tensors["labels"][half]},
    )
    folder = root / "found"  # a search's --out: its pick, and beside it the study's journal and its trials table
    folder.mkdir()
    shutil.copy(root / "best" / "good.json", folder / "best.json")
    shutil.copy(root / "studies" / "done" / "journal.log", folder / "journal.log")
    (folder / "trials.csv").write_text("number,value_val_accuracy,params_depth,params_width,user_attrs_arch_id\n0,15.8,2,32,9c8bed6210e9\n")
