"""A finished set's grid.png read back by the same distill (synthetic.mend_grid): Pillow's guard against decompression
bombs (89 million pixels, refused past twice that) is the size of a grid that save_grid draws for a large set (200
classes of 224-pixel images, 20 per row: 203 million), so the guard is lowered here to below this set's grid, as that
set's grid exceeds it."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest
from PIL import Image

from nas_proxy.distill import distill
from nas_proxy.synthetic import GRID, mend_grid
from tests.conftest import tiny_config


def _pixels(path: Path) -> int:
    with Image.open(path) as picture:
        return picture.width * picture.height


@pytest.mark.parametrize("below", [3, 1.5])  # past twice the limit: Pillow's error; past it: its warning
def test_a_whole_grid_larger_than_pillows_limit_is_kept_without_a_word(
    below: float, tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before review53 the same distill on a finished set whose grid exceeds the limit stopped on it
    (DecompressionBombError: an internal error), or printed Pillow's DecompressionBombWarning."""
    out = Path(shutil.copytree(tiny_run, tmp_path / "run"))
    limit = int(_pixels(out / GRID) / below)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    before = (out / GRID).stat().st_mtime_ns
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert mend_grid(out) is False
        assert distill(tiny_config(), out).meta["iterations_done"] == 6
    assert (out / GRID).stat().st_mtime_ns == before  # whole: not written again
    assert limit == Image.MAX_IMAGE_PIXELS  # the guard put back


def test_a_torn_grid_larger_than_pillows_limit_is_drawn_again(tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = Path(shutil.copytree(tiny_run, tmp_path / "run"))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", _pixels(out / GRID) // 3)
    with open(out / GRID, "r+b") as f:
        f.truncate(f.seek(0, 2) // 3)  # its header whole: the size it declares is read first
    assert mend_grid(out) is True
    assert (out / GRID).read_bytes() == (tiny_run / GRID).read_bytes()


def test_a_grid_larger_than_the_set_draws_is_not_decoded_but_drawn_again(
    tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guard is lifted only to this set's own grid: a picture that declares more pixels (outside damage) is redrawn."""
    out = Path(shutil.copytree(tiny_run, tmp_path / "run"))
    with Image.open(out / GRID) as picture:
        picture.resize((picture.width * 2, picture.height)).save(out / GRID)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", _pixels(tiny_run / GRID) // 3)
    assert mend_grid(out) is True
    assert (out / GRID).read_bytes() == (tiny_run / GRID).read_bytes()


def test_another_open_while_the_grid_is_decoded_keeps_pillows_guard(
    tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fix54b: mend_grid raised Pillow's global Image.MAX_IMAGE_PIXELS to the set's grid while it decoded the grid, so
    that another thread's Image.open of a hostile image in the same process, at that moment, was let through (here: a
    picture of the grid's size, three times the guard, opened from inside the decoding). The guard is left alone now:
    that open is refused as Pillow refuses it, and the whole grid is still kept."""
    from PIL import ImageFile

    out = Path(shutil.copytree(tiny_run, tmp_path / "run"))
    limit = _pixels(out / GRID) // 3
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    decode, other = ImageFile.ImageFile.load, list[str]()

    def load(self: ImageFile.ImageFile) -> object:  # the grid's decoding: another open meanwhile, as another thread's
        if not other:
            try:
                Image.open(out / GRID).close()
                other.append("opened")
            except Image.DecompressionBombError:
                other.append("refused")
        return decode(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    assert mend_grid(out) is False
    assert other == ["refused"] and limit == Image.MAX_IMAGE_PIXELS
