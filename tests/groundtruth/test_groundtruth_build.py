"""benchmarks/groundtruth/build.py: a stratified plan, two seeds, a clean stop at a deadline, a resume
that trains only what is missing."""

from __future__ import annotations

import csv
import importlib.util
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import optuna
import pytest
from optuna.trial import TrialState

from nas_proxy.errors import InvalidArgumentError
from nas_proxy.groundtruth import study as gt
from nas_proxy.groundtruth.tables import read_data
from nas_proxy.spaces import DeclaredSpace, get_space

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "benchmarks" / "groundtruth" / "build.py"
TIMEOUT = 600  # seconds a builder run may take on a loaded machine before the test fails


def _plan_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("groundtruth_plan", ROOT / "benchmarks" / "groundtruth" / "plan.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _build(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(BUILD), "--dry-run", "--workers", "1", "--quiet", "--out", str(out), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT,
    )


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_plan_is_stratified_seeded_and_capped() -> None:
    plan = _plan_module()
    space = get_space("convnet720")
    assert isinstance(space, DeclaredSpace)  # the plan stratifies over a declared space's choices
    shape = (1, 10, (16, 16))
    cap = 100e6  # at 16x16: no depth-3/4 network of width 256 without pooling (up to 908 MFLOPs)
    planned = plan.plan(space, 10, shape, seed=0, block_size=5, max_flops=cap)
    assert len({p.arch_id for p in planned}) == 10
    for block in (0, 1):  # every block on its own holds every value of every dimension
        members = [p for p in planned if p.block == block]
        assert len(members) == 5
        for dim, values in space.choices.items():
            assert {p.spec[dim] for p in members} == set(values), (block, dim)
    assert all(p.flops <= cap for p in planned)
    assert all(a.flops >= b.flops for a, b in itertools.pairwise(planned[:5]))  # costliest first in a block
    again = plan.plan(space, 10, shape, seed=0, block_size=5, max_flops=cap)
    assert [p.arch_id for p in again] == [p.arch_id for p in planned]
    other = plan.plan(space, 10, shape, seed=1, block_size=5, max_flops=cap)
    assert [p.arch_id for p in other] != [p.arch_id for p in planned]


def test_plan_says_when_the_cap_leaves_a_value_out(tmp_path: Path) -> None:
    plan = _plan_module()
    small = tmp_path / "small.toml"  # 4 architectures; depth 4 at width 64 costs more than 1 MFLOP at 16x16
    small.write_text('family = "convnet"\n[params]\ndepth = [1, 4]\nwidth = [64]\npooling = ["none", "maxpooling"]\n')
    with pytest.raises(InvalidArgumentError, match="max-mflops"):
        plan.plan(get_space(str(small)), 2, (1, 10, (16, 16)), seed=0, block_size=2, max_flops=1e6)


# drill tier: ten trainings in two runs of the GPU builder; make test checks its plan and its flags (here, test_gpu_check)
@pytest.mark.drill
def test_deadline_leaves_a_partial_table_and_a_rerun_trains_only_the_rest(tmp_path: Path) -> None:
    out = tmp_path / "gt"
    # the long pass (2 architectures x 10,000 epochs, checks.EPOCHS_MAX) cannot finish: the deadline stops the run
    first = _build(out, "--long-epochs", "10000", "--deadline-seconds", "12")
    assert first.returncode == 0, first.stderr
    assert "A new study created" not in first.stderr  # Optuna's log line (drill46: before a full disk's one-line error)
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["status"] == "deadline"
    planned = _rows(out / "plan.csv")
    assert len(planned) == 5 and all(r["seeds"] == "0 1" for r in planned)  # the plan is there whatever finished
    done = _rows(out / "digits-convnet720.csv")
    assert len(done) <= 10 and len(done) == prov["progress"]["finished"]["main"]
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(out / "groundtruth.journal")))
    for summary in optuna.get_all_study_summaries(storage):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        assert not study.get_trials(states=(TrialState.RUNNING,))  # nothing left claimed by a stopped worker

    second = _build(out, "--long-archs", "0")  # same main protocol, no long pass: it completes
    assert second.returncode == 0, second.stderr
    assert json.loads((out / "provenance.json").read_text())["status"] == "complete"
    rows = _rows(out / "digits-convnet720.csv")
    assert sorted((r["arch_id"], r["seed"]) for r in rows) == sorted((p["arch_id"], s) for p in planned for s in ("0", "1"))
    for old in done:  # finished in the first run: the same training (trial and accuracy), not a new one
        new = next(r for r in rows if (r["arch_id"], r["seed"]) == (old["arch_id"], old["seed"]))
        assert (new["trial"], new["test_accuracy"], new["commit"]) == (old["trial"], old["test_accuracy"], old["commit"])
    main = next(s for s in optuna.get_all_study_summaries(storage) if s.study_name == prov["protocol"]["main"]["study"])
    trained = optuna.load_study(study_name=main.study_name, storage=storage).get_trials(states=(TrialState.COMPLETE,))
    assert len(trained) == 10  # each (architecture, seed) trained once over both runs
    for row in rows:
        assert 0 <= float(row["test_accuracy"]) <= 100 and int(row["params"]) > 0 and int(row["flops"]) > 0
        assert row["epochs"] == "2" and row["device"].startswith("cpu") and row["commit"]
    # every row names its data, as the study of its trainings recorded it; so does provenance.json (fix51a)
    recorded = optuna.load_study(study_name=main.study_name, storage=storage).user_attrs[gt.GROUND_TRUTH.attr]["data"]
    assert {(r["dataset"], r["data_sha256"]) for r in rows} == {("digits", recorded["content_sha256"])}
    data = json.loads((out / "provenance.json").read_text())["data"]
    assert data["content_sha256"] == recorded["content_sha256"] and data["tables"] == ["digits-convnet720.csv"]
    named = read_data(out / "digits-convnet720.csv", "--table")
    assert named is not None and (named.dataset, named.sha256) == ("digits", recorded["content_sha256"])
