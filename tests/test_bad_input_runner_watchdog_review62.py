"""review62: the bad-input runner (tests/bad_input_runner.py) runs every case in-process, in the one fixture of
tests/cli/test_bad_inputs.py. Before, a case that hung (a command that waits for good: a FIFO read, a lock waited for)
hung ``make test`` with no case named, and a case whose command raised out of ``main`` (a BaseException it does not
catch) errored the fixture, so that all 16 tests of the file failed naming none and the other cases were not run. Now a
case gets :data:`CASE_SECONDS` (a hang's guard, not a timing: a case takes milliseconds) and whatever escapes is that
case's outcome, judged and named as any mishandled one."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tests import bad_input_runner
from tests.bad_input_runner import Case


class _Escaped(BaseException):
    """What no ``except Exception`` of the command catches (as a GeneratorExit or a library's own BaseException)."""


def test_a_case_that_hangs_or_raises_is_named_and_the_next_cases_still_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    forever = threading.Event()  # never set: the hanging case waits for good unless the runner stops it

    def main(argv: list[str]) -> int:  # the command each case would run: the runner is what is tested here
        if argv == ["hang"]:
            forever.wait()
        if argv == ["escape"]:
            raise _Escaped("out of main")
        print("nasproxy: refused", file=sys.stderr)
        return 2

    monkeypatch.setattr(bad_input_runner, "main", main)
    monkeypatch.setattr(bad_input_runner, "CASE_SECONDS", 0.5, raising=False)
    workspace, pristine = tmp_path / "work", tmp_path / "pristine"
    workspace.mkdir()
    (workspace / "file").write_text("x")
    bad_input_runner.copy_workspace(workspace, pristine)
    cases = [Case("escape", "refused"), Case("hang", "refused"), Case("fine", "refused")]
    outcomes: dict[str, Any] = {case.args: outcome for case, outcome in bad_input_runner.run_all(cases, workspace, pristine)}
    assert list(outcomes) == ["escape", "hang", "fine"]  # each case run, in order, after the two that went wrong
    escaped = bad_input_runner.problems(cases[0], outcomes["escape"])
    assert outcomes["escape"].code == 1 and "traceback or internal error" in escaped, outcomes["escape"]
    assert "_Escaped: out of main" in outcomes["escape"].stderr
    assert outcomes["hang"].code == 124 and "no exit within 0.5 s" in outcomes["hang"].stderr, outcomes["hang"]
    assert "no exit within 0.5 s (hung)" in bad_input_runner.problems(cases[1], outcomes["hang"])
    assert bad_input_runner.problems(cases[2], outcomes["fine"]) == [] and outcomes["fine"].code == 2
