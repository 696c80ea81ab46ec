"""The bad input files of branch probe39's cases (``tests/bad_inputs.py``, ``PROBE39``), written into
the same workspace: CIFAR and SVHN files whose pixels are not bytes (floats scaled x1e30, NaN,
fractions in [0, 1], 16-bit values), a synthetic set whose pixels were scaled x1e30, TOML files (a
--config, a space, a proxy profile, a preset, an output folder's config.toml) nested deeper than
tomllib recurses, --config files whose objectives, proxies or model are very long lists, and CSV
files of architectures whose accuracies are written with a decimal comma (a row of 3 fields under a
header of 2).
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import torch

from tests.bad_inputs_files import _variant

DEEP = "[" * 5000 + "]" * 5000  # nested arrays, valid TOML that tomllib cannot read (it recurses)

# how each file's pixels were edited: (name, function of the official uint8 array)
PIXELS = {
    "huge": lambda a: a.astype(np.float64) * 1e30,  # finite, far beyond a byte
    "nan": lambda a: np.full(a.shape, np.nan),
    "fraction": lambda a: a.astype(np.float32) / 255,  # pixels saved in [0, 1]
    "sixteen": lambda a: a.astype(np.uint16) * 257,  # 16-bit values
}


def build_probe39(root: Path) -> None:
    """Add probe39's inputs to the workspace ``root``."""
    from safetensors.torch import load_file
    from scipy.io import loadmat, savemat

    from tests import fabricate

    data = root / "data"
    for name, edit in PIXELS.items():
        fabricate.cifar10(data / f"cifar-{name}")
        for batch in (data / f"cifar-{name}" / "cifar-10-batches-py").glob("*_batch*"):
            content = pickle.loads(batch.read_bytes(), encoding="bytes")
            content[b"data"] = edit(content[b"data"])
            fabricate.write_pickle(batch, content)
        fabricate.svhn(data / f"svhn-{name}")
        for mat in (data / f"svhn-{name}").glob("*.mat"):
            content = loadmat(mat)
            savemat(mat, {"X": edit(content["X"]), "y": content["y"]})
    tensors = load_file(str(root / "syn" / "synthetic.safetensors"))
    _variant(root, "huge-pixels", None, {**tensors, "images": tensors["images"] * torch.tensor(1e30)})  # finite, hash updated
    (root / "configs" / "deep.toml").write_text(f"[distill]\nipc = {DEEP}\n")
    (root / "spaces" / "deep.toml").write_text(f'family = "convnet"\n[params]\nwidth = {DEEP}\n')
    (root / "profiles" / "deep.toml").write_text(f'format = "nasproxy-proxy-profile"\nx = {DEEP}\n')
    (root / "presets" / "deep.toml").write_text(f'name = "x"\n[search]\nspace = {DEEP}\n')
    (root / "outs" / "deep").mkdir(parents=True)
    (root / "outs" / "deep" / "config.toml").write_text(f"[correlate]\nx = {DEEP}\n")
    many = ", ".join(['"params"'] * 20000)  # a list no one-line message should quote whole
    (root / "configs" / "objectives-long.toml").write_text(f"[search]\nobjectives = [{many}]\n")
    unknown = ", ".join(f'"nope{i}"' for i in range(5000))  # names an error lists: before, all of them in its one line
    (root / "configs" / "proxies-long.toml").write_text(f"[correlate]\nproxies = [{unknown}]\n")
    keys = ",".join(f"w{i}=1" for i in range(5000))
    (root / "configs" / "model-long.toml").write_text(f'[evaluate]\nmodel = "{keys}"\n')
    truth = json.loads((root / "archs" / "truth-8.json").read_text())
    quoted = ['"' + json.dumps(r["spec"]).replace('"', '""') + '"' for r in truth]  # a JSON spec as one CSV field
    comma = "".join(f"{q},{int(r['accuracy'])},5\n" for q, r in zip(quoted, truth, strict=True))  # 60,5 for 60.5
    (root / "archs" / "decimal-comma.csv").write_text("spec,accuracy\n" + comma)
    rows = "".join(f"a{i},0,{q},{int(r['accuracy'])},5\n" for i, (q, r) in enumerate(zip(quoted, truth, strict=True)))
    (root / "archs" / "table-decimal-comma.csv").write_text("arch_id,seed,spec,test_accuracy\n" + rows)
