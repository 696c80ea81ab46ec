"""The files of a finished set outside its tensors' hash, mended by the same command: a foreign file in their place."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from nas_proxy.distill.checkpoint import mend_losses
from tests.conftest import copy_of


def test_a_fifo_named_losses_csv_is_written_over_not_opened(tmp_path: Path) -> None:
    """review55: mkfifo OUT/losses.csv beside a finished set, then the same distill (`nasproxy distill --dataset digits
    --ipc 1 --iterations 1 --out OUT`): it hung in mend_losses' read (open waits for a writer; killed by timeout 60,
    rc 124), as probe54's config.toml and best.json did; a link there to /dev/zero would be read to the end of the
    memory. Now only a regular file is read, and anything else is replaced by the losses the checkpoint gives."""
    path = tmp_path / "losses.csv"
    os.mkfifo(path)
    mended: list[bool] = []
    mending = threading.Thread(target=lambda: mended.append(mend_losses(path, [[1, 2.5]], ("loss",))), daemon=True)
    mending.start()
    mending.join(60)  # a guard against a hang, not a timing: the read of a FIFO waits for ever
    if mending.is_alive():
        with open(path, "wb"):  # release it
            pass
        mending.join()
        pytest.fail(f"mend_losses opened the FIFO {path} and waited for a writer")
    assert mended == [True] and path.is_file() and path.read_text() == "iteration,loss\n1,2.5\n"
    assert mend_losses(path, [[1, 2.5]], ("loss",)) is False  # whole now: kept


def test_a_fifo_named_synthetic_safetensors_is_no_finished_set_and_is_not_opened(tiny_run: Path, tmp_path: Path) -> None:
    """review55: mkfifo OUT/synthetic.safetensors beside the rest of a finished set, then the same distill: it hung
    hashing it (finished_set's file_sha256 opened the FIFO; timeout 60, rc 124). Now it is no whole set, and the same
    command writes the set again from its checkpoint."""
    from nas_proxy.distill.checkpoint import finished_set
    from nas_proxy.synthetic import TENSORS, read_meta

    out = copy_of(tiny_run, tmp_path / "set")
    done = read_meta(out)["iterations_done"]
    assert finished_set(out, done) is not None  # whole as it is
    (out / TENSORS).unlink()
    os.mkfifo(out / TENSORS)
    found: list[object] = []
    looking = threading.Thread(target=lambda: found.append(finished_set(out, done)), daemon=True)
    looking.start()
    looking.join(60)  # a guard against a hang, not a timing
    if looking.is_alive():
        with open(out / TENSORS, "wb"):
            pass
        looking.join()
        pytest.fail("finished_set opened the FIFO and waited for a writer")
    assert found == [None]


def test_a_fifo_named_grid_png_is_drawn_over_not_opened(tiny_run: Path, tmp_path: Path) -> None:
    """review55: mkfifo OUT/grid.png beside a finished set, then the same distill (or a sharded merge, which mends the
    grid too): it hung in _whole_png's read (timeout 60, rc 124). Now only a regular file is read, and anything else
    is drawn again from the set."""
    from nas_proxy.synthetic import GRID, mend_grid

    out = copy_of(tiny_run, tmp_path / "set")
    (out / GRID).unlink()
    os.mkfifo(out / GRID)
    mended: list[bool] = []
    mending = threading.Thread(target=lambda: mended.append(mend_grid(out)), daemon=True)
    mending.start()
    mending.join(60)  # a guard against a hang, not a timing
    if mending.is_alive():
        with open(out / GRID, "wb"):
            pass
        mending.join()
        pytest.fail("mend_grid opened the FIFO and waited for a writer")
    assert mended == [True] and (out / GRID).is_file() and (out / GRID).read_bytes().startswith(b"\x89PNG")
    assert mend_grid(out) is False  # whole now: kept
