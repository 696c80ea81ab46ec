"""The bad input files of branch probe44's cases (``tests/bad_inputs.py``, ``PROBE44``), written into the same
workspace: config tables whose strings are empty or blank (a flag's empty value is refused; a file's meant the
default without a word), a ground truth saved as UTF-16, gzip-compressed or as a zip workbook, a config saved as
UTF-16, a TOML date where an integer is asked, and two synthetic sets whose tensors lie with a matching SHA-256."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import struct
import zipfile
from pathlib import Path


def build_probe44(root: Path) -> None:
    """Add probe44's inputs to the workspace ``root``."""
    configs = root / "configs"
    for name, text in {
        "evaluate-model-empty.toml": '[evaluate]\nmodel = ""\n',
        "data-root-empty.toml": '[distill]\ndataset = "fashion-mnist"\ndata_root = ""\n',
        "select-by-empty.toml": '[distill]\nselect_by = ""\n',
        "gt-storage-empty.toml": '[correlate]\ngt_storage = ""\n',
        "correlate-dataset-blank.toml": '[correlate]\ndataset = " "\n',
        "worker-synthetic-empty.toml": '[worker]\nsynthetic = ""\n',
        "seed-date.toml": "[distill]\nseed = 1979-05-27\n",
        "top-device-number.toml": "device = 5\n",
        "data-root-nul.toml": '[distill]\ndataset = "fashion-mnist"\ndata_root = "a\\u0000b"\n',  # review44
    }.items():
        (configs / name).write_text(text)
    # probe44b: a folder whose spec.json is not a trained model's, a search's best.json named so (train --out there)
    (root / "own-spec").mkdir()
    (root / "own-spec" / "spec.json").write_text((root / "best" / "good.json").read_text())
    (configs / "utf16.toml").write_bytes("[distill]\nipc = 1\n".encode("utf-16"))
    truth = (root / "archs/truth-bom-2.csv").read_text(encoding="utf-8-sig")
    (root / "archs/truth-utf16.csv").write_bytes(truth.encode("utf-16"))
    (root / "archs/truth-gz.csv").write_bytes(gzip.compress(truth.encode(), mtime=0))
    with zipfile.ZipFile(root / "archs/truth-xlsx.csv", "w") as workbook:  # an Excel workbook named .csv
        workbook.writestr("xl/worksheets/sheet1.xml", "<worksheet/>")
    _lying_sets(root / "syn", root / "art")


def _lying_sets(syn: Path, art: Path) -> None:
    """Copies of ``syn`` whose synthetic.safetensors lies, meta.json's SHA-256 made to match it: images stored as
    float16, and a header length of 2**63 (safetensors' "header too large")."""
    import torch
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(syn / "synthetic.safetensors"))
    raw = (syn / "synthetic.safetensors").read_bytes()
    for name in ("f16-images", "header-length-huge"):
        folder = art / name
        shutil.copytree(syn, folder)
        if name == "f16-images":
            save_file({**tensors, "images": tensors["images"].to(torch.float16)}, str(folder / "synthetic.safetensors"))
        else:
            (folder / "synthetic.safetensors").write_bytes(struct.pack("<Q", 2**63) + raw[8:])
        meta = json.loads((folder / "meta.json").read_text())
        meta["tensors_sha256"] = hashlib.sha256((folder / "synthetic.safetensors").read_bytes()).hexdigest()
        (folder / "meta.json").write_text(json.dumps(meta, indent=2))
