"""A synthetic set's tensors file replaced by another process between the read that checks its SHA-256 and the read that
loads it (a second ``soft-labels`` labelling the set in place, a hand copying another set over it): before branch probe57
the tensors loaded were not the ones the digest checked, and every record (a study's, an evaluation's) keyed them by the
digest of the others, exit 0."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import nas_proxy.synthetic as synthetic
from nas_proxy.errors import ArtifactError
from tests.conftest import copy_of


def _replaced_after_hashing(monkeypatch: pytest.MonkeyPatch, tensors_file: Path) -> None:
    """Every digest of ``tensors_file`` is followed by its replacement with other images (as a writer's rename)."""
    real = synthetic.file_sha256

    def hashed_then_replaced(path: Path) -> str:
        digest = real(path)
        if Path(path) == tensors_file:
            t = load_file(str(tensors_file))
            save_file({**t, "images": t["images"] + 1.0}, str(tensors_file.with_name("new.tmp")))
            tensors_file.with_name("new.tmp").replace(tensors_file)
        return digest

    monkeypatch.setattr(synthetic, "file_sha256", hashed_then_replaced)


def test_tensors_replaced_between_the_digest_and_the_read_are_refused(
    tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = copy_of(tiny_run, tmp_path / "set")
    tensors_file = run / "synthetic.safetensors"
    _replaced_after_hashing(monkeypatch, tensors_file)
    with pytest.raises(ArtifactError, match=r"synthetic.safetensors changed while it was read: its SHA-256 .* another process"):
        synthetic.load_synthetic(run)


def test_tensors_left_alone_load_as_before(tiny_run: Path, tmp_path: Path) -> None:
    run = copy_of(tiny_run, tmp_path / "set")
    loaded = synthetic.load_synthetic(run)
    assert torch.equal(loaded.images, load_file(str(run / "synthetic.safetensors"))["images"].float())
