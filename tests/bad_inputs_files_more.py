"""The bad input files of issue 16's cases (``tests/bad_inputs.py``), written into the same workspace.

Synthetic sets whose ``meta.json`` lies (ipc, image counts, class names, shapes, statistics), whose
tensors hold what the format forbids (no images, one class, NaN pixels, bytes), and files that are
not what their name says: symbolic-link loops, FIFOs, folders where a file is expected, a PNG named
``.safetensors``, another application's SQLite database, another tool's journal, and a sparse file
of 4 GiB (in the workspace's ``sparse/``, linked in; a copy of the workspace makes it anew, sparse, so stays cheap).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from nas_proxy.spaces import arch_id
from tests.bad_inputs_files import GOOD_SPEC, PRESET, PROFILE, _variant

HUGE_BYTES = 4 << 30  # a sparse file: every reader that loads a whole file must refuse it by its size
SIX = 'family = "convnet"\n[params]\ndepth = [1, 2, 3]\nwidth = [16, 32]\nactivation = "relu"\nnormalization = "none"\npooling = "avgpooling"\n'
BOM = "\ufeff"


def huge_file(root: Path) -> Path:
    """The sparse file of ``HUGE_BYTES`` the cases' links name, inside the workspace ``root`` (before fix61c it was
    written beside it, ``ROOTNAME-huge.bin``, and left behind by every caller that cleaned up ``root`` only)."""
    huge = root / "sparse" / "huge.bin"
    huge.parent.mkdir(parents=True, exist_ok=True)
    with huge.open("wb") as f:
        f.truncate(HUGE_BYTES)
    return huge


def build_more(root: Path) -> None:
    """Add issue 16's inputs to the workspace ``root`` (built by :func:`tests.bad_inputs_files.build`)."""
    huge = huge_file(root)
    _artifacts(root, huge)
    _archs(root / "archs", huge)
    _spaces(root / "spaces", huge)
    _presets(root / "presets", huge)
    _profiles(root / "profiles", huge)
    _configs(root / "configs")
    _storages(root)
    _best(root / "best", root / "trained")
    _ladder_tables(root / "ladders")
    _strangers(root / "strange")
    from tests.bad_inputs_files_stranger import build_lead36, build_probe35, build_probe36, build_probe37, build_probe38, build_stranger

    build_stranger(root)
    build_probe35(root)
    build_probe36(root)
    build_lead36(root)
    build_probe37(root)
    build_probe38(root)
    from tests.bad_inputs_files_probe39 import build_probe39

    build_probe39(root)
    from tests.bad_inputs_files_probe40 import build_probe40

    build_probe40(root)
    from tests.bad_inputs_files_probe41 import build_probe41

    build_probe41(root)
    from tests.bad_inputs_files_fix42a import build_fix42a

    build_fix42a(root)
    from tests.bad_inputs_files_probe42 import build_probe42

    build_probe42(root)
    from tests.bad_inputs_files_probe43 import build_probe43

    build_probe43(root)
    from tests.bad_inputs_files_probe44 import build_probe44

    build_probe44(root)
    from tests.bad_inputs_files_fix45b import build_fix45b

    build_fix45b(root)
    from tests.bad_inputs_files_probe46 import build_probe46

    build_probe46(root)
    from tests.bad_inputs_files_probe48 import build_probe48

    build_probe48(root)
    from tests.bad_inputs_files_probe49 import build_probe49

    build_probe49(root)
    from tests.bad_inputs_files_probe50 import build_probe50

    build_probe50(root)
    from tests.bad_inputs_files_probe51 import build_probe51

    build_probe51(root)
    from tests.bad_inputs_files_probe52 import build_probe52

    build_probe52(root)
    from tests.bad_inputs_files_probe53 import build_probe53

    build_probe53(root)
    from tests.bad_inputs_files_probe55 import build_probe55

    build_probe55(root)
    from tests.bad_inputs_files_probe56 import build_probe56

    build_probe56(root)
    from tests.bad_inputs_files_probe57 import build_probe57

    build_probe57(root)
    from tests.bad_inputs_files_probe58 import build_probe58

    build_probe58(root)
    from tests.bad_inputs_files_probe59 import build_probe59

    build_probe59(root)
    from tests.bad_inputs_files_probe60 import build_probe60

    build_probe60(root)
    from tests.bad_inputs_files_probe62 import build_probe62

    build_probe62(root)


BIG = "1" + "0" * 5000  # an integer longer than Python's int() reads (4300 digits)


def _strangers(folder: Path) -> None:
    """Branch badinput's inputs: integers too long to read in every JSON nasproxy reads, JSON objects
    and CSV headers that name a key or column twice."""
    folder.mkdir()
    shutil.copytree(folder.parent / "syn", folder / "meta-bigint")
    meta = (folder / "meta-bigint" / "meta.json").read_text()
    (folder / "meta-bigint" / "meta.json").write_text(meta.replace('"ipc": 1,', f'"ipc": {BIG},', 1))
    (folder / "space-bigint.json").write_text(f'{{"family": "convnet", "params": {{"depth": [{BIG}]}}}}')
    (folder / "best-bigint.json").write_text(f'{{"top": [{{"spec": {{"depth": {BIG}}}}}]}}')
    (folder / "archs-bigint.json").write_text(f'[{{"spec": {json.dumps(GOOD_SPEC)}, "accuracy": {BIG}}}]')
    spec = '"' + json.dumps(GOOD_SPEC).replace('"', '""') + '"'
    (folder / "archs-spec-twice.csv").write_text(f"spec,spec\n{spec},{spec}\n")
    (folder / "truth-accuracy-twice.csv").write_text(f"arch_id,seed,spec,test_accuracy,test_accuracy\nx,0,{spec},50,60\n")
    (folder / "space-family-twice.json").write_text('{"family": "convnet", "params": {"depth": [1, 2]}, "family": "nb201"}')
    (folder / "archs-accuracy-twice.json").write_text(f'[{{"spec": {json.dumps(GOOD_SPEC)}, "accuracy": 70, "accuracy": 80}}]')
    table = (folder.parent / "ladders" / "table.csv").read_text()
    (folder / "table-accuracy-twice.csv").write_text(table.replace("val_accuracy_1ep", "test_accuracy", 1))


def _ladder_tables(folder: Path) -> None:
    """``calibrate --ladders`` inputs: a good ground-truth table of 6 architectures (seed 0 judges,
    seed 1 is the full rung), good proxy scores, and copies of each that break one rule of the file."""
    folder.mkdir()
    ids = [f"a{i}" for i in range(6)]
    header = "arch_id,seed,epochs,test_accuracy,val_accuracy,val_accuracy_1ep,seconds\n"
    rows = [f"{a},{seed},3,{80 + i},{80.5 + i},{70 + i},10\n" for seed in (0, 1) for i, a in enumerate(ids)]
    tables = {
        "table.csv": header + "".join(rows),
        "table-epochs-zero.csv": header + "".join(rows[:6]) + "".join(r.replace(",1,3,", ",1,0,") for r in rows[6:]),
        "table-early-abc.csv": header.replace("val_accuracy_1ep", "val_accuracy_abcep") + "".join(rows),
        "table-early-beyond.csv": header.replace("val_accuracy_1ep", "val_accuracy_9ep") + "".join(rows),
        "table-dup.csv": header + "".join(rows) + rows[0],
        "table-val-nan.csv": header + "".join(rows[:6]) + rows[6].replace(",80.5,", ",nan,") + "".join(rows[7:]),
        "table-test-inf.csv": header + rows[0].replace(",80,", ",inf,") + "".join(rows[1:]),
        "table-short.csv": header + "".join(rows) + "a9,1\n",
        "mine-ladders.csv": header + "".join(rows),  # a table named as --out mine.toml's candidates would be
    }
    good = "proxy,arch_id,score,seconds\n" + "".join(
        f"{p},{a},{s * i},0.5\n" for p, s in (("snip", 1), ("synflow", -1)) for i, a in enumerate(ids)
    )
    first = good.splitlines(keepends=True)[1]
    scores = {
        "scores.csv": good,
        "scores-other.csv": good.replace("snip", "naswot").replace("synflow", "params"),
        "scores-text.csv": good.replace(first, first.replace(",0,0.5", ",high,0.5")),
        "scores-inf.csv": good.replace(first, first.replace(",0,0.5", ",inf,0.5")),
        "scores-seconds-negative.csv": good.replace(first, first.replace(",0.5", ",-5")),
        "scores-seconds-nan.csv": good.replace(",0.5", ",nan"),
        "scores-seconds-empty.csv": good.replace(",0.5", ","),
        "scores-seconds-huge.csv": good.replace(",0.5", ",1e308"),
        "scores-dup.csv": good + first,
        "scores-full.csv": good.replace("synflow", "full"),
        "scores-space.csv": good.replace("synflow", "syn flow"),
        "scores-partial.csv": "".join(line for line in good.splitlines(keepends=True) if ",a5," not in line),
        "scores-elsewhere.csv": good.replace(",a", ",z").replace(",zrch_id", ",arch_id"),  # other architectures
        "scores-failed.csv": "".join(
            f"snip,{a},nan,0.5\n" if p == "snip" else line for line in good.splitlines(keepends=True) for p, a, *_ in [line.split(",")]
        ),
        "scores-short.csv": good + "snip,a0\n",
        "scores-semicolon.csv": good.replace(",", ";"),
    }
    for name, text in {**tables, **scores}.items():
        (folder / name).write_text(text)
    (folder / "scores-latin1.csv").write_bytes(good.replace("snip", "sn\xefp").encode("latin-1"))
    (folder / "scores-folder.csv").mkdir()
    split = "arch_id,role\n" + "".join(f"{a},{'calibration' if i < 5 else 'evaluation'}\n" for i, a in enumerate(ids))
    (folder / "split-dup.csv").write_text(split + "a0,evaluation\n")
    (folder / "split-no-role.csv").write_text("arch_id\n" + "".join(f"{a}\n" for a in ids))


def _best(folder: Path, trained: Path) -> None:
    """best.json files for ``nasproxy train`` (issue 21): a good one (digits, two convnets), another
    tool's, one with no architecture, one not JSON, one of an unknown family, one whose data lies;
    ``trained``: a folder holding another finished model."""
    folder.mkdir()
    dataset = {"name": "digits", "channels": 1, "image_size": [16, 16], "num_classes": 10}
    spec = {"family": "convnet", "depth": 1, "width": 8, "activation": "relu", "normalization": "none", "pooling": "avgpooling"}
    top = [{"arch_id": arch_id(spec), "spec": spec}, {"arch_id": arch_id({**spec, "width": 16}), "spec": {**spec, "width": 16}}]
    good = {"study": "s", "dataset": dataset, "synthetic": None, "best": top[0], "top": top}
    files = {
        "good.json": good,
        # edited by hand (stop 45): an arch_id not its spec's, an architecture twice, a 'best' not the first of 'top'
        "lie-archid.json": {**good, "top": [{**top[0], "arch_id": "0123456789ab"}, top[1]]},
        "twice.json": {**good, "top": [top[0], top[1], top[0]]},
        "lie-best.json": {**good, "best": top[1]},
        "optuna.json": {"best_params": {"depth": 2}, "best_value": 0.91},  # another tool's "best" file
        "empty-top.json": {**good, "best": None, "top": []},
        "unknown-family.json": {**good, "best": None, "top": [{"spec": {"family": "transformer", "layers": 2}}]},
        "lie-classes.json": {**good, "dataset": {**dataset, "num_classes": 3}},
    }
    for name, doc in files.items():
        (folder / name).write_text(json.dumps(doc))
    (folder / "broken.json").write_text('{"top": [')
    (folder / "no-best").mkdir()
    trained.mkdir()
    (trained / "spec.json").write_text(
        json.dumps({"format": "nasproxy-trained-model", "arch_id": "zzz", "protocol": {"epochs": 3}, "seed": 5, "request": {}})
    )


def _special(folder: Path, name: str, huge: Path) -> None:
    """``name`` as a symbolic-link loop, a FIFO and a link to a huge file: ``loop-NAME``, ``fifo-NAME``, ``huge-NAME``."""
    os.symlink(f"loop-{name}", folder / f"loop-{name}")
    os.mkfifo(folder / f"fifo-{name}")
    os.symlink(os.path.relpath(huge, folder), folder / f"huge-{name}")


# ---------------------------------------------------------------- synthetic sets


def _artifacts(root: Path, huge: Path) -> None:
    art = root / "art"
    t = load_file(str(root / "syn" / "synthetic.safetensors"))
    images, labels = t["images"], t["labels"]  # (10, 1, 16, 16), one image of each of 10 classes
    meta = json.loads((root / "syn" / "meta.json").read_text())
    dataset, split = meta["dataset"], meta["split"]
    _variant(root, "zero-images", {"num_images": 0}, {"images": images[:0], "labels": labels[:0]})
    _variant(root, "lie-ipc", {"ipc": 5})
    _variant(root, "lie-num-images", {"num_images": 99})
    _variant(root, "lie-class-names", {"dataset": {**dataset, "class_names": ["a", "b", "c"]}})
    _variant(root, "lie-split-seed", {"split": {**split, "seed": -1}})
    _variant(root, "one-class", tensors={"images": images, "labels": torch.zeros_like(labels)})
    nan = images.clone()
    nan[3, 0, 5, 5] = float("nan")
    _variant(root, "nan-pixels", tensors={"images": nan, "labels": labels})
    inf = images.clone()
    inf[0, 0, 0, 0] = float("inf")
    _variant(root, "inf-pixels", tensors={"images": inf, "labels": labels})
    _variant(root, "tensors-empty", {"tensors": ""})
    _variant(root, "tensors-dot", {"tensors": "."})
    _variant(root, "lie-channels", {"dataset": {**dataset, "channels": 3}})
    _variant(root, "lie-image-size", {"dataset": {**dataset, "image_size": [32, 32]}})
    _variant(root, "lie-num-classes", {"dataset": {**dataset, "num_classes": 12}})
    _variant(root, "std-zero", {"dataset": {**dataset, "std": [0.0]}})
    _variant(root, "mean-length", {"dataset": {**dataset, "mean": [0.1, 0.2, 0.3]}})
    _variant(root, "val-fraction-zero", {"split": {**split, "val_fraction": 0.0}})
    _variant(root, "val-fraction-big", {"split": {**split, "val_fraction": 1.5}})
    _variant(root, "split-seed-huge", {"split": {**split, "seed": 2**70}})
    _variant(root, "nets-elsewhere", {"config": {**meta["config"], "nets": "nowhere.toml"}})  # a space file not here
    _variant(root, "version-zero", {"format_version": 0})
    _variant(root, "ipc-zero", {"ipc": 0})
    _variant(root, "uint8-images", tensors={"images": (images * 40 + 100).clamp(0, 255).to(torch.uint8), "labels": labels})
    _variant(root, "hash-number", {"tensors_sha256": 5})
    _variant(root, "dataset-unknown", {"dataset": {**dataset, "name": "imagenet"}})
    _variant(root, "dataset-other", {"dataset": {**dataset, "name": "imagefolder:img/two-classes"}})  # digits images under another name
    _variant(root, "class-names-numbers", {"dataset": {**dataset, "class_names": list(range(10))}})
    png = _variant(root, "png-tensors")
    shutil.copy(png / "grid.png", png / "synthetic.safetensors")
    from nas_proxy.digests import file_sha256

    m = json.loads((png / "meta.json").read_text())
    (png / "meta.json").write_text(json.dumps({**m, "tensors_sha256": file_sha256(png / "synthetic.safetensors")}))
    (_variant(root, "meta-latin1") / "meta.json").write_bytes(
        json.dumps(meta).encode().replace(b'"command": null', b'"command": "caf\xe9"')
    )
    for name, make in (("fifo-meta", "fifo"), ("dir-meta", "dir"), ("huge-meta", "huge")):
        _replaced(_variant(root, name) / "meta.json", make, huge)
    for name, make in (("fifo-tensors", "fifo"), ("dir-tensors", "dir")):
        _replaced(_variant(root, name) / "synthetic.safetensors", make, huge)
    os.symlink("loop", art / "loop")
    (art / "dev-null").symlink_to("/dev/null")


def _replaced(path: Path, make: str, huge: Path) -> None:
    """``path`` replaced by a FIFO, a folder, or a link to the huge file."""
    path.unlink()
    if make == "fifo":
        os.mkfifo(path)
    elif make == "dir":
        path.mkdir()
    else:
        os.symlink(os.path.relpath(huge, path.parent), path)


# ---------------------------------------------------------------- architectures and truths


def _archs(folder: Path, huge: Path) -> None:
    from nas_proxy.correlate.archs import from_space
    from nas_proxy.spaces import get_space

    (folder / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    deep_object = '{"a": ' * 100_000 + "1" + "}" * 100_000
    (folder / "deep-object.json").write_text(deep_object)
    other = {**GOOD_SPEC, "width": 32}
    files: dict[str, Any] = {
        "acc-bool.json": [{"spec": GOOD_SPEC, "accuracy": True}],
        "dup-acc.json": [{"spec": GOOD_SPEC, "accuracy": 80.0}, {"spec": other, "accuracy": 70.0}, {"spec": GOOD_SPEC, "accuracy": 60.0}],
        "dup-text.json": ["depth=1,width=16", "depth=1,width=16"],
        "depth-float.json": [{**GOOD_SPEC, "depth": 1.0}],
        "depth-bool.json": [{**GOOD_SPEC, "depth": True}],
        "spec-empty.json": [{}],
        "spec-text-dup-key.json": ["depth=1,depth=2"],
        "spec-text-trailing.json": ["depth=1,"],
        "spec-text-underscore.json": ["width=1_6"],
        "spec-unknown-key.json": [{**GOOD_SPEC, "kernel": 3}],
        "acc-negative.json": [{"spec": GOOD_SPEC, "accuracy": -5}],
        "best-nb201.json": {
            "study": "x",
            "top": [{"spec": {"family": "nb201", "arch_str": "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"}}],
        },
        "family-nb201.json": [{"family": "nb201", "arch_str": "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"}],
    }
    for name, content in files.items():
        (folder / name).write_text(json.dumps(content))
    (folder / "acc-nan.json").write_text(f'[{{"spec": {json.dumps(GOOD_SPEC)}, "accuracy": NaN}}]')
    archs = from_space(get_space("convnet-cpu"), 8, 0)
    (folder / "truth-constant.json").write_text(json.dumps([{"spec": a.spec, "accuracy": 70.0} for a in archs]))
    dup = [{"spec": a.spec, "accuracy": 60.0 + i} for i, a in enumerate(archs)] + [{"spec": archs[0].spec, "accuracy": 99.0}]
    (folder / "truth-dup.json").write_text(json.dumps(dup))
    table = io.StringIO()  # architectures with their accuracy, as a spreadsheet saves a CSV: a BOM before "spec"
    csv.writer(table).writerows([["spec", "accuracy"], *([json.dumps(a.spec), 60 + i] for i, a in enumerate(archs[:2]))])
    (folder / "truth-bom-2.csv").write_text(BOM + table.getvalue(), encoding="utf-8")
    (folder / "truth-bom-2.json").write_text(BOM + json.dumps([{"spec": a.spec, "accuracy": 60.0 + i} for i, a in enumerate(archs[:2])]))
    (folder / "latin1.csv").write_bytes(b'spec,accuracy\n"depth=1",caf\xe9\n')
    _special(folder, "archs.json", huge)


# ---------------------------------------------------------------- spaces, presets, profiles, configs


def _spaces(folder: Path, huge: Path) -> None:
    texts = {
        "six.toml": SIX,
        "empty-choices.toml": SIX.replace("depth = [1, 2, 3]", "depth = []"),
        "dup-choices.toml": SIX.replace("depth = [1, 2, 3]", "depth = [1, 1]"),
        "float-choices.toml": SIX.replace("depth = [1, 2, 3]", "depth = [1.0, 2.0]"),
        "bool-choices.toml": SIX.replace("depth = [1, 2, 3]", "depth = [true, 2]"),
        "zero-width.toml": SIX.replace("width = [16, 32]", "width = [0, 16]"),
        "huge-width.toml": SIX.replace("width = [16, 32]", "width = [1000000000]"),
        "huge-depth.toml": SIX.replace("depth = [1, 2, 3]", "depth = [1000000]"),
        "mixed.toml": SIX.replace("depth = [1, 2, 3]", 'depth = [1, "2"]'),
        "bom.toml": BOM + SIX.replace("depth = [1, 2, 3]", "depth = [0]"),
        "pools-too-often.toml": SIX.replace("depth = [1, 2, 3]", "depth = [6]"),  # 6 poolings: 16x16 images run out
        "one-arch.toml": SIX.replace("depth = [1, 2, 3]", "depth = [1]").replace("width = [16, 32]", "width = [16]"),
    }
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "latin1.toml").write_bytes(SIX.replace('"avgpooling"', '"avgpooling" # caf\xe9').encode("latin-1"))
    _special(folder, "space.toml", huge)


PRESET_VARIANTS: dict[str, tuple[str, str]] = {  # file stem -> (text to replace, replacement) in PRESET
    "runs-empty": ('name = "p"', 'name = "p"\nruns = ""'),
    "search-array": ("[search]", "[[search]]"),
    "name-empty": ('name = "p"', 'name = ""'),
    "name-newline": ('name = "p"', 'name = "a\\nb"'),
    "distill-subtable": ("batch_real = 4", "batch_real = 4\n[distill.extra]\nx = 1"),
    "proxy-subtable": ("[search.proxy]\nepochs = 1", "[search.proxy]\nepochs = 1\n[search.proxy.extra]\nx = 1"),
    "objectives-empty": ("n_trials = 1", "n_trials = 1\nobjectives = []"),
    "objectives-dup": ("n_trials = 1", 'n_trials = 1\nobjectives = ["accuracy", "params", "params"]\npruner = "none"'),
    "proxies-empty": ("n_boot = 100", "n_boot = 100\nproxies = []"),
    "proxies-dup": ("n_boot = 100", 'n_boot = 100\nproxies = ["synflow", "synflow"]'),
    "early-empty": ("images = 20", "images = 20\nearly = []"),
    "early-dup": ("images = 20", "images = 20\nearly = [0.5, 0.5]"),
    "n-trials-huge": ("n_trials = 1", "n_trials = 9223372036854775807"),
    "device-empty": ('name = "p"', 'name = "p"\ndevice = ""'),
    "lr-subnormal": ("epochs = 1", "epochs = 1\nlr = 1e-320"),
    "max-params-one": ("n_trials = 1", "n_trials = 1\nmax_params = 1"),
    "val-fraction-tiny": ("ipc = 1", "ipc = 1\nval_fraction = 1e-9"),
    "attention-huge": ("ipc = 1", "ipc = 1\nattention_power = 1e308"),
    "data-root-digits": ("ipc = 1", 'ipc = 1\ndata_root = "/nonexistent"'),
}


def _presets(folder: Path, huge: Path) -> None:
    for stem, (old, new) in PRESET_VARIANTS.items():
        assert old in PRESET, stem
        (folder / f"{stem}.toml").write_text(PRESET.replace(old, new, 1))
    (folder / "bom-ipc-zero.toml").write_text(BOM + PRESET.replace("ipc = 1", "ipc = 0"), encoding="utf-8")
    (folder / "latin1.toml").write_bytes(PRESET.replace('name = "p"', 'name = "p" # caf\xe9').encode("latin-1"))
    (folder / "profile.toml").write_text(PROFILE)
    _special(folder, "preset.toml", huge)


def _profiles(folder: Path, huge: Path) -> None:
    texts = {
        "lr-huge": PROFILE + "lr = 1e308\n",
        "lr-subnormal": PROFILE + "lr = 1e-320\n",
        "folds-negative": PROFILE + "[calibration]\nfolds = -5\n",
        "trials-zero": PROFILE + "[calibration]\ntrials = 0\n",
        "interval-reversed": PROFILE + "[calibration]\nheldout_interval = [0.9, 0.1]\n",
        "version-text": PROFILE.replace("format_version = 1", 'format_version = "1"'),
        "version-zero": PROFILE.replace("format_version = 1", "format_version = 0"),
        "epochs-float": PROFILE.replace("epochs = 1", "epochs = 1.0"),
        "unknown-table": PROFILE + "[extra]\nx = 1\n",
        "seeds-huge": PROFILE + "seeds = 9223372036854775807\n",
    }
    for stem, text in texts.items():
        (folder / f"{stem}.toml").write_text(text)
    (folder / "bom-zero.toml").write_text(BOM + PROFILE.replace("epochs = 1", "epochs = 0"), encoding="utf-8")
    (folder / "latin1.toml").write_bytes((PROFILE + "# caf\xe9\n").encode("latin-1"))
    _special(folder, "profile.toml", huge)


def _configs(folder: Path) -> None:
    texts = {
        "search-array.toml": "[[search]]\nseed = 1\n",
        "distill-late.toml": '[distill]\ndataset = "digits"\nipc = 1\nnet_depth = 40\n',  # refused only once the data is read
        "distill-attention.toml": "[distill]\nattention_power = 1e308\n",
        "dashboard-host-empty.toml": '[dashboard]\nhost = ""\n',
        "correlate-proxies-empty.toml": "[correlate]\nproxies = []\n",
        "correlate-early-text.toml": '[correlate.ground_truth]\nearly = "0.5"\n',
        "top-device-empty.toml": 'device = ""\n',
    }
    for name, text in texts.items():
        (folder / name).write_text(text)


# ---------------------------------------------------------------- storages


def _storages(root: Path) -> None:
    with sqlite3.connect(root / "other.db") as db:  # another application's database
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        db.execute("INSERT INTO users (name) VALUES ('ada')")
    (root / "other-tool.log").write_text('{"event": "start", "time": 1}\n{"event": "stop", "time": 2}\n')
    os.mkfifo(root / "fifo.log")
    os.symlink("loop.log", root / "loop.log")
