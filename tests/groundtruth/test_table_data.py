"""A ground-truth table names the data it was measured on (nas_proxy.groundtruth.tables), and every consumer that
knows which data it ranks refuses a table of other data (probe50: a digits set ranked against Fashion-MNIST
accuracies, exit 0): benchmarks/fidelity.py, calibrate (a --truth table or a --truth-study), distill --select-by."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import optuna
import pytest

from nas_proxy.calibrate import runner, truth
from nas_proxy.calibrate.config import CalibrateConfig
from nas_proxy.calibrate.selection import CalibrationRanker
from nas_proxy.correlate.archs import from_space
from nas_proxy.errors import InvalidArgumentError
from nas_proxy.groundtruth import study as gt
from nas_proxy.groundtruth.tables import DATASET, SHA256, SIDECAR, check_same_data, read_data
from nas_proxy.spaces import get_space
from nas_proxy.studies import kinds
from tests.conftest import tiny_config

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "benchmarks" / "groundtruth" / "fashion-mnist-convnet720.csv"
SHA = "ab" * 32  # a content_sha256 (any 64 hex digits: nothing here loads the data it would name)


def _table(path: Path, dataset: str | None, sha: str | None = None, n: int = 6, space: str = "convnet-cpu") -> Path:
    """A ground-truth table of ``n`` architectures of ``space`` (seeds 0 and 1), its rows naming ``dataset`` (None: no
    data columns, a user's own table)."""
    archs = from_space(get_space(space), n, seed=3)
    fields = ["arch_id", "seed", "test_accuracy", "val_accuracy", "seconds", "epochs", "spec"]
    fields += [] if dataset is None else [DATASET, SHA256]
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for seed in (0, 1):
            for i, a in enumerate(archs):
                row: dict[str, object] = {
                    "arch_id": a.arch_id,
                    "seed": seed,
                    "test_accuracy": 50 + 5 * i + seed,
                    "val_accuracy": 49 + 5 * i,
                }
                row |= {"seconds": 1.0, "epochs": 3, "spec": json.dumps(a.spec, sort_keys=True)}
                row |= {} if dataset is None else {DATASET: dataset, SHA256: sha or ""}
                w.writerow(row)
    return path


def _fidelity() -> ModuleType:
    spec = importlib.util.spec_from_file_location("benchmarks_fidelity_data", ROOT / "benchmarks" / "fidelity.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_one_reader_takes_the_column_the_builders_sidecar_or_nothing(tmp_path: Path) -> None:
    named = read_data(_table(tmp_path / "named.csv", "digits", SHA), "--table named.csv")
    assert named is not None and (named.dataset, named.sha256, named.where) == ("digits", SHA, "its column 'dataset'")
    assert read_data(_table(tmp_path / "own.csv", None), "--table own.csv") is None  # a user's own table: as before
    # the committed tables (written before the columns): the provenance.json beside them names their data
    for table in (COMMITTED, COMMITTED.with_name("fashion-mnist-convnet720-long.csv")):
        committed = read_data(table, f"--table {table}")
        assert committed is not None and committed.dataset == "fashion-mnist" and committed.where == f"the {SIDECAR} beside it"
    # a provenance.json names only the tables it lists: a user's own CSV put beside it names no data
    beside = tmp_path / "beside"
    beside.mkdir()
    (beside / SIDECAR).write_text(json.dumps({"data": {"dataset": "fashion-mnist", "tables": ["fashion-mnist-convnet720.csv"]}}))
    assert read_data(_table(beside / "mine.csv", None), "--table mine.csv") is None
    assert read_data(_table(beside / "fashion-mnist-convnet720.csv", None), "t").dataset == "fashion-mnist"  # type: ignore[union-attr]


def test_a_table_whose_rows_name_two_datasets_or_two_digests_is_refused(tmp_path: Path) -> None:
    mixed = _table(tmp_path / "mixed.csv", "digits", SHA)
    lines = mixed.read_text().splitlines()
    mixed.write_text("\n".join([*lines[:-1], lines[-1].replace("digits", "fashion-mnist")]) + "\n")
    with pytest.raises(InvalidArgumentError, match=r"mixes datasets: line 2 names digits, line 13 fashion-mnist"):
        read_data(mixed, "--table mixed.csv")
    two = _table(tmp_path / "two.csv", "digits", SHA)
    two.write_text(two.read_text().replace(SHA, "cd" * 32, 1))
    with pytest.raises(InvalidArgumentError, match=r"mixes data \(content digests\)"):
        read_data(two, "--table two.csv")


def test_the_check_names_both_datasets_and_compares_digests_where_both_are_known(tmp_path: Path) -> None:
    data = read_data(_table(tmp_path / "t.csv", "fashion-mnist", SHA), "--table t.csv")
    with pytest.raises(InvalidArgumentError) as e:
        check_same_data(data, "digits", None, "synthetic set S", "give a table of digits")
    assert str(e.value) == (
        "--table t.csv was measured on fashion-mnist (its column 'dataset') and synthetic set S is of digits: its accuracies say "
        "nothing of a ranking on digits; give a table of digits"
    )
    check_same_data(data, "fashion-mnist", SHA, "S", "")  # the same data
    check_same_data(data, "fashion-mnist", None, "S", "")  # its digest not at hand: the name decides
    with pytest.raises(InvalidArgumentError, match=r"other fashion-mnist images or labels than S's \(content_sha256 ababababab"):
        check_same_data(data, "fashion-mnist", "cd" * 32, "S", "fix")
    check_same_data(None, "digits", SHA, "S", "")  # a table that names no data: taken as it is


def test_a_table_of_the_same_images_named_otherwise_is_taken(tmp_path: Path) -> None:
    """review52: an image folder's table names it as it was given there (relative), the set here as given here (another
    working folder, absolute): the same pixels and labels (equal digests) were refused as 'measured on imagefolder:photos
    ... says nothing'. Equal digests decide; the names decide only where a digest is not at hand."""
    data = read_data(_table(tmp_path / "t.csv", "imagefolder:photos", SHA), "--table t.csv")
    check_same_data(data, f"imagefolder:{tmp_path / 'photos'}", SHA, "S", "fix")
    with pytest.raises(InvalidArgumentError, match="was measured on imagefolder:photos"):
        check_same_data(data, f"imagefolder:{tmp_path / 'photos'}", None, "S", "fix")


def test_fidelity_refuses_a_set_or_zero_cost_data_of_another_dataset_before_anything_is_trained(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fid = _fidelity()
    fashion = _table(tmp_path / "fashion.csv", "fashion-mnist", space="convnet720")
    out = tmp_path / "fid"
    args = ["--table", str(fashion), "--out", str(out), "--device", "cpu", "--space", "convnet720"]
    assert fid.main([*args, "--proxy", f"synthetic:{tiny_run}"]) != 0  # tiny_run: a set of digits
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"was measured on fashion-mnist (its column 'dataset') and synthetic set {tiny_run} is of digits" in err[0]
    assert "give a --table measured on digits" in err[0] and not out.exists()
    assert fid.main(["--table", str(fashion), "--out", str(out), "--proxy", "zero-cost:synflow", "--dataset", "digits"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "and the zero-cost scores' real data (--dataset) is of digits" in err[0]
    assert "give --dataset fashion-mnist" in err[0] and not out.exists()
    # the same data, and a user's own table: past the check
    fid._check_data(read_data(_table(tmp_path / "d.csv", "digits"), "d"), [(None, "synthetic", str(tiny_run))], "fashion-mnist")
    fid._check_data(read_data(_table(tmp_path / "own.csv", None), "own"), [(None, "synthetic", str(tiny_run))], "fashion-mnist")
    # the committed table (its provenance.json): a zero-cost score on digits is refused, on fashion-mnist taken
    committed = read_data(COMMITTED, f"--table {COMMITTED}")
    with pytest.raises(InvalidArgumentError, match=r"measured on fashion-mnist \(the provenance.json beside it\)"):
        fid._check_data(committed, [(None, "zero-cost", "synflow")], "digits")
    fid._check_data(committed, [(None, "zero-cost", "synflow"), (None, "scores", "x.csv")], "fashion-mnist")


def test_calibrate_refuses_ground_truth_of_another_dataset_before_its_storage_opens(
    tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class PastTheCheckError(Exception):
        """Raised where the storage opens: past the check of the ground truth's data."""

    def opened(*_: object) -> None:
        raise PastTheCheckError

    monkeypatch.setattr(runner, "open_storage", opened)
    config = CalibrateConfig(space="convnet-cpu", synthetic=[str(tiny_run)], folds=2, trials=1, device="cpu")
    fashion = _table(tmp_path / "fashion.csv", "fashion-mnist")
    with pytest.raises(
        InvalidArgumentError, match=rf"--truth {fashion} was measured on fashion-mnist .* synthetic set {tiny_run} is of digits"
    ):
        runner.calibrate(config, truth.from_file(fashion, what="--truth"), str(fashion), "c")
    for table in (_table(tmp_path / "digits.csv", "digits"), _table(tmp_path / "own.csv", None)):
        with pytest.raises(PastTheCheckError):
            runner.calibrate(config, truth.from_file(table, what="--truth"), str(table), "c")


def test_calibrate_refuses_a_ground_truth_study_of_another_dataset(tiny_run: Path, tmp_path: Path) -> None:
    """--truth-study: the study records its data (GROUND_TRUTH.open); its truths carry it to the same check."""
    from nas_proxy.studies.spec_attrs import spec_attrs

    journal = str(tmp_path / "gt.journal")
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(journal))
    study = optuna.create_study(study_name="gt", storage=storage, direction="maximize")
    study.set_user_attr(gt.GROUND_TRUTH.attr, {"data": {"dataset": "fashion-mnist", "content_sha256": SHA}, "protocol": {}})
    kinds.mark(study, gt.GROUND_TRUTH.kind)
    for i, a in enumerate(from_space(get_space("convnet-cpu"), 6, seed=3)):
        attrs = {"arch_id": a.arch_id, "seed": 0, "test_accuracy": 50.0 + i, **spec_attrs(a.spec)}
        study.add_trial(optuna.trial.create_trial(value=50.0 + i, user_attrs=attrs))
    truths = truth.from_study("gt", journal)
    assert len(truths) == 6 and truths[0].data is not None and truths[0].data.sha256 == SHA
    config = CalibrateConfig(space="convnet-cpu", synthetic=[str(tiny_run)], folds=2, trials=1, device="cpu")
    with pytest.raises(InvalidArgumentError, match=r"ground-truth study gt was measured on fashion-mnist \(its recorded data\)"):
        runner.calibrate(config, truths, "ground-truth study gt", "c", str(tmp_path / "cal.journal"))


def test_distill_select_by_refuses_architectures_measured_on_another_dataset(tmp_path: Path) -> None:
    fashion = _table(tmp_path / "fashion.csv", "fashion-mnist")
    base = dict(select_space="convnet-cpu", select_every=3, select_epochs=1, iterations=8)
    with pytest.raises(InvalidArgumentError) as e:
        CalibrationRanker(tiny_config(select_by=str(fashion), **base))  # tiny_config: --dataset digits
    assert (
        f"--select-by {fashion} was measured on fashion-mnist (its column 'dataset') and the set distilled (--dataset) is of digits"
        in str(e.value)
    )
    assert "give --select-by architectures measured on digits" in str(e.value)
    assert len(CalibrationRanker(tiny_config(select_by=str(_table(tmp_path / "d.csv", "digits")), **base)).truths) == 6
    assert len(CalibrationRanker(tiny_config(select_by=str(_table(tmp_path / "own.csv", None)), **base)).truths) == 6


def test_the_ladders_read_the_tables_data_with_the_same_reader(tmp_path: Path) -> None:
    """calibrate --ladders and benchmarks/ladder.py (ladder_sim.load_candidates) know no dataset to compare; they read
    the table's data (kept on the candidates) and refuse a table whose rows mix two datasets, as every reader does."""
    from nas_proxy.calibrate import ladder_sim as sim

    assert sim.load_candidates(COMMITTED, []).data.dataset == "fashion-mnist"  # type: ignore[union-attr]
    table = _table(tmp_path / "t.csv", "digits", SHA)
    table.write_text("# a comment line, as a ladder table may hold\n" + table.read_text())
    cands = sim.load_candidates(table, [])
    assert cands.data is not None and (cands.data.dataset, cands.data.sha256) == ("digits", SHA)
    assert cands.take([0, 1]).data == cands.data
    table.write_text(table.read_text().replace("digits", "fashion-mnist", 1))
    with pytest.raises(InvalidArgumentError, match=r"mixes datasets: line 3 names fashion-mnist, line 4 digits"):
        sim.load_candidates(table, [])


def test_distill_select_by_refuses_a_table_of_other_images_of_the_same_dataset_before_anything_is_written(tmp_path: Path) -> None:
    """The name is checked as the ranker is built (the data not loaded yet); the digest once distill has loaded the data,
    before anything is written: before stop 52 a table naming the content_sha256 of another copy of digits chose the
    iterate of this one without a word."""
    from nas_proxy.calibrate.selection import ranker
    from nas_proxy.data import load_dataset
    from nas_proxy.distill import distill

    base = dict(select_space="convnet-cpu", select_every=3, select_epochs=1, iterations=8)
    other = tiny_config(select_by=str(_table(tmp_path / "other.csv", "digits", SHA)), **base)  # tiny_config: digits
    out = tmp_path / "syn"
    with pytest.raises(InvalidArgumentError) as e:
        distill(other, out, progress=False, ranker=ranker(other))
    assert str(e.value).startswith(
        f"--select-by {tmp_path / 'other.csv'} was measured on other digits images or labels than the set distilled (--dataset)'s "
        f"(content_sha256 {SHA[:12]}... there, "
    )
    assert str(e.value).endswith("give --select-by architectures measured on digits, or distill the data they were measured on")
    assert not out.exists() or not any(out.iterdir())  # nothing written
    found = load_dataset("digits").content_sha256()
    same = tiny_config(select_by=str(_table(tmp_path / "same.csv", "digits", found)), **base)
    chosen = ranker(same)
    assert chosen is not None
    chosen.check_data(found)  # the data it was measured on: past the check


@pytest.fixture
def bench_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The benchmark scripts import their neighbours (fidelity_table, split) by name."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks" / "groundtruth"))
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))


def _ids(table: Path) -> list[str]:
    """The architectures of a table :func:`_table` wrote, in its order."""
    with table.open(newline="") as f:
        return [r["arch_id"] for r in csv.DictReader(f) if r["seed"] == "0"]


def _refused(capsys: pytest.CaptureFixture[str]) -> str:
    """The one line a script printed on stderr (and nothing else)."""
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_every_benchmark_reader_of_a_table_refuses_another_datasets_table_in_one_line(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, bench_path: None
) -> None:
    """Before fix52d kseed.py, protocol_per_set.py (a digits set), zero_cost_scores.py, distill_ablation.py (--dataset
    digits) and power.py (a digits ablation's scores) read benchmarks/groundtruth's Fashion-MNIST table without looking
    at its data: they trained, distilled or sized a digits ranking against Fashion-MNIST accuracies. Each now reads the
    table's data with the one reader (fidelity_table.read_table) and refuses it in check_same_data's one line, before
    any set is loaded, distilled or trained and before anything is written."""
    import distill_ablation
    import kseed
    import power
    import protocol_per_set
    import zero_cost_scores

    class PastTheCheckError(Exception):
        """Raised where each script's work begins (a set loaded or trained, a score, an architecture picked)."""

    def work(*_: object, **__: object) -> None:
        raise PastTheCheckError

    for module, name in ((kseed.ProxyContext, "load"), (protocol_per_set, "_synthetic"), (zero_cost_scores, "ZeroCostProxy")):
        monkeypatch.setattr(module, name, work)
    monkeypatch.setattr(distill_ablation, "evaluation_archs", work)
    fashion = _table(tmp_path / "fashion.csv", "fashion-mnist", space="convnet720")
    measured = f"--table {fashion} was measured on fashion-mnist (its column 'dataset') and"
    out = tmp_path / "out"
    assert kseed.main(["--synthetic", str(tiny_run), "--table", str(fashion), "--device", "cpu", "--out", str(out)]) == 2
    line = _refused(capsys)
    assert f"{measured} synthetic set {tiny_run} is of digits" in line and "give a --table measured on digits" in line
    split = tmp_path / "split.csv"  # three architectures of each role, as a choice needs
    roles = [f"{a},{'calibration' if i < 3 else 'evaluation'},1\n" for i, a in enumerate(_ids(fashion))]
    split.write_text("arch_id,role,flops\n" + "".join(roles))
    argv = ["--set", f"random-ipc10={tiny_run}", "--table", str(fashion), "--split", str(split), "--device", "cpu", "--out", str(out)]
    assert protocol_per_set.main([*argv, "--work", str(tmp_path / "work")]) == 2
    assert f"{measured} synthetic set {tiny_run} is of digits" in _refused(capsys)
    csv_out = tmp_path / "zero-cost.csv"
    assert zero_cost_scores.main(["--table", str(fashion), "--dataset", "digits", "--out", str(csv_out)]) == 2
    line = _refused(capsys)
    assert f"{measured} the zero-cost scores' real data (--dataset) is of digits" in line and "give --dataset fashion-mnist" in line
    argv = ["--table", str(fashion), "--dataset", "digits", "--device", "cpu", "--work", str(tmp_path / "work"), "--out", str(out)]
    assert distill_ablation.main(argv) == 2
    assert f"{measured} the sets distilled (--dataset) is of digits" in _refused(capsys)
    ablation = tmp_path / "ablation"
    ablation.mkdir()
    rows = [f"{v},{a},{i + (v == 'b')},1.0" for v in "ab" for i, a in enumerate(_ids(fashion))]
    (ablation / "scores.csv").write_text("\n".join(["variant,arch_id,score,seconds", *rows]) + "\n")
    (ablation / "ablation.json").write_text(json.dumps({"protocol": {"dataset": "digits"}}))
    assert power.main([str(ablation / "scores.csv"), "--base", "a", "--table", str(fashion), "--role", "all"]) == 2
    line = _refused(capsys)
    assert f"{measured} scores file {ablation / 'scores.csv'} (the sets of the ablation.json beside it) is of digits" in line
    assert not out.exists() and not csv_out.exists() and not (tmp_path / "work").exists()
    # the same data, or a table that names none (a user's own): past the check, as before
    for table in (_table(tmp_path / "d.csv", "digits", space="convnet720"), _table(tmp_path / "own.csv", None, space="convnet720")):
        assert power.main([str(ablation / "scores.csv"), "--base", "a", "--table", str(table), "--role", "all"]) == 0
        assert "| b | 6 |" in capsys.readouterr().out


def test_a_synthetic_proxy_of_another_datasets_set_is_refused_where_it_is_scored(tiny_run: Path, tmp_path: Path, bench_path: None) -> None:
    """fidelity_proxies._synthetic, which fidelity.py, distill_ablation.py and protocol_per_set.py train every set with,
    checks the set against the table's data itself (a distill_ablation set is distilled after the table is read)."""
    import argparse

    import fidelity_proxies
    from fidelity_table import read_table

    table = read_table(_table(tmp_path / "fashion.csv", "fashion-mnist", space="convnet720"))
    with pytest.raises(InvalidArgumentError, match=rf"synthetic set {tiny_run} is of digits"):
        fidelity_proxies._synthetic(str(tiny_run), table, argparse.Namespace(), tmp_path / "work")
    assert not (tmp_path / "work").exists()


def test_the_ablations_calibration_architectures_come_from_its_table(tmp_path: Path, bench_path: None) -> None:
    """Before fix52d distill_ablation.calibration_file read the validation accuracies from the default table whatever
    --table was given: a KeyError for a table of other architectures, other numbers for one of the same."""
    import distill_ablation
    from fidelity_table import read_table

    path = _table(tmp_path / "t.csv", "digits", space="convnet720")
    table = read_table(path)
    split = tmp_path / "split.csv"
    split.write_text("arch_id,role,flops\n" + "".join(f"{a},calibration,1\n" for a in table.ids))
    written = json.loads(distill_ablation.calibration_file(table, split, tmp_path / "work", path).read_text())
    assert [a["accuracy"] for a in written] == [49 + 5 * i for i in range(6)]


def test_a_header_alone_is_said_in_one_wording_by_every_reader(tmp_path: Path, bench_path: None) -> None:
    """A table or scores file whose header stands alone is refused by nas_proxy.groundtruth.tables.check_has_rows:
    before fix52d the two table readers (fidelity_table.read_table, ladder_sim's) said a header-only table lacked the
    columns its header has ('needs rows with columns arch_id, seed, ...'), and the scores readers had the helper's
    words written twice (fidelity_table.scores_csv, ladder_sim._long_scores)."""
    from fidelity_table import read_table

    from nas_proxy.calibrate import ladder_sim as sim

    table = _table(tmp_path / "t.csv", "digits")
    table.write_text(table.read_text().splitlines()[0] + "\n")
    alone = "has a header but no rows (no architecture trained); give one row per architecture and seed"
    with pytest.raises(InvalidArgumentError, match=rf"^--table {table} {re.escape(alone)}$"):
        read_table(table)
    with pytest.raises(InvalidArgumentError, match=rf"^ground-truth table {table} {re.escape(alone)}$"):
        sim.load_candidates(table, [])


def test_a_table_cut_inside_its_last_row_is_said_as_calibrate_says_it_naming_the_line_and_the_cause(
    tmp_path: Path, bench_path: None
) -> None:
    """drill52: on a table cut inside its last row fidelity.py said "line 13: seed, test_accuracy or spec is not valid",
    calibrate "line 13 has 7 fields, the header 9". Both now read it with one reader (nas_proxy.groundtruth.tables.
    read_rows) in one wording; a value that is not one is named with its column, on the file's own line."""
    from fidelity_table import read_table

    table = _table(tmp_path / "t.csv", "digits", SHA)
    whole = table.read_text()
    table.write_text(whole[: whole.rindex('"family')])  # cut inside the spec of the last row (line 13)
    counts = f"{table} line 13 has 7 fields, the header 9; fix or drop that row"
    for read in (read_table, truth.from_file):
        with pytest.raises(InvalidArgumentError, match=rf"^{re.escape(counts)} \(a comma inside a field needs quotes"):
            read(table)
    table.write_text(whole[:-5])  # cut inside the last field: every field there, the last one shorter
    with pytest.raises(InvalidArgumentError, match=rf"^--table file {table} does not end in a newline"):
        read_table(table)
    lines = whole.splitlines(keepends=True)
    for column, bad, said in (
        ("seed", "x", "seed 'x' is not an integer"),
        ("test_accuracy", "inf", "test_accuracy 'inf' is not a finite number"),
    ):
        row = dict(zip(lines[0].strip().split(","), next(csv.reader([lines[3]])), strict=True)) | {column: bad}
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow(row.values())
        table.write_text("".join([*lines[:3], "\n", out.getvalue(), *lines[4:]]))  # a blank line: the row is on line 5
        with pytest.raises(InvalidArgumentError, match=rf"^{re.escape(f'{table} line 5: {said}; fix or drop that row')}$"):
            read_table(table)


def test_fidelity_refuses_zero_cost_scores_of_other_images_than_the_tables_before_scoring(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bench_path: None
) -> None:
    """review52: fidelity.py's zero-cost path (and zero_cost_scores.py) checked the table's dataset by name alone, so a
    table of other digits images (its data_sha256 another copy's: photos turned since, another --data-root) ranked
    zero-cost scores of these, exit 0. The data found now is loaded and its content digest compared, as a synthetic
    set's is."""
    import zero_cost_scores

    from nas_proxy.data import load_dataset

    fid = _fidelity()
    out = tmp_path / "out"
    argv = ["--out", str(out), "--proxy", "zero-cost:params", "--dataset", "digits", "--zero-cost-batch", "8", "--device", "cpu"]
    assert fid.main(["--table", str(_table(tmp_path / "other.csv", "digits", SHA)), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "was measured on other digits images or labels than the zero-cost scores' real data (--dataset)'s" in err[0]
    assert f"(content_sha256 {SHA[:12]}... there, " in err[0] and not out.exists()
    csv_out = tmp_path / "z.csv"
    assert zero_cost_scores.main(["--table", str(tmp_path / "other.csv"), "--dataset", "digits", "--out", str(csv_out)]) == 2
    assert "other digits images or labels than the zero-cost scores' real data (--dataset)'s" in capsys.readouterr().err
    assert not csv_out.exists()
    found = load_dataset("digits").content_sha256()
    assert fid.main(["--table", str(_table(tmp_path / "same.csv", "digits", found)), *argv]) == 0  # the same images: scored
    assert json.loads((out / "fidelity.json").read_text())["table_dataset"] == {"dataset": "digits", "content_sha256": found}


def test_the_benchmark_scores_files_name_their_data_and_every_reader_checks_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bench_path: None
) -> None:
    """Before fix53b zero_cost_scores.py's and distill_ablation.py's scores files had no dataset column: fidelity.py
    --proxy scores:F ranked a digits ablation's scores against a Fashion-MNIST table, exit 0, and so did power.py
    wherever no ablation.json lay beside the file; rank_average.py read nothing of the file's data, and its output
    named none. Each file now names its data in a table's columns, and every reader checks it against its table."""
    import distill_ablation
    import power
    import rank_average
    import zero_cost_scores

    digits = _table(tmp_path / "digits.csv", "digits")
    fashion = _table(tmp_path / "fashion.csv", "fashion-mnist")
    zero = tmp_path / "zero.csv"
    assert zero_cost_scores.main(["--table", str(digits), "--dataset", "digits", "--space", "convnet-cpu", "--out", str(zero)]) == 0
    with zero.open(newline="") as f:
        rows = list(csv.DictReader(f))
    from nas_proxy.data import load_dataset

    assert {(r[DATASET], r[SHA256]) for r in rows} == {("digits", load_dataset("digits").content_sha256())}
    ids = _ids(digits)
    ablation = tmp_path / "ablation.csv"  # no ablation.json beside it: its rows alone name the data
    variants = {v: {"scores": {a: float(i + (v == "b")) for i, a in enumerate(ids)}, "seconds": dict.fromkeys(ids, 1.0)} for v in "ab"}
    distill_ablation.write_scores(ablation, variants, "digits")
    out = tmp_path / "fid"
    capsys.readouterr()
    for proxy in (f"synflow=scores:{zero}", f"a=scores:{ablation}"):
        assert _fidelity().main(["--table", str(fashion), "--proxy", proxy, "--out", str(out)]) == 2
        line = _refused(capsys)
        assert f"--table {fashion} was measured on fashion-mnist (its column 'dataset') and scores file" in line
        assert "(its column 'dataset') is of digits" in line and not out.exists()
    assert power.main([str(ablation), "--base", "a", "--table", str(fashion), "--role", "all"]) == 2
    assert "(its column 'dataset') is of digits" in _refused(capsys)
    assert power.main([str(ablation), "--base", "a", "--table", str(digits), "--role", "all"]) == 0
    combined = tmp_path / "combined.csv"
    assert rank_average.main([str(ablation), "--with", "a", "--out", str(combined)]) == 0
    with combined.open(newline="") as f:
        assert {r[DATASET] for r in csv.DictReader(f)} == {"digits"}
    mixed = tmp_path / "mixed.csv"
    lines = ablation.read_text().splitlines()
    mixed.write_text("\n".join([*lines[:-1], lines[-1].replace("digits", "fashion-mnist")]) + "\n")
    assert rank_average.main([str(mixed), "--with", "a", "--out", str(tmp_path / "m.csv")]) == 2
    assert f"{mixed} mixes datasets: line 2 names digits, line 13 fashion-mnist" in _refused(capsys)


HEAD = "arch_id,seed,test_accuracy"


@pytest.mark.parametrize(
    ("content", "said"),
    [
        # fix53d: a blank line above the header was read as an empty header, "line 2 has 3 fields, the header 0"
        (f"\n{HEAD}\na,0,50\na,1\n", "line 4 has 2 fields, the header (line 2) 3; fix or drop that row"),
        (f"\n\n \n{HEAD}\r\na,0,50\r\n\r\na,1,5,0\r\n", "line 7 has 4 fields, the header (line 4) 3;"),  # CRLF, a line of blanks
        (f"\ufeff{HEAD}\na,0,50\n\na,1\n", "line 4 has 2 fields, the header 3;"),  # a byte-order mark: the header is line 1
        (f"\n\ufeff{HEAD}\na,0,50\na,1\n", "line 4 has 2 fields, the header (line 2) 3;"),  # ... after a blank line (two files joined)
        (f"\n{HEAD},seed\na,0,50,0\n", ": the header (line 2) names column 'seed' twice"),
        (f'\n{HEAD}\na,0,50\n"{"x" * 140_000}",1,2\n', "line 4: field larger than field limit (131072)"),
        (f'\n\n"{"x" * 140_000}",seed\n', "line 3: field larger than field limit (131072)"),
    ],
    ids=["blank-above", "crlf-blanks", "bom", "bom-after-blank", "column-twice", "long-field", "long-header"],
)
def test_the_one_readers_messages_name_the_files_own_lines(content: str, said: str, tmp_path: Path) -> None:
    """Every message of read_rows names the line the user finds in an editor (1 the first, blank lines counted) and
    the header's line where it is not the first."""
    from nas_proxy.groundtruth.tables import read_rows

    path = tmp_path / "t.csv"
    path.write_bytes(content.encode())
    with pytest.raises(InvalidArgumentError) as refused:
        read_rows("--table", path)
    assert str(refused.value).startswith(f"{path}{'' if said.startswith(':') else ' '}{said}"), refused.value


def test_a_table_with_blank_lines_above_its_header_is_read_with_its_own_line_numbers(tmp_path: Path) -> None:
    from nas_proxy.groundtruth.tables import read_rows

    path = tmp_path / "t.csv"
    path.write_bytes(f"\r\n\n\ufeff {HEAD}\r\na,0,50\r\n\r\nb,0,60\r\n".encode())
    assert read_rows("--table", path) == (
        ["arch_id", "seed", "test_accuracy"],
        [(4, {"arch_id": "a", "seed": "0", "test_accuracy": "50"}), (6, {"arch_id": "b", "seed": "0", "test_accuracy": "60"})],
    )
    assert read_rows("--table", path, f"\ufeff\n{HEAD}\na,0,50\n") == (
        ["arch_id", "seed", "test_accuracy"],
        [(3, {"arch_id": "a", "seed": "0", "test_accuracy": "50"})],
    )


def test_calibrate_s_and_correlate_s_readers_name_the_files_own_lines_and_skip_blank_lines_above_the_header(tmp_path: Path) -> None:
    """calibrate's --truth table and correlate's CSV of architectures read through read_rows (fix54c's find: they
    counted rows, not lines, "t1.csv line 2" of a row on line 3, and a blank line above the header made the table "not
    a table" / "needs a 'spec' column")."""
    from nas_proxy.correlate.archs import read_archs

    spec = json.dumps(from_space(get_space("convnet-cpu"), 1, seed=3)[0].spec).replace('"', '""')
    bad = tmp_path / "t1.csv"
    bad.write_text("arch_id,seed,test_accuracy,spec\n\na,x,50,{}\n")
    with pytest.raises(InvalidArgumentError, match=re.escape(f"{bad} line 3: seed, test_accuracy or spec is not valid")):
        truth.from_file(bad)
    table = tmp_path / "t2.csv"
    table.write_text(f'\n\narch_id,seed,test_accuracy,spec\na,0,61.5,"{spec}"\n')
    (read,) = truth.from_file(table)
    assert read.accuracy == 61.5
    archs = tmp_path / "a.csv"
    archs.write_text(f'\nspec,accuracy\n"{spec}",70\n\n"{{",71\n')
    with pytest.raises(InvalidArgumentError, match=re.escape(f"{archs} line 5: column 'spec' is not a JSON object")):
        read_archs(archs)
    archs.write_text(f'\nspec,accuracy\n"{spec}",70\n')
    (arch,) = read_archs(archs)
    assert arch.truth == 70
    archs.write_text(f'spec\n"{spec}"')  # specs alone, from an editor that ends no file in a newline: no number to cut
    assert len(read_archs(archs)) == 1
    archs.write_text(f'spec,accuracy\n"{spec}",7')  # an accuracy maybe cut: refused as every table's
    with pytest.raises(InvalidArgumentError, match="does not end in a newline"):
        read_archs(archs)
