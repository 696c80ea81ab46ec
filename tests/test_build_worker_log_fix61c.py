"""benchmarks/groundtruth/build.py's ``Workers.start``: a worker that could not be started (``start_held`` raising: no
memory to fork, too many processes) left its log file open in the builder before branch fix61c; it is closed."""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import sys
from pathlib import Path

import pytest

import nas_proxy.studies.workers as workers

BUILD = Path(__file__).resolve().parents[1] / "benchmarks" / "groundtruth" / "build.py"


def _open_paths() -> set[str]:
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor, closed by now
            out.add(os.readlink(f"/proc/self/fd/{fd}"))
    return out


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="the open files are listed from /proc")
def test_a_worker_that_cannot_start_leaves_no_log_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("groundtruth_build_fix61c", BUILD)
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, build)
    spec.loader.exec_module(build)

    def cannot(*args: object, **kwargs: object) -> None:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(workers, "start_held", cannot)
    pool = build.Workers(argparse.Namespace(workers=1, device="cpu", data_root=None), "sqlite:///x.db", tmp_path / "logs")
    with pytest.raises(OSError, match="Resource temporarily unavailable") as failed:
        pool.start("s")
    log = tmp_path / "logs" / "worker-0.log"
    assert log.exists() and str(log) not in _open_paths(), failed  # (the traceback, still held, keeps the frame's locals)
    assert pool.procs == [] and pool.started == 0
