"""What a dataset will hold in memory, counted before it is read: image folders as the loader stores them (colour in
three channels), train/ and test/ together, CIFAR batches (honest ones by their size, a lying one's arrays by its
bytes). Memory is said, never allocated: the machine's free memory is set, and headers lie."""

from __future__ import annotations

import io
import pickletools
import re
import struct
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nas_proxy.data import formats, load_dataset
from nas_proxy.data.images import WARNINGS_SAID_VARIABLE, read_image_folder
from nas_proxy.errors import DataNotFoundError
from tests import fabricate as fab
from tests import run_code


def _refused_then_read(
    monkeypatch: pytest.MonkeyPatch, free: tuple[int, int], load: Callable[[], Any], unread: tuple[Any, str] | None = None
) -> str:
    """The one line that refuses ``load`` with ``free[0]`` bytes of memory said free, having called no ``unread``
    (object, name: what reads the data; an image's decoding where not given); that ``load`` then reads with ``free[1]``."""
    from PIL import ImageFile

    where, name = unread or (ImageFile.ImageFile, "load")
    monkeypatch.setattr(formats, "memory_available", lambda: free[0])
    with monkeypatch.context() as reading:
        reading.setattr(where, name, lambda *a, **k: pytest.fail(f"{name} called"))
        with pytest.raises(DataNotFoundError) as error:
            load()
    monkeypatch.setattr(formats, "memory_available", lambda: free[1])
    load()
    return str(error.value)


def test_an_image_folder_larger_than_the_memory_is_refused_before_an_image_is_decoded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An image folder whose images, counted and at --image-size, need more than the memory said free (in colour: three
    bytes a pixel, as the loader holds them) is refused in one line with both numbers, before any image is decoded:
    before stop 50, read until the system killed nasproxy for its memory (a folder of millions of photos)."""
    folder = fab.image_folder(tmp_path / "imgs", ["a", "b"], 5)
    said = _refused_then_read(monkeypatch, (1_000_000, 7 * 10**6), lambda: load_dataset(f"imagefolder:{folder}", image_size=128))
    assert said == (
        f"image folder {folder} holds 10 images of 128x128 pixels, in colour, once read: reading it as a dataset needs about "
        "7 MB of memory, and this machine has 1 MB available now (what the programs running leave free); use a machine "
        "with more memory, or fewer images, or a smaller --image-size"
    )


def test_train_and_test_folders_are_counted_together(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """train/ (6 greyscale images) and test/ (4) at 32 px need 86,016 and 57,344 bytes alone, 143,360 together (14 bytes
    a pixel: images.FOLDER_HELD_PER_BYTE): with 100,000 free, refused before an image is decoded. Before stop 51 each
    folder was checked alone, and both were read."""
    fab.image_folder(tmp_path / "train", ["a", "b"], 3, mode="L")
    fab.image_folder(tmp_path / "test", ["a", "b"], 2, mode="L")
    said = _refused_then_read(monkeypatch, (100_000, 150_000), lambda: load_dataset(f"imagefolder:{tmp_path}", image_size=32))
    assert said == (
        f"image folder {tmp_path} (train/ 6 and test/ 4) holds 10 images of 32x32 pixels, greyscale, once read: reading it "
        "as a dataset needs about 143,360 bytes of memory, and this machine has 100,000 bytes available now (what the "
        "programs running leave free); use a machine with more memory, or fewer images, or a smaller --image-size"
    )


@pytest.mark.parametrize("colour", ["all", "one"])
def test_a_colour_folder_is_counted_in_three_channels(colour: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """10 images at 32 px, held as RGB (every one colour, or one among greyscale ones: the loader then holds all in RGB),
    need 430,080 bytes: with 200,000 free, refused. Before stop 51 counted as greyscale (a third: "at least"), and read."""
    folder = fab.image_folder(tmp_path / "imgs", ["a", "b"], 5, mode="RGB" if colour == "all" else "L")
    if colour == "one":
        fab.png(folder / "b" / "4.png", 1, "RGB", (12, 10))
    said = _refused_then_read(monkeypatch, (200_000, 450_000), lambda: read_image_folder(folder, 32))
    assert said.startswith(
        f"image folder {folder} holds 10 images of 32x32 pixels, in colour, once read: reading it as a dataset needs about "
        "430,080 bytes of memory, and this machine has 200,000 bytes available now"
    )


def _lying_batch(path: Path, images: int, how: str) -> None:
    """Make the CIFAR batch ``path`` declare 'data' of ``images`` images of 3072 bytes: where numpy's pickle makes the
    array (``_reconstruct``'s shape, (0,) in numpy's own), or (``call``) a batch of its own that calls numpy.ndarray."""
    shape = b"J" + struct.pack("<i", images) + b"M\x00\x0c\x86"  # BININT images, BININT2 3072, TUPLE2
    if how == "reconstruct":
        raw = path.read_bytes()
        made = re.sub(rb"(cnumpy\nndarray\nq.)K\x00\x85", lambda m: m.group(1) + shape, raw, count=1)  # was K 0, TUPLE1
        assert made != raw
    else:  # {'data': numpy.ndarray((images, 3072), 'b'), 'labels': [0, 1, 2, 3]}
        made = b"\x80\x02}(U\x04datacnumpy\nndarray\n" + shape + b"U\x01b\x86RU\x06labels](K\x00K\x01K\x02K\x03eu."
    pickletools.dis(made, out=io.StringIO())  # a pickle still, every opcode whole
    path.write_bytes(made)


@pytest.mark.parametrize(("images", "how"), [(10**9, "reconstruct"), (10**4, "reconstruct"), (10**4, "call")])
def test_a_cifar_batch_declaring_an_array_larger_than_its_file_is_refused_before_it_is_allocated(
    images: int, how: str, tmp_path: Path
) -> None:
    """A batch of 12 KB whose pickle makes 'data' of 10**9 images (3 TB) or 10**4 (31 MB): refused in one line, nothing
    of that size allocated. Before stop 51 numpy allocated it: a MemoryError for 3 TB; 31 MB taken, then read as pixels."""
    fab.cifar10(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_1"
    _lying_batch(path, images, how)
    tracemalloc.start()
    try:
        with pytest.raises(DataNotFoundError) as error:
            load_dataset("cifar10", tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    size = path.stat().st_size
    said = "3,072.0 GB" if images == 10**9 else "31 MB"
    assert str(error.value) == (
        f"{path} declares an array of shape ({images}, 3072) ({said}), more than its {size:,} bytes hold: the file is "
        "damaged, or not a CIFAR python batch; use the official cifar-*-python.tar.gz's files"
    )
    assert peak < 4 * 2**20, peak


def test_cifar_batches_larger_than_the_memory_are_refused_before_one_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CIFAR-10's six batch files, together, need more than the memory said free: refused in one line with both numbers,
    no batch unpickled. Before stop 51 CIFAR batches were read whatever their size."""
    fab.cifar10(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    total = sum((folder / name).stat().st_size for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"])
    monkeypatch.setattr(formats, "memory_available", lambda: total * formats.HELD_PER_BYTE - 1)
    monkeypatch.setattr(formats._ArraysOnlyUnpickler, "load", lambda self: pytest.fail("unpickled"))
    with pytest.raises(DataNotFoundError) as error:
        load_dataset("cifar10", tmp_path)
    assert str(error.value).startswith(
        f"{folder} holds CIFAR batches of {total:,} bytes (6 files): reading it as a dataset needs about "
        f"{total * formats.HELD_PER_BYTE:,} bytes of memory, and this machine has {total * formats.HELD_PER_BYTE - 1:,} bytes"
    )  # both about 1 MB: said as they are, not rounded alike (stop 51)
    assert 10**6 <= total * formats.HELD_PER_BYTE < 1.5 * 10**6  # (12 bytes for each of the files' 94 KB)
    assert str(error.value).endswith("use a machine with more memory, or fewer images in its batches")
    monkeypatch.undo()
    monkeypatch.setattr(formats, "memory_available", lambda: total * formats.HELD_PER_BYTE)
    assert load_dataset("cifar10", tmp_path).train_y.numel() == 20  # where they fit: read


@pytest.mark.parametrize("gz", [False, True])
def test_the_four_idx_files_of_a_dataset_are_counted_together(gz: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """MNIST's four files of 20 and 10 images: 23,550 values, 282,600 bytes to load; the largest alone 188,160. With
    200,000 said free, refused before one is read (before stop 51 each was checked alone, and all four were read)."""
    fab.idx_files(tmp_path, np.arange(20) % 10, np.arange(10) % 10, gz=gz)
    reads = (formats, "_read_idx_stream")
    said = _refused_then_read(monkeypatch, (200_000, 282_600), lambda: load_dataset("mnist", tmp_path), reads)
    assert said == (
        f"{tmp_path} holds IDX files of 23,550 values: reading it as a dataset needs about 282,600 bytes of memory, and this "
        "machine has 200,000 bytes available now (what the programs running leave free); use a machine with more memory, "
        "or a part of the files"
    )


def test_the_two_svhn_files_of_a_dataset_are_counted_together(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SVHN's two files of 20 and 10 images: X of 61,440 and 30,720 values, 1,105,920 bytes to load, the larger alone
    737,280. With 1,000,000 said free, refused before one is read (before stop 51 each was checked alone, and both were
    read)."""
    import scipy.io

    fab.svhn(tmp_path)
    said = _refused_then_read(monkeypatch, (1_000_000, 1_105_920), lambda: load_dataset("svhn", tmp_path), (scipy.io, "loadmat"))
    assert said == (
        f"{tmp_path} holds SVHN files of 92,160 values in X (2 files): reading it as a dataset needs about 1,105,920 bytes of "
        "memory, and this machine has 1,000,000 bytes available now (what the programs running leave free); use a machine with more memory, "
        "or a part of the files"
    )


def test_a_folder_warning_is_said_once_by_a_command_and_not_again_by_the_processes_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command loads its dataset several times, and a search's worker processes read the image folder that their
    command read first: the folder's warning (here an image file of a kind not read) is said once, by the command,
    not again at each load nor by each worker (before stop 51: twice by a search's command, once more by each worker).
    A process started by one that did not say it (another command, a worker started apart) says it."""
    fab.image_folder(tmp_path, ["a", "b"], 2)
    (tmp_path / "b" / "IMG_0.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(30))
    code = f"from pathlib import Path; from nas_proxy.data.images import read_image_folder; read_image_folder(Path({str(tmp_path)!r}), 8)"
    monkeypatch.delenv(WARNINGS_SAID_VARIABLE, raising=False)
    alone = run_code.run(code, capture_output=True, check=True)  # a process of its own (forked warm: torch imported, no nasproxy)
    assert alone.stderr.count("1 image file not read") == 1, alone.stderr
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # Python's own record of what it said, reset (as each load reset it)
        read_image_folder(tmp_path, 8)  # this process: the command, which says it
        read_image_folder(tmp_path, 8)  # its next load
    assert ["1 image file not read" in str(w.message) for w in caught] == [True]
    started = run_code.run(code, capture_output=True, check=True)  # its worker, of its environment
    assert "not read" not in started.stderr, started.stderr


def test_channel_stats_turns_a_chunk_to_float64_at_a_time_with_the_same_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    """fix54b: channel_stats made a float64 copy of the whole training split (Fashion-MNIST's: 360 MB more at its peak,
    measured). It sums a chunk at a time now (6 MB there), the mean and Bessel's std the same to float tolerance."""
    import torch

    from nas_proxy.data import base

    monkeypatch.setattr(base, "STATS_CHUNK", 3 * 8 * 8 * 5, raising=False)  # 5 images a chunk, of 23
    x = torch.rand(23, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * torch.tensor([1.0, 0.5, 0.1]).view(1, 3, 1, 1)
    converted, double = [], torch.Tensor.double

    def spy(self: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        converted.append(self.numel())
        return double(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "double", spy)
    mean, std = base.channel_stats(x)
    monkeypatch.setattr(torch.Tensor, "double", double)
    assert converted and max(converted) <= base.STATS_CHUNK  # never the whole split
    xd = x.double()
    assert mean == pytest.approx(xd.mean(dim=(0, 2, 3)).tolist(), abs=1e-6)
    assert std == pytest.approx(xd.std(dim=(0, 2, 3)).tolist(), abs=1e-6)
