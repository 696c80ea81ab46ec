"""Image files that a viewer shows otherwise than their pixels are stored: a phone photo's EXIF orientation. Read as
torchvision's ImageFolder reads them, and said."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

from nas_proxy.data import load_dataset
from nas_proxy.data.images import read_image_folder
from nas_proxy.errors import NasProxyWarning
from tests import fabricate as fab

T = TypeVar("T")


def _sideways_photo(path: Path, orientation: int) -> Path:
    """A JPEG 40 wide and 20 high, its left half white and its right half black as stored, that says in its EXIF a
    viewer must show it turned (6: 90 degrees clockwise, a phone held upright), as a phone writes it."""
    from PIL import Image

    pixels = np.zeros((20, 40, 3), dtype=np.uint8)  # (H, W, C)
    pixels[:, :20] = 255
    exif = Image.Exif()
    exif[0x0112] = orientation
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, exif=exif, quality=95)
    return path


def _warned(call: Callable[[], T]) -> tuple[T, list[str]]:
    """What ``call`` returns, and the messages of the nasproxy warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    return result, [str(w.message) for w in caught if issubclass(w.category, NasProxyWarning)]


def test_a_photo_with_an_exif_orientation_is_read_as_stored_and_said_once_per_folder(tmp_path: Path) -> None:
    """A phone's portrait photo (EXIF orientation 6) is read as its pixels are stored, as torchvision's loader reads it
    (so a network trained here meets the pixels such a loader gives it, and sets made before keep theirs), and the
    folder's count of such images is said with the first and the fix. Before stop 50, nothing was said."""
    fab.image_folder(tmp_path, ["a", "b"], 3, size=(40, 20))
    _sideways_photo(tmp_path / "a" / "phone.jpg", 6)
    _sideways_photo(tmp_path / "b" / "phone.jpg", 8)
    _sideways_photo(tmp_path / "b" / "upright.jpg", 1)  # the upright value: nothing to say
    (x, _, _), said = _warned(lambda: read_image_folder(tmp_path, 20))
    assert said == [
        f"{tmp_path}: 2 of 9 images carry an EXIF orientation, which photo viewers apply and nasproxy does not (as "
        "torchvision's loader does not): they are read as stored, turned or mirrored (the first 'a/phone.jpg', orientation 6: "
        "a viewer turns it 90° clockwise); to read them upright, write upright copies into a new folder (exiftran -ai, "
        "mogrify -auto-orient, or PIL's ImageOps.exif_transpose) and give that folder (not in place: what was made from "
        "this one is known by its path)"
    ]
    phone = x[3]  # a/phone.jpg, after a/0.png .. a/2.png: (H, W, C), the 20 pixels high kept whole, the middle 20 of 40
    assert phone[:, :10].mean() > 200 and phone[:, 10:].mean() < 50  # its left half white, as stored, not its top
    _, said_again = _warned(lambda: load_dataset(f"imagefolder:{tmp_path}", image_size=20))
    assert len(said_again) == 1  # one folder, one warning


def test_a_turned_photo_is_said_of_the_folder_that_holds_it_in_a_train_test_layout(tmp_path: Path) -> None:
    """train/ and test/ are read as two folders: test/'s one turned photo is said once, of test/, counted among its 5."""
    fab.image_folder(tmp_path / "train", ["a", "b"], 3, size=(40, 20))
    fab.image_folder(tmp_path / "test", ["a", "b"], 2, size=(40, 20))
    _sideways_photo(tmp_path / "test" / "b" / "phone.jpg", 3)
    _, said = _warned(lambda: load_dataset(f"imagefolder:{tmp_path}", image_size=20))
    assert len(said) == 1 and re.match(
        re.escape(f"{tmp_path / 'test'}: 1 of 5 images carry an EXIF orientation")
        + r".*'b/phone\.jpg', orientation 3: a viewer turns it 180°",
        said[0],
    )
