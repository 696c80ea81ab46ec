"""Issue 20's ``search-720`` section of ``make bench-gpu`` (benchmarks/gpu_search.py), rehearsed on CPU as its dry
run sizes it: in this process, the whole section (distillation, the search of a whole space with promotion,
the search on a random real subset) and a second call on the same state, then on its packed tarball; the
accounting of calls cut by a deadline on recorded calls; the commands against the CLI's parser. The whole dry
run through ``gpu_check.sh`` is the slow test at the end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests import warm

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
pytestmark = pytest.mark.usefixtures("section_env")


@pytest.fixture()
def section_env(bench_modules: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT))  # the dry run's fabricated data comes from tests.fabricate
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the section's commands share a small machine, as gpu_check's dry run sets it
    import gpu_common

    # each phase's `python -m nas_proxy ...` forked warm (tests/warm.py: a real process in its own session, as
    # run_group asks), not a cold interpreter that imports torch again; the dry run through gpu_check.sh starts them cold
    monkeypatch.setattr(gpu_common, "subprocess", SimpleNamespace(**{**vars(subprocess), "Popen": warm.Popen}))


def context(tmp_path: Path, dry_run: bool = True, **sizes: Any) -> Any:
    from gpu_common import make_plan
    from gpu_context import Context

    (tmp_path / "out").mkdir(exist_ok=True)
    plan = replace(make_plan(dry_run), **sizes)
    return Context(plan, ROOT, tmp_path / "out", tmp_path / "work", None, 0, time.time() + 900, "abc123")


def trials(journal: Path) -> dict[str, int]:
    """Finished trials of every study of a journal, read with Optuna alone (not the section's reader)."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(journal)))
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return {
        s.study_name: len(optuna.load_study(study_name=s.study_name, storage=storage).get_trials(states=states))
        for s in optuna.get_all_study_summaries(storage)
    }


def test_section_measures_every_phase_and_a_second_call_redoes_no_trial(tmp_path: Path) -> None:
    from gpu_context import Recorder
    from gpu_search import run_search_section

    # one process, one iteration and epoch, no second search: the dry run's two workers and the random-subset
    # search cost start-ups, not coverage (the slow test below runs the section as the dry run sizes it)
    ctx = context(tmp_path, s7_workers=1, s7_second_proxy=None, s7_distill_iterations=1, proxy_epochs=1)
    rec = Recorder(tmp_path / "first.json")
    run_search_section(ctx, rec)
    assert "status" not in rec.data, rec.data.get("reason")
    phases = rec.data["call"]["phases"]
    assert {p: e["status"] for p, e in phases.items()} == {"distill": "distilled", "search": "complete"}
    assert rec.data["resumed"] is False and rec.data["state"]["from"] == "new"
    s = rec.data["result"]["search"]
    assert s["measured_in_one_call"] and all(s[k] > 0 for k in ("distill_s", "trials_s", "promotion_s", "trials_per_hour"))
    assert s["total_s"] == pytest.approx(s["distill_s"] + s["search_wall_s"], abs=0.02) and isinstance(s["meets_target"], bool)
    assert s["trials_s"] + s["promotion_s"] == pytest.approx(s["search_wall_s"], abs=0.02)
    assert s["distinct_archs"] == s["trials_after"] == 6  # bruteforce: convnet-small whole, each architecture once
    assert s["pick"]["arch_id"] == s["promoted"][0]["arch_id"] and 0 <= s["pick"]["real_val_accuracy"] <= 100
    state = ctx.work / "search-720-state"
    journal = state / "search" / "journal.log"
    counts = trials(journal)
    assert counts.pop("search720-datadam-ipc10") == 6 and list(counts.values()) == [1]  # the trials; the one promotion training
    size = journal.stat().st_size

    again = Recorder(tmp_path / "again.json")
    run_search_section(ctx, again)
    assert trials(journal)["search720-datadam-ipc10"] == 6 and journal.stat().st_size == size  # nothing appended: no trial, no training
    assert again.data["resumed"] is True and again.data["state"]["from"].startswith("kept")
    assert {e["status"] for e in again.data["call"]["phases"].values()} == {"reused"}
    assert again.data["result"]["search"]["total_s"] == s["total_s"]  # the measurement of the call that made it

    shutil.move(ctx.out / "search-720" / "state.tar.gz", ctx.work / "search-720-state.tar.gz")  # a fresh machine, the packed state
    shutil.rmtree(state)
    fresh = Recorder(tmp_path / "fresh.json")
    run_search_section(ctx, fresh)
    assert fresh.data["state"]["from"].startswith("unpacked") and fresh.data["state"]["calls_before"] == 2
    assert {e["status"] for e in fresh.data["call"]["phases"].values()} == {"reused"} and "status" not in fresh.data
    assert not (state / "set" / "checkpoint.safetensors").exists()  # a finished set's checkpoint is not packed


def test_a_call_stopped_by_the_drivers_sigterm_still_packs_its_state_and_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before, the state was packed at the section's end only: a SIGTERM past the limit lost the call's record."""
    import gpu_search
    from gpu_context import Recorder

    def stopped(ctx: Any, state: Path) -> dict[str, Any]:
        (state / "set").mkdir(parents=True)
        (state / "set" / "checkpoint.safetensors").write_bytes(b"what the distillation kept")
        raise SystemExit(143)  # how terminated_as_exit delivers the driver's SIGTERM

    monkeypatch.setattr(gpu_search, "run_distill_phase", stopped)
    ctx = context(tmp_path)
    rec = Recorder(tmp_path / "cut.json")
    with pytest.raises(SystemExit):
        gpu_search.run_search_section(ctx, rec)
    assert (ctx.out / "search-720" / "state.tar.gz").is_file() and rec.data["packed"]["bytes"] > 0
    assert "result" in rec.data  # the summary of the calls so far


def call(n: int, **phases: dict[str, Any]) -> dict[str, Any]:
    return {"call": n, "device": "dev", "commit": "c", "phases": phases}


SEARCH = {"status": "complete", "trials_before": 0, "promoted_before": 0, "wall_s": 100.0, "search_s": 80.0, "promotion_s": 20.0}


def test_summarise_gives_a_total_only_for_one_call() -> None:
    from gpu_search import summarise

    distilled = {"status": "distilled", "from_scratch": True, "wall_s": 50.0}
    one = summarise([call(1, distill=distilled, search={**SEARCH, "trials_per_hour": 30000})])["search"]
    assert one["measured_in_one_call"] and one["total_s"] == 150.0 and one["meets_target"] is False and one["trials_s"] == 80.0

    cut = {"status": "cut", "trials_before": 0, "trials_in_call": 300, "wall_s": 40.0, "promoted_before": 0}
    rest = {**SEARCH, "trials_before": 300, "trials_in_call": 420}
    split = summarise([call(1, distill=distilled, search=cut), call(2, distill={"status": "reused"}, search=rest)])["search"]
    assert not split["measured_in_one_call"] and split["total_s"] is None and split["meets_target"] is None
    assert "trials_s" not in split and "sum_of_phases_s" not in split  # no whole search: no seconds for it at all
    assert [(r["call"], r["phase"], r.get("trials_in_call")) for r in split["per_call"]] == [
        (1, "distill", None),
        (1, "search", 300),
        (2, "search", 420),
    ]

    apart = summarise([call(1, distill=distilled, search={"status": "waiting"}), call(2, distill={"status": "reused"}, search=SEARCH)])
    assert apart["search"]["total_s"] is None and apart["search"]["sum_of_phases_s"] == 150.0 and "[1, 2]" in apart["search"]["note"]

    resumed = {"status": "distilled", "from_scratch": False, "wall_s": 30.0}  # continued from a checkpoint: not measured whole
    assert "distill_s" not in summarise([call(1, distill=resumed, search=SEARCH)])["search"]


def test_commands_are_the_clis_and_carry_the_promotion_flags(tmp_path: Path) -> None:
    import gpu_search

    from nas_proxy.cli import build_parser

    ctx = context(tmp_path, dry_run=False)  # the GPU's plan
    parser = build_parser()
    distill = parser.parse_args(gpu_search.distill_command(ctx, tmp_path / "set")[3:])
    assert (distill.dataset, distill.method, distill.ipc, distill.iterations) == ("fashion-mnist", "datadam", 10, 8000)  # the paper's
    for phase in ("search", "random"):
        cmd = gpu_search.search_command(ctx, tmp_path, phase)
        assert cmd[-2:] == gpu_search.PROMOTE_FLAGS
        a = parser.parse_args(cmd[3:])
        assert a.promote_protocol == "fast"  # promotion with the fast trainer
        assert (a.space, a.sampler, a.pruner, a.n_trials, a.workers, a.promote) == ("convnet720", "bruteforce", "none", 720, 8, 3)
        assert (a.synthetic is None) == (phase == "random") and (a.proxy_name == "random-ipc10") == (phase == "random")
        assert a.promote_epochs is None and a.epochs is None  # the product's defaults on the GPU


@pytest.mark.slow
def test_dry_run_of_search_720_through_gpu_check(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "OUT": str(out)}
    cmd = ["bash", str(BENCHMARKS / "gpu_check.sh"), "--python", sys.executable, "--dry-run", "--sections", "search-720"]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    s = json.loads((out / "results.json").read_text())["sections"]["search-720"]
    assert s["status"] == "ok", s.get("reason")
    r = s["result"]
    assert r["search"]["measured_in_one_call"] and r["random"]["measured_in_one_call"]
    assert r["random"]["total_s"] == r["random"]["search_wall_s"] and "distill_s" not in r["random"]  # no distillation for it
    assert s["plan"]["s7_workers"] == 2 and r["search"]["distinct_archs"] == r["random"]["distinct_archs"] == 6
    assert (out / "search-720" / "state.tar.gz").is_file() and "whole 720-architecture search" in (out / "gpu_results.md").read_text()
