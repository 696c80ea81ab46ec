"""Image folders as a stranger unpacks them (branch probe56): a zip made on macOS holds a __MACOSX folder beside the
class folders, and a class folder may hold no image at all. Before, both were refused as "needs at least 2 classes with
at least 2 images each; class sizes {'__MACOSX': 0, 'cat': 3, 'dog': 3}", with two classes of three images given."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas_proxy.data import load_dataset
from nas_proxy.errors import DataNotFoundError, NasProxyWarning
from tests import fabricate as fab


def test_the_folder_macos_zips_add_is_no_class_and_is_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nas_proxy.data.images import WARNINGS_SAID_VARIABLE

    monkeypatch.delenv(WARNINGS_SAID_VARIABLE, raising=False)
    fab.image_folder(tmp_path, ["cat", "dog"], 3)
    (tmp_path / "__MACOSX" / "cat").mkdir(parents=True)
    (tmp_path / "__MACOSX" / "cat" / "._0.png").write_bytes(b"\x00\x05\x16\x07" + bytes(60))
    with pytest.warns(NasProxyWarning, match=r"__MACOSX/ not read: macOS's zip adds it"):
        ds = load_dataset(f"imagefolder:{tmp_path}")
    assert ds.class_names == ["cat", "dog"]


def test_a_class_folder_of_no_images_is_named(tmp_path: Path) -> None:
    fab.image_folder(tmp_path, ["cat", "dog"], 3)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("labels by hand")
    with pytest.raises(DataNotFoundError, match=rf"^{tmp_path}/notes holds no images nasproxy reads: each folder in"):
        load_dataset(f"imagefolder:{tmp_path}")


def test_a_class_folder_named_in_another_encoding_is_refused(tmp_path: Path) -> None:
    """A folder named in Latin-1 (an old archive's 'caf\\xe9'): before, taken, its class recorded as 'caf\\udce9', a lone
    surrogate that no UTF-8 reader of the set can print."""
    import os

    fab.image_folder(tmp_path, ["cat", "dog"], 3)
    os.rename(tmp_path / "cat", os.fsencode(tmp_path) + b"/caf\xe9")
    with pytest.raises(
        DataNotFoundError,
        match=r"holds a folder named 'caf\\udce9', whose name is not read as UTF-8 text: its bytes b'caf\\xe9' are a name in another",
    ):
        load_dataset(f"imagefolder:{tmp_path}")
