"""drill59: ``benchmarks/groundtruth/build.py`` started twice at once on one ``--out`` (two shells), and Ctrl-C
before its training loop.

Before, both ran: they shared the journal's queue of trainings, and the first to end stopped its workers, interrupting
a training of the longer pass that the second then ended without; both exited 0, the table a row short until a third
run (``benchmarks/kill_drill_twice.py --only groundtruth``, RESULTS §17f). Now one run at a time writes an --out
(``files.output_lock``, as distill, train and correlate): the second is refused in one line before it reads the data.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from nas_proxy.files import output_lock

HERE = Path(__file__).resolve().parents[2] / "benchmarks" / "groundtruth"


def test_a_second_build_on_an_out_being_written_is_refused_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.syspath_prepend(str(HERE))
    sys.modules.pop("build", None)
    build = importlib.import_module("build")

    def no_work(*args: object, **kwargs: object) -> None:
        raise AssertionError("the second run read the data: it was not refused")

    monkeypatch.setattr("nas_proxy.data.load_dataset", no_work)
    out = tmp_path / "gt"
    with output_lock(out):  # the first run, writing its table
        code = build.main(["--dry-run", "--out", str(out), "--quiet"])
        assert list(out.iterdir()) == []  # nothing written there
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and "is being written by another nasproxy process" in err[0], err


def test_ctrl_c_before_the_training_loop_exits_130_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C at 0-200 ms (kill_drill_retry.py --mode sigint): a KeyboardInterrupt in the imports or the data's loading
    came out of main() as a traceback (death by SIGINT); now exit 130 and one line, as nasproxy's commands."""
    monkeypatch.syspath_prepend(str(HERE))
    sys.modules.pop("build", None)
    build = importlib.import_module("build")

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("nas_proxy.data.load_dataset", interrupted)
    try:
        code: object = build.main(["--dry-run", "--out", str(tmp_path / "gt"), "--quiet"])
    except KeyboardInterrupt:
        code = "a traceback: KeyboardInterrupt out of main()"
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 130 and err == [build.INTERRUPTED], (code, err)
