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


def test_a_random_subset_study_is_not_correlated_on_images_changed_since_its_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """fix52b: correlate --study r --proxies params, r a random-subset search on photos turned since, trained the ground
    truth on the turned photos and attached the report to r's page, exit 0, without a word that r searched other images
    (no set to check: the zero-cost proxy reads the data as it is now). Now refused before anything is trained or stored,
    in data_changed's one wording; the same photos turned back are correlated again."""
    monkeypatch.chdir(tmp_path)
    noisy_folder(tmp_path / "photos")
    device = ["--device", "cpu", "--quiet"]
    search = ["search", "--dataset", "imagefolder:photos", "--proxy", "random-ipc1", "--space", "convnet-small", "--study", "r"]
    assert main([*search, "--storage", "r.log", "--n-trials", "2", "--epochs", "1", *device]) == 0
    photo = tmp_path / "photos" / "dog" / "3.png"
    original = photo.read_bytes()
    turn(photo)
    journal = (tmp_path / "r.log").read_bytes()
    capsys.readouterr()
    correlate = ["correlate", "--study", "r", "--storage", "r.log", "--proxies", "params", "--n-archs", "2", "--ceiling", "0"]
    correlate += ["--full-epochs", "1", "--full-images", "10", "--early", "0.5", "--out", "c", *device]
    assert main(correlate) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "study 'r' was searched on imagefolder:photos images that differ from those found now" in err[0]
    assert err[0].endswith("correlate its architectures apart, unattached (--archs with its best.json, and --space)")
    assert (tmp_path / "r.log").read_bytes() == journal and not (tmp_path / "c").exists()  # nothing trained or stored
    photo.write_bytes(original)
    assert main(correlate) == 0 and (tmp_path / "c" / "report.md").exists()


def test_correlate_refuses_a_proxy_profile_calibrated_on_another_copy_of_the_data_before_anything_trains(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """review54: search and run compare --proxy-profile's dataset_sha256 with the data they load; correlate compared the
    dataset's name alone (a profile of other digits images: the whole correlation ran, exit 0)."""
    from nas_proxy.data import load_dataset

    digits, other = load_dataset("digits").content_sha256(), "b" * 64
    profile = tmp_path / "p.toml"
    profile.write_text(
        f'format = "nasproxy-proxy-profile"\nformat_version = 4\n[calibration]\ndataset = "digits"\ndataset_sha256 = "{other}"\n'
    )
    out = tmp_path / "corr"
    command = ["correlate", "--sample", "--space", "convnet-cpu", "--dataset", "digits", "--proxies", "synflow", "--n-archs", "3"]
    command += [
        "--full-epochs",
        "1",
        "--full-images",
        "200",
        "--device",
        "cpu",
        "--quiet",
        "--out",
        str(out),
        "--proxy-profile",
        str(profile),
    ]
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(
        f"nasproxy correlate: error: --proxy-profile {profile} was calibrated on digits images that differ from those found "
        f"now (content_sha256 {other[:12]}... there, {digits[:12]}... now)"
    ), err
    assert not out.exists() or not any(out.rglob("*.csv")), sorted(out.rglob("*"))  # no ground truth, no score stored
