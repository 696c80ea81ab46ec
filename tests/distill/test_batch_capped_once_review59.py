"""review59: probe58's BatchCappedWarning (a ``--batch-real`` above the smallest class, capped) is said once a command,
not once a rank: each rank of a sharded launch distils its block of classes with the same setting, and each said it
(``distill --launch 2 --batch-real 1000``: the same line twice)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.distill.test_sharded import torchrun


@pytest.mark.drill
def test_a_capped_batch_real_is_said_once_by_a_launch_of_two_ranks(tmp_path: Path) -> None:
    done = torchrun(tmp_path / "out", "--iterations", "1", "--batch-real", "1000")
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("batch_real 1000 is more than") == 1, done.stderr
