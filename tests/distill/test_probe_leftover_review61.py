"""review61: a writability probe (``files.PROBE``, made and removed by ``files.check_writable`` where the file system has
no ``O_TMPFILE``) that a kill -9 left in a distillation's ``--out``, then the same command: it refused the folder as
"not empty and holds no nasproxy run" (``distill`` on a folder it had made or the user had made empty, and ``distill
--launch``, whose probe for ``OUT/shards/R-of-W`` is made in ``OUT`` while ``OUT/shards`` is not there yet). The probe
is nasproxy's, as review60 made ``train``'s ``check_not_foreign`` take it (search/trained_folder.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas_proxy.distill.checkpoint import check_output
from nas_proxy.distill.config import DistillConfig
from nas_proxy.distill.sharded import _check_out
from nas_proxy.errors import OutputConflictError
from nas_proxy.files import PROBE


def _left(out: Path) -> Path:
    out.mkdir()
    probe = out / f"{PROBE}4242-0a1b2c3d"  # as _try_creating names it: its process id and 8 hex digits
    probe.touch()
    return probe


def test_a_probe_left_in_an_empty_out_is_not_another_tools_file(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _left(out)
    assert check_output(out, DistillConfig(), resume=False, force=False) is None  # a fresh start, as in an empty folder
    (out / "notes.txt").write_text("mine\n")  # a file of the user's is still refused
    with pytest.raises(OutputConflictError, match="is not empty and holds no nasproxy run"):
        check_output(out, DistillConfig(), resume=False, force=False)


def test_a_probe_left_in_a_launchs_out_is_not_another_tools_file(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _left(out)
    assert _check_out(out, 2, force=False) == []
    (out / "notes.txt").write_text("mine\n")
    with pytest.raises(OutputConflictError, match="is not empty and holds no nasproxy run"):
        _check_out(out, 2, force=False)
