"""The files of a finished set outside its tensors' hash, mended by the same command: a foreign file in their place."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from nas_proxy.distill.checkpoint import mend_losses
from tests.conftest import copy_of

T = TypeVar("T")


def beside_a_fifo(fifo: Path, call: Callable[[], T]) -> T:
    """``call()``'s result, run where ``fifo`` is a FIFO: a failure, not a hang, where it opens the FIFO and waits for
    a writer (the 60 s join is a guard against that hang, not a timing)."""
    result: list[T] = []
    running = threading.Thread(target=lambda: result.append(call()), daemon=True)
    running.start()
    running.join(60)
    if running.is_alive():
        with open(fifo, "wb"):  # release it
            pass
        running.join()
        pytest.fail(f"{fifo.name}: opened as a FIFO, waiting for a writer")
    return result[0]


def test_a_fifo_named_losses_csv_is_written_over_not_opened(tmp_path: Path) -> None:
    """review55: mkfifo OUT/losses.csv beside a finished set, then the same distill (`nasproxy distill --dataset digits
    --ipc 1 --iterations 1 --out OUT`): it hung in mend_losses' read (open waits for a writer; killed by timeout 60,
    rc 124), as probe54's config.toml and best.json did; a link there to /dev/zero would be read to the end of the
    memory. Now only a regular file is read, and anything else is replaced by the losses the checkpoint gives."""
    path = tmp_path / "losses.csv"
    os.mkfifo(path)
    assert beside_a_fifo(path, lambda: mend_losses(path, [[1, 2.5]], ("loss",))) is True
    assert path.is_file() and path.read_text() == "iteration,loss\n1,2.5\n"
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
    assert beside_a_fifo(out / TENSORS, lambda: finished_set(out, done)) is None


def test_a_fifo_named_grid_png_is_drawn_over_not_opened(tiny_run: Path, tmp_path: Path) -> None:
    """review55: mkfifo OUT/grid.png beside a finished set, then the same distill (or a sharded merge, which mends the
    grid too): it hung in _whole_png's read (timeout 60, rc 124). Now only a regular file is read, and anything else
    is drawn again from the set."""
    from nas_proxy.synthetic import GRID, mend_grid

    out = copy_of(tiny_run, tmp_path / "set")
    (out / GRID).unlink()
    os.mkfifo(out / GRID)
    assert beside_a_fifo(out / GRID, lambda: mend_grid(out)) is True
    assert (out / GRID).is_file() and (out / GRID).read_bytes().startswith(b"\x89PNG")
    assert mend_grid(out) is False  # whole now: kept
