"""benchmarks/fidelity.py on a small hand-made table: its numbers are scipy's and the package's."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from scipy import stats

from nas_proxy.spaces import arch_id, build_model
from nas_proxy.trainers.synthetic_set import count_params

ROOT = Path(__file__).resolve().parents[2]

# 12 architectures: truth (seed 0), a 2nd seed (missing on the last one), two proxies
TRUTH = [91.0, 88.5, 90.2, 70.1, 85.0, 10.0, 89.9, 80.3, 86.7, 60.2, 84.1, 87.6]
SEED1 = [90.5, 88.9, 89.8, 72.0, 84.2, 10.0, 90.1, 79.0, 86.0, 58.8, 85.0, None]
GOOD = [0.90, 0.80, 0.95, 0.30, 0.70, 0.05, 0.85, 0.50, 0.75, 0.20, 0.60, 0.72]
POOR = [0.20, 0.90, 0.10, 0.50, 0.30, 0.60, 0.40, 0.70, 0.80, 0.05, 0.55, 0.35]
SPECS = [
    {"family": "convnet", "depth": d, "width": w, "activation": a, "normalization": "batchnorm", "pooling": "maxpooling"}
    for d, w, a in [(1 + i % 3, (32, 64)[i % 2], ("relu", "sigmoid", "leakyrelu")[i % 3]) for i in range(12)]
]
SPECS = [{**s, "normalization": ("none", "batchnorm", "instancenorm", "groupnorm")[i // 3]} for i, s in enumerate(SPECS)]


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("benchmarks_fidelity", ROOT / "benchmarks" / "fidelity.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _write(path: Path, fields: list[str], rows: list[dict[str, object]]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    ids = [arch_id(s) for s in SPECS]
    assert len(set(ids)) == 12
    rows = [
        {"arch_id": i, "seed": 0, "test_accuracy": t, "seconds": 10.0, "spec": json.dumps(s)}
        for i, t, s in zip(ids, TRUTH, SPECS, strict=True)
    ]
    rows += [
        {"arch_id": i, "seed": 1, "test_accuracy": t, "seconds": 12.0, "spec": json.dumps(s)}
        for i, t, s in zip(ids, SEED1, SPECS, strict=True)
        if t is not None
    ]
    fields = ["arch_id", "seed", "test_accuracy", "seconds", "spec"]
    out = {"table": _write(tmp_path / "table.csv", fields, rows)}
    for name, xs, secs in (("good", GOOD, 0.5), ("poor", POOR, 0.1)):
        out[name] = _write(
            tmp_path / f"{name}.csv",
            ["arch_id", "score", "seconds"],
            [{"arch_id": i, "score": x, "seconds": secs} for i, x in zip(ids, xs, strict=True)],
        )
    return out


def test_metrics_match_scipy_and_hand_counts(files: dict[str, Path], tmp_path: Path) -> None:
    fid = _module()
    out = tmp_path / "fid"
    code = fid.main(
        [
            "--table",
            str(files["table"]),
            "--proxy",
            f"scores:{files['good']}",
            "--proxy",
            f"bad=scores:{files['poor']}",
            "--out",
            str(out),
            "--bootstrap",
            "200",
        ]
    )
    assert code == 0
    result = json.loads((out / "fidelity.json").read_text())
    rows = result["proxies"]
    assert list(rows) == ["good", "bad", "ground truth, 2nd seed"]
    y = np.array(TRUTH)
    for name, xs in (("good", GOOD), ("bad", POOR)):
        r = rows[name]
        assert r["spearman"] == pytest.approx(stats.spearmanr(xs, y).statistic)
        assert r["kendall"] == pytest.approx(stats.kendalltau(xs, y).statistic)
        assert r["weighted_tau"] == pytest.approx(stats.weightedtau(xs, y).statistic)
        top = np.argsort(-y)[:3]  # ceil(0.2 * 12) = 3 best by truth
        assert r["top_n"] == 3
        assert r["top_spearman"] == pytest.approx(stats.spearmanr(np.array(xs)[top], y[top]).statistic)
        assert r["top_kendall"] == pytest.approx(stats.kendalltau(np.array(xs)[top], y[top]).statistic)
        assert r["spearman_ci"][0] <= r["spearman"] <= r["spearman_ci"][1]
    # by hand: truth best = 0 (91.0), top 3 = {0, 2, 6}; GOOD's best = 2, top 3 = {2, 0, 6}; POOR's best = 1, top 3 = {1, 8, 7}
    assert rows["good"]["precision@1"] == 0.0 and rows["good"]["precision@3"] == 1.0
    assert rows["good"]["regret"] == pytest.approx(91.0 - 90.2)
    assert rows["bad"]["precision@3"] == 0.0 and rows["bad"]["regret"] == pytest.approx(91.0 - 88.5)
    assert rows["good"]["seconds_per_arch"] == 0.5 and rows["good"]["speedup"] == pytest.approx(10.0 / 0.5)
    ceiling = rows["ground truth, 2nd seed"]  # seed 1 vs seed 0 on the 11 architectures with both
    assert ceiling["n_scored"] == 11
    assert ceiling["spearman"] == pytest.approx(stats.spearmanr(SEED1[:11], TRUTH[:11]).statistic)
    pairs = {(d["a"], d["b"], d["metric"]): d for d in result["paired"]}
    assert len(pairs) == 3 * 4  # every two rows, four metrics
    d = pairs[("good", "bad", "kendall")]
    assert d["diff"] == pytest.approx(rows["good"]["kendall"] - rows["bad"]["kendall"]) and d["n"] == 12
    assert d["ci"][0] > 0 and d["p_better"] > 0.9  # a clear difference is resolved
    assert pairs[("good", "ground truth, 2nd seed", "spearman")]["n"] == 11  # paired on the architectures both have
    text = (out / "fidelity.md").read_text()
    assert "| good | 12 |" in text and "| good | bad | kendall | 12 |" in text


def test_zero_cost_scores_the_tables_architectures(files: dict[str, Path], tmp_path: Path) -> None:
    fid = _module()
    out = tmp_path / "fid"
    assert (
        fid.main(
            [
                "--table",
                str(files["table"]),
                "--proxy",
                "zero-cost:params",
                "--dataset",
                "digits",
                "--device",
                "cpu",
                "--out",
                str(out),
                "--bootstrap",
                "100",
            ]
        )
        == 0
    )
    result = json.loads((out / "fidelity.json").read_text())
    params = [count_params(build_model(s, 1, 10, (16, 16))) for s in SPECS]  # digits: 1 channel, 16x16
    assert result["proxies"]["params"]["spearman"] == pytest.approx(stats.spearmanr(params, TRUTH).statistic)


def test_bad_proxy_is_one_line_and_writes_nothing(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fid = _module()
    out = tmp_path / "fid"
    assert fid.main(["--table", str(files["table"]), "--proxy", "nonsense", "--out", str(out)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "KIND:VALUE" in err[0]
    assert not out.exists()


def test_promotion_picks_by_the_tables_validation_accuracy_never_its_test(files: dict[str, Path], tmp_path: Path) -> None:
    # GOOD's top 5: architectures 2, 0, 6, 1, 8; validation prefers 8 (test 86.7), test would prefer 0 (91.0)
    val = [90.0, 80.0, 89.0, 70.0, 85.0, 10.0, 88.0, 80.0, 99.0, 60.0, 84.0, 87.0]
    with files["table"].open() as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["val_accuracy"] = val[[arch_id(s) for s in SPECS].index(row["arch_id"])] if row["seed"] == "0" else ""
    table = _write(tmp_path / "with-val.csv", [*rows[0].keys()], rows)
    fid = _module()
    out = tmp_path / "fid"
    assert fid.main(["--table", str(table), "--proxy", f"scores:{files['good']}", "--out", str(out), "--bootstrap", "100"]) == 0
    good = json.loads((out / "fidelity.json").read_text())["proxies"]["good"]
    assert good["regret"] == pytest.approx(91.0 - 90.2) and good["promote_k"] == 5
    assert good["promote_regret"] == pytest.approx(91.0 - 86.7)  # by test it would be 0
    assert good["cost_promoted_seconds"] == pytest.approx(12 * 0.5 + 5 * 10.0) and good["cost_full_seconds"] == pytest.approx(120.0)
    assert good["promote_saving"] == pytest.approx(120.0 / 56.0)
    assert fid.main(["--table", str(table), "--proxy", f"scores:{files['good']}", "--out", str(out), "--promote", "2"]) == 0
    good = json.loads((out / "fidelity.json").read_text())["proxies"]["good"]
    assert good["promote_regret"] == 0.0  # top 2: 2 (val 89) and 0 (val 90, the best test): promotion mends the pick


def test_a_set_selected_on_some_of_the_tables_architectures_is_refused(
    files: dict[str, Path], tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fid = _module()
    selected = tmp_path / "selected"
    shutil.copytree(tiny_run, selected)
    meta = json.loads((selected / "meta.json").read_text())
    meta["selection"] = {"calibration": [arch_id(SPECS[4]), "0123456789ab"]}  # what distill --select-by records
    (selected / "meta.json").write_text(json.dumps(meta))
    out = tmp_path / "fid"
    assert fid.main(["--table", str(files["table"]), "--proxy", f"synthetic:{selected}", "--out", str(out), "--device", "cpu"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"ranking of 1 of the table's architectures ({arch_id(SPECS[4])})" in err[-1]
    assert not out.exists()


def test_two_sets_of_one_name_need_labels(
    files: dict[str, Path], tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two synthetic sets of one name (two runs of one distillation) without labels: before stop 46 the second's row replaced
    the first's, exit 0. Now one line, nothing written; their scores stay cached (labelled, the rerun trains nothing)."""
    other = tmp_path / "other"
    shutil.copytree(tiny_run, other)
    with files["table"].open() as f:
        rows = [r for r in csv.DictReader(f) if r["arch_id"] in {arch_id(SPECS[0]), arch_id(SPECS[1])}]  # 2 architectures
    table = _write(tmp_path / "two.csv", [*rows[0].keys()], rows)
    out = tmp_path / "fid"
    args = ["--table", str(table), "--epochs", "1", "--device", "cpu", "--space", "convnet-cpu", "--bootstrap", "100", "--out", str(out)]
    assert _module().main([*args, "--proxy", f"synthetic:{tiny_run}", "--proxy", f"synthetic:{other}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "(its set's name), as another row is: give it a label" in err[-1], err
    assert not (out / "fidelity.json").exists()


def test_hard_labels_with_no_set_of_soft_labels_is_refused(
    files: dict[str, Path], tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--hard-labels with sets that hold no soft labels: before stop 46 ignored (trained as without it), exit 0."""
    out = tmp_path / "fid"
    args = ["--table", str(files["table"]), "--proxy", f"synthetic:{tiny_run}", "--hard-labels", "--epochs", "1", "--device", "cpu"]
    args += ["--bootstrap", "100", "--out", str(out)]
    assert _module().main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--hard-labels changes nothing with" in err[0] and "no set given holds soft labels" in err[0], err
    assert not out.exists()


def test_a_table_architecture_outside_the_space_is_refused_before_training(
    files: dict[str, Path], tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A synthetic proxy on a table with architectures --space does not have (group norm, which convnet-cpu lacks):
    before stop 46 each was trained all the same, as an architecture of no space of the run. Now one line, nothing
    trained or written."""
    out = tmp_path / "fid"
    args = ["--table", str(files["table"]), "--proxy", f"synthetic:{tiny_run}", "--space", "convnet-cpu", "--epochs", "1"]
    assert _module().main([*args, "--device", "cpu", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--table architecture {arch_id(SPECS[9])} is not one of --space convnet-cpu" in err[0], err
    assert "normalization='groupnorm'" in err[0] and not out.exists()


def test_early_stopping_is_read_from_the_tables_column_of_the_seed_asked(files: dict[str, Path], tmp_path: Path) -> None:
    # early:1ep@1 is seed 1's val_accuracy_1ep (an independent training); plain early:1ep the ground truth's own
    with files["table"].open() as f:
        rows = list(csv.DictReader(f))
    for n, row in enumerate(rows):
        row["epochs"], row["val_accuracy_1ep"] = 3, (n * 7) % 12 + (0.5 if row["seed"] == "1" else 0.0)
    table = _write(tmp_path / "with-early.csv", [*rows[0].keys()], rows)
    fid = _module()
    out = tmp_path / "fid"
    args = ["--table", str(table), "--proxy", "early:1ep", "--proxy", "e1=early:1ep@1", "--out", str(out), "--bootstrap", "100"]
    assert fid.main(args) == 0
    result = json.loads((out / "fidelity.json").read_text())["proxies"]
    ids = [arch_id(s) for s in SPECS]
    by_seed = {(r["seed"], r["arch_id"]): float(r["val_accuracy_1ep"]) for r in rows}
    own = [by_seed[("0", a)] for a in ids]
    other = [by_seed[("1", a)] for a in ids[:11]]  # the last architecture has no seed 1: NaN, left out
    assert result["early@1ep"]["spearman"] == pytest.approx(stats.spearmanr(own, TRUTH).statistic)
    assert result["e1"]["n_scored"] == 11
    assert result["e1"]["spearman"] == pytest.approx(stats.spearmanr(other, TRUTH[:11]).statistic)
    assert result["e1"]["seconds_per_arch"] == pytest.approx(12.0 / 3)  # 1 of seed 1's 3 epochs of 12 s
    for bad in ("early:1ep@7", "early:fast", "early:2ep"):  # no seed 7; not Xep; no such column
        assert fid.main(["--table", str(table), "--proxy", bad, "--out", str(tmp_path / "no")]) == 2
    assert not (tmp_path / "no").exists()


def test_the_default_promotion_on_as_few_architectures_is_left_out_and_said(files: dict[str, Path], tmp_path: Path) -> None:
    """--promote not typed, on a share of 4 architectures (its default K is 5): before stop 46 'proxy + promote 5'
    trained all 4, a regret of 0 and a compute above training them all; now no promotion, and the Markdown says why."""
    named = _bad_files(files, tmp_path)
    out = tmp_path / "out"
    args = ["--table", str(files["table"]), "--proxy", f"scores:{files['good']}", "--role", "evaluation", "--split", named["split"]]
    assert _module().main([*args, "--bootstrap", "100", "--out", str(out)]) == 0
    result = json.loads((out / "fidelity.json").read_text())
    assert result["n_archs"] == 4 and result["promote_k"] is None
    assert "promote_regret" not in result["proxies"]["good"]
    assert "Promotion: none (its default top 5 is not fewer than the 4 architectures" in (out / "fidelity.md").read_text()


@pytest.mark.parametrize(
    ("cell", "needle"),
    [
        ("high", "line 2: val_accuracy_1ep 'high' is not a finite number"),  # before stop 46: ValueError traceback
        ("inf", "line 2: val_accuracy_1ep 'inf' is not a finite number"),  # before: ranked first, exit 0
        ("1e-320", "line 2: val_accuracy_1ep '1e-320' is subnormal (give 0, or a number of at least 2.2e-308"),  # probe49: "not a
        # finite number", which it is
        ("", "has no score (every one empty or nan: the proxy failed) for any of the 12"),  # before: a row of n = 0, exit 0
        ("epochs0", "line 2: epochs '0' is not a count of epochs above 0"),  # before: ZeroDivisionError traceback
    ],
)
def test_an_early_column_that_is_no_accuracy_is_one_line(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], cell: str, needle: str
) -> None:
    """``early:Xep`` reads the table's val_accuracy_Xep column: a cell that is not a finite number, or a column empty on
    every architecture, is one line, exit 2, nothing written."""
    with files["table"].open() as f:
        rows = list(csv.DictReader(f))
    for n, row in enumerate(rows):
        row["epochs"], row["val_accuracy_1ep"] = 3, float(n)
        if cell == "epochs0":
            row["epochs"] = 0 if n == 0 else 3
        elif cell == "" or n == 0:
            row["val_accuracy_1ep"] = cell
    table = _write(tmp_path / "with-early.csv", [*rows[0].keys()], rows)
    out = tmp_path / "out"
    assert _module().main(["--table", str(table), "--proxy", "early:1ep", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err
    assert not out.exists()


def test_a_distillation_ablations_scores_file_is_read_by_its_variant_column(files: dict[str, Path], tmp_path: Path) -> None:
    # distill_ablation.py's scores.csv holds every variant, one row per variant and architecture
    ids = [arch_id(s) for s in SPECS]
    rows = [
        {"variant": v, "arch_id": i, "score": x, "seconds": 0.2}
        for v, xs in (("good", GOOD), ("poor", POOR))
        for i, x in zip(ids, xs, strict=True)
    ]
    both = _write(tmp_path / "scores.csv", ["variant", "arch_id", "score", "seconds"], rows)
    fid = _module()
    out = tmp_path / "fid"
    assert fid.main(["--table", str(files["table"]), "--proxy", f"poor=scores:{both}", "--out", str(out), "--bootstrap", "100"]) == 0
    result = json.loads((out / "fidelity.json").read_text())["proxies"]["poor"]
    assert result["spearman"] == pytest.approx(stats.spearmanr(POOR, TRUTH).statistic)
    assert fid.main(["--table", str(files["table"]), "--proxy", f"scores:{both}", "--out", str(tmp_path / "no")]) == 2  # which one?
    assert not (tmp_path / "no").exists()


def test_a_torn_scores_file_is_refused_not_read_short(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A scores file whose write stopped mid-number (no newline at its end): before (branch probe37),
    its last score read as a shorter number; now refused in one line."""
    torn = tmp_path / "torn.csv"
    torn.write_text(files["good"].read_text().rstrip("\n")[:-1])
    fid = _module()
    assert fid.main(["--table", str(files["table"]), "--proxy", f"scores:{torn}", "--out", str(tmp_path / "no")]) == 2
    assert "does not end in a newline" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()


def test_a_score_cache_is_one_per_device_type(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """drill41: the key had no device, so scores made on CUDA were reused on the CPU and the reverse; a
    cache named before (the committed GPU states') is still read, wherever it runs."""
    import hashlib

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import fidelity_proxies as fid

    caches = [fid.score_cache(tmp_path, "ab12", {"epochs": 2}, 0, d) for d in ("cpu", "cuda:0", "cpu")]
    assert caches[0].path == caches[2].path != caches[1].path and caches[0].path.parent == tmp_path / "cache"
    caches[1].add({"arch_id": "a", "score": 1.0, "seconds": 2.0})
    assert "a" not in fid.score_cache(tmp_path, "ab12", {"epochs": 2}, 0, "cpu").rows  # made on CUDA: not taken on the CPU
    old = hashlib.sha256(json.dumps(["ab12", {"epochs": 2}, 0], sort_keys=True).encode()).hexdigest()[:12]
    (tmp_path / "cache" / f"proxy-{old}.jsonl").write_text(json.dumps({"arch_id": "b", "score": 3.0, "seconds": 1.0}) + "\n")
    assert all("b" in fid.score_cache(tmp_path, "ab12", {"epochs": 2}, 0, d).rows for d in ("cpu", "cuda"))


def test_kseed_caches_are_one_per_device_type(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """drill41 left benchmarks/kseed.py's caches without the device: a trial's seconds from CUDA were reused on the CPU."""
    from types import SimpleNamespace

    import torch

    monkeypatch.setattr(sys, "path", list(sys.path))  # the script puts benchmarks/ on it: not for the tests after this one
    spec = importlib.util.spec_from_file_location("benchmarks_kseed", ROOT / "benchmarks" / "kseed.py")
    assert spec is not None and spec.loader is not None
    kseed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kseed)
    path = tmp_path / "cache" / "cost.jsonl"
    cpu, cuda = (kseed.device_cache(path, SimpleNamespace(device=torch.device(d))) for d in ("cpu", "cuda"))
    assert (cpu.path.name, cuda.path.name) == ("cost-cpu.jsonl", "cost-cuda.jsonl")
    cuda.add({"arch_id": "a/K1/single", "score": 1.0, "seconds": 2.0})
    assert "a/K1/single" not in kseed.device_cache(path, SimpleNamespace(device=torch.device("cpu"))).rows
    path.write_text(json.dumps({"arch_id": "b/K1/single", "score": 3.0, "seconds": 1.0}) + "\n")  # named before: read anywhere
    assert "b/K1/single" in kseed.device_cache(path, SimpleNamespace(device=torch.device("cpu"))).rows


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--archs", "-1"], "--archs must be at least 1, got -1"),  # scored all but the last architecture, exit 0
        (["--archs", "0"], "--archs must be at least 1, got 0"),  # IndexError traceback
        (["--archs", "13"], "--archs 13: --table {table} has 12 architectures; give at most --archs 12"),  # silently the 12
        (["--timing-archs", "0"], "--timing-archs must be at least 1, got 0"),  # StatisticsError traceback
        (["--timing-archs", "13"], "--timing-archs 13: --table {table} has 12 architectures; give at most --timing-archs 12"),
        (["--repeats", "0"], "--repeats must be at least 1, got 0"),  # StatisticsError traceback
        (["--k", "0", "1"], "--k must be at least 1, got 0"),  # a table of nan, exit 0
        (["--k", "1", "1", "2"], "--k names 1 twice"),
        (["--val-images", "0"], "--val-images must be at least 1, got 0"),  # every image, as if not given
        (["--seed", "-1"], "--seed must be at least 0, got -1"),
        (["--bootstrap", "0"], "--bootstrap must be in [100, 100000], got 0"),
        (["--repeats", "2", "--parts", "fidelity"], "--repeats changes nothing with --parts fidelity"),  # ignored
        (["--bootstrap", "100", "--archs", "3", "--parts", "cost"], "--archs, --bootstrap change nothing with --parts cost"),
        (["--modes", "loop", "--k", "1"], "--modes changes nothing with --k 1"),
        (["--timing-archs", "1", "--timing-ids", "x"], "--timing-ids names the architectures of the cost part"),  # one ignored
        (["--out", "{table}"], "--out {table} is a file, not a folder"),  # FileExistsError after every score
    ],
)
def test_kseed_refuses_a_bad_input_before_loading_a_set(
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    needle: str,
) -> None:
    """benchmarks/kseed.py (stop 46): one line, exit 2, before the set is loaded (it does not exist here) or anything trained."""
    monkeypatch.setattr(sys, "path", list(sys.path))  # the script puts benchmarks/ on it: not for the tests after this one
    spec = importlib.util.spec_from_file_location("benchmarks_kseed", ROOT / "benchmarks" / "kseed.py")
    assert spec is not None and spec.loader is not None
    kseed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kseed)

    table = str(files["table"])
    argv = [a.format(table=table) for a in argv]
    out = [] if "--out" in argv else ["--out", str(tmp_path / "out")]
    assert kseed.main(["--synthetic", str(tmp_path / "nowhere"), "--table", table, *argv, *out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle.format(table=table) in err[0], err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--old", "{tmp}/nowhere"], "--old {tmp}/nowhere does not exist"),  # FileNotFoundError traceback
        (["--old", "{tmp}"], "--old {tmp} is not a checkout of nasproxy"),  # 'the child of ... died'
        (["--old", "{root}"], "--old and --new are one checkout ({root})"),  # compared with itself
        (["--seed", "-1"], "--seed must be at least 0, got -1"),  # numpy's ValueError traceback
        (["--synthetic", "{tmp}/nowhere"], "--synthetic file {tmp}/nowhere/meta.json does not exist"),  # a child died
        (["--device", "tpu"], "unknown device 'tpu'"),  # a child died
        (["--space", "nope"], "unknown search space 'nope'"),  # ValueError traceback
        (["--json", "{tmp}"], "--json {tmp} is a folder"),  # IsADirectoryError after every trial
    ],
)
def test_proxy_ab_refuses_a_bad_input_before_its_children_start(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str], needle: str
) -> None:
    """benchmarks/proxy_ab.py (stop 46): one line, exit 2, no child started (each would have died, or compared nothing)."""
    monkeypatch.setattr(sys, "path", [str(ROOT / "benchmarks"), *sys.path])
    spec = importlib.util.spec_from_file_location("benchmarks_proxy_ab", ROOT / "benchmarks" / "proxy_ab.py")
    assert spec is not None and spec.loader is not None
    proxy_ab = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(proxy_ab)
    old = tmp_path / "old"
    (old / "nas_proxy").mkdir(parents=True)
    (old / "nas_proxy" / "__init__.py").write_text("")  # a checkout, as far as the parent looks
    started: list[object] = []
    monkeypatch.setattr(proxy_ab, "Checkout", lambda *a: started.append(a))
    argv = [a.format(tmp=tmp_path, root=ROOT) for a in argv]
    given = {"--synthetic": str(tiny_run), "--old": str(old), "--new": str(ROOT)}
    base = [x for k, v in given.items() if k not in argv for x in (k, v)]
    assert proxy_ab.main([*base, *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle.format(tmp=tmp_path, root=ROOT) in err[0], err
    assert not started


def _bad_files(files: dict[str, Path], tmp_path: Path) -> dict[str, str]:
    """The broken inputs of probe45: each was a traceback, a hang or a result from nonsense (exit 0) before it."""
    good = files["good"].read_text().splitlines()
    table = files["table"].read_text().splitlines()
    ids = [line.split(",")[0] for line in good[1:]]
    bad = {
        "dup": [*good, good[1]],
        "inf": [good[0], f"{ids[0]},inf,0.5", *good[2:]],
        "text": [good[0], f"{ids[0]},high,0.5", *good[2:]],
        "seconds": [good[0], f"{ids[0]},0.9,soon", *good[2:]],
        "other": ["arch_id,score", "x1,0.5", "x2,0.6"],
        "table-dup": [*table, table[1]],
        "table-nan": [table[0], table[1].replace(",91.0,", ",nan,"), *table[2:]],
        # stop 46: a proxy that failed everywhere was a row of n = 0, exit 0; one that left out architectures
        # was a row on fewer of them than the others', its n the only sign
        "all-nan": [good[0], *(f"{i},nan,0.5" for i in ids)],
        "all-empty": [good[0], *(f"{i},,0.5" for i in ids)],
        "part": good[:6],
        "split": ["arch_id,role", *(f"{i},{'evaluation' if n < 4 else 'calibration'}" for n, i in enumerate(ids))],
        # stop 46, as a stranger: a role of neither half (the architecture was in neither, silently); a column named
        # twice (the reader kept the last: the seconds read as the score)
        "split-eval": ["arch_id,role", *(f"{i},{'eval' if n < 4 else 'calibration'}" for n, i in enumerate(ids))],
        # stop 47: an architecture named twice in a split (with two roles): its last row won, silently in the other half
        "split-dup": [
            "arch_id,role",
            *(f"{i},{'evaluation' if n < 4 else 'calibration'}" for n, i in enumerate(ids)),
            f"{ids[0]},calibration",
        ],
        "split-dup-same": [
            "arch_id,role",
            *(f"{i},{'evaluation' if n < 4 else 'calibration'}" for n, i in enumerate(ids)),
            f"{ids[0]},evaluation",
        ],
        "dup-column": ["arch_id,score,score", *good[1:]],
        # a table whose arch_id is not its spec's (two swapped by hand; a spec that is no object): a scores file's row met
        # another architecture's spec (the per-dimension diagnostic), exit 0
        "table-swapped": [table[0], *(line.replace(ids[0], "SWAP").replace(ids[1], ids[0]).replace("SWAP", ids[1]) for line in table[1:])],
        # a field the csv module cannot read (over its 131,072 characters): a csv.Error traceback
        "huge-field": [good[0], f"{ids[0]},0.5,{'9' * 200_000}", *good[2:]],
        "table-spec5": [table[0], table[1][: table[1].index(',"{')] + ",5", *table[2:]],
    }
    out = {name: tmp_path / f"{name}.csv" for name in bad}
    for name, lines in bad.items():
        out[name].write_text("\n".join(lines) + "\n")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "a-file").write_text("")
    (tmp_path / "a-set").mkdir()
    (tmp_path / "a-set" / "meta.json").write_text(json.dumps({"format": "nasproxy.synthetic"}))  # what a set says
    named = {
        "fifo": fifo,
        "dir": tmp_path,
        "good": files["good"],
        "poor": files["poor"],
        "a-file": tmp_path / "a-file",
        "a-set": tmp_path / "a-set",
    }
    return {k: str(v) for k, v in {**out, **named, "id0": ids[0], "id1": ids[1]}.items()}


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--table", "{dir}"], "--table {dir} is a directory, not a regular file"),  # IsADirectoryError traceback
        (["--table", "{fifo}"], "--table {fifo} is a FIFO, not a regular file"),  # a read that never ended
        (["--table", "{table-dup}"], "has a row of seed 0 already; give each training once"),  # the last row won
        (["--table", "{table-nan}"], "line 2: test_accuracy 'nan' is not a finite number"),  # nan read as an accuracy
        (["--proxy", "scores:{dir}"], "scores {dir} is a directory, not a regular file"),  # IsADirectoryError traceback
        (["--proxy", "scores:{dup}"], "line 14: arch_id"),  # the last row won, exit 0
        (["--proxy", "scores:{inf}"], "line 2: score 'inf' is not a finite number"),  # ranked first, exit 0
        (["--proxy", "scores:{text}"], "line 2: score 'high' is not a finite number"),  # ValueError traceback
        (["--proxy", "scores:{seconds}"], "line 2: seconds 'soon' is not a finite number"),  # ValueError traceback
        (["--proxy", "scores:{other}"], "scores none of the table's 12 architectures"),  # a row of n = 0, exit 0
        (["--seed", "-1"], "--seed must be at least 0, got -1"),  # numpy's ValueError traceback
        (["--bootstrap", "100001"], "--bootstrap must be in [100, 100000], got 100001"),  # 10**8 was a 74 GiB MemoryError
        (["--bootstrap", "1"], "--bootstrap must be in [100, 100000], got 1"),  # stop 47: zero-wide intervals, exit 0
        (["--bootstrap", "99"], "--bootstrap must be in [100, 100000], got 99"),
        (["--bootstrap", "-5"], "--bootstrap must be in [100, 100000], got -5"),
        (["--zero-cost-batch", "0", "--proxy", "zero-cost:params"], "--zero-cost-batch must be at least 1, got 0"),  # exit 0
        (["--promote-seed", "7"], "--promote-seed 7: --table"),  # every promotion '–', exit 0
        # stop 46: a scores file that failed everywhere or left out architectures (a row of n = 0, or on fewer, exit 0)
        (["--proxy", "scores:{all-nan}"], "has no score (every one empty or nan: the proxy failed) for any of the 12"),
        (["--proxy", "scores:{all-empty}"], "has no score (every one empty or nan: the proxy failed) for any of the 12"),
        (["--proxy", "scores:{part}", "--proxy", "scores:{good}"], "has no row for 7 of the 12 architectures scored here"),
        # stop 46: --promote K of every architecture (or more) promoted them all, exit 0; correlate refuses it
        (["--proxy", "scores:{good}", "--promote", "12"], "--promote 12 is not fewer than the 12 architectures"),
        (["--proxy", "scores:{good}", "--promote", "1000"], "--promote 1000 is not fewer than the 12 architectures"),
        (
            ["--proxy", "scores:{good}", "--role", "evaluation", "--split", "{split}", "--promote", "4"],
            "--promote 4 is not fewer than the 4 architectures",
        ),
        # stop 46: options that no --proxy given reads were ignored, exit 0
        (
            ["--proxy", "scores:{good}", "--epochs", "3", "--lr", "0.1", "--no-dsa", "--cuda-graph", "--proxy-seeds", "2"],
            "--epochs, --lr, --no-dsa, --cuda-graph, --proxy-seeds change nothing with the proxies given (scores)",
        ),
        (["--proxy", "scores:{good}", "--batch-size", "256"], "--batch-size changes nothing with the proxies given (scores)"),
        (["--proxy", "scores:{good}", "--proxy-profile", "{good}"], "--proxy-profile changes nothing"),
        (["--proxy", "scores:{good}", "--hard-labels"], "--hard-labels changes nothing"),
        (["--proxy", "scores:{good}", "--space", "convnet720"], "--space changes nothing"),  # typed equal to its default
        (["--proxy", "scores:{good}", "--device", "cpu"], "(--device by synthetic: or zero-cost:)"),
        (["--proxy", "scores:{good}", "--data-root", "{dir}"], "--data-root changes nothing"),
        (["--proxy", "scores:{good}", "--dataset", "digits", "--zero-cost-batch", "8"], "(--dataset, --zero-cost-batch by zero-cost:)"),
        (["--proxy", "zero-cost:params", "--epochs", "3"], "--epochs changes nothing with the proxies given (zero-cost)"),
        (["--epochs", "3"], "--epochs changes nothing with the proxies given (none: the ceiling row only)"),
        (["--proxy", "scores:{good}", "--split", "{split}"], "--split changes nothing with --role all"),
        (["--promote", "3"], "--promote changes nothing: no --proxy is given"),  # ignored, exit 0
        (
            ["--proxy", "scores:{good}", "--role", "evaluation", "--split", "{split}", "--promote-seed", "1"],
            "--promote-seed changes nothing: there is no promotion (its default top 5 is not fewer than the 4",
        ),
        # stop 46, as a stranger: before, the later row replaced the earlier one (or the ceiling row replaced it), exit 0
        (["--proxy", "a=scores:{good}", "--proxy", "a=scores:{poor}"], "is named 'a', as an earlier --proxy is"),
        (["--proxy", "scores:{good}", "--proxy", "scores:{good}"], "is named 'good', as an earlier --proxy is"),
        (["--proxy", "ground truth, 2nd seed=scores:{poor}"], "is named 'ground truth, 2nd seed', as the ceiling row is"),
        # a label that broke the Markdown table's rows (a newline, a '|'), exit 0
        (["--proxy", "x\ny=scores:{good}"], "its label 'x\\ny' names a row of a Markdown table"),
        (["--proxy", "a|b=scores:{good}"], "its label 'a|b' names a row of a Markdown table"),
        (["--proxy", "scores:{good}", "--role", "evaluation", "--split", "{dir}"], "--split {dir} is a directory"),  # IsADirectoryError
        (["--proxy", "scores:{good}", "--role", "evaluation", "--split", "{split-eval}"], "the role 'eval' (and 3 more)"),
        (
            ["--proxy", "scores:{good}", "--role", "calibration", "--split", "{split-dup}"],
            "split {split-dup} names architecture {id0} with two roles (calibration and evaluation): give each architecture one row",
        ),
        (["--proxy", "scores:{good}", "--role", "evaluation", "--split", "{split-dup-same}"], "names architecture {id0} twice"),
        (["--proxy", "scores:{dup-column}"], "the header names column 'score' twice"),
        (["--table", "{dup-column}"], "the header names column 'score' twice"),
        (["--table", "{table-swapped}", "--proxy", "scores:{good}"], "line 2: arch_id '{id1}' is not its spec's ({id0})"),
        (["--table", "{table-spec5}", "--proxy", "scores:{good}"], "line 2: spec '5' is not a JSON object"),
        (["--proxy", "scores:{huge-field}"], "huge-field.csv line 2: field larger than field limit (131072)"),
        (["--table", "{huge-field}"], "huge-field.csv line 2: field larger than field limit (131072)"),
        (["--proxy", "scores:{good}", "--out", "{a-file}"], "--out {a-file} is a file, not a folder"),  # FileExistsError traceback
        (["--proxy", "scores:{good}", "--out", "{a-set}"], "--out {a-set} is a synthetic set"),  # written among its files
        (["--proxy", "scores:{good}", "--out", "{a-set}/fid"], "--out {a-set}/fid is inside the synthetic set"),
    ],
)
def test_a_bad_input_is_one_line_and_writes_nothing(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    """probe45's inputs, as a stranger gives them: one line, exit 2, no --out written."""
    named = _bad_files(files, tmp_path)
    out = tmp_path / "out"
    argv = [a.format(**named) for a in argv]
    table = [] if "--table" in argv else ["--table", str(files["table"])]
    given_out = [] if "--out" in argv else ["--out", str(out)]
    assert _module().main([*table, *argv, *given_out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle.format(**named) in err[0], err
    assert not out.exists()


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--batch", "0", "--out", "{tmp}/z.csv"], "--batch must be at least 1, got 0"),  # scored on no image, exit 0
        (["--out", "{tmp}"], "--out {tmp} is a folder; give the CSV file to write"),  # IsADirectoryError after every score
        (["--seconds-from", "{tmp}", "--out", "{tmp}/z.csv"], "--seconds-from {tmp} is a directory"),  # IsADirectoryError
        # a JSON of another shape (stop 45): before, KeyError 'proxies' (an internal error), or one while scoring
        (["--seconds-from", "{tmp}/other.json", "--out", "{tmp}/z.csv"], "has no 'proxies' object; give a fidelity.json"),
        (["--seconds-from", "{tmp}/nosec.json", "--out", "{tmp}/z.csv"], "proxy 'synflow' has no seconds_per_arch number ('soon')"),
    ],
)
def test_zero_cost_scores_refuses_a_bad_input_before_scoring(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    """benchmarks/zero_cost_scores.py (probe45): one line, exit 2, nothing scored or written."""
    spec = importlib.util.spec_from_file_location("benchmarks_zero_cost_scores", ROOT / "benchmarks" / "zero_cost_scores.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (tmp_path / "other.json").write_text(json.dumps({"best_params": {"depth": 2}}))
    (tmp_path / "nosec.json").write_text(json.dumps({"proxies": {"synflow": {"seconds_per_arch": "soon"}}}))
    before = sorted(tmp_path.iterdir())
    assert module.main(["--table", str(files["table"]), *(a.format(tmp=tmp_path) for a in argv)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle.format(tmp=tmp_path) in err[0], err
    assert sorted(tmp_path.iterdir()) == before
