"""fix56a: check_writable keeps files.INSIDE_MAX bytes of the system's PATH_MAX for what nasproxy writes below the path it
accepts; the deepest path it writes there, its temporary name included, fits, at the edge itself."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nas_proxy import files
from nas_proxy.distill.sharded import shard_dirs, staged_path
from nas_proxy.files import INSIDE_MAX, PATH_MAX, FileWriteError, check_writable, write_bytes
from nas_proxy.synthetic import CHECKPOINT

PID_MAX = 4_194_304  # Linux's highest pid_max (2**22): the longest process id in a temporary name, 7 digits
RANKS = 10_000  # a launch of 10,000 ranks: the last one's shard folder, 9999-of-10000


def deepest(out: Path) -> Path:
    """The deepest file nasproxy writes below an output folder ``out``: a coupled launch's last shard's staged
    checkpoint (distill --distributed), which atomic_path writes as a temporary beside it."""
    return staged_path(shard_dirs(out, RANKS)[-1] / CHECKPOINT)


def at_depth(length: int) -> Path:
    """The working folder made ``length`` bytes deep (absolute), one short relative step at a time, as a shell's cd."""
    while (short := length - len(os.fsencode(Path.cwd())) - 1) > 0:
        os.mkdir("d" * min(200, short))
        os.chdir("d" * min(200, short))
    assert len(os.fsencode(Path.cwd())) == length
    return Path.cwd()


def test_the_deepest_file_nasproxy_writes_below_a_path_at_the_edge_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    edge = PATH_MAX - INSIDE_MAX  # the longest path check_writable accepts
    parent = at_depth(edge - 2)
    out = parent / "o"  # `--out o` there: `edge` bytes once absolute
    assert len(os.fsencode(out)) == edge
    check_writable(out)
    with pytest.raises(FileWriteError, match=f"needs up to {INSIDE_MAX} more of the system's {PATH_MAX:,}"):
        check_writable(parent / "oo")  # a byte more
    target = deepest(out)
    monkeypatch.setattr(files.os, "getpid", lambda: PID_MAX - 1)  # the longest temporary name (7 digits)
    files.make_dirs(target.parent)
    written: list[int] = []
    real = files._new_temporary

    def measured(path: Path, size: int | None) -> Path:
        tmp = real(path, size)
        written.append(len(os.fsencode(tmp)))
        return tmp

    monkeypatch.setattr(files, "_new_temporary", measured)
    write_bytes(target, b"whole")  # by its absolute path: the system's PATH_MAX applies to it whole
    assert target.read_bytes() == b"whole"
    assert written and max(written) <= PATH_MAX, written  # what it took of the INSIDE_MAX kept for it
