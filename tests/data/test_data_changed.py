"""Data changed in place (the same labels, other pixels) is never taken for the data a result was made from: the
content_sha256 of the data read (pixels and labels) is recorded in a set's meta.json, a ground-truth study and every
cached proxy score, and compared when they are read (branch fix50e). Before, an image folder whose photos were turned
in place after a distillation was searched and correlated with every old result, without a word: sets, caches and
studies knew the data by its labels, its normalisation and its name only."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from nas_proxy.cli import main
from nas_proxy.correlate import from_space
from nas_proxy.data import load_dataset
from nas_proxy.data.base import data_changed
from nas_proxy.errors import DataChangedError
from nas_proxy.groundtruth.study import GROUND_TRUTH, DataRef, enqueue, open_study, results
from nas_proxy.protocols import GroundTruthConfig
from nas_proxy.proxies import RunSetup, score_archs
from nas_proxy.proxies.cache import DATA, CacheDataChangedWarning
from nas_proxy.proxies.training_free import ZeroCostProxy
from nas_proxy.spaces import get_space
from nas_proxy.studies.storage import open_storage

SPACE = "convnet-small"
CHANGED = "not the data it was made from (its images changed since, or --data-root points at another copy)"


def noisy_folder(root: Path, per_class: int = 8) -> Path:
    """ROOT/<class>/<i>.png: 32x32 RGB noise (no resize), a class's own brightness: three classes."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for k, name in enumerate(["cat", "dog", "emu"]):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 96, size=(32, 32, 3)) + 64 * k
            Image.fromarray(pixels.astype(np.uint8), "RGB").save(root / name / f"{i}.png")
    return root


def turn(path: Path) -> None:
    """Rewrite the image at ``path`` in place turned 90°: the same pixels elsewhere, so the same class, labels, mean and std."""
    from PIL import Image

    with Image.open(path) as image:
        turned = image.transpose(Image.Transpose.ROTATE_90)
    turned.save(path)


def test_the_digest_is_of_pixels_and_labels_and_made_once(tmp_path: Path) -> None:
    folder = noisy_folder(tmp_path / "photos")
    name = f"imagefolder:{folder}"
    before = load_dataset(name)
    assert before.content == before.content_sha256() == before.describe()["content_sha256"]  # the reader's, kept
    turn(folder / "dog" / "3.png")
    after = load_dataset(name)
    assert (after.labels_sha256(), after.mean, after.std) == (before.labels_sha256(), before.mean, before.std)
    assert after.content_sha256() != before.content_sha256()


def test_every_digest_comparison_says_it_in_one_wording() -> None:
    """Stop 51: the digest was compared in four places in three wordings (a set's DataChangedError, a ground truth's
    plain ArtifactError, a search's setting among others, the cache's warning); one helper words them all."""
    changed = data_changed("syn was made from", "a" * 64, "b" * 64, "imagefolder:photos", "photos", otherwise="distill again")
    assert isinstance(changed, DataChangedError) and str(changed) == (
        "syn was made from imagefolder:photos images that differ from those found now in photos (content_sha256 "
        f"aaaaaaaaaaaa... there, bbbbbbbbbbbb... now): {CHANGED}; give the data it was made from, or distill again"
    )
    assert data_changed("syn was made from", None, "b" * 64, "digits") is None  # made before the digest: as before
    assert data_changed("syn was made from", "b" * 64, "b" * 64, "digits") is None
    cached = data_changed("2 score(s) of c.jsonl were made from", "a", "b", "digits")  # a cache's, scored again: no remedy
    assert cached is not None and cached.remedy is None and str(cached) == cached.cause


def test_a_set_of_images_turned_in_place_since_is_refused_by_search(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from nas_proxy.distill import DistillConfig, distill

    folder = noisy_folder(tmp_path / "photos")
    config = DistillConfig(dataset=f"imagefolder:{folder}", ipc=1, method="random", device="cpu", val_fraction=0.5)
    syn = distill(config, tmp_path / "syn", progress=False).path
    recorded = json.loads((syn / "meta.json").read_text())["dataset"]["content_sha256"]
    turn(folder / "emu" / "0.png")  # its label and the folder's mean and std stay: only the pixels tell
    search = ["search", "--synthetic", str(syn), "--space", SPACE, "--study", "s", "--n-trials", "1", "--epochs", "1"]
    code = main([*search, "--storage", str(tmp_path / "s.log"), "--device", "cpu", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert f"content_sha256 {recorded[:12]}... there" in err and CHANGED in err, err
    assert err.endswith(f"{CHANGED}; give the data it was made from, or distill again from this one"), err
    assert not (tmp_path / "s.log").exists() or "COMPLETE" not in (tmp_path / "s.log").read_text()


def test_a_ground_truth_of_images_turned_in_place_since_is_refused(tmp_path: Path) -> None:
    folder = noisy_folder(tmp_path / "photos")
    data, config = DataRef(f"imagefolder:{folder}", 0, 0.5), GroundTruthConfig(epochs=1, early=())
    study = open_study(open_storage(str(tmp_path / "gt.log"), "gt"), data, config)
    assert study.user_attrs["nasproxy_groundtruth"]["data"]["content_sha256"] == load_dataset(data.dataset).content_sha256()
    turn(folder / "cat" / "5.png")
    with pytest.raises(DataChangedError) as refused:  # an ArtifactError (exit 2) as before stop 51, of the class the others are
        open_study(open_storage(str(tmp_path / "gt.log"), "gt"), data, config)
    assert refused.value.cause.startswith(f"the ground truth study {study.study_name} in ") and refused.value.cause.endswith(CHANGED)
    assert refused.value.remedy == "give the data it was made from, or another storage to train it again (correlate: --gt-storage)"


def test_a_worker_of_a_ground_truth_on_images_turned_since_trains_nothing(tmp_path: Path) -> None:
    """``nasproxy worker`` (run_worker) may read another copy of the data than the run that queued the trainings."""
    folder = noisy_folder(tmp_path / "photos")
    data, config = DataRef(f"imagefolder:{folder}", 0, 0.5), GroundTruthConfig(epochs=1, early=())
    storage = open_storage(str(tmp_path / "gt.log"), "gt")
    study = open_study(storage, data, config)
    (arch,) = from_space(get_space(SPACE), 1, seed=0)
    enqueue(study, [(arch.spec, 0)], SPACE)
    turn(folder / "dog" / "1.png")
    with pytest.raises(DataChangedError, match=r"^the ground truth study .*not the data it was made from"):
        GROUND_TRUTH.run_worker(study, storage, device="cpu")
    assert not results(study)


def test_a_ground_truth_study_made_before_the_digest_is_read_as_before(tmp_path: Path) -> None:
    folder = noisy_folder(tmp_path / "photos")
    data, config = DataRef(f"imagefolder:{folder}", 0, 0.5), GroundTruthConfig(epochs=1, early=())
    study = open_study(open_storage(str(tmp_path / "gt.log"), "gt"), data, config)
    stored = study.user_attrs["nasproxy_groundtruth"]
    del stored["data"]["content_sha256"]  # as an earlier nasproxy recorded it
    study.set_user_attr("nasproxy_groundtruth", stored)
    turn(folder / "cat" / "5.png")
    again = open_study(open_storage(str(tmp_path / "gt.log"), "gt"), data, config)
    assert "content_sha256" not in again.user_attrs["nasproxy_groundtruth"]["data"]  # not taken for the data found now


def _scores(folder: Path, out: Path) -> dict[str, float]:
    setup = RunSetup(space=get_space(SPACE), data=DataRef(f"imagefolder:{folder}", 0, 0.5), out=out, zero_cost_batch=8)
    archs = from_space(get_space(SPACE), 2, seed=0)
    got = score_archs(ZeroCostProxy(setup, "synflow"), [(a.arch_id, a.spec) for a in archs], out / "cache")
    return {aid: s.value for aid, s in got.items()}


def test_cached_scores_of_images_turned_in_place_since_are_scored_again_and_said(tmp_path: Path) -> None:
    folder = noisy_folder(tmp_path / "photos")
    first = _scores(folder, tmp_path / "out")
    (cache,) = (tmp_path / "out" / "cache").glob("*.jsonl")
    rows = [json.loads(line) for line in cache.read_text().splitlines()]
    assert {r[DATA] for r in rows} == {load_dataset(f"imagefolder:{folder}").content_sha256()}
    turn(folder / "cat" / "0.png")
    with pytest.warns(CacheDataChangedWarning) as said:
        again = _scores(folder, tmp_path / "out")
    (warning,) = [str(w.message) for w in said if w.category is CacheDataChangedWarning]
    assert warning.startswith(f"2 score(s) of {cache} were made from imagefolder:{folder} images that differ from those found now"), warning
    assert warning.endswith(f"{CHANGED}; their architectures are scored again"), warning
    assert again.keys() == first.keys() and len(cache.read_text().splitlines()) == 4  # both scored again, appended
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheDataChangedWarning)  # scored again once: not said at every later run
        assert _scores(folder, tmp_path / "out") == again
    assert len(cache.read_text().splitlines()) == 4


def test_cached_scores_written_before_the_digest_are_read_as_before(tmp_path: Path) -> None:
    folder = noisy_folder(tmp_path / "photos")
    _scores(folder, tmp_path / "out")
    (cache,) = (tmp_path / "out" / "cache").glob("*.jsonl")
    legacy = [
        {k: v for k, v in json.loads(line).items() if k not in (DATA, "sha256")} | {"score": 7.0} for line in cache.read_text().splitlines()
    ]
    cache.write_text("".join(json.dumps(r) + "\n" for r in legacy))  # rows of an earlier nasproxy: neither field
    turn(folder / "cat" / "0.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheDataChangedWarning)
        assert set(_scores(folder, tmp_path / "out").values()) == {7.0}  # not scored again
    assert len(cache.read_text().splitlines()) == 2


def test_a_set_made_before_the_digest_is_read_as_before(tmp_path: Path) -> None:
    from nas_proxy.distill import DistillConfig, distill

    folder = noisy_folder(tmp_path / "photos")
    config = DistillConfig(dataset=f"imagefolder:{folder}", ipc=1, method="random", device="cpu", val_fraction=0.5)
    syn = distill(config, tmp_path / "syn", progress=False).path
    meta = json.loads((syn / "meta.json").read_text())
    del meta["dataset"]["content_sha256"]
    (syn / "meta.json").write_text(json.dumps(meta))
    turn(folder / "emu" / "0.png")
    dataset = load_dataset(f"imagefolder:{folder}")
    dataset.check_described(meta["dataset"], str(syn))  # as before: no refusal


def test_a_search_on_real_data_is_not_resumed_on_images_turned_in_place_since(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """fix50e's note: a search with a real-data proxy (synflow) resumed its study after an image was turned in place,
    exit 0, 'complete' with old and new scores mixed (the study knew its data by name). Now refused in one line; the
    study keeps its trials."""
    folder = noisy_folder(tmp_path / "photos")
    storage = tmp_path / "z.log"
    search = ["search", "--proxy", "synflow", "--dataset", f"imagefolder:{folder}", "--space", SPACE, "--study", "z"]
    args = [*search, "--storage", str(storage), "--device", "cpu", "--quiet"]
    assert main([*args, "--n-trials", "2"]) == 0
    capsys.readouterr()
    kept = storage.read_bytes()
    turn(folder / "emu" / "0.png")
    assert main([*args, "--n-trials", "4"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"error: study 'z' was searched on imagefolder:{folder} images that differ from those" in err, err
    assert err.endswith(f"{CHANGED}; give the data it was made from, or another --study name") and storage.read_bytes() == kept, err
