"""The one progress mechanism: the library reports through nas_proxy.progress, silent unless a
listener is installed and the call asked for progress; the CLI draws the reports on stderr."""

from __future__ import annotations

import pytest

from nas_proxy import progress
from nas_proxy.cli.common import ProgressBars
from nas_proxy.progress import Meter, Progress, meter


def test_the_library_is_silent_without_a_listener(capsys: pytest.CaptureFixture[str]) -> None:
    with Meter("stage", 3, unit="arch") as m:
        m.update()
        m.write("a line")
    assert list(meter([1, 2], "other")) == [1, 2]
    assert capsys.readouterr() == ("", "")


def test_events_go_to_the_innermost_listener_and_a_disabled_meter_says_nothing() -> None:
    outer: list[Progress] = []
    inner: list[Progress] = []
    with progress.listen(outer.append):
        with progress.listen(inner.append):
            assert list(meter("ab", "letters", unit="char")) == ["a", "b"]
            Meter("quiet", 5, enabled=False).update()
        with Meter("after", 2) as m:
            m.set(1, "last=0.50")
            m.write("trial 3 failed")
    assert [(e.stage, e.done, e.total, e.closed) for e in inner] == [
        ("letters", 0, 2, False),
        ("letters", 1, 2, False),
        ("letters", 2, 2, False),
        ("letters", 2, 2, True),
    ]
    assert [(e.done, e.note, e.message, e.closed) for e in outer] == [
        (0, "", "", False),
        (1, "last=0.50", "", False),
        (1, "last=0.50", "trial 3 failed", False),
        (1, "last=0.50", "", True),
    ]
    with Meter("no one listens", 1) as m:  # the listeners are gone with their blocks
        m.update()
    assert len(outer) == 4 and len(inner) == 4


def test_the_cli_draws_the_reports_on_stderr_only(capsys: pytest.CaptureFixture[str]) -> None:
    with ProgressBars():
        with Meter("search s", 4, 1, unit="trial") as m:
            m.write("trial 2 failed: boom")
            m.set(4)
        progress.say("train", "waiting for 2 trainings running in other workers")
    out, err = capsys.readouterr()
    assert out == ""
    assert "trial 2 failed: boom" in err and "waiting for 2 trainings" in err
    assert "search s" in err and "4/4" in err and "trial" in err


def test_a_note_after_a_count_completed_draws_no_second_bar(capsys: pytest.CaptureFixture[str]) -> None:
    """distill --select-by set the last score's Spearman on its bar after the last iteration had
    closed it: a second bar at 40/40 was drawn."""
    with ProgressBars():
        m = Meter("distill datadam ipc=2", 40, 39)
        m.update()
        m.set(40, "spearman=0.5")
        m.close()
    assert capsys.readouterr().err.count("40/40") == 1
