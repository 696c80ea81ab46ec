"""Fidelity ladders: the spec parser (benchmarks/ladder.py) and the simulation on a table
(nas_proxy.calibrate.ladder_sim), on small fabricated tables whose answers are worked out by hand."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))  # the scripts import their neighbours by name

import ladder

from nas_proxy.calibrate import ladder_sim as sim
from nas_proxy.correlate.picks import compute, promote
from nas_proxy.errors import InvalidArgumentError

Rung = ladder.Rung

# --- the spec ---------------------------------------------------------------------------------


def test_parse_the_issue_example() -> None:
    rungs = ladder.parse_ladder("random-ipc10:1.0,early@1ep:0.2,full:3")
    assert rungs == (Rung("random-ipc10", 1.0), Rung("early@1ep", 0.2), Rung("full", 3))
    assert [type(r.keep) for r in rungs] == [float, float, int]  # "3" is a count, "1.0" a fraction
    assert ladder.format_ladder(rungs) == "random-ipc10:1.0,early@1ep:0.2,full:3"
    assert ladder.parse_ladder(ladder.format_ladder(rungs)) == rungs


def test_parse_spaces_and_an_implicit_first_keep() -> None:
    assert ladder.parse_ladder(" snip , early@0.1ep : 0.05 , full : 1 ") == (Rung("snip", 1.0), Rung("early@0.1ep", 0.05), Rung("full", 1))


def test_parse_checks_known_proxies() -> None:
    assert ladder.parse_ladder("snip:1.0,full:2", proxies=["snip"])[0] == Rung("snip", 1.0)
    with pytest.raises(InvalidArgumentError, match=r"unknown proxies randm-ipc10; known here: full, random-ipc10"):
        ladder.parse_ladder("randm-ipc10:1.0,full:2", proxies=["random-ipc10"])


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "write comma-separated rungs PROXY:KEEP"),
        ("random-ipc10:1.0,,full:3", "write comma-separated rungs PROXY:KEEP"),
        ("random-ipc10:1.0", "needs at least two rungs"),
        ("random-ipc10:0.5,full:3", "every candidate gets the first rung; write random-ipc10:1.0, not :0.5"),
        ("random-ipc10:1,full:3", "every candidate gets the first rung"),
        ("full:3,full:1", "the first rung is a proxy every candidate gets, not 'full'"),
        ("random-ipc10:1.0,early@1ep:0.2", "the last rung is real training of a count"),
        ("random-ipc10:1.0,full:0.5", "the last rung is real training of a count"),
        ("random-ipc10:1.0,full:0", "keeps 0; a count must be at least 1"),
        ("random-ipc10:1.0,early@1ep:1.5,full:3", "keeps '1.5'; write a fraction of the candidates in (0, 1]"),
        ("random-ipc10:1.0,early@1ep:-0.2,full:3", "keeps '-0.2'"),
        ("random-ipc10:1.0,early@1ep:nan,full:3", "keeps 'nan'"),
        ("random-ipc10:1.0,early@1ep,full:3", "rung 2 ('early@1ep') needs ':KEEP'"),
        ("random ipc10:1.0,full:3", "needs a proxy token before ':'"),
        (":1.0,full:3", "needs a proxy token before ':'"),
        ("random-ipc10:1.0,full:3,early@1ep:0.1,full:2", "'full' can only be the last rung"),
        ("random-ipc10:1.0,early@1ep:0.2,early@1ep:0.1,full:3", "early@1ep appears twice"),
        ("random-ipc10:1.0,early@0.1ep:0.1,early@1ep:0.2,full:3", "rung 3 keeps 0.2, more than rung 2's 0.1; a ladder narrows"),
        ("random-ipc10:1.0,early@0.1ep:5,early@1ep:8,full:3", "rung 3 keeps 8, more than rung 2's 5"),
        ("random-ipc10:1.0,early@0.1ep:5,early@1ep:0.2,full:3", "rung 3 keeps a fraction after a count"),
        ("random-ipc10:1.0,early@1ep:2,full:3", "rung 3 keeps 3, more than rung 2's 2"),
    ],
)
def test_parse_rejects_with_one_line(spec: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError) as e:
        ladder.parse_ladder(spec)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_sizes_round_fractions_up_and_never_grow() -> None:
    assert Rung("x", 0.07).size(100) == 7  # not 8: 0.07 * 100 is 7.000000000000001
    assert Rung("x", 0.05).size(50) == 3  # 2.5 rounds up
    assert Rung("x", 0.001).size(50) == 1  # at least one
    assert Rung("full", 3).size(100, previous=2) == 2  # a count is cut to the rung before
    assert ladder.sizes(ladder.parse_ladder("a:1.0,b:0.3,c:0.1,full:3"), 100) == [100, 30, 10, 3]
    assert ladder.sizes(ladder.parse_ladder("a:1.0,b:0.3,c:0.1,full:3"), 720) == [720, 216, 72, 3]
    assert ladder.sizes(ladder.parse_ladder("a:1.0,b:0.05,full:3"), 20) == [20, 1, 1]


# --- the simulation on a fabricated table -------------------------------------------------------

TEST = np.array([80.0, 90.0, 85.0, 70.0, 88.0, 60.0])  # the best is 1 (90)
VAL = np.array([80.5, 89.0, 86.0, 70.0, 89.5, 61.0])  # the independent training prefers 4 (89.5) to 1 (89.0)
FULL_S = np.array([10.0, 20.0, 30.0, 10.0, 20.0, 10.0])  # training all six: 100 s
EARLY = np.array([50.0, 70.0, 60.0, 40.0, 75.0, 30.0])  # after 1 of 3 epochs: prefers 4


def _cands() -> sim.Candidates:
    return sim.Candidates(
        TEST,
        {
            "perfect": sim.Fidelity(TEST.copy(), np.ones(6)),  # ranks exactly as the ground truth
            "backwards": sim.Fidelity(-TEST, np.ones(6), one_off=5.0),
            "early@1ep": sim.Fidelity(EARLY, FULL_S / 3, run="seed 1", at=1 / 3),
            "full": sim.Fidelity(VAL, FULL_S, run="seed 1", at=1.0),
        },
    )


def _run(spec: str, rows: list[list[int]] | None = None, promotion: str = "sync", share: bool = True) -> sim.Outcome:
    return sim.simulate(ladder.parse_ladder(spec), _cands(), rows, promotion, share)


def test_a_perfect_first_rung_costs_what_is_computed_by_hand() -> None:
    o = _run("perfect:1.0,full:1")
    assert o.regret.tolist() == [0.0]
    assert o.seconds.tolist() == [6 * 1.0 + 20.0]  # the proxy on all six, then the best one trained
    assert o.reference.tolist() == [100.0]
    assert o.ratio.tolist() == pytest.approx([100 / 26])
    assert o.reached.tolist() == [[6, 1]]


def test_the_pick_is_by_validation_never_test() -> None:
    o = _run("perfect:1.0,full:2")  # 1 and 4 trained; validation picks 4
    assert o.regret.tolist() == [pytest.approx(90.0 - 88.0)]
    assert o.seconds.tolist() == [6.0 + 20.0 + 20.0]


def test_a_bad_first_rung_misses_and_pays_its_one_off() -> None:
    o = _run("backwards:1.0,full:1")  # its favourite is the worst, 5
    assert o.regret.tolist() == [90.0 - 60.0]
    assert o.seconds.tolist() == [5.0 + 6.0 + 10.0]


def test_rungs_of_one_run_share_it_or_not() -> None:
    # 3 of 6 (1, 4, 2) stop after an epoch: (20 + 20 + 30) / 3; early stopping prefers 4, which trains on
    shared = _run("perfect:1.0,early@1ep:0.5,full:1")
    separate = _run("perfect:1.0,early@1ep:0.5,full:1", share=False)
    assert shared.reached.tolist() == [[6, 3, 1]]
    assert shared.regret.tolist() == separate.regret.tolist() == [pytest.approx(2.0)]
    assert shared.seconds.tolist() == [pytest.approx(6 + 70 / 3 + 20 * 2 / 3)]  # resumed: the last 2 epochs only
    assert separate.seconds.tolist() == [pytest.approx(6 + 70 / 3 + 20)]
    assert shared.rung_seconds.tolist() == [pytest.approx([6, 70 / 3, 40 / 3])]


def test_projection_scales_fraction_rungs_only() -> None:
    rungs = ladder.parse_ladder("perfect:1.0,early@1ep:0.5,full:1")
    o = sim.simulate(rungs, _cands())
    # on 12 candidates like these: the proxy and early stopping twice over, the one training once
    assert o.projected(rungs, 6, 12).tolist() == [pytest.approx(200 / (2 * 6 + 2 * 70 / 3 + 40 / 3))]


def test_two_rungs_are_promotion() -> None:
    rng = np.random.default_rng(3)
    scores, val, test, secs, full = (
        rng.normal(size=30),
        rng.normal(size=30),
        rng.normal(size=30),
        rng.uniform(size=30),
        rng.uniform(10, 20, size=30),
    )
    cands = sim.Candidates(test, {"p": sim.Fidelity(scores, secs), "full": sim.Fidelity(val, full, run="s", at=1.0)})
    for k in (1, 3, 7):
        o = sim.simulate(ladder.parse_ladder(f"p:1.0,full:{k}"), cands)
        got = promote(scores, val, test, k)
        assert o.regret[0] == pytest.approx(got.regret)
        assert o.seconds[0] == pytest.approx(compute(secs, 0.0, full, got.promoted)["cost_promoted_seconds"])


def test_failed_scores_rank_last() -> None:
    cands = _cands()
    broken = np.array([np.nan, np.nan, 1.0, 2.0, 3.0, 4.0])
    c = sim.Candidates(TEST, {**cands.fidelities, "broken": sim.Fidelity(broken, np.ones(6))})
    rungs = ladder.parse_ladder("broken:1.0,full:5")
    masks = sim.climb(rungs, c, np.arange(6)[None])
    assert masks[1, 0].tolist() == [True, False, True, True, True, True]  # of the two failures, the earlier fills the 5th place


def test_sync_ignores_order_async_does_not() -> None:
    forward, backward = [0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0]
    assert _run("perfect:1.0,full:1", [forward, backward]).regret.tolist() == [0.0, 0.0]
    # async, forward: 0 (first seen) and 1 (best so far) are trained; validation picks 1
    a = _run("perfect:1.0,full:1", [forward, backward], promotion="async")
    assert a.reached.tolist() == [[6, 2], [6, 3]]
    # backward: 5, 4 and 1 are trained (each the best so far); validation picks 4
    assert a.regret.tolist() == [0.0, pytest.approx(2.0)]
    assert a.seconds.tolist() == [6 + 10 + 20, 6 + 10 + 20 + 20]


def test_rows_are_resamples_of_the_candidates() -> None:
    o = _run("perfect:1.0,full:1", [[0, 0, 2, 3, 5, 5]])  # the best (1) left out: 2 is the best here
    assert o.regret.tolist() == [0.0]
    assert o.reference.tolist() == [10 + 10 + 30 + 10 + 10 + 10]


def test_grid_orders_rungs_by_cost() -> None:
    c = sim.Candidates(
        TEST, {"cheap": sim.Fidelity(TEST, np.ones(6)), "dear": sim.Fidelity(TEST, 5 * np.ones(6)), "full": sim.Fidelity(VAL, FULL_S)}
    )
    got = sim.grid(c, ["cheap", "dear"], ["cheap", "dear"], [0.5, 0.2], [1], depth=1)
    assert got == ["cheap:1.0,full:1", "cheap:1.0,dear:0.5,full:1", "cheap:1.0,dear:0.2,full:1", "dear:1.0,full:1"]


def test_choose_and_frontier() -> None:
    def row(spec: str, regret: float, mean: float, ratio: float) -> dict[str, object]:
        return {"spec": spec, "regret": regret, "boot": {"regret_mean": mean}, "ratio": ratio, "reached": [1, 1]}

    rows = [row("a", 0.0, 0.5, 50.0), row("b", 0.0, 0.05, 20.0), row("c", 1.0, 0.08, 30.0), row("d", 0.0, 0.3, 10.0)]
    ratio = lambda r: r["ratio"]  # noqa: E731
    assert sim.choose(rows, ratio, "mean")["spec"] == "c"  # the best bootstrap-mean regret under 0.1 with the most saving
    assert sim.choose(rows, ratio, "point")["spec"] == "a"
    assert [r["spec"] for r in sim.frontier(rows, ratio)] == ["a", "c", "b"]  # d is beaten by b on both


# --- the table and the command ----------------------------------------------------------------


def _table(tmp_path: Path) -> tuple[Path, Path]:
    fields = ["arch_id", "seed", "epochs", "test_accuracy", "val_accuracy", "val_accuracy_0.1ep", "val_accuracy_1ep", "seconds", "spec"]
    rows = []
    for i in range(6):
        for seed in (0, 1):
            shift = 0.0 if seed == 0 else 0.5
            rows.append(
                {
                    "arch_id": f"a{i}",
                    "seed": seed,
                    "epochs": 3,
                    "test_accuracy": TEST[i] + shift,
                    "val_accuracy": (TEST[i] if seed == 0 else VAL[i]),
                    "val_accuracy_0.1ep": EARLY[i] / 2 + seed,
                    "val_accuracy_1ep": EARLY[i] + seed,
                    "seconds": FULL_S[i] * (1 if seed else 2),  # seed 0's seconds are not what the ladder pays
                    "spec": json.dumps({"i": i}),
                }
            )
    table = tmp_path / "table.csv"
    with table.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    scores = tmp_path / "scores.csv"
    with scores.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["proxy", "arch_id", "score", "seconds"])
        w.writeheader()
        w.writerows({"proxy": "random", "arch_id": f"a{i}", "score": TEST[i], "seconds": 1.0} for i in range(6))
        w.writerows({"proxy": "early@1ep", "arch_id": f"a{i}", "score": -1, "seconds": ""} for i in range(6))  # skipped
    return table, scores


def test_load_candidates_reads_the_independent_seed(tmp_path: Path) -> None:
    table, scores = _table(tmp_path)
    c = sim.load_candidates(table, [scores], one_off={"random-ipc10": 2.0})
    assert sorted(c.fidelities) == ["early@0.1ep", "early@1ep", "full", "random-ipc10"]
    assert c.test.tolist() == TEST.tolist()  # seed 0's test accuracy judges
    assert c.get("full").scores.tolist() == VAL.tolist()  # seed 1's validation accuracy picks
    assert c.get("full").seconds.tolist() == FULL_S.tolist()
    assert c.get("early@1ep").scores.tolist() == (EARLY + 1).tolist()  # from the table's seed 1, not the scores file
    assert c.get("early@0.1ep").at == pytest.approx(0.1 / 3)
    assert c.get("early@0.1ep").seconds.tolist() == pytest.approx((FULL_S / 30).tolist())
    assert c.get("random-ipc10").one_off == 2.0
    with pytest.raises(InvalidArgumentError, match="other than the ground truth's 0"):
        sim.load_candidates(table, [scores], independent_seed=0)


def test_command_writes_the_ladders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table, scores = _table(tmp_path)
    argv = ["--table", str(table), "--scores", str(scores), "--one-off", "random-ipc10=0", "--bootstrap", "100", "--orders", "5"]
    assert ladder.main([*argv, "--ladder", "random-ipc10:1.0,full:1", "--out", str(tmp_path / "out")]) == 0
    result = json.loads((tmp_path / "out" / "ladders.json").read_text())
    (row,) = result["ladders"]
    assert (row["regret"], row["seconds"], row["reference_seconds"]) == (0.0, 6.0 + 20.0, 100.0)
    assert "`random-ipc10:1.0,full:1` | 6/1 | 0.00" in (tmp_path / "out" / "ladders.md").read_text()
    capsys.readouterr()
    assert ladder.main([*argv, "--ladder", "random-ipc10:1.0,snip:0.5,full:1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ladder.py: error: ladder 'random-ipc10:1.0,snip:0.5,full:1': unknown proxies snip") and err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "needle"),
    [  # stop 46, as a stranger; before: the traceback or the run each comment names
        (["--bootstrap", "0"], "--bootstrap must be in [100, 100000], got 0"),  # a table of nan, exit 0
        (["--bootstrap", "-1"], "--bootstrap must be in [100, 100000], got -1"),  # numpy's ValueError traceback
        (["--orders", "-1"], "--orders must be in [0, 100000], got -1"),  # numpy's ValueError traceback
        (["--seed", "-1"], "--seed must be at least 0, got -1"),  # numpy's ValueError traceback
        (["--space", "0"], "--space must be at least 1, got 0"),  # savings projected onto nothing, exit 0
        (["--space", "5"], "--space 5 is smaller than the 6 architectures measured"),
        (["--splits", "2"], "--splits changes nothing without --grid"),  # ignored
        (["--rows-csv", "{tmp}/r.csv", "--calibration-fraction", "0.3"], "--calibration-fraction, --rows-csv change nothing without"),
        (["--split-file", "{tmp}/split.csv"], "--split-file changes nothing without --grid"),  # ignored (no --part)
        (["--ladder", "random-ipc10:1.0,full:1"], "--ladder names random-ipc10:1.0,full:1 twice"),  # measured twice
        (["--out", "{tmp}/scores.csv"], "--out {tmp}/scores.csv is a file, not a folder"),  # FileExistsError traceback
    ],
)
def test_command_refuses_a_bad_input_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> None:
    table, scores = _table(tmp_path)
    base = ["--table", str(table), "--scores", str(scores), "--one-off", "random-ipc10=0", "--bootstrap", "100", "--orders", "0"]
    argv = [a.format(tmp=tmp_path) for a in argv]
    out = [] if "--out" in argv else ["--out", str(tmp_path / "out")]
    assert ladder.main([*base, "--ladder", "random-ipc10:1.0,full:1", *argv, *out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle.format(tmp=tmp_path) in err[0], err
    assert not (tmp_path / "out").exists() and not (tmp_path / "r.csv").exists()


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--rows-csv", "{tmp}"], "--rows-csv {tmp} is a folder"),  # IsADirectoryError after the whole grid
        (["--rows-csv", "{tmp}/no/r.csv", "--splits", "0"], None),  # its folder is made, as before
        (["--splits", "0", "--splits-bootstrap", "3"], "--splits-bootstrap changes nothing with --splits 0"),  # ignored
        # before fix48b its floor was 1: 0 was refused as "must be in [1, 100000]", 50 ran (N_BOOT_MIN, as --bootstrap, now)
        (["--splits", "2", "--splits-bootstrap", "0"], "--splits-bootstrap must be in [100, 100000], got 0"),
        (["--splits", "2", "--splits-bootstrap", "50"], "--splits-bootstrap must be in [100, 100000], got 50"),
        (["--splits", "0", "--split-file", "{tmp}/split.csv", "--split-seed", "3"], "--split-seed changes nothing with --splits 0"),
    ],
)
def test_command_grid_refuses_what_it_would_ignore_or_fail_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str | None
) -> None:
    table, scores = _table(tmp_path)
    (tmp_path / "split.csv").write_text("arch_id,role\n" + "".join(f"a{i},{'calibration' if i < 3 else 'evaluation'}\n" for i in range(6)))
    base = ["--table", str(table), "--scores", str(scores), "--one-off", "random-ipc10=0", "--bootstrap", "100", "--orders", "0", "--grid"]
    code = ladder.main([*base, *(a.format(tmp=tmp_path) for a in argv), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    if needle is None:
        assert code == 0 and (tmp_path / "no" / "r.csv").read_text().startswith("set,ladder,")
        return
    assert code == 2 and len(err) == 1 and needle.format(tmp=tmp_path) in err[0], err
    assert not (tmp_path / "out").exists()


def test_command_grid_chooses_on_calibration(tmp_path: Path) -> None:
    table, scores = _table(tmp_path)
    argv = ["--table", str(table), "--scores", str(scores), "--one-off", "random-ipc10=0", "--bootstrap", "100", "--orders", "3"]
    assert (
        ladder.main(
            [
                *argv,
                "--grid",
                "--splits",
                "2",
                "--splits-bootstrap",
                "100",  # the floor (N_BOOT_MIN), as --bootstrap's, since fix48b
                "--out",
                str(tmp_path / "out"),
                "--rows-csv",
                str(tmp_path / "rows.csv"),
            ]
        )
        == 0
    )
    grid = json.loads((tmp_path / "out" / "ladders.json").read_text())["grid"]
    cal = grid["calibration_ids"]
    assert len(cal) == 3 and set(cal) < {f"a{i}" for i in range(6)}
    for rule in ("mean", "point"):
        assert {c["n"] for c in grid["chosen"][rule].values()} == {3, 6}  # calibration and held-out halves, and all
        assert grid["chosen"][rule]["held_out"]["spec"] == grid["chosen"][rule]["calibration"]["spec"]
    assert len(grid["splits"]) == 4
    with (tmp_path / "rows.csv").open() as f:
        assert sum(1 for _ in f) == 1 + 2 * grid["n_ladders"]


def test_command_grid_reads_a_committed_split(tmp_path: Path) -> None:
    table, scores = _table(tmp_path)
    split = tmp_path / "split.csv"
    split.write_text(
        "# split.py: a comment line\narch_id,role\n" + "".join(f"a{i},{'calibration' if i in (1, 4) else 'evaluation'}\n" for i in range(6))
    )
    argv = ["--table", str(table), "--scores", str(scores), "--one-off", "random-ipc10=0", "--bootstrap", "100", "--orders", "0"]
    assert ladder.main([*argv, "--grid", "--splits", "0", "--split-file", str(split), "--out", str(tmp_path / "out")]) == 0
    grid = json.loads((tmp_path / "out" / "ladders.json").read_text())["grid"]
    assert grid["calibration_ids"] == ["a1", "a4"]
    assert grid["chosen"]["mean"]["held_out"]["n"] == 4
    split.write_text("arch_id,role\na1,calibration\n")
    with pytest.raises(InvalidArgumentError, match="gives no calibration/evaluation role to 5 architectures"):
        sim.read_split(split, [f"a{i}" for i in range(6)])
