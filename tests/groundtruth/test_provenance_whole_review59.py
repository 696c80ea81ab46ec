"""review59: the ground-truth builder replaces its provenance.json whole (a file beside it, renamed over it), as it
replaces its tables. It wrote it in place (``Path.write_text``: the file emptied, then written): a kill or a full disk
in that write left it cut short or empty, and ``tables._from_sidecar`` reads an empty one as naming no data, so a
table of one dataset judged a set of another without a word (drill58's torn provenance, at offset 0)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.groundtruth.test_groundtruth_build import _build


@pytest.mark.drill
def test_the_builder_replaces_its_provenance_whole(tmp_path: Path) -> None:
    out = tmp_path / "gt"
    first = _build(out, "--long-archs", "0")
    assert first.returncode == 0, first.stderr
    path = out / "provenance.json"
    fd = os.open(path, os.O_RDONLY)  # the file as the first run left it: a reader holding it meanwhile
    try:
        before = os.fstat(fd)
        again = _build(out, "--long-archs", "0")  # the same command: nothing to train, the provenance written again
        assert again.returncode == 0, again.stderr
        assert os.stat(path).st_ino != before.st_ino  # another file renamed over it, not the same one rewritten
        held = os.pread(fd, before.st_size + 1, 0)
        assert len(held) == before.st_size and json.loads(held)["status"] == "complete"  # what the reader had stays whole
    finally:
        os.close(fd)
