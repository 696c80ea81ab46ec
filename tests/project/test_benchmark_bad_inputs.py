"""The benchmark scripts benchmarks/README.md tells users to run (distill_speed.py, search_speed.py,
sampler_overhead.py; and bootstrap_scipy.py, whose docstring does) under the command line's rule for bad input: one line on stderr, exit 2, nothing
written, before any measurement. Branch probe47 tried them as a stranger would; before it, each case
below was a traceback (a --json folder: after the whole run, its numbers lost), or a bad value ignored."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))  # the scripts import their neighbours by name

import bootstrap_scipy
import distill_speed
import sampler_overhead
import search_speed

CASES = [
    # sampler_overhead.py: each a traceback, but --window 0 (every trial summarised) and --json (after the run)
    (sampler_overhead, ["--samplers", "foo"], "unknown sampler 'foo'; known: bruteforce, gp, nsga2, random, tpe"),
    (sampler_overhead, ["--trials", "0"], "--trials must be at least 1, got 0"),  # optuna's "No trials are completed yet."
    (sampler_overhead, ["--window", "0"], "--window must be at least 1, got 0"),
    (sampler_overhead, ["--seeds", "0,"], "--seeds has an empty item in '0,'"),  # int('')
    (sampler_overhead, ["--seeds", "-1"], "--seeds must be at least 0, got -1"),  # numpy's seed error
    (sampler_overhead, ["--samplers", "random,random"], "--samplers names 'random' twice"),  # measured twice
    (sampler_overhead, ["--space", "nb201"], "--space nb201 is not a ConvNet space"),  # KeyError 'depth'
    (sampler_overhead, ["--json", "{tmp}"], "--json {tmp} is a folder; give the file to write"),  # IsADirectoryError
    # distill_speed.py
    (distill_speed, ["--ipc", "1,x"], "--ipc: expected an integer such as 10, got 'x' (in '1,x')"),  # int('x')
    (distill_speed, ["--threads", "-1"], "--threads must be at least 1, got -1"),  # torch's RuntimeError
    (distill_speed, ["--net-width", "0"], "--net-width must be at least 1, got 0"),
    (distill_speed, ["--json", "{tmp}"], "--json {tmp} is a folder; give the file to write"),  # after half an hour
    (distill_speed, ["--data-root", "{tmp}/none"], "data root {tmp}/none does not exist"),  # DataNotFoundError traceback
    # search_speed.py (a --synthetic folder with a meta.json: the script checks that much before it starts)
    (search_speed, ["--workers", "1,x"], "--workers: expected an integer such as 10, got 'x'"),  # int('x')
    (search_speed, ["--seed", "-1"], "--seed must be at least 0, got -1"),  # numpy's seed error
    (search_speed, ["--threads", "-1"], "--threads must be at least 1, got -1"),  # torch's RuntimeError
    (search_speed, ["--space", "nope"], "unknown search space 'nope'"),  # UnknownNameError traceback
    (search_speed, ["--n-archs", "100000"], "--n-archs 100000 is more than the 162 architectures of space convnet-cpu"),  # minutes
    (search_speed, ["--json", "{tmp}"], "--json {tmp} is a folder; give the file to write"),  # after every trial
    # bootstrap_scipy.py, before fix48b: 0 a traceback, 50 a comparison on fewer resamples than any command takes (N_BOOT_MIN)
    (bootstrap_scipy, ["--resamples", "0"], "bootstrap_scipy.py: error: --resamples must be in [100, 100000], got 0"),
    (bootstrap_scipy, ["--resamples", "50"], "bootstrap_scipy.py: error: --resamples must be in [100, 100000], got 50"),
    (bootstrap_scipy, ["--reps", "1"], "--reps must be at least 2, got 1"),  # statistics.quantiles' traceback after the work
    (bootstrap_scipy, ["--archs", "20", "1"], "--archs must be at least 3, got 1"),  # before stop 48: scipy's ValueError traceback
]
BASE: dict[ModuleType, list[str]] = {
    sampler_overhead: ["--samplers", "random", "--trials", "2", "--seeds", "0"],
    distill_speed: ["--ipc", "1", "--repeats", "1", "--device", "cpu", "--no-memory", "--no-distill"],
    search_speed: ["--synthetic", "{tmp}/syn", "--space", "convnet-cpu", "--n-archs", "1", "--epochs", "1", "--full-epochs", "0"],
    bootstrap_scipy: ["--archs", "20", "--reps", "2", "--resamples", "100"],
}


@pytest.mark.parametrize(("script", "argv", "needle"), CASES, ids=[f"{s.__name__}:{' '.join(a)}" for s, a, _ in CASES])
def test_a_benchmark_refuses_a_bad_input_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], script: ModuleType, argv: list[str], needle: str
) -> None:
    (tmp_path / "syn").mkdir()
    (tmp_path / "syn" / "meta.json").write_text("{}")
    before = sorted(tmp_path.rglob("*"))
    argv = [a.format(tmp=tmp_path) for a in [*BASE[script], *argv]]  # the case's option last: it wins
    assert script.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle.format(tmp=tmp_path) in err[0], err
    assert sorted(tmp_path.rglob("*")) == before
