"""Loading synthetic sets: every broken, foreign or unsafe input is refused with a clear error."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from nas_proxy.errors import ArtifactError
from nas_proxy.synthetic import load_synthetic, read_safetensors, tensors_digest


@pytest.fixture
def run(tiny_run: Path, tmp_path: Path) -> Path:
    """A private copy of the shared tiny run that a test may damage."""
    return Path(shutil.copytree(tiny_run, tmp_path / "copy"))


def test_loads_a_finished_run(run: Path) -> None:
    syn = load_synthetic(run)
    assert syn.images.dtype == torch.float32 and syn.ipc == 2 and syn.num_classes == 10


def test_a_set_in_a_folder_whose_name_is_not_utf8_loads(tiny_run: Path, tmp_path: Path) -> None:
    """A folder named in another encoding (b'set\\xff', which distill writes): before branch probe39,
    safetensors (UTF-8 paths only) failed and the set was called "truncated or corrupt"."""
    folder = Path(shutil.copytree(tiny_run, tmp_path / "set\udcff"))
    syn = load_synthetic(folder)
    assert syn.images.shape[0] == 20 and syn.meta == load_synthetic(tiny_run).meta


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="does not exist"):
        load_synthetic(tmp_path / "nope")


def test_a_file_instead_of_a_directory(run: Path) -> None:
    with pytest.raises(ArtifactError, match="is a file"):
        load_synthetic(run / "synthetic.safetensors")


def test_unfinished_run_says_how_to_finish(run: Path) -> None:
    (run / "meta.json").unlink()
    with pytest.raises(ArtifactError, match=r"unfinished.*--resume"):
        load_synthetic(run)


def test_corrupt_metadata(run: Path) -> None:
    (run / "meta.json").write_text('{"format": "nasproxy.synth')
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_synthetic(run)


def test_foreign_metadata(run: Path) -> None:
    (run / "meta.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ArtifactError, match="not nasproxy synthetic-set metadata"):
        load_synthetic(run)


def test_truncated_tensors_fail_the_checksum(run: Path) -> None:
    data = (run / "synthetic.safetensors").read_bytes()
    (run / "synthetic.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError, match="SHA-256"):
        load_synthetic(run)


def test_truncated_tensors_without_a_checksum_are_still_refused(run: Path) -> None:
    meta = json.loads((run / "meta.json").read_text())
    del meta["tensors_sha256"]
    (run / "meta.json").write_text(json.dumps(meta))
    data = (run / "synthetic.safetensors").read_bytes()
    (run / "synthetic.safetensors").write_bytes(data[: len(data) - 40])
    with pytest.raises(ArtifactError, match="truncated or corrupt"):
        load_synthetic(run)


def test_a_large_foreign_file_is_refused_from_its_first_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 10 GB file that is not safetensors, or whose header does not account for its size: before fix45b,
    read_safetensors read all of it into memory before the library refused it; its header now does."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    foreign, grown = tmp_path / "model.safetensors", tmp_path / "grown.safetensors"
    with foreign.open("wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + bytes(60))  # an image of 10 GB, sparse: nothing on the disk
        f.truncate(10**10)
    with grown.open("wb") as f:
        f.write(len(header).to_bytes(8, "little") + header + bytes(8))
        f.truncate(10**10)

    def whole(self: Path) -> bytes:
        raise AssertionError(f"{self} read whole")

    monkeypatch.setattr(Path, "read_bytes", whole)
    with pytest.raises(ValueError, match="its first 8 bytes give no header length that fits its 10,000,000,000 bytes"):
        read_safetensors(foreign)
    zipped = tmp_path / "zip.safetensors"  # a torch.save file: its first bytes give a header of 67 MB, refused unread
    with zipped.open("wb") as f:
        f.write(b"PK\x03\x04" + bytes(60))
        f.truncate(10**9)
    with pytest.raises(ValueError, match="its header is not a JSON object"):
        read_safetensors(zipped)
    with pytest.raises(ValueError, match="it holds 10,000,000,000 bytes where its header accounts for 77"):
        read_safetensors(grown)


def _point_meta_at(run: Path, name: str) -> None:
    meta = json.loads((run / "meta.json").read_text())
    meta["tensors"], meta["tensors_sha256"] = name, None
    (run / "meta.json").write_text(json.dumps(meta))


class Payload:
    """An object whose unpickling would call a function: must never be loaded."""

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (print, ("unpickled!",))


def test_a_file_that_needs_unpickling_is_refused(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    syn = load_synthetic(run)
    torch.save({"images": syn.images, "labels": syn.labels, "extra": Payload()}, run / "synthetic.pt")
    _point_meta_at(run, "synthetic.pt")
    with pytest.raises(ArtifactError, match="unpickling"):
        load_synthetic(run)
    assert "unpickled!" not in capsys.readouterr().out


def test_plain_tensor_pt_files_load_without_unpickling_code(run: Path) -> None:
    syn = load_synthetic(run)
    torch.save({"images": syn.images, "labels": syn.labels}, run / "synthetic.pt")
    _point_meta_at(run, "synthetic.pt")
    assert torch.equal(load_synthetic(run).images, syn.images)


def test_wrong_shapes_are_refused(run: Path) -> None:
    from safetensors.torch import save_file

    save_file({"images": torch.zeros(20, 3, 16, 16), "labels": torch.zeros(20, dtype=torch.long)}, str(run / "synthetic.safetensors"))
    _point_meta_at(run, "synthetic.safetensors")
    with pytest.raises(ArtifactError, match=r"differs from meta\.json"):
        load_synthetic(run)


def test_an_image_folder_set_larger_than_image_folders_are_read_names_itself(run: Path) -> None:
    """A set distilled from an image folder above 1,024 px before stop 42's cap on --image-size: before fix43a it
    loaded, and every command then said "image size must be in [4, 1024], got 1100", naming neither set nor cause."""
    from safetensors.torch import save_file

    from nas_proxy.digests import file_sha256

    save_file({"images": torch.zeros(2, 1, 1100, 1100), "labels": torch.tensor([0, 1])}, str(run / "synthetic.safetensors"))
    meta = json.loads((run / "meta.json").read_text())
    meta["dataset"].update(name="imagefolder:photos", image_size=[1100, 1100], num_classes=2, class_names=["cat", "dog"])
    meta.update(image_shape=[1, 1100, 1100], ipc=1, num_images=2, tensors_sha256=file_sha256(run / "synthetic.safetensors"))
    (run / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(
        ArtifactError,
        match=rf"^{re.escape(str(run / 'meta.json'))}: this set was distilled from imagefolder:photos at 1100x1100 px, .* at most 1024",
    ):
        load_synthetic(run)


@pytest.mark.parametrize(
    ("names", "said"),
    [
        (["a"] * 10, "dataset.class_names names 'a' more than once"),
        ([*"abcdefghi", "a"], "dataset.class_names names 'a' more than once"),
        ([*"abcdefghi", ""], "dataset.class_names gives class 9 no name"),
        ([*"abcdefghi", "  "], "dataset.class_names gives class 9 no name"),
        (["ca\nt", *"bcdefghij"], r"dataset.class_names gives class 0 the name 'ca\nt', which holds a control character (a newline)"),
    ],
)
def test_class_names_that_a_report_could_not_tell_apart_are_refused(names: list[str], said: str, run: Path) -> None:
    """Before stop 49 a set whose meta.json named ten classes 'a' (or gave one no name) was loaded and evaluated: its
    reports and the spec.json of a model trained from it (class_names) could not say which class was which."""
    meta = json.loads((run / "meta.json").read_text())
    meta["dataset"]["class_names"] = names
    (run / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError) as error:
        load_synthetic(run)
    assert str(error.value) == f"{run / 'meta.json'}: {said}; the file is corrupt or was edited, distil again"


def test_the_digest_of_a_batch_norm_networks_weights_covers_its_scalar_step_count() -> None:
    """A teacher with batch norm is kept with the digest of its state dict, which holds a 0-dim int64
    ``num_batches_tracked``: before, viewing it as bytes raised, and ``nasproxy soft-labels`` ended in an internal error."""
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    state = net.state_dict()
    assert state["1.num_batches_tracked"].dim() == 0
    digest = tensors_digest(state, {"record": "{}"})
    assert digest == tensors_digest({k: v.clone() for k, v in state.items()}, {"record": "{}"})
    state["1.num_batches_tracked"] += 1
    assert tensors_digest(state, {"record": "{}"}) != digest


def test_a_meta_json_without_the_tensors_digest_gives_the_files_own(run: Path) -> None:
    """meta.json without 'tensors_sha256' (edited, or a set written by hand) is read, as before, and its meta carries the
    digest of the tensors read: before probe50 every caller that keys its caches and its study's record on it failed
    (`nasproxy search --synthetic SET`: 'internal error: KeyError: 'tensors_sha256'')."""
    from nas_proxy.digests import file_sha256

    meta = json.loads((run / "meta.json").read_text())
    del meta["tensors_sha256"]
    (run / "meta.json").write_text(json.dumps(meta))
    assert load_synthetic(run).meta["tensors_sha256"] == file_sha256(run / "synthetic.safetensors")
