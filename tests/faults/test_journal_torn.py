"""Torn journals: a study's journal cut inside a record (a process killed, or a disk filling up, in
the middle of a write), then the next command.

A cut last record is set aside in a side file beside the journal and the study goes on (a record
whose bytes are all there but its newline is completed); a cut record in the middle of the file is
refused in one line naming the line, and nothing is changed.
"""

from __future__ import annotations

import json
import shutil
import sys
import warnings
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from nas_proxy.cli import main
from nas_proxy.errors import JournalRepairedWarning
from nas_proxy.studies.identity import START_ATTR, worker_tag
from nas_proxy.studies.journal import JournalDamagedError
from nas_proxy.studies.processes import process_start
from nas_proxy.studies.repair import DIED, fail_dead_trials
from nas_proxy.studies.storage import open_storage
from tests import warm

STUDY = "t"


def search_args(tiny_run: Path, root: Path) -> list[str]:
    """Two 1-epoch trials on two distinct architectures of the 6-member space."""
    return [
        *("search", "--synthetic", str(tiny_run), "--space", "convnet-small", "--study", STUDY, "--sampler", "bruteforce"),
        *("--storage", str(root / "journal.log"), "--out", str(root / "out"), "--n-trials", "2", "--pruner", "none"),
        *("--epochs", "1", "--report-every", "1", "--report-images", "50", "--device", "cpu", "--quiet"),
    ]


@pytest.fixture(scope="module")
def finished(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, dict[int, tuple[float, str]]]:
    """A finished 2-trial study made by another process (so its trials' worker is gone, as after a
    crash): the journal's bytes and each trial's (value, arch_id)."""
    root = tmp_path_factory.mktemp("torn")
    warm.run([sys.executable, "-m", "nas_proxy", *search_args(tiny_run, root)], check=True, capture_output=True, timeout=300)
    study = load(root / "journal.log")
    trials = {t.number: (t.value, t.user_attrs["arch_id"]) for t in study.get_trials(states=(TrialState.COMPLETE,))}
    assert sorted(trials) == [0, 1]
    return (root / "journal.log").read_bytes(), trials  # type: ignore[return-value]


def load(journal: Path) -> optuna.Study:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", JournalRepairedWarning)
        return optuna.load_study(study_name=STUDY, storage=open_storage(str(journal), STUDY)[0])


def lines_of(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def side_files(root: Path) -> list[Path]:
    return sorted(root.glob("journal.log.torn-*"))


def reset(root: Path, journal: bytes) -> None:
    """``root`` holding only ``journal`` as its journal.log."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    (root / "journal.log").write_bytes(journal)


def last_record(journal: bytes) -> tuple[bytes, bytes]:
    """(every record before the last, the last record with its newline): trial 1's completion."""
    *head, last = lines_of(journal)
    assert json.loads(last)["op_code"] == 6 and json.loads(last)["trial_id"] == 1
    return b"".join(head), last


# where the last record is cut (k bytes of it kept) for the drills that run a whole search
CUTS = {
    "the whole record gone": lambda n: 0,
    "after its first byte": lambda n: 1,
    "in its middle": lambda n: n // 2,
    "two bytes short": lambda n: n - 2,
    "only its newline missing": lambda n: n - 1,
}


def test_a_last_record_cut_at_any_byte_is_set_aside_and_its_trial_repaired(
    finished: tuple[bytes, dict[int, tuple[float, str]]], tmp_path: Path
) -> None:
    """The journal cut at every byte of its last record, then opened and repaired as the next
    command does first: the cut bytes in the side file, the journal its whole records, trial 0 still
    complete with its value, trial 1 failed ("died") and re-queued once (kept complete when only the
    newline was missing)."""
    journal, trials = finished
    prefix, last = last_record(journal)
    root = tmp_path / "study"
    problems: dict[int, list[str]] = {}
    for k in range(len(last)):  # k bytes of the record kept; k == len - 1: all but its newline
        reset(root, prefix + last[:k])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            storage, _ = open_storage(str(root / "journal.log"), STUDY)
        said = [str(w.message) for w in caught if issubclass(w.category, JournalRepairedWarning)]
        found = check_files(root, prefix, last, k, " ".join(said))
        if len(said) != (k > 0):
            found.append(f"warnings {said}")
        study = optuna.load_study(study_name=STUDY, storage=storage)
        failed = fail_dead_trials(study, storage)
        whole = k == len(last) - 1
        states = {t.number: (t.state, t.value) for t in study.get_trials()}
        if states[0] != (TrialState.COMPLETE, trials[0][0]):
            found.append(f"trial 0 now {states[0]}")
        if whole and (failed or states[1] != (TrialState.COMPLETE, trials[1][0]) or len(states) != 2):
            found.append(f"repaired {failed}; trials {states}")
        if not whole:
            retry = study.trials[-1]
            if (
                failed != [1]
                or states[1][0] != TrialState.FAIL
                or retry.state != TrialState.WAITING
                or retry.user_attrs.get("retry_of") != 1
            ):
                found.append(f"repaired {failed}; trials {states}")
        if found:
            problems[k] = found
    assert not problems, f"{len(problems)} of {len(last)} cuts mishandled; first: {next(iter(problems.items()))}"


@pytest.mark.parametrize("where", CUTS)
def test_after_a_torn_last_record_the_same_search_goes_on(
    where: str, finished: tuple[bytes, dict[int, tuple[float, str]]], tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same search again after the cut: exit 0, one warning line, trial 0 still complete with
    its value, trial 1 retried once to the value it had (no architecture trained twice)."""
    journal, trials = finished
    prefix, last = last_record(journal)
    k = CUTS[where](len(last))
    assert search_after_cut(tiny_run, tmp_path / "study", prefix, last, k, trials, capsys) == []


@pytest.mark.slow
def test_after_a_last_record_cut_at_any_byte_the_same_search_goes_on(
    finished: tuple[bytes, dict[int, tuple[float, str]]], tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The drill above at every byte of the last record (189 searches, about 40 s of CPU)."""
    journal, trials = finished
    prefix, last = last_record(journal)
    problems = {
        k: found for k in range(len(last)) if (found := search_after_cut(tiny_run, tmp_path / "study", prefix, last, k, trials, capsys))
    }
    assert not problems, f"{len(problems)} of {len(last)} cuts mishandled; first: {next(iter(problems.items()))}"


def search_after_cut(
    tiny_run: Path, root: Path, prefix: bytes, last: bytes, k: int, trials: dict[int, tuple[float, str]], capsys: pytest.CaptureFixture[str]
) -> list[str]:
    """What is wrong after cutting the last record to ``k`` bytes and running the same search."""
    reset(root, prefix + last[:k])
    code = main(search_args(tiny_run, root))
    err = capsys.readouterr().err
    if code != 0:
        return [f"exit {code}: {err.strip()[-300:]}"]
    found = []
    lines = err.strip().splitlines()
    whole = k == len(last) - 1  # every byte but the newline: the record is whole
    if k == 0:
        if lines:
            found.append(f"stderr {lines}")
    elif len(lines) != 1 or "warning" not in lines[0] or ("completed" if whole else "set aside") not in lines[0]:
        found.append(f"stderr {lines}")
    found += check_files(root, prefix, last, k, err)
    study = load(root / "journal.log")
    by_number = {t.number: t for t in study.trials}
    zero = by_number[0]
    if zero.state != TrialState.COMPLETE or zero.value != trials[0][0]:
        found.append(f"trial 0 now {zero.state.name} {zero.value}")
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    if len({t.user_attrs["arch_id"] for t in complete}) != len(complete):
        found.append("an architecture trained twice")
    one = by_number[1]
    if whole:
        if one.state != TrialState.COMPLETE or one.value != trials[1][0] or len(study.trials) != 2:
            found.append(f"trial 1 now {one.state.name} {one.value}; {len(study.trials)} trials")
    else:
        retries = [t for t in study.trials if t.user_attrs.get("retry_of") == 1]
        if one.state != TrialState.FAIL or DIED not in str(one.user_attrs.get("fail_reason")):
            found.append(f"trial 1 now {one.state.name}, {one.user_attrs.get('fail_reason')}")
        if len(retries) != 1 or retries[0].state != TrialState.COMPLETE or len(complete) != 2:
            found.append(f"retries of trial 1: {[(t.number, t.state.name) for t in retries]}")
        elif retries[0].user_attrs["arch_id"] != trials[1][1] or retries[0].value != trials[1][0]:
            found.append(f"the retry trained {retries[0].user_attrs['arch_id']} to {retries[0].value}, not trial 1's {trials[1]}")
    return found


def check_files(root: Path, prefix: bytes, last: bytes, k: int, said: str) -> list[str]:
    """The journal: the records before the cut unchanged, then whole records only; the side file:
    the cut bytes, named in what was ``said``, when the record was torn."""
    found = []
    data = (root / "journal.log").read_bytes()
    if not data.startswith(prefix) or not data.endswith(b"\n"):
        found.append("journal not the old records followed by whole new ones")
    for number, line in enumerate(lines_of(data), start=1):
        try:
            json.loads(line)
        except json.JSONDecodeError:
            found.append(f"journal line {number} is not JSON")
            break
    sides = side_files(root)
    if 0 < k < len(last) - 1:
        if len(sides) != 1 or sides[0].read_bytes() != last[:k]:
            found.append(f"side files {sides}")
        elif sides[0].name not in said:
            found.append("the warning does not name the side file")
    elif sides:
        found.append(f"side files {sides}")
    return found


def test_a_record_cut_in_the_middle_of_the_journal_is_refused_naming_its_line(
    finished: tuple[bytes, dict[int, tuple[float, str]]], tmp_path: Path
) -> None:
    """A record in the middle cut at every byte (the rest of the journal after it): opening it is
    refused naming the line, nothing changed, never repaired. (A record missing whole, k = 0,
    leaves a journal of whole records: nothing to detect.)"""
    journal, _ = finished
    lines, m = middle_record(journal)
    root = tmp_path / "study"
    problems: dict[int, str] = {}
    for k in range(1, len(lines[m])):
        cut = b"".join(lines[:m]) + lines[m][:k] + b"".join(lines[m + 1 :])
        reset(root, cut)
        try:
            open_storage(str(root / "journal.log"), STUDY)
            problems[k] = "opened"
        except JournalDamagedError as e:
            if f"line {m + 1} is not a whole journal record" not in str(e):
                problems[k] = str(e)
        if (root / "journal.log").read_bytes() != cut or sorted(p.name for p in root.iterdir()) != ["journal.log"]:
            problems[k] = f"changed: {sorted(p.name for p in root.iterdir())}"
    assert not problems, f"{len(problems)} of {len(lines[m]) - 1} cuts mishandled; first: {next(iter(problems.items()))}"


def middle_record(journal: bytes) -> tuple[list[bytes], int]:
    lines = lines_of(journal)
    return lines, len(lines) // 2  # the lines, and the index of the one cut


@pytest.mark.parametrize("where", ["after its first byte", "in its middle", "only its newline missing"])
def test_a_search_on_a_journal_cut_in_its_middle_stops_in_one_line(
    where: str, finished: tuple[bytes, dict[int, tuple[float, str]]], tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal, _ = finished
    lines, m = middle_record(journal)
    cut = b"".join(lines[:m]) + lines[m][: CUTS[where](len(lines[m]))] + b"".join(lines[m + 1 :])
    root = tmp_path / "study"
    reset(root, cut)
    code = main(search_args(tiny_run, root))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and f"journal {root / 'journal.log'}: line {m + 1} is not a whole journal record" in err[0], err
    assert (root / "journal.log").read_bytes() == cut
    assert sorted(p.name for p in root.iterdir()) == ["journal.log"]


def test_a_tear_made_after_a_process_opened_the_journal_is_set_aside_before_its_next_write(tmp_path: Path) -> None:
    """Another process dies mid-write while this one has the study open: this one's next write
    checks the end of the file under the lock, sets the torn bytes aside and writes on a new line."""
    journal = tmp_path / "journal.log"
    storage, _ = open_storage(str(journal), "a")
    study = optuna.create_study(study_name="a", storage=storage)
    study.set_user_attr("before", 1)
    torn = b'{"op_code":2,"worker_id":"x","study_id":0,"user_attr":{"lost":'
    with journal.open("ab") as f:  # the dead process's half record
        f.write(torn)
    with pytest.warns(JournalRepairedWarning, match="set aside"):
        study.set_user_attr("after", 2)
    (side,) = side_files(tmp_path)
    assert side.read_bytes() == torn
    again = optuna.load_study(study_name="a", storage=open_storage(str(journal), "a")[0])
    assert again.user_attrs == {"before": 1, "after": 2}
    assert all(json.loads(line) for line in journal.read_bytes().splitlines())


def test_opening_a_torn_journal_warns_once_and_the_library_can_read_the_study(tmp_path: Path) -> None:
    journal = tmp_path / "journal.log"
    optuna.create_study(study_name="b", storage=open_storage(str(journal), "b")[0]).set_user_attr("x", 1)
    whole = journal.read_bytes()
    journal.write_bytes(whole + b'{"op_code":2,"wor')
    with pytest.warns(JournalRepairedWarning, match=r"set aside its 17 bytes in .*journal\.log\.torn-"):
        storage, _ = open_storage(str(journal), "b")
    assert journal.read_bytes() == whole
    assert optuna.load_study(study_name="b", storage=storage).user_attrs == {"x": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second open finds nothing to repair
        open_storage(str(journal), "b")


def test_a_corrupt_last_line_with_its_newline_is_refused_not_set_aside(tmp_path: Path) -> None:
    """A whole line that is not a record (what appending onto a torn line made, before this fix) is
    not a torn write: refused naming its line, left as it is."""
    journal = tmp_path / "journal.log"
    optuna.create_study(study_name="c", storage=open_storage(str(journal), "c")[0])
    broken = journal.read_bytes() + b'{"op_code":2,"wor{"op_code":2,"worker_id":"y","study_id":0,"user_attr":{"k":1}}\n'
    journal.write_bytes(broken)
    with pytest.raises(JournalDamagedError, match=rf"line {len(broken.splitlines())} is not a whole journal record"):
        open_storage(str(journal), "c")
    assert journal.read_bytes() == broken and not side_files(tmp_path)


def test_the_repair_touches_only_the_trial_whose_worker_died(tmp_path: Path) -> None:
    """Trial 0 complete, trial 1 running in a live process, trial 2's worker killed in the middle
    of writing trial 2's record: the torn record is set aside, trial 2 failed and re-queued, trials
    0 and 1 as they were."""
    journal = tmp_path / "journal.log"
    storage, _ = open_storage(str(journal), "r")
    study = optuna.create_study(study_name="r", storage=storage)
    depth: dict[str, optuna.distributions.BaseDistribution] = {"depth": optuna.distributions.IntDistribution(1, 3)}
    first = study.ask(depth)
    study.tell(first, 80.0)
    live = warm.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    dead = warm.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        for pid in (live.pid, dead.pid):
            trial = study.ask(depth)
            for key, value in {**worker_tag(), "worker_pid": pid, START_ATTR: process_start(pid)}.items():  # that process's start
                trial.set_user_attr(key, value)
        with journal.open("ab") as f:  # the dead worker's last write, cut short
            f.write(b'{"op_code":8,"worker_id":"w","trial_id":2,"user_attr":{"params":12')
        with pytest.warns(JournalRepairedWarning, match="set aside"):
            storage, _ = open_storage(str(journal), "r")
        study = optuna.load_study(study_name="r", storage=storage)
        assert fail_dead_trials(study, storage) == [2]
        states = [(t.number, t.state, t.value) for t in study.trials]
        assert states[:3] == [(0, TrialState.COMPLETE, 80.0), (1, TrialState.RUNNING, None), (2, TrialState.FAIL, None)]
        assert study.trials[3].state == TrialState.WAITING and study.trials[3].user_attrs["retry_of"] == 2
    finally:
        live.kill()
        live.wait()
