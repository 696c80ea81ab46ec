"""``correlate`` on a synthetic set made from images changed since: refused before anything is trained or stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas_proxy.cli import main
from tests.data.test_data_changed import noisy_folder, turn


def test_a_study_of_a_set_made_from_other_images_is_refused_before_its_ground_truth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """fix52f: correlate --study on a study searched on a set whose photos were turned since trained the ground truth
    (study 'groundtruth-imagefolder_photos-...', 2 trials, written into the study's journal), then refused with 'syn was
    made from ... images that differ'. Now the set is checked against the data before the ground truth: the same line,
    the journal unchanged, nothing written."""
    monkeypatch.chdir(tmp_path)
    noisy_folder(tmp_path / "photos")
    device = ["--device", "cpu", "--quiet"]
    assert (
        main(["distill", "--dataset", "imagefolder:photos", "--ipc", "1", "--method", "dm", "--iterations", "2", "--out", "syn", *device])
        == 0
    )
    search = ["search", "--synthetic", "syn", "--space", "convnet-small", "--study", "s", "--storage", "s.log"]
    assert main([*search, "--n-trials", "2", "--epochs", "1", *device]) == 0
    turn(tmp_path / "photos" / "dog" / "3.png")
    journal = (tmp_path / "s.log").read_bytes()
    capsys.readouterr()
    correlate = ["correlate", "--study", "s", "--storage", "s.log", "--n-archs", "3", "--ceiling", "0", "--full-epochs", "1"]
    code = main([*correlate, "--full-images", "10", "--early", "0.5", "--no-random-subset", "--out", "c", *device])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "syn was made from imagefolder:photos images that differ from those found now" in err[0]
    assert (tmp_path / "s.log").read_bytes() == journal  # no ground truth stored
    assert not (tmp_path / "c").exists()
