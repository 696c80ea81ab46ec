"""Faults found by the kill drills (scratch drivers that kill every command at random moments and
compare the rerun with an uninterrupted run): each test puts the process at the moment that broke."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from nas_proxy.distill import distill, runner
from nas_proxy.synthetic import load_synthetic
from tests.conftest import tiny_config


def test_a_continued_run_killed_after_its_last_checkpoint_finishes_its_set(
    tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``distill --resume --iterations 6`` of a finished 3-iteration run, killed once its last
    checkpoint (iteration 6) is written but before the set: the same command must write the
    6-iteration set, not return the 3-iteration one whose meta.json is still there."""
    out = tmp_path / "run"
    distill(tiny_config(iterations=3), out)

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # the process ends here: the checkpoint says 6, meta.json still 3

    with monkeypatch.context() as m:
        m.setattr(runner, "save_synthetic", killed)
        with pytest.raises(KeyboardInterrupt):
            distill(tiny_config(), out, resume=True)
    result = distill(tiny_config(), out, resume=True)
    assert result.meta["iterations_done"] == 6
    assert torch.equal(load_synthetic(out).images, load_synthetic(tiny_run).images)


@pytest.mark.parametrize("torn", ["meta.json", "synthetic.safetensors"])
def test_a_finished_set_cut_short_is_written_again_by_the_same_command(torn: str, tiny_run: Path, tmp_path: Path) -> None:
    """A file of a finished set cut short (a torn last write): the same command used to take the set
    as finished (a cut synthetic.safetensors: exit 0 and 'wrote', then every reader refused it) or
    stop on the JSON (a cut meta.json); the checkpoint holds the finished pixels, so it writes the set again."""
    out = tmp_path / "run"
    shutil.copytree(tiny_run, out)
    with open(out / torn, "r+b") as f:
        f.truncate(f.seek(0, 2) - 10)
    result = distill(tiny_config(), out)
    assert result.meta["iterations_done"] == 6
    assert torch.equal(load_synthetic(out).images, load_synthetic(tiny_run).images)
