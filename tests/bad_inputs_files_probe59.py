"""The bad input files of branch probe59's cases (``tests/bad_inputs.py``, ``PROBE59``), written into the same workspace:
ground-truth tables whose spec cells lie (a key given twice, numbers beyond float or int64, NaN, nesting past the CSV
reader's field limit), TOML files that declare a table twice (by a dotted key and a header), a --config and a search
space of one 10 MB line (refused on their size since stop 60: over ``checks.SETTINGS_BYTES_MAX``), lines just under that
limit (a value, a key, a list of choices: shown cut in the refusal), and choices that overflow int64."""

from __future__ import annotations

import json
from pathlib import Path

SPACE = (
    'family = "convnet"\n[params]\ndepth = [1, 2]\nwidth = [16, 32]\nactivation = "relu"\nnormalization = "none"\npooling = "avgpooling"\n'
)
BIG = 10_000_000  # characters of one line: a value, a list of choices
LONG = 900_000  # characters of one line under the settings files' 1 MiB: a value, a key (tomllib: 0.1 CPU-s each)


def _table(specs: list[str]) -> str:
    """A ground-truth table (arch_id, seed, spec, test_accuracy) of the spec cells ``specs``, as written."""
    rows = ["arch_id,seed,spec,test_accuracy"]
    rows += [f'a{i},0,"{cell.replace(chr(34), chr(34) * 2)}",{60 + i}' for i, cell in enumerate(specs)]
    return "\n".join(rows) + "\n"


def build_probe59(root: Path) -> None:
    """Add probe59's inputs to the workspace ``root``."""
    folder = root / "p59"
    folder.mkdir()
    specs = [json.dumps(a["spec"]) for a in json.loads((root / "archs" / "truth-8.json").read_text())]
    first, rest = specs[0], specs[1:]
    assert '"depth": 2' in first, first
    tables = {
        "truth-dup-key.csv": [first[:-1] + ', "depth": 3}', *rest],  # json.loads kept the last: depth 3
        "truth-1e400.csv": [first.replace('"depth": 2', '"depth": 1e400'), *rest],
        "truth-huge-int.csv": [first.replace('"depth": 2', '"depth": ' + "9" * 30), *rest],
        "truth-nan-spec.csv": [first.replace('"depth": 2', '"depth": NaN'), *rest],
        "truth-deep-spec.csv": ["[" * 100_000 + "]" * 100_000, *rest],
    }
    for name, cells in tables.items():
        (folder / name).write_text(_table(cells))
    preset = (root / "presets" / "good.toml").read_text()
    assert "[search.proxy]\nepochs = 1" in preset, preset
    files = {
        "dotted-twice.toml": "distill.ipc = 1\n[distill]\niterations = 1\n",
        "preset-dotted-twice.toml": preset.replace("[search.proxy]\nepochs = 1", "[search.proxy]\nepochs = 1\n[search]\nproxy.epochs = 2"),
        "config-10mb-value.toml": '[distill]\nmethod = "' + "a" * BIG + '"\n',
        "config-long-value.toml": '[distill]\nmethod = "' + "a" * LONG + '"\n',
        "config-long-key.toml": "[distill]\n" + "a" * LONG + " = 1\n",
        "space-dup-table.toml": SPACE + "[params]\ndepth = [3]\n",
        "space-dotted-after.toml": SPACE + "params.depth = [3]\n",  # inside [params]: a parameter named 'params'
        "width-2p63.toml": SPACE.replace("[16, 32]", "[16, 9223372036854775808]"),
        "width-10mb.toml": SPACE.replace("[16, 32]", "[" + "16, " * (BIG // 4) + "32]"),
        "width-long.toml": SPACE.replace("[16, 32]", "[" + "16, " * 25_000 + "32]"),  # 100 KB
    }
    for name, text in files.items():
        (folder / name).write_text(text)
    spec = json.loads(specs[2])
    (folder / "archs-width-huge.json").write_text(json.dumps([{**spec, "width": 10**30}]))
