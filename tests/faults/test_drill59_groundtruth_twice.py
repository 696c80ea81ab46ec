"""drill59: ``benchmarks/groundtruth/build.py`` started twice at once on one ``--out`` (two shells), and Ctrl-C
before its training loop.

Before, both ran: they shared the journal's queue of trainings, and the first to end stopped its workers, interrupting
a training of the longer pass that the second then ended without; both exited 0, the table a row short until a third
run (``benchmarks/kill_drill_twice.py --only groundtruth``, RESULTS §17f). Now one run at a time writes an --out
(``files.output_lock``, as distill, train and correlate): the second is refused in one line before it reads the data.

The script and the modules it imports by their bare names (``plan``, ``table``) are imported under those names, as the
script runs, and taken out of ``sys.modules`` after each test (fix61b: before, a later test that imported another
``build`` module got this one).
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from nas_proxy.files import output_lock

HERE = Path(__file__).resolve().parents[2] / "benchmarks" / "groundtruth"
SCRIPTS = frozenset(p.stem for p in HERE.glob("*.py"))  # build, and plan and table, which it imports by those names


def left_behind() -> list[str]:
    """The modules of HERE in ``sys.modules``."""
    return sorted(n for n, m in list(sys.modules.items()) if Path(getattr(m, "__file__", None) or "/").resolve().parent == HERE)


@pytest.fixture(scope="module", autouse=True)
def before_this_file() -> set[str]:
    """The modules of HERE that other tests in this worker left in ``sys.modules`` before this file's first test (a test
    of a script that imports ``split`` by its name): not this file's to clean."""
    return set(left_behind())


@contextlib.contextmanager
def build_script() -> Iterator[ModuleType]:
    """``build.py`` imported as the script runs (HERE on sys.path), and gone from sys.path and sys.modules after: a module
    of another test under one of these names is put back."""
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(HERE))
        for name in SCRIPTS & set(sys.modules):
            mp.delitem(sys.modules, name)  # put back as the context ends
        try:
            yield importlib.import_module("build")
        finally:
            for name in SCRIPTS:
                sys.modules.pop(name, None)


@pytest.fixture
def build() -> Iterator[ModuleType]:
    with build_script() as module:
        yield module


def test_a_second_build_on_an_out_being_written_is_refused_before_any_work(
    build: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:

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
    build: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C at 0-200 ms (kill_drill_retry.py --mode sigint): a KeyboardInterrupt in the imports or the data's loading
    came out of main() as a traceback (death by SIGINT); now exit 130 and one line, as nasproxy's commands."""

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("nas_proxy.data.load_dataset", interrupted)
    try:
        code: object = build.main(["--dry-run", "--out", str(tmp_path / "gt"), "--quiet"])
    except KeyboardInterrupt:
        code = "a traceback: KeyboardInterrupt out of main()"
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 130 and err == [build.INTERRUPTED], (code, err)


def test_no_module_of_the_script_is_left_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, before_this_file: set[str]) -> None:
    """After the tests above (this file runs whole, in order, on one worker) and after a run of main() here: none of
    build, plan, table in sys.modules, and another test's module named build is put back. Before fix61b the tests above
    left build, plan and table there (modules of HERE that another file's tests left before this file ran are theirs:
    the full suite failed so on stop 61's merge, a test having imported split)."""
    assert set(left_behind()) <= before_this_file, (left_behind(), before_this_file)
    other = ModuleType("build")
    monkeypatch.setitem(sys.modules, "build", other)
    monkeypatch.setattr("nas_proxy.data.load_dataset", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    with build_script() as script:
        assert script is not other
        assert script.main(["--dry-run", "--out", str(tmp_path / "gt"), "--quiet"]) == 130
        assert "table" in sys.modules  # imported by main() as the script does
    assert set(left_behind()) <= before_this_file and sys.modules["build"] is other
