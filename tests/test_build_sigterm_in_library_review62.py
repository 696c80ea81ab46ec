"""review62: ``benchmarks/groundtruth/build.py`` turns SIGTERM into an exception anywhere in ``main()`` (drill61: exit 143
and one line). That exception was an ``Exception``: a SIGTERM landing inside one of the many ``except Exception`` blocks
of the code it runs (the storage's opening, a MAT file's or an image's read, ...) was caught there and said as that
code's error: here "build.py: error: cannot open storage ...", exit 2 (a job script that requeues on 143 would not),
where nasproxy's commands raise a KeyboardInterrupt, which no ``except Exception`` takes. The signal is sent by the
process to itself inside the storage's opening; a handler of the test's stands in for the default action."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from tests.faults import test_drill61_build_sigterm as drill61

build = drill61.build  # build.py imported anew, SIGTERM's default action replaced by a handler of the test's
_terminate = drill61._terminate  # SIGTERM to this process, inside the call it replaces


def test_sigterm_inside_a_catch_all_of_the_storage_s_opening_exits_143(
    build: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("nas_proxy.studies.storage.check_journal", _terminate)  # inside open_storage's except Exception
    code = build.main(["--dry-run", "--out", str(tmp_path / "gt"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 143 and err == [build.INTERRUPTED_BY_SIGTERM], (code, err)
