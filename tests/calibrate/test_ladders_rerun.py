"""``nasproxy calibrate --ladders`` run twice: at once on one ``--out`` (one writer: the second is refused, as a
second command on any output is), again after a change of the simulation's code (chosen again, said why), and
again with ``--json`` (the same shape whether computed or kept). Drills wait for events (a process held at the
gate while it measures, holding the profile's lock), never for a duration."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import nas_proxy
from nas_proxy.calibrate import ladder_choice
from nas_proxy.cli import main
from nas_proxy.profile import read_profile, write_profile
from tests import warm
from tests.correlate.test_calibrate_ladders import _files
from tests.gate import SAFETY_SECONDS, Gate

CHOOSING = "nas_proxy.calibrate.ladder_choice:choose_ladder"  # every candidate measured: the lock is held meanwhile


def _argv(tmp: Path, out: Path) -> list[str]:
    table, scores, split = _files(tmp)
    argv = ["calibrate", "--ladders", "auto", "--truth", str(table), "--scores", str(scores), "--split", str(split)]
    return [*argv, "--n-boot", "100", "--out", str(out), "--quiet"]


def test_a_second_command_on_the_same_out_is_refused_while_the_first_measures(tmp_path: Path) -> None:
    """fix49a: before, two at once on one --out each measured every candidate (27 s on benchmarks/groundtruth's
    table) and the last atomic write won, exit 0 both. The second is refused in one line now, before it reads
    anything, as distill, train, correlate and the protocol study refuse a second writer; once the first has
    ended, the same command keeps what it wrote."""
    out = tmp_path / "profiles" / "p.toml"
    command = [sys.executable, "-m", "nas_proxy", *_argv(tmp_path, out)]
    gate = Gate(tmp_path / "gate", at=CHOOSING)
    first = warm.Popen(command, env=gate.env(), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    gate.wait([first], [first.pid])  # measuring, its lock held
    second = warm.run(command, text=True, capture_output=True, timeout=SAFETY_SECONDS)  # no gate: it would measure at once
    assert second.returncode == 2, second.stdout
    assert second.stderr.splitlines() == [
        f"nasproxy calibrate: error: --out {out} is being written by another nasproxy process (process {first.pid}); "
        "wait for it to finish (the same command then keeps what it wrote), or choose another --out"
    ]
    assert second.stdout == "" and not out.exists()
    gate.open()
    _, err = first.communicate(timeout=SAFETY_SECONDS)
    assert first.returncode == 0, err
    assert sorted(p.name for p in out.parent.iterdir()) == ["p-ladders.csv", "p.toml"]  # the lock's folder gone
    again = warm.run(command, text=True, capture_output=True, timeout=SAFETY_SECONDS)
    assert again.returncode == 0 and again.stdout.startswith(f"{out} already written (same inputs; nothing measured again)")


def test_a_lock_folder_a_killed_writer_left_is_taken_and_removed(tmp_path: Path) -> None:
    from nas_proxy.profile import lock_folder

    out = tmp_path / "p.toml"
    lock_folder(out).mkdir()  # what a writer killed -9 leaves: empty, locked by nobody
    assert main(_argv(tmp_path, out)) == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_change_of_the_simulation_code_chooses_again_and_says_why(tmp_path: Path) -> None:
    """fix49a: the inputs recorded were the files and options only, so a nasproxy whose simulation had changed since
    (an upgrade, a fix of the bootstrap) kept the old choice for the same inputs, exit 0. The profile records the
    simulation's version now (the SHA-256 of its code, numpy's and scipy's versions): here a copy of nasproxy
    whose ladder_sim.py differs by one line runs the same command."""
    out = tmp_path / "p.toml"
    argv = _argv(tmp_path, out)
    assert main(argv) == 0
    written = read_profile(out)
    copy = tmp_path / "other" / "nas_proxy"
    shutil.copytree(Path(ladder_choice.__file__).parents[1], copy, ignore=shutil.ignore_patterns("__pycache__"))
    with (copy / "calibrate" / "ladder_sim.py").open("a") as f:
        f.write("# the next release's simulation\n")
    env = {**warm.os.environ, "PYTHONPATH": str(copy.parent)}  # ahead of the installed nasproxy (run outside the checkout)
    other = warm.run(
        [sys.executable, "-m", "nas_proxy", *argv], text=True, capture_output=True, cwd=tmp_path, env=env, timeout=SAFETY_SECONDS
    )
    assert other.returncode == 0, other.stderr
    version = nas_proxy.__version__
    assert other.stdout.splitlines()[0] == (
        f"{out} was computed by another ladder simulation (nasproxy {version} wrote it; this is nasproxy {version}, "
        "whose simulation code, numpy or scipy differ); choosing again"
    )
    assert "chosen: exact:1.0,full:1" in other.stdout
    assert written.calibration["inputs"]["simulation"] == ladder_choice.simulation_sha256()
    again = read_profile(out)
    assert again.calibration["inputs"]["simulation"] != written.calibration["inputs"]["simulation"]
    assert main(argv) == 0  # and back with this nasproxy: its own simulation again, chosen again
    assert read_profile(out).calibration["inputs"] == written.calibration["inputs"]


def test_a_profile_that_records_no_simulation_is_chosen_again(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A profile as fix48a wrote it: inputs without the simulation's version, which could be any."""
    out = tmp_path / "p.toml"
    argv = _argv(tmp_path, out)
    assert main(argv) == 0
    profile = read_profile(out)
    profile.calibration["inputs"].pop("simulation", None)  # as fix48a wrote it
    write_profile(profile, out)
    capsys.readouterr()
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith(
        f"{out} records no version of the ladder simulation (an earlier nasproxy wrote it); choosing again\n"
    )
    assert read_profile(out).calibration["inputs"]["simulation"] == ladder_choice.simulation_sha256()


def test_json_has_one_shape_whether_computed_or_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """fix49a: before, a kept profile's --json had no "proxies" (the computed run's had it). A proxy that scores
    every architecture alike has no Spearman: null in both (before, NaN when computed: not JSON)."""
    out = tmp_path / "p.toml"
    argv = [*_argv(tmp_path, out), "--json"]
    scores = Path(argv[argv.index("--scores") + 1])
    flat = "".join(f"flat,a{i:02d},1.0,0.001\n" for i in range(20))  # a constant score: rank agreement undefined
    scores.write_text(scores.read_text() + flat)
    assert main(argv) == 0
    computed = json.loads(capsys.readouterr().out)
    assert main(argv) == 0
    kept = json.loads(capsys.readouterr().out)
    assert (computed.pop("reused"), kept.pop("reused")) == (False, True)
    assert kept == computed
    assert sorted(computed["proxies"]) == ["backwards", "exact", "flat", "full", "slow"]
    assert computed["proxies"]["flat"]["spearman"] is None and computed["proxies"]["exact"]["spearman"] == pytest.approx(1.0)
    assert computed["proxies"]["exact"]["seconds_per_arch"] == pytest.approx(0.01)


def test_json_says_why_a_profile_there_is_computed_again(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """fix50d: before, --json on a profile it computed again (inputs changed) did not say why, where the readable
    output does: "reason" is that line now, null when the profile is new or kept (one shape for all three)."""
    out = tmp_path / "p.toml"
    argv = [*_argv(tmp_path, out), "--json"]
    assert main(argv) == 0
    new = json.loads(capsys.readouterr().out)
    assert main(argv) == 0
    kept = json.loads(capsys.readouterr().out)
    scores = Path(argv[argv.index("--scores") + 1])
    scores.write_text(scores.read_text() + "".join(f"flat,a{i:02d},1.0,0.001\n" for i in range(20)))  # another proxy
    assert main(argv) == 0
    again = json.loads(capsys.readouterr().out)
    assert (new["reason"], kept["reason"]) == (None, None)
    assert again["reason"] == f"{out} was written from other inputs (--scores changed); choosing again"
    assert again["reused"] is False and sorted(again) == sorted(new)
    readable = [a for a in argv if a != "--json"]
    assert main([*readable, "--target-regret", "0.5"]) == 0  # an option changed: the readable output's first line
    line = capsys.readouterr().out.splitlines()[0]
    assert line == f"{out} was written from other inputs (the options changed); choosing again"
    assert main([*argv, "--target-regret", "0.3"]) == 0
    assert json.loads(capsys.readouterr().out)["reason"] == line  # --json says the same line


def test_a_kept_profile_imports_no_torch_nor_scipy_stats(tmp_path: Path) -> None:
    """fix50d: before, the same command run again (nothing measured) spent ~6 CPU-s importing torch (through
    profile -> trainers.synthetic_set's ProxyConfig, spaces, utils, the protocol study's modules) and scipy.stats
    (correlate.metrics, imported to hash its source). Lazy imports now: a fresh interpreter keeps the profile
    without either, and prints what it printed before."""
    out = tmp_path / "p.toml"
    argv = _argv(tmp_path, out)
    assert main(argv) == 0
    probe = (
        "import sys\nfrom nas_proxy.cli import main\n"
        f"rc = main({argv!r})\n"
        "print(rc, sorted(m for m in sys.modules if m.split('.')[0] == 'torch' or m.startswith('scipy.stats')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=SAFETY_SECONDS, check=True)
    kept, imported = done.stdout.splitlines()
    assert kept.startswith(f"{out} already written (same inputs; nothing measured again): chosen exact:1.0,full:1")
    assert imported == "0 []", done.stderr


def test_where_the_lock_cannot_be_had_the_profile_is_written_with_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Never unlocked without a word: a file where the lock folder goes (a file system without flock alike)."""
    from nas_proxy.profile import lock_folder

    out = tmp_path / "p.toml"
    lock_folder(out).write_text("")
    assert main(_argv(tmp_path, out)) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and f"--out {out} is written unlocked: its lock folder {lock_folder(out)} could not be made" in err[0], err
    assert read_profile(out).ladder == "exact:1.0,full:1"


def test_a_hand_edited_proxies_record_is_refused_in_one_line(tmp_path: Path) -> None:
    """calibration.proxies (fix49a) is checked as the rest of [calibration] is: known keys, numbers in their ranges."""
    from nas_proxy.errors import InvalidArgumentError

    out = tmp_path / "p.toml"
    assert main(_argv(tmp_path, out)) == 0
    text = out.read_text()
    for old, new, message in (
        ('"spearman" = 1.0', '"spearman" = 1.5', r"calibration.proxies.exact.spearman must be in \[-1, 1\], got 1.5"),
        ('"spearman" = 1.0', '"rho" = 1.0', "unknown key calibration.proxies.exact.rho; its keys are spearman, spearman_ci"),
        (
            '"seconds_per_arch" = 0.01',
            '"seconds_per_arch" = -0.01',
            r"calibration.proxies.exact.seconds_per_arch must be at least 0, got -0.01",
        ),
        ('"exact" = {', '"exact" = 3, "x" = {', "calibration.proxies.exact must be a table, got 3"),
    ):
        assert old in text, old
        out.write_text(text.replace(old, new, 1))
        with pytest.raises(InvalidArgumentError, match=message) as e:
            read_profile(out)
        assert "\n" not in str(e.value)


def test_a_profile_of_the_other_kind_is_refused_not_replaced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """fix49a: --ladders with --out (or --study) of a protocol study's profile replaced it, printing '... records no
    inputs; choosing again' (its [proxy] the result of hours of trainings); the protocol study replaced a ladder's
    profile at its end without a word. Each is refused before any work now, the file left as it was."""
    from nas_proxy.profile import ProxyProfile

    protocol = write_profile(ProxyProfile({"epochs": 5}, {"heldout_fidelity": 0.5}), tmp_path / "protocol.toml")
    before = protocol.read_bytes()
    assert main(_argv(tmp_path, protocol)) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"nasproxy calibrate: error: --out {protocol} holds the profile of a protocol study (nasproxy calibrate without "
        "--ladders), which --ladders would replace: give another --out, or move that one away first"
    ]
    assert protocol.read_bytes() == before and not (tmp_path / "protocol-ladders.csv").exists()

    ladder = tmp_path / "ladder.toml"
    assert main(_argv(tmp_path, ladder)) == 0
    capsys.readouterr()
    before = ladder.read_bytes()
    study = ["calibrate", "--truth", str(tmp_path / "table.csv"), "--space", "convnet-cpu", "--synthetic", str(tmp_path / "syn")]
    assert main([*study, "--study", "s", "--out", str(ladder), "--storage", str(tmp_path / "s.log")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"nasproxy calibrate: error: --out {ladder} holds the profile calibrate --ladders wrote (ladder exact:1.0,full:1), "
        "which this calibration would replace: give another --out, or move that one away first"
    ]
    assert ladder.read_bytes() == before and not (tmp_path / "s.log").exists()


def test_a_profile_of_the_other_kind_written_while_it_waited_for_the_lock_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """review50: the other kind's profile was looked for before the lock only: a protocol study that wrote --out between
    that look and --ladders taking the lock had its profile (hours of trainings) replaced. Here the protocol study's
    profile appears just as the lock is taken (its writer ending); refused, the file left as that writer wrote it."""
    import contextlib

    from nas_proxy import profile
    from nas_proxy.profile import ProxyProfile

    out = tmp_path / "p.toml"
    real = profile.one_writer

    @contextlib.contextmanager
    def written_meanwhile(path: Path, *args: object):  # type: ignore[no-untyped-def]
        write_profile(ProxyProfile({"epochs": 5}, {"heldout_fidelity": 0.5}), path)  # the other writer, ending
        with real(path, *args):  # type: ignore[arg-type]
            yield

    monkeypatch.setattr(profile, "one_writer", written_meanwhile)
    assert not out.exists()
    assert main(_argv(tmp_path, out)) == 2
    assert (
        capsys.readouterr().err.splitlines()[-1].startswith(f"nasproxy calibrate: error: --out {out} holds the profile of a protocol study")
    )
    assert profile.read_profile(out).ladder is None  # the protocol study's, not replaced


def test_the_same_scores_files_and_proxies_in_another_order_keep_the_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """fix49a: the scores files and the --proxies list, given in another order, chose from the same measurements, yet
    were recorded in their order: the same command spelled so measured every candidate again."""
    out = tmp_path / "p.toml"
    argv = _argv(tmp_path, out)
    scores = Path(argv[argv.index("--scores") + 1])
    header, *rows = scores.read_text().splitlines(keepends=True)
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text(header + "".join(r for r in rows if r.startswith("exact,")))
    second.write_text(header + "".join(r for r in rows if not r.startswith("exact,")))
    at = argv.index("--scores")
    base = [*argv[:at], *argv[at + 2 :], "--proxies"]
    assert main([*base, "exact,slow", "--scores", str(first), "--scores", str(second)]) == 0
    capsys.readouterr()
    assert main([*base, "slow, exact", "--scores", str(second), "--scores", str(first)]) == 0
    assert capsys.readouterr().out.startswith(f"{out} already written (same inputs; nothing measured again)")


def test_a_profile_cut_inside_its_header_is_known_as_one_and_chosen_again(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """fix52e: a profile cut short from outside (a damaged disk, a copy that stopped) inside its header comment was
    refused as 'exists and is not a proxy profile; give a new file name', while one cut after its format line was
    chosen again. A cut profile is known by its first line now, wherever it was cut; a file that is not one is
    refused as before, untouched."""
    from nas_proxy.profile import FIRST_LINE, FIRST_WORDS, FORMAT

    out = tmp_path / "p.toml"
    argv = _argv(tmp_path, out)
    assert main(argv) == 0
    whole = out.read_bytes()
    header = whole.index(b"\nformat = ")  # the three lines of comment before it
    for cut in (len(FIRST_WORDS), 40, header - 7, header + 12, len(whole) // 2):
        out.write_bytes(whole[:cut])
        capsys.readouterr()
        assert main(argv) == 0, cut
        assert "choosing again" in capsys.readouterr().out and out.read_bytes() == whole
    notes = f'Notes: a profile says format = "{FORMAT}" on its 4th line.\n{FIRST_LINE}\n'  # fix53a: it was taken for one
    for foreign in (FIRST_WORDS[:-1], "# A proxy profile I keep by hand\nproxy = 3\n", "notes\n", notes):
        out.write_text(foreign)
        assert main(argv) == 2
        assert (
            capsys.readouterr().err.strip()
            == f"nasproxy calibrate: error: --out {out} exists and is not a proxy profile; give a new file name"
        )
        assert out.read_text() == foreign


def test_a_profile_is_known_by_its_structure_not_by_a_quote_of_its_format_name(tmp_path: Path) -> None:
    """fix53a: any text holding the format's name ('nasproxy-proxy-profile') was taken for a profile, so that
    calibrate --out replaced a notes file that quoted it. Its first line, or a TOML ``format`` key, tells now."""
    from nas_proxy.profile import FIRST_LINE, FORMAT, ProxyProfile, looks_like_profile

    profile = ProxyProfile(proxy={"epochs": 2}, calibration={"spearman": 0.5}).to_toml()
    assert looks_like_profile(profile) and looks_like_profile(profile.replace("\n", "\r\n"))
    assert looks_like_profile(profile.split("\n", 3)[3])  # written by hand, without the header comment: its format key
    assert looks_like_profile(FIRST_LINE[:40])  # cut inside its first line
    for notes in (
        f"The profile format is {FORMAT}; see docs.\n",
        f'# my notes\nformat = "{FORMAT}" is the line to look for\n',
        f"{FIRST_LINE} (quoted in my notes)\n",
        f'format = "{FORMAT}-draft"\n',
    ):
        assert not looks_like_profile(notes), notes
