"""Image files that a viewer shows otherwise than their pixels are stored: a phone photo's EXIF orientation, the
frames after the first of an animated or multi-page file. Read as torchvision's ImageFolder reads them, and said."""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest

from nas_proxy.data import load_dataset
from nas_proxy.data.images import SAID_MAX, WARNINGS_SAID_VARIABLE, read_image_folder, say_once
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


def test_a_photo_with_an_exif_orientation_is_read_as_stored_and_said_once_per_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
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
        "this one would be refused, made from other pixels)"
    ]
    phone = x[3]  # a/phone.jpg, after a/0.png .. a/2.png: (H, W, C), the 20 pixels high kept whole, the middle 20 of 40
    assert phone[:, :10].mean() > 200 and phone[:, 10:].mean() < 50  # its left half white, as stored, not its top
    assert _warned(lambda: load_dataset(f"imagefolder:{tmp_path}", image_size=20))[1] == []  # said once per command
    monkeypatch.delenv(WARNINGS_SAID_VARIABLE)  # as in another command
    _, said_again = _warned(lambda: load_dataset(f"imagefolder:{tmp_path}", image_size=20))
    assert len(said_again) == 1  # one folder, one warning


@pytest.mark.parametrize("kind", ["GIF", "WEBP", "PNG", "TIFF"])
def test_a_file_of_several_frames_is_read_at_its_first_and_said(kind: str, tmp_path: Path) -> None:
    """An animated GIF, WebP or PNG, or a multi-page TIFF, in a class folder: its first frame is read, as torchvision's
    loader reads it, and the folder's count of such files is said with the first. Before stop 50, silently. A JPEG of the
    Multi-Picture Format (MPO), which cameras and phones write with previews or a second view after the photo, is one
    photo: not counted."""
    from PIL import Image

    fab.image_folder(tmp_path, ["a", "b"], 2, size=(8, 8))
    photo = [Image.new("RGB", (8, 8), (200, 10, 10)), Image.new("RGB", (4, 4), (10, 10, 200))]
    photo[0].save(tmp_path / "a" / "photo.jpg", format="MPO", save_all=True, append_images=photo[1:])
    with Image.open(tmp_path / "a" / "photo.jpg") as im:
        assert im.format == "MPO" and getattr(im, "n_frames", 1) == 2
    frames = [Image.new("RGB", (8, 8), (250, 10 + 100 * i, 10)) for i in range(3)]
    path = tmp_path / "b" / f"moving.{kind.lower()}"
    frames[0].save(path, format=kind, save_all=True, append_images=frames[1:], **({"lossless": True} if kind == "WEBP" else {}))
    with Image.open(path) as im:
        assert getattr(im, "n_frames", 1) == 3  # the file holds its three frames
    (x, _, _), said = _warned(lambda: read_image_folder(tmp_path, 8))
    assert said == [
        f"{tmp_path}: 1 of 6 image files hold several frames (an animated GIF, WebP or PNG, a multi-page TIFF; the first "
        f"'b/moving.{kind.lower()}'): only the first frame of each is read, as torchvision's loader reads it; save the frame "
        "meant as a single image to use another"
    ]
    assert tuple(x[5, 4, 4]) == (250, 10, 10)  # the first frame's colour (the GIF's palette keeps these exact)


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


def test_a_gif_cut_short_in_its_second_frame_is_read_at_its_first(tmp_path: Path) -> None:
    """Asking whether a GIF has a second frame reads into it: a file cut short there made PIL raise IndexError, which
    must not become an internal error. Its first frame is whole: read, as before stop 50."""
    import io

    from PIL import Image

    fab.image_folder(tmp_path, ["a", "b"], 2, size=(8, 8))
    frames = [Image.new("RGB", (8, 8), (250, 10 + 100 * i, 10)) for i in range(3)]
    moving, still = io.BytesIO(), io.BytesIO()
    frames[0].save(moving, format="GIF", save_all=True, append_images=frames[1:])
    frames[0].save(still, format="GIF")
    (tmp_path / "b" / "cut.gif").write_bytes(moving.getvalue()[: len(still.getvalue()) + 20])
    (x, _, _), _ = _warned(lambda: read_image_folder(tmp_path, 8))
    assert tuple(x[4, 4, 4]) == (250, 10, 10)


def test_the_record_of_what_was_said_keeps_the_latest_warnings_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """fix52e: the record (an environment variable the processes a command starts inherit) grew by 17 characters with
    every warning said in the process, without end. Now the latest SAID_MAX: each of them still said once, an older one
    said again."""
    monkeypatch.setenv(WARNINGS_SAID_VARIABLE, "")  # nothing said yet; the variable as it was after the test
    messages = [f"folder {i}: something to say" for i in range(SAID_MAX + 10)]

    def say(these: list[str]) -> None:
        for message in these:
            say_once(message)

    _, said = _warned(lambda: say(messages))
    assert said == messages and len(os.environ[WARNINGS_SAID_VARIABLE].split()) == SAID_MAX
    assert _warned(lambda: say(messages[10:]))[1] == []  # the latest: said once
    assert _warned(lambda: say_once(messages[0]))[1] == [messages[0]]  # forgotten, so said again
    assert len(os.environ[WARNINGS_SAID_VARIABLE].split()) == SAID_MAX


def test_greyscale_images_before_the_first_colour_one_are_read_as_pil_makes_them_rgb(tmp_path: Path) -> None:
    """fix53a: the images are written into one array as they are decoded (before: a list of PIL images, a list of arrays,
    then a stack, whose blocks raised the load's peak memory 3.6x the array's): one channel until the first colour
    image, then three, the greyscale ones before it holding their value in each, as PIL's L -> RGB makes them."""
    from PIL import Image

    fab.png(tmp_path / "a" / "0.png", 0, "L", (12, 10))
    fab.png(tmp_path / "a" / "1.png", 0, "L", (10, 12))
    fab.png(tmp_path / "b" / "0.png", 1, "L", (12, 10))
    fab.png(tmp_path / "b" / "1.png", 1, "RGB", (12, 10))  # the last: three channels from here
    fab.png(tmp_path / "b" / "2.png", 1, "L", (12, 10))
    x, y, classes = read_image_folder(tmp_path, 8)
    assert x.shape == (5, 8, 8, 3) and x.dtype == np.uint8 and y.tolist() == [0, 0, 1, 1, 1] and classes == ["a", "b"]
    files = [tmp_path / "a" / "0.png", tmp_path / "a" / "1.png", *(tmp_path / "b" / f"{i}.png" for i in range(3))]
    for i, path in enumerate(files):
        with Image.open(path) as im:
            value = im.convert("RGB").getpixel((0, 0))
        assert (x[i] == np.asarray(value, dtype=np.uint8)).all(), path
    (tmp_path / "b" / "1.png").unlink()  # every one greyscale: one channel
    grey, _, _ = read_image_folder(tmp_path, 8)
    assert grey.shape == (4, 8, 8, 1) and (grey[..., 0] == x[[0, 1, 2, 4], ..., 0]).all()
