"""Files a stranger brings in a dataset's place, or that lie about what they hold: each is refused in one line
that names the file and what it is, or read as what it really is (fabricated in the real formats)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from nas_proxy import checks
from nas_proxy.data import formats, load_dataset
from nas_proxy.data.formats import read_cifar_batch
from nas_proxy.errors import DataNotFoundError, InvalidArgumentError
from tests import fabricate as fab

HTML = b"<!DOCTYPE html>\n<html><head><title>403 Forbidden</title></head><body>Forbidden</body></html>\n"


def _zips(folder: Path) -> dict[str, Path]:
    """A torch.save file, a numpy.savez file and a zip of other things (a workbook's kind), each in ``folder``."""
    torch.save({"x": torch.zeros(2)}, folder / "torch.pt")
    np.savez(folder / "arrays.npz", x=np.zeros(2))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
    (folder / "book.xlsx").write_bytes(buffer.getvalue())
    return {"torch": folder / "torch.pt", "numpy": folder / "arrays.npz", "other": folder / "book.xlsx"}


@pytest.mark.parametrize(
    ("which", "as_text"),
    [
        ("torch", "it is a file torch.save wrote (a zip holding data.pkl), not text; give the text file asked for"),
        ("numpy", "it is a file numpy.savez wrote (a zip of .npy arrays), not text; give the text file asked for"),
        ("other", "it is a zip archive (a workbook such as .xlsx is one); unzip it, or save the sheet as CSV"),
    ],
)
def test_a_zip_is_told_apart_by_one_function_for_the_text_and_the_cifar_readers(which: str, as_text: str, tmp_path: Path) -> None:
    """checks.zip_archive is the one test of a zip: read_text names what wrote it (text asked for), read_cifar_batch
    refuses any zip as no CIFAR batch. Both said the same before they shared it (stop 49: a refactor, messages unchanged)."""
    path = _zips(tmp_path)[which]
    with pytest.raises(InvalidArgumentError) as text_error:
        checks.read_text("archs", path)
    assert str(text_error.value) == f"archs file {path} is not UTF-8 text: {as_text}"
    with pytest.raises(DataNotFoundError) as cifar_error:
        read_cifar_batch(path)
    assert str(cifar_error.value) == (
        f"{path} is a zip archive (what numpy.savez and torch.save write), not a CIFAR python batch: a pickle of a dict "
        "with 'data' and the labels, as the official cifar-*-python.tar.gz holds"
    )
    assert checks.zip_archive(b"PK\x03\x04 cut short") == checks.ANY_ZIP and checks.zip_archive(b"\x80\x02}q") is None


@pytest.mark.parametrize(("dtype", "value", "shown"), [(np.int32, 70_000, "70,000 to 70,000"), (np.int16, -5, "-5 to -5")])
def test_integer_pixels_outside_16_bits_are_refused_not_clipped(dtype: type, value: int, shown: str, tmp_path: Path) -> None:
    """A 32-bit TIFF of 70000 (PIL's mode I) was divided by 257 and clipped at 255, a signed one of -5 clipped at 0: both
    read as flat white or black without a word before stop 49. Refused like floating-point pixels, whose range the
    file does not state either; a 16-bit image in the same folder is still read (0-65535 scaled to 0-255)."""
    from PIL import Image

    from nas_proxy.data.images import read_image_folder

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for i in range(2):
            Image.fromarray(np.full((8, 8), 1000 * i + 500, dtype=np.uint16)).save(tmp_path / name / f"{i}.png")
    assert read_image_folder(tmp_path, 8)[0].max() == 6  # 1500 / 257: the 16-bit images alone
    wide = tmp_path / "b" / "wide.tif"
    Image.fromarray(np.full((8, 8), value, dtype=dtype)).save(wide)
    assert Image.open(wide).mode.startswith("I")
    with pytest.raises(DataNotFoundError) as error:
        read_image_folder(tmp_path, 8)
    assert str(error.value).startswith(f"image {wide} has integer pixels from {shown} (mode I), outside the 16-bit range 0-65535")


def test_a_class_folder_named_with_a_control_character_is_refused(tmp_path: Path) -> None:
    """A class folder named 'ca\\nt' was read, its name recorded as the class's in the set and printed in lines it broke
    (before stop 49). A class's name is its folder's: refused in one line that shows the name escaped; a hidden one is
    left out as hidden folders are."""
    fab.image_folder(tmp_path, ["cat", "dog"], 3)
    fab.image_folder(tmp_path, [".ca\nt"], 3)  # hidden: not read, whatever its name
    assert load_dataset(f"imagefolder:{tmp_path}", image_size=8).class_names == ["cat", "dog"]
    fab.image_folder(tmp_path, ["ca\nt"], 3)
    with pytest.raises(DataNotFoundError) as error:
        load_dataset(f"imagefolder:{tmp_path}", image_size=8)
    message = str(error.value)
    assert "\n" not in message and message.startswith(
        f"image folder {tmp_path} holds a folder named 'ca\\nt', whose name holds a control character (a newline)"
    )


def test_cifar_class_names_with_a_control_character_are_refused(tmp_path: Path) -> None:
    fab.cifar10(tmp_path)
    meta = tmp_path / "cifar-10-batches-py" / "batches.meta"
    fab.write_pickle(meta, {b"label_names": [b"air\tplane", *[f"c{k}".encode() for k in range(1, 10)]]}, python2=False)
    with pytest.raises(DataNotFoundError) as error:
        load_dataset("cifar10", tmp_path)
    assert str(error.value) == (
        f"CIFAR meta file {meta}: 'label_names' gives class 0 the name 'air\\tplane', which holds a control character (a tab); "
        "the file is not an official one"
    )


def test_an_idx_file_larger_than_the_memory_is_refused_before_it_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An honest .gz of 50,000 images (39 MB inflated) on a machine said to have 100 MB free: refused in one line that
    says what it needs and what there is, having kept none of its pixels (counted, not held). Before stop 49 it was
    read whatever the memory: a real file of tens of GB, the process killed by the system for its memory."""
    import gzip
    import tracemalloc

    path = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(fab.idx_bytes(np.zeros((50_000, 28, 28), dtype=np.uint8)))
    monkeypatch.setattr(formats, "memory_available", lambda: 100 * 10**6)
    tracemalloc.start()
    try:
        with pytest.raises(DataNotFoundError) as error:
            formats.read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(error.value) == (
        f"{path} holds 39,200,000 values (shape (50000, 28, 28)): reading it as a dataset needs about 470 MB of memory, "
        "and this machine has 100 MB available now (what the programs running leave free); use a machine with more memory, "
        "or a part of the file"
    )
    assert peak < 8 * 2**20, peak  # what counting reads at a time (1 MB) and gzip's buffers, never the 39 MB body
    monkeypatch.setattr(formats, "memory_available", lambda: 10**12)
    assert formats.read_idx(path).shape == (50_000, 28, 28)  # where it fits: read


@pytest.mark.parametrize("compressed", [False, True])
def test_an_svhn_file_larger_than_the_memory_is_refused_before_it_is_loaded(
    compressed: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An SVHN .mat whose X (its header read, not its values) needs more than the memory said free is refused in one line
    with both numbers, loadmat never called: before stop 50, loaded until the system killed nasproxy for its memory.
    Compressed (savemat's do_compression), its 61,440 bytes of pixels take far fewer in the file: still believed."""
    import scipy.io

    fab.svhn(tmp_path)  # 20 training images, 10 test images of 32x32x3 bytes
    if compressed:
        for name in ("train_32x32.mat", "test_32x32.mat"):
            mat = scipy.io.loadmat(tmp_path / name)
            scipy.io.savemat(tmp_path / name, {"X": mat["X"], "y": mat["y"]}, do_compression=True)
        assert (tmp_path / "train_32x32.mat").stat().st_size < 61_440
    monkeypatch.setattr(formats, "memory_available", lambda: 500_000)
    monkeypatch.setattr(scipy.io, "loadmat", lambda *a, **k: pytest.fail("loaded"))
    with pytest.raises(DataNotFoundError) as error:  # the file alone (the dataset's two together: test_data_memory)
        formats.read_svhn_mat(tmp_path / "train_32x32.mat")
    assert str(error.value) == (
        f"SVHN file {tmp_path / 'train_32x32.mat'} holds X of shape (32, 32, 3, 20) (61,440 uint8 values): reading it as a "
        "dataset needs about 737,280 bytes of memory, and this machine has 500,000 bytes available now (what the programs "
        "running leave free); use a machine with more memory, or a part of the file"
    )
    monkeypatch.undo()
    monkeypatch.setattr(formats, "memory_available", lambda: 10**6)
    assert len(formats.read_svhn_mat(tmp_path / "train_32x32.mat")[1]) == 20  # where it fits: read


def test_an_svhn_header_declaring_more_than_its_file_holds_is_refused_as_corrupt_not_for_the_memory(tmp_path: Path) -> None:
    """X's header says 2**31 - 1 images (79 TB to load) in a file of 62 KB: loadmat's own refusal (the cause), not "use
    a machine with more memory", which none has."""
    import struct

    path = fab.svhn_mat(tmp_path / "train_32x32.mat", np.arange(20, dtype=np.int64) % 10)
    raw = path.read_bytes()
    assert raw.count(struct.pack("<4i", 32, 32, 3, 20)) == 1  # X's dimensions
    path.write_bytes(raw.replace(struct.pack("<4i", 32, 32, 3, 20), struct.pack("<4i", 32, 32, 3, 2**31 - 1)))
    with pytest.raises(DataNotFoundError) as error:
        formats.read_svhn_mat(path)
    assert str(error.value) == (f"cannot read SVHN file {path}: cannot reshape array of size 61440 into shape (2147483647,3,32,32)")


@pytest.mark.parametrize(("pixels", "said"), [(100, "116 bytes"), (784 * 3 + 1, "2369 bytes")])
def test_an_idx_header_declaring_more_than_the_memory_of_a_short_file_is_refused_as_truncated(
    pixels: int, said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A header that lies (10**9 images of 28x28, terabytes; or 3 images over 1 MB said free) about a file whose
    bytes are fewer or more is refused for that, the cause, not for the memory."""
    from nas_proxy.data import formats

    path = tmp_path / "train-images-idx3-ubyte"
    count = 10**9 if pixels == 100 else 3
    if count == 3:
        monkeypatch.setattr(formats, "memory_available", lambda: 10**6 // 100)
    path.write_bytes(b"\x00\x00\x08\x03" + b"".join(n.to_bytes(4, "big") for n in (count, 28, 28)) + bytes(pixels))
    with pytest.raises(DataNotFoundError) as error:
        formats.read_idx(path)
    assert str(error.value) == f"{path} is truncated or padded: {said}, expected {16 + count * 784} for shape ({count}, 28, 28)"


@pytest.mark.parametrize(
    ("file", "content", "said"),
    [
        ("data_batch_2", {1: 2, "x": 3}, "a CIFAR batch in {folder} lacks 'data' (it has [1, 'x'])"),
        ("batches.meta", {1: 2, "x": 3}, "CIFAR meta file {folder}/batches.meta lacks 'label_names' (it has [1, 'x'])"),
        ("data_batch_2", {b"\xff": 2}, "a CIFAR batch in {folder} lacks 'data' (it has ['\\\\xff'])"),
        (
            "batches.meta",
            {b"label_names": [b"\xff\xfe", *[f"c{k}".encode() for k in range(9)]]},
            "CIFAR meta file {folder}/batches.meta: 'label_names' holds a name of bytes that are not UTF-8 text (b'\\xff\\xfe')",
        ),
    ],
)
def test_foreign_cifar_dicts_are_refused_in_one_line(file: str, content: object, said: str, tmp_path: Path) -> None:
    """A pickled dict whose keys are of several types (1 and 'x'), or bytes that are not UTF-8, in a CIFAR batch or
    meta file: before stop 49, internal errors (TypeError of sorted(), UnicodeDecodeError)."""
    fab.cifar10(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    fab.write_pickle(folder / file, content, python2=False)
    with pytest.raises(DataNotFoundError) as error:
        load_dataset("cifar10", tmp_path)
    assert str(error.value).startswith(said.format(folder=folder)), str(error.value)


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("gzip", "gzip-compressed (decompress it with gunzip)"),
        ("npy", "a file numpy.save wrote (.npy: one array, without the labels)"),
        ("hdf5", "an HDF5 file (h5py, MATLAB v7.3, Keras)"),
        ("tar", "a tar archive (extract it with tar -xf)"),
        ("empty", "empty (0 bytes: a copy or a download that stopped?)"),
        ("html", "an HTML page (a download that got a web page, such as an error page, in place of the file?)"),
    ],
)
def test_a_cifar_batch_that_is_another_kind_of_file_is_named_so(kind: str, said: str, tmp_path: Path) -> None:
    """data_batch_1 gzipped, saved with numpy.save, an HDF5 file, a tar of the batch, or empty: before stop 49 pickle's
    "invalid load key, '\\x1f'.", "unpickling stack underflow" or "Ran out of input", which say nothing of the file."""
    import gzip
    import tarfile

    fab.cifar10(tmp_path)
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_1"
    if kind == "gzip":
        batch.write_bytes(gzip.compress(batch.read_bytes()))
    elif kind == "npy":
        with batch.open("wb") as f:
            np.save(f, np.zeros((4, 3072), dtype=np.uint8))
    elif kind == "hdf5":
        batch.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))  # the signature h5py writes first
    elif kind == "tar":
        with tarfile.open(tmp_path / "b.tar", "w") as t:
            t.add(batch, "data_batch_1")
        (tmp_path / "b.tar").replace(batch)
    else:
        batch.write_bytes(HTML if kind == "html" else b"")
    with pytest.raises(DataNotFoundError) as error:
        load_dataset("cifar10", tmp_path)
    assert str(error.value) == (
        f"{batch} is {said}, not a CIFAR python batch: a pickle of a dict with 'data' and the labels, as the official "
        "cifar-*-python.tar.gz holds"
    )


@pytest.mark.parametrize(
    ("y", "said"),
    [
        ("cell", "'y' holds object values, not class numbers ("),
        ("complex", "'y': labels are complex numbers (complex128); a label is a whole class number"),
    ],
)
def test_svhn_labels_that_are_no_numbers_are_refused_in_one_line(y: str, said: str, tmp_path: Path) -> None:
    """SVHN's y saved as a MATLAB cell array (object values): before stop 49 an internal error (ValueError); as complex
    numbers: read with numpy's ComplexWarning on stderr, the imaginary part dropped, exit 0."""
    from scipy.io import loadmat, savemat

    fab.svhn(tmp_path)
    path = tmp_path / "test_32x32.mat"
    mat = loadmat(path)
    savemat(path, {"X": mat["X"], "y": mat["y"].astype(object if y == "cell" else np.complex128)})
    with pytest.raises(DataNotFoundError) as error:
        load_dataset("svhn", tmp_path)
    assert str(error.value).startswith(f"SVHN file {path}: {said}"), str(error.value)


def test_cifar_pixels_of_true_and_false_are_refused(tmp_path: Path) -> None:
    """A batch whose 'data' is a boolean array (thresholded images): before stop 49 True was read as the pixel value
    1 (of 255), every image near black, distilled, exit 0."""
    import pickle

    fab.cifar10(tmp_path)
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    with batch.open("rb") as f:
        content = pickle.load(f, encoding="latin1")
    fab.write_pickle(batch, {b"data": np.asarray(content["data"]) > 100, b"labels": content["labels"]}, python2=False)
    with pytest.raises(DataNotFoundError, match=r"are not rows of 3072 bytes with one label each \(bool values are no pixels\)"):
        load_dataset("cifar10", tmp_path)


def test_svhn_pixels_that_are_no_numbers_are_refused_in_one_line(tmp_path: Path) -> None:
    """SVHN's X saved as a cell array (object values): an internal error before stop 49 (ValueError)."""
    from scipy.io import loadmat, savemat

    fab.svhn(tmp_path)
    path = tmp_path / "train_32x32.mat"
    mat = loadmat(path)
    # one image of the 20: a cell array of 61,440 cells took ~2 CPU-s to write and read, one of 3,072 a tenth of it
    savemat(path, {"X": mat["X"][..., :1].astype(object), "y": mat["y"][:1]})
    with pytest.raises(DataNotFoundError) as error:
        load_dataset("svhn", tmp_path)
    assert str(error.value).startswith(f"SVHN file {path}: 'X' holds no pixels ("), str(error.value)


def test_images_of_kinds_pil_reads_are_read_and_others_are_named(tmp_path: Path) -> None:
    """A class's .jfif (a JPEG, as browsers on Windows save one), .jpe and .ppm / .pgm files, and an iPhone's .heic
    photos: before stop 49 all were left out without a word (class 'a' read as its 2 PNG files alone, class 'b' of
    .heic files as empty: "class sizes {'a': 2, 'b': 0}"). Now the kinds PIL reads are read, the others named in a
    warning."""
    from PIL import Image

    from nas_proxy.data.images import read_image_folder
    from nas_proxy.errors import NasProxyWarning

    fab.image_folder(tmp_path, ["a", "b"], 2)
    for suffix, format_ in ((".jfif", "JPEG"), (".jpe", "JPEG"), (".ppm", "PPM"), (".pgm", "PPM")):
        Image.new("RGB" if suffix != ".pgm" else "L", (12, 10), 90).save(tmp_path / "a" / f"x{suffix}", format=format_)
    for i in range(2):
        (tmp_path / "b" / f"IMG_{i}.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(30))
    with pytest.warns(NasProxyWarning) as caught:
        _, y, classes = read_image_folder(tmp_path, 8)
    assert classes == ["a", "b"] and np.bincount(y).tolist() == [6, 2]
    assert [str(w.message) for w in caught] == [
        f"{tmp_path}: 2 image files not read, of kinds nasproxy does not read (.heic; the first 'b/IMG_0.HEIC'): it reads "
        ".png .jpg .jpeg .bmp .gif .webp .tif .tiff .jfif .jpe .pbm .pgm .ppm .pnm; convert them to one of those to use them"
    ]


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (HTML, "an HTML page (a download that got a web page, such as an error page, in place of the file?)"),
        ("xz", "xz-compressed (decompress it with unxz)"),
        ("bz2", "bzip2-compressed (decompress it with bunzip2)"),
        ("zip", "a zip archive (unzip it)"),
        (b"", "empty (0 bytes: a copy or a download that stopped?)"),
    ],
)
@pytest.mark.parametrize("gz", [False, True])
def test_an_idx_file_that_is_another_kind_of_file_is_named_so(content: object, said: str, gz: bool, tmp_path: Path) -> None:
    """MNIST's files fetched from a server that answered with an error page, or compressed with xz, bzip2 or zip where
    gzip is read: before stop 49 "is not an unsigned-byte IDX file (bad magic number)", which says nothing of the file."""
    import bz2
    import gzip
    import lzma

    fab.idx_files(tmp_path, np.arange(10), np.arange(10), gz=gz)
    path = tmp_path / ("train-labels-idx1-ubyte" + (".gz" if gz else ""))
    idx = fab.idx_bytes(np.zeros(10, dtype=np.uint8))
    if content == "xz":
        raw = lzma.compress(idx)
    elif content == "bz2":
        raw = bz2.compress(idx)
    elif content == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as z:
            z.writestr("train-labels-idx1-ubyte", idx)
        raw = buffer.getvalue()
    else:
        assert isinstance(content, bytes)
        raw = content
    path.write_bytes(gzip.compress(raw) if gz and raw else raw)
    with pytest.raises(DataNotFoundError) as error:
        load_dataset("mnist", tmp_path)
    assert str(error.value) == f"{path} is {said}, not an IDX file of images or labels"


@pytest.mark.parametrize("kind", ["tar.gz", "zip", "text", "empty"])
def test_an_archive_given_for_a_folder_is_named_so(kind: str, tmp_path: Path) -> None:
    """--data-root cifar-10-python.tar.gz (the file just downloaded), --dataset imagefolder:pets.zip: before stop 49,
    "data root P does not exist (or is not a directory)" and "image folder P is a file, not a folder", the archive
    unsaid; a text file is still "a file"."""
    import tarfile

    fab.cifar10(tmp_path / "unpacked")
    path = tmp_path / f"data.{kind}"
    if kind == "tar.gz":
        with tarfile.open(path, "w:gz") as t:
            t.add(tmp_path / "unpacked" / "cifar-10-batches-py", "cifar-10-batches-py")
    elif kind == "zip":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("cat/0.png", b"")
    else:
        path.write_text("notes\n" if kind == "text" else "")
    what = {
        "tar.gz": "a tar.gz archive (extract it with tar -xzf)",
        "zip": "a zip archive (unzip it)",
        "text": "a file",
        "empty": "an empty file",
    }[kind]
    with pytest.raises(DataNotFoundError) as error:
        load_dataset("cifar10", root=path)
    assert str(error.value) == f"data root {path} is {what}, not a directory; give the folder that holds the cifar10 files with --data-root"
    with pytest.raises(DataNotFoundError) as error:
        load_dataset(f"imagefolder:{path}")
    assert str(error.value).startswith(f"image folder {path} is {what}, not a folder; give the folder")


def test_a_class_folder_with_a_blank_name_is_refused_before_a_set_is_made(tmp_path: Path) -> None:
    """A class folder named ' ' was read and its blank name recorded, and every reader of the set made from it then
    refused the set ('dataset.class_names gives class 0 no name; ... distil again'), distilling again made the same one
    (review50). Refused where the folder is read, in one line naming it."""
    fab.image_folder(tmp_path, [" ", "b"], 3)
    with pytest.raises(DataNotFoundError) as error:
        load_dataset(f"imagefolder:{tmp_path}", image_size=8)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"image folder {tmp_path} holds a folder named ' ', a blank name")
