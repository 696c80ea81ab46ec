"""``nasproxy calibrate --ladders``: candidate proxies and ladders measured on calibration
architectures of a fabricated ground-truth table whose answer is known by construction, the profile
it writes, and ``search --proxy-profile`` taking the chosen ladder from it (in-process, no training)."""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest

from nas_proxy.calibrate import ladder_sim as sim
from nas_proxy.calibrate.config import LadderChoiceConfig
from nas_proxy.calibrate.ladder_choice import choose_ladder, default_ladders
from nas_proxy.cli import main
from nas_proxy.profile import ProxyProfile, read_profile, write_profile
from nas_proxy.spaces import get_space

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

N = 20
TEST = np.linspace(80.0, 99.0, N)  # architecture i's ground truth; the best is the last
# by construction: "exact" ranks exactly as the ground truth and costs 0.01 s, "slow" too at 1 s,
# "backwards" ranks them in reverse at 0.001 s; full trainings cost 10 s. The cheapest ladder that
# finds the best in every resample is "exact:1.0,full:1": the best by "exact" is the best, one
# training; anything starting on "backwards" drops the best (it is its last), and "slow" costs more.
SCORES = {"exact": (TEST, 0.01), "slow": (TEST + 1.0, 1.0), "backwards": (-TEST, 0.001)}
FULL_S = 10.0
SPECS = [  # architecture i's: N distinct ones of space convnet-cpu
    get_space("convnet-cpu").sample(optuna.create_study(sampler=optuna.samplers.RandomSampler(i)).ask()) for i in range(60)
]
SPECS = [dict(t) for t in dict.fromkeys(tuple(sorted(spec.items())) for spec in SPECS)][:N]


def _cands() -> sim.Candidates:
    fid = {name: sim.Fidelity(values.copy(), np.full(N, secs)) for name, (values, secs) in SCORES.items()}
    fid["full"] = sim.Fidelity(TEST + 0.5, np.full(N, FULL_S), run="seed 1", at=1.0)
    return sim.Candidates(TEST.copy(), fid, tuple(f"a{i:02d}" for i in range(N)))


def test_the_cheapest_ladder_at_zero_regret_is_chosen() -> None:
    choice = choose_ladder(_cands(), LadderChoiceConfig(n_boot=200))
    assert choice.chosen == "exact:1.0,full:1"
    row = choice.chosen_row
    assert row["regret"] == 0.0 and row["boot"]["regret_mean"] == 0.0 and row["boot"]["regret_ci"] == [0.0, 0.0]
    # 20 candidates x 10 s against 20 x 0.01 s + one 10 s training, worked out by hand
    assert row["projected"][str(N)] == pytest.approx(N * FULL_S / (N * 0.01 + FULL_S))
    # every candidate is measured and reported: proxies alone and ladders built from them
    specs = [r["spec"] for r in choice.rows]
    assert {"exact:1.0,full:1", "slow:1.0,full:3", "backwards:1.0,full:2"} <= set(specs)
    assert any(s.count(",") == 3 for s in specs)  # two middle rungs
    assert choice.proxies["backwards"]["spearman"] == pytest.approx(-1.0)
    lo, hi = choice.proxies["exact"]["spearman_ci"]
    assert lo <= 1.0 <= hi + 1e-12


def test_the_target_and_given_ladders_change_the_choice() -> None:
    # only ladders that miss: none meets the target, so the lowest mean regret wins
    given = ["backwards:1.0,full:1", "backwards:1.0,full:3", "backwards:1.0,slow:0.5,full:1"]
    choice = choose_ladder(_cands(), LadderChoiceConfig(n_boot=200), given)
    assert [r["spec"] for r in choice.rows] == given
    assert choice.chosen == "backwards:1.0,slow:0.5,full:1"  # the only one whose second rung can see the best
    # projected to a larger search, a fraction rung grows and a count stays: the saving changes, the choice does not
    big = choose_ladder(_cands(), LadderChoiceConfig(n_boot=200, candidates=200))
    assert big.chosen == "exact:1.0,full:1"
    assert big.chosen_row["projected"]["200"] == pytest.approx(200 * FULL_S / (200 * 0.01 + FULL_S))


def test_default_ladders_use_only_training_proxies_as_middle_rungs() -> None:
    cands = _cands()
    fid = dict(cands.fidelities)
    fid["synflow"] = sim.Fidelity(TEST.copy(), np.full(N, 0.0001))  # a training-free score: first rung only
    specs = default_ladders(sim.Candidates(cands.test, fid, cands.ids), LadderChoiceConfig())
    assert any(s.startswith("synflow:1.0,") for s in specs)
    assert not any(",synflow:" in s for s in specs)


def _files(tmp: Path) -> tuple[Path, Path, Path]:
    """The fabricated table (seed 0 judges, seed 1's validation accuracy and seconds are the full
    rung), its proxy scores and a split holding the last 4 architectures out."""
    table, scores, split = tmp / "table.csv", tmp / "scores.csv", tmp / "split.csv"
    with table.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arch_id", "seed", "epochs", "test_accuracy", "val_accuracy", "seconds", "spec"])
        for seed in (0, 1):
            w.writerows([f"a{i:02d}", seed, 3, TEST[i], TEST[i] + 0.5, FULL_S, json.dumps(SPECS[i])] for i in range(N))
    with scores.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["proxy", "arch_id", "score", "seconds"])
        for name, (values, secs) in SCORES.items():
            w.writerows([name, f"a{i:02d}", values[i], secs] for i in range(N))
    # the held-out part holds the best architecture: calibration must not see it
    split.write_text(
        "# fabricated\narch_id,role\n" + "".join(f"a{i:02d},{'evaluation' if i >= N - 4 else 'calibration'}\n" for i in range(N))
    )
    return table, scores, split


def test_command_writes_a_profile_that_search_climbs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from nas_proxy.cli import build_parser
    from nas_proxy.cli.common import Config
    from nas_proxy.cli.search import search_config

    table, scores, split = _files(tmp_path)
    out = tmp_path / "profile.toml"
    argv = ["calibrate", "--ladders", "auto", "--truth", str(table), "--scores", str(scores), "--split", str(split)]
    assert main([*argv, "--n-boot", "100", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "chosen: exact:1.0,full:1" in printed
    profile = read_profile(out)
    assert profile.ladder == "exact:1.0,full:1" and profile.proxy == {}
    assert tomllib.loads(out.read_text())["format_version"] == 3  # fix50d: it holds proxies, nasproxy_version, inputs.simulation
    assert profile.calibration["architectures"] == [f"a{i:02d}" for i in range(N - 4)]  # never the held-out ones
    every = list(csv.DictReader((tmp_path / "profile-ladders.csv").read_text().splitlines()))
    assert len(every) == profile.calibration["candidate_ladders"] and sum(int(r["chosen"]) for r in every) == 1

    def config(*flags: str) -> object:
        args = build_parser().parse_args(
            ["search", "--space", "convnet-cpu", "--study", "s", "--n-trials", "4", "--dataset", "digits", *flags]
        )
        return search_config(args, Config(None))[0]

    assert config("--proxy-profile", str(out)).ladder == "exact:1.0,full:1"  # type: ignore[attr-defined]
    assert config("--proxy-profile", str(out), "--ladder", "synflow:1.0,full:2").ladder == "synflow:1.0,full:2"  # type: ignore[attr-defined]
    named = config("--proxy-profile", str(out), "--proxy", "synflow")
    assert named.ladder is None and named.proxy_name == "synflow"  # type: ignore[attr-defined]


def test_a_ladders_profile_records_its_space_and_a_search_of_another_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """fix43a: calibrate --ladders --space records the space and its definition's SHA-256, as the protocol study's
    profile does; before, --space was refused with --ladders and the profile recorded none: any space passed."""
    from nas_proxy.errors import InvalidArgumentError
    from nas_proxy.spaces import get_space

    table, scores, _ = _files(tmp_path)
    out = tmp_path / "profile.toml"
    argv = ["calibrate", "--ladders", "exact:1.0,full:1", "--truth", str(table), "--scores", str(scores), "--n-boot", "100"]
    assert main([*argv, "--space", "convnet-cpu", "--out", str(out), "--quiet"]) == 0
    profile = read_profile(out)
    assert profile.calibration["space"] == "convnet-cpu"
    assert profile.calibration["space_sha256"] == get_space("convnet-cpu").definition_sha256()
    profile.check_space("convnet-cpu", "--proxy-profile p")  # its own space passes
    with pytest.raises(
        InvalidArgumentError, match=r"was calibrated on architectures of space 'convnet-cpu', and space 'nb201' holds other"
    ):
        profile.check_space("nb201", "--proxy-profile p")
    # a table of another space's architectures, calibrated under this one's name: refused, nothing written (its profile
    # would pass a search of this space; the review of stop 43)
    table.write_text(table.read_text().replace('""pooling""', '""pool""'), encoding="utf-8")  # csv doubles the quotes
    out.unlink()
    assert main([*argv, "--space", "convnet-cpu", "--out", str(out), "--quiet"]) == 2
    assert re.search(r"architecture \w+ is outside space 'convnet-cpu': ", capsys.readouterr().err)
    assert not out.exists()


def test_a_ladders_profile_records_its_tables_dataset_and_a_search_on_another_is_refused(tmp_path: Path) -> None:
    """Stop 51: a table that names its data (fix51a's dataset column) gives the profile its dataset, and a search
    on other data is refused; before, the profile recorded none, and a digits search climbed a ladder chosen on
    Fashion-MNIST accuracies without a word. A table that names no data gives a profile that passes, as before."""
    from nas_proxy.cli import build_parser
    from nas_proxy.cli.common import Config
    from nas_proxy.cli.search import search_config
    from nas_proxy.errors import InvalidArgumentError

    table, scores, _ = _files(tmp_path)
    rows = list(csv.reader(table.read_text().splitlines()))
    with table.open("w", newline="") as f:
        csv.writer(f).writerows([[*rows[0], "dataset"], *([*r, "fashion-mnist"] for r in rows[1:])])
    out = tmp_path / "profile.toml"
    argv = ["calibrate", "--ladders", "exact:1.0,full:1", "--truth", str(table), "--scores", str(scores), "--n-boot", "100"]
    assert main([*argv, "--out", str(out), "--quiet"]) == 0
    assert read_profile(out).calibration["dataset"] == "fashion-mnist"

    def config(dataset: str) -> object:
        argv = ["search", "--space", "convnet-cpu", "--study", "s", "--n-trials", "4", "--dataset", dataset, "--proxy-profile", str(out)]
        return search_config(build_parser().parse_args(argv), Config(None))[0]

    assert config("fashion-mnist").ladder == "exact:1.0,full:1"  # type: ignore[attr-defined]
    with pytest.raises(
        InvalidArgumentError,
        match=rf"--proxy-profile {out} was calibrated on fashion-mnist data \({table}\), this search's data is digits: its protocol",
    ):
        config("digits")


def test_a_ladders_profile_records_its_tables_data_digest_and_a_set_of_another_copy_is_refused(tmp_path: Path) -> None:
    """fix53a: the profile recorded the table's dataset name but not its digest (data_sha256), so a search on a set
    distilled from another copy of that data (its images edited since) climbed the ladder without a word. The digest is
    recorded now and checked as the set is; a profile without one (written before) passes, as before."""
    from nas_proxy.errors import DataChangedError

    table, scores, _ = _files(tmp_path)
    measured, other = "a" * 64, "b" * 64
    rows = list(csv.reader(table.read_text().splitlines()))
    with table.open("w", newline="") as f:
        csv.writer(f).writerows([[*rows[0], "dataset", "data_sha256"], *([*r, "digits", measured] for r in rows[1:])])
    out = tmp_path / "profile.toml"
    argv = ["calibrate", "--ladders", "exact:1.0,full:1", "--truth", str(table), "--scores", str(scores), "--n-boot", "100"]
    assert main([*argv, "--out", str(out), "--quiet"]) == 0
    profile = read_profile(out)
    assert profile.calibration["dataset"] == "digits" and profile.calibration["dataset_sha256"] == measured

    def meta(sha: str) -> dict[str, Any]:  # a digits set's meta.json, as far as the check reads it
        return {"dataset": {"name": "digits", "content_sha256": sha}, "tensors_sha256": "c" * 64}

    assert profile.check_set(meta(measured), "syn", f"--proxy-profile {out}") is None
    with pytest.raises(DataChangedError) as refused:
        profile.check_set(meta(other), "syn", f"--proxy-profile {out}")
    # review54: said of the set's recorded digest (at stop 53 in the words of data read now: "found now", "--data-root
    # points at another copy", "give the data it was made from", though the user gives a set and no data is read)
    assert str(refused.value) == (
        f"--proxy-profile {out} was calibrated on other digits images or labels than syn was distilled from (content_sha256 "
        f"{measured[:12]}... there, {other[:12]}... in the set); give a set distilled from the data the profile was "
        "calibrated on, calibrate again on this set's data (nasproxy calibrate --ladders), or drop --proxy-profile"
    )
    old = ProxyProfile(profile.proxy, {k: v for k, v in profile.calibration.items() if k != "dataset_sha256"}, profile.ladder)
    assert old.check_set(meta(other), "syn", f"--proxy-profile {out}") is None  # recorded none: taken as before


def test_profile_ladder_round_trip_and_bad_ladders(tmp_path: Path) -> None:
    from nas_proxy.errors import InvalidArgumentError

    path = write_profile(ProxyProfile({"epochs": 5}, {"regret": 0.0}, "random-ipc10:1.0,full:3"), tmp_path / "p.toml")
    again = read_profile(path)
    assert (again.ladder, again.proxy, again.calibration) == ("random-ipc10:1.0,full:3", {"epochs": 5}, {"regret": 0.0})
    text = path.read_text()
    for bad, message in (
        (text.replace('"random-ipc10:1.0,full:3"', '"random-ipc10:1.0"'), "search.ladder 'random-ipc10:1.0': needs at least two rungs"),
        (text.replace('ladder = "random-ipc10:1.0,full:3"', "ladder = 3"), "search.ladder must be a string"),
        (text.replace("\n[search]\n", "\n[search]\nrungs = 2\n"), "unknown key search.rungs"),
    ):
        path.write_text(bad)
        with pytest.raises(InvalidArgumentError, match=message):
            read_profile(path)


def test_run_climbs_the_profile_ladder_where_the_preset_names_none(tmp_path: Path) -> None:
    from nas_proxy.pipeline import plan

    profile = write_profile(ProxyProfile({}, {}, "synflow:1.0,full:2"), tmp_path / "p.toml")
    preset = tmp_path / "preset.toml"
    base = 'name = "t"\nruns = "%s"\n[search]\nspace = "convnet-cpu"\ndataset = "digits"\nn_trials = 4\n' % (tmp_path / "runs")
    preset.write_text(base)
    assert plan(preset, proxy_profile=str(profile)).search.ladder == "synflow:1.0,full:2"
    preset.write_text(base + 'proxy_name = "random-ipc10"\n')  # the preset names its proxy: it wins
    chosen = plan(preset, proxy_profile=str(profile)).search
    assert (chosen.ladder, chosen.proxy_name) == (None, "random-ipc10")


def test_files_with_a_byte_order_mark_and_crlf_line_ends_read_as_plain_ones(tmp_path: Path) -> None:
    """A table, scores and split saved by a spreadsheet (a UTF-8 byte-order mark, CRLF line ends) are
    the same files: before, the mark glued to the first column's name refused them, or raised KeyError."""
    table, scores, split = _files(tmp_path)
    plain = sim.load_candidates(table, [scores])
    for path in (table, scores, split):
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    marked = sim.load_candidates(table, [scores])
    assert marked.ids == plain.ids and sorted(marked.fidelities) == sorted(plain.fidelities)
    for name, f in plain.fidelities.items():
        assert np.array_equal(marked.fidelities[name].scores, f.scores) and np.array_equal(marked.fidelities[name].seconds, f.seconds)
    cal, held = sim.read_split(split, marked.ids)
    assert len(cal) == N - 4 and len(held) == 4


def test_a_full_disk_at_the_second_file_leaves_neither(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The disk fills between the profile and the candidates' CSV: before, the profile was left
    without its table (the CSV failed after it); now the CSV goes first and is removed when the
    profile cannot be written. Whichever of the two is written second finds the disk full."""
    import nas_proxy.files
    import nas_proxy.profile
    from nas_proxy.files import DiskFullError

    calls: list[str] = []

    def second_fails(name: str, real: Any) -> Any:
        def write(obj: Any, path: Path) -> Any:
            if len(calls) == 1:
                raise DiskFullError(Path(path), 100, 0)
            calls.append(name)
            return real(obj, path) if name == "profile" else real(path, obj)

        return write

    real_text, real_profile = nas_proxy.files.write_text, nas_proxy.profile.write_profile
    monkeypatch.setattr(nas_proxy.files, "write_text", lambda path, text: second_fails("csv", real_text)(text, path))
    monkeypatch.setattr(nas_proxy.profile, "write_profile", second_fails("profile", real_profile))
    table, scores, _ = _files(tmp_path)
    out = tmp_path / "out" / "profile.toml"
    out.parent.mkdir()
    assert (
        main(["calibrate", "--ladders", "auto", "--truth", str(table), "--scores", str(scores), "--n-boot", "100", "--out", str(out)]) == 4
    )
    assert "no space left on device" in capsys.readouterr().err
    assert len(calls) == 1 and list(out.parent.iterdir()) == []


def test_the_same_command_again_keeps_the_profile_and_other_inputs_choose_again(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """fix48a: the profile records what it was computed from (the SHA-256 of the table, each scores file, the split
    and the options) and of the candidates' table beside it. Before, the same command run again measured every
    candidate again (27 s on benchmarks/groundtruth's table) and rewrote the same two files."""
    import os

    table, scores, split = _files(tmp_path)
    out = tmp_path / "profile.toml"
    every = tmp_path / "profile-ladders.csv"
    argv = ["calibrate", "--ladders", "auto", "--truth", str(table), "--scores", str(scores), "--split", str(split)]
    argv += ["--n-boot", "100", "--out", str(out), "--quiet"]

    def inodes() -> tuple[int, int]:  # a file written again (atomically: a new file renamed over it) has another
        return os.stat(out).st_ino, os.stat(every).st_ino

    assert main(argv) == 0
    capsys.readouterr()
    first = inodes()
    assert main(argv) == 0
    assert capsys.readouterr().out == (
        f"{out} already written (same inputs; nothing measured again): chosen exact:1.0,full:1; every candidate: {every}\n"
    )
    assert inodes() == first
    assert main([*argv, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["reused"] is True and shown["chosen"] == "exact:1.0,full:1" and inodes() == first

    # a scores file changed: measured again, and said so; then the same command keeps that one
    scores.write_text(scores.read_text().replace("\nexact,a00,80.0,", "\nexact,a00,80.5,", 1))
    assert main(argv) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"{out} was written from other inputs (--scores changed); choosing again\n") and "chosen: exact" in said
    assert inodes() != first
    second = inodes()
    assert main(argv) == 0 and "already written (same inputs" in capsys.readouterr().out and inodes() == second
    # an option that changes the choice, and the candidates' table gone: measured again
    assert main([*argv, "--target-regret", "0.5"]) == 0
    assert "other inputs (the options changed); choosing again" in capsys.readouterr().out
    every.unlink()
    assert main([*argv, "--target-regret", "0.5"]) == 0
    assert f"{every}, written with {out}, is missing or changed since; choosing again" in capsys.readouterr().out
    assert every.is_file()


def test_a_hand_edited_calibration_table_is_refused_in_one_line(tmp_path: Path) -> None:
    """fix48a: [calibration] values out of the range a calibration writes them in, and a malformed record of the
    inputs, are refused by the reader; before, p_regret_ok = 1.5, seed = -1 or architectures = [3] were read."""
    from nas_proxy.errors import InvalidArgumentError

    sha = "a" * 64
    good = {"regret": 0.0, "p_regret_ok": 1.0, "seed": 0, "inputs": {"truth": sha, "scores": [sha, sha], "options": sha}}
    path = write_profile(ProxyProfile({}, good, "exact:1.0,full:1"), tmp_path / "p.toml")
    assert read_profile(path).calibration == good  # an inline table round trip
    text = path.read_text()
    for old, new, message in (
        ("p_regret_ok = 1.0", "p_regret_ok = 1.5", r"calibration.p_regret_ok must be in \[0, 1\], got 1.5"),
        ("seed = 0", "seed = -1", r"calibration.seed must be in \[0, 2147483647\], got -1"),
        ("regret = 0.0", "regret = -1.0", r"calibration.regret must be in \[0, 100\], got -1.0"),
        ("seed = 0", "seed = 0\narchitectures = [3]", "calibration.architectures must be a list of non-empty strings, got 3 in it"),
        ("seed = 0", "seed = 0\nregret_interval = [-1.0, 2.0]", r"the ends of calibration.regret_interval must be in \[0, 100\]"),
        ('"options" =', '"opts" =', "unknown key calibration.inputs.opts; its keys are truth, scores, split, options"),
        ('"scores" = [', '"scores" = ["x", ', "calibration.inputs.scores must be a scores file's SHA-256 \\(64 hex digits\\), got 'x'"),
        (f'"truth" = "{sha}", ', "", "calibration.inputs.truth must be the ground-truth table's SHA-256"),
        ("inputs = {", 'inputs = "x"\nold = {', "calibration.inputs must be a table, got 'x'"),
    ):
        assert old in text, old
        path.write_text(text.replace(old, new, 1))
        with pytest.raises(InvalidArgumentError, match=message) as e:
            read_profile(path)
        assert "\n" not in str(e.value) and str(e.value).startswith(f"proxy profile {path}: ")


@pytest.mark.parametrize("which", ["truth", "scores", "split"])
def test_a_missing_table_scores_or_split_carries_its_path_and_says_a_dangling_link(which: str, tmp_path: Path) -> None:
    """Before stop 53 each said "does not exist" in its own words, with no .missing, a link to nothing too."""
    from nas_proxy.errors import NasProxyError

    files = dict(zip(("truth", "scores", "split"), _files(tmp_path), strict=True))
    what = {"truth": "ground-truth table", "scores": "--scores", "split": "--split"}[which]

    def read() -> None:
        cands = sim.load_candidates(files["truth"], [files["scores"]])
        sim.read_split(files["split"], cands.ids)

    for gone, said in (
        (tmp_path / "gone.csv", "does not exist"),
        (tmp_path / "link.csv", "is a symbolic link to gone.csv, which does not exist"),
    ):
        files[which] = gone
        if gone.name == "link.csv":
            gone.symlink_to("gone.csv")
        with pytest.raises(NasProxyError) as error:
            read()
        assert (str(error.value), error.value.missing) == (f"{what} {gone} {said}", str(gone))


def test_the_table_scores_and_split_are_read_by_the_one_table_reader(tmp_path: Path) -> None:
    """Stop 53: ladder_sim had its own copy of the table reader. A decimal comma was refused without the hint the other
    readers give; a field holding a form feed (str.splitlines breaks there) moved every later line's number off the
    file's; a field over the csv module's limit was an internal error. A split's comment above its header is read as
    before, and its rows keep their line numbers."""
    from nas_proxy.errors import InvalidArgumentError

    table, scores, split = _files(tmp_path)
    good = table.read_text()
    rows = good.split("\n")
    rows[3] = rows[3].replace(f",{TEST[2]},", ",60,5,", 1)
    table.write_text("\n".join(rows))
    with pytest.raises(
        InvalidArgumentError, match=rf"{table} line 4 has 8 fields, the header 7; .* a decimal comma, 60,5, splits the number"
    ):
        sim.load_candidates(table, [scores])
    rows = good.split("\n")
    rows[1] = rows[1].replace('{""', '{\f""', 1)  # inside the quoted spec: still line 2 of the file
    rows[5] = rows[5].replace(f",{TEST[4]},", ",abc,", 1)
    table.write_text("\n".join(rows))
    with pytest.raises(InvalidArgumentError, match=rf"{table} line 6: test_accuracy must be a finite number in \[0, 100\], got 'abc'"):
        sim.load_candidates(table, [scores])
    table.write_text(good)
    lines = scores.read_text().split("\n")
    scores.write_text("\n".join([*lines[:3], '"' + "x" * 140_000 + '"' + lines[3][lines[3].index(",") :], *lines[4:]]))
    with pytest.raises(InvalidArgumentError, match=rf"{scores} line 4: field larger than field limit"):
        sim.load_candidates(table, [scores])
    split.write_text(split.read_text().replace("a03,calibration", "a03,calibr"))  # the comment is line 1, the header 2
    with pytest.raises(InvalidArgumentError, match=rf"{split} line 6: role 'calibr' is neither calibration nor evaluation"):
        sim.read_split(split, [f"a{i:02d}" for i in range(N)])


def test_scores_of_other_data_than_the_table_are_refused(tmp_path: Path) -> None:
    """Stop 53: the dataset and data_sha256 columns zero_cost_scores.py writes were read and not compared with the
    table's, so Fashion-MNIST scores, or scores of another copy of digits, climbed a ladder judged by a digits table
    (exit 0). Scores of the same data, or that name none, are taken; a scores file mixing two datasets is refused."""
    from nas_proxy.errors import InvalidArgumentError

    table, scores, _ = _files(tmp_path)
    measured = "a" * 64
    rows = list(csv.reader(table.read_text().splitlines()))
    with table.open("w", newline="") as f:
        csv.writer(f).writerows([[*rows[0], "dataset", "data_sha256"], *([*r, "digits", measured] for r in rows[1:])])
    plain = list(csv.reader(scores.read_text().splitlines()))

    def scored(*named: str) -> Path:
        with scores.open("w", newline="") as f:
            csv.writer(f).writerows([[*plain[0], "dataset", "data_sha256"], *([*r, *named] for r in plain[1:])])
        return scores

    sim.load_candidates(table, [scored("digits", measured)])
    sim.load_candidates(table, [scored("", "")])
    with pytest.raises(InvalidArgumentError) as other:
        sim.load_candidates(table, [scored("fashion-mnist", "b" * 64)])
    assert str(other.value) == (
        f"--truth {table} was measured on digits (its column 'dataset') and --scores {scores} (its column 'dataset') is of "
        "fashion-mnist: its accuracies say nothing of a ranking on fashion-mnist; give scores of proxies of digits, or a "
        "--truth measured on fashion-mnist"
    )
    with pytest.raises(InvalidArgumentError) as copy:
        sim.load_candidates(table, [scored("digits", "b" * 64)])
    # review54: said of the two files' digests (at stop 53 in data_changed's words, of data "found now" and of a
    # "--data-root", which calibrate neither reads nor takes)
    assert str(copy.value) == (
        f"--truth {table} was measured on other digits images or labels than --scores {scores}'s (content_sha256 "
        f"{measured[:12]}... there, bbbbbbbbbbbb... here); score the table's architectures again on its data, "
        "or give a --truth measured on the images the scores were"
    )
    assert "found now" not in str(copy.value) and "--data-root" not in str(copy.value)
    lines = scored("digits", measured).read_text().split("\n")
    lines[5] = lines[5].replace(",digits,", ",fashion-mnist,")
    scores.write_text("\n".join(lines))
    with pytest.raises(InvalidArgumentError, match=rf"{scores} mixes datasets: line 2 names digits, line 6 fashion-mnist"):
        sim.load_candidates(table, [scores])
