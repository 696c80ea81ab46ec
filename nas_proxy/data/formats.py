"""Readers for the file formats datasets ship in (IDX, CIFAR python batches, SVHN .mat; image folders: images.py).

Each returns ``uint8`` arrays ``(N, H, W, C)`` and ``int64`` labels. They are written here (not
torchvision's dataset classes) because those check checksums of the official archives, and
nasproxy must read the same formats from files that tests fabricate and users convert.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import pickle
import zlib
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from nas_proxy import checks
from nas_proxy.errors import DataNotFoundError

U8 = NDArray[np.uint8]
I64 = NDArray[np.int64]


def present(path: Path) -> bool:
    """Whether a dataset file is there (a link to nothing is not): False when missing; something there
    that is no regular file (a FIFO, whose read would block for ever, a folder, a device, a link loop)
    is refused in one line naming what it is, not reported as missing."""
    if checks.status("data file", path) is None:
        return False
    checks.existing_file("data file", path)
    return True


PADDING_COUNTED = 1 << 26  # bytes past an IDX file's expected end counted for the message (more: "more than")


def read_idx(path: Path) -> NDArray[Any]:
    """An IDX file (MNIST / Fashion-MNIST format), gzipped or not. Read as a stream, never more than its header
    declares (and the count of what follows, up to :data:`PADDING_COUNTED`): before stop 48 a ``.gz`` was inflated
    whole first, so a small file that inflates past the memory (its header declaring little, then gigabytes of
    padding) took the machine's memory before it was refused."""
    try:
        with path.open("rb") as raw:
            gz = raw.read(2) == b"\x1f\x8b"
        with gzip.open(path, "rb") if gz else path.open("rb") as f:
            return _read_idx_stream(path, f)
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError; a gzip stream cut short, an EOFError
        if not gz:
            raise
        raise DataNotFoundError(f"corrupt gzip file {path}: {e}") from None


def _read_idx_stream(path: Path, f: Any) -> NDArray[Any]:
    head = f.read(4)
    if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] != 0x08:
        if (what := foreign_kind(head + f.read(HEAD_BYTES - len(head)))) is not None:
            raise DataNotFoundError(f"{path} is {what}, not an IDX file of images or labels")
        raise DataNotFoundError(f"{path} is not an unsigned-byte IDX file (bad magic number)")
    ndim = head[3]
    header = 4 + 4 * ndim
    sizes = f.read(4 * ndim)
    if len(sizes) < 4 * ndim:  # before branch probe48, a shape of as many zeros as the header claimed, in the message
        raise DataNotFoundError(
            f"{path} is truncated: {4 + len(sizes)} bytes, shorter than the header of {ndim} dimensions its magic number declares"
        )
    dims = tuple(int.from_bytes(sizes[4 * i : 4 + 4 * i], "big") for i in range(ndim))
    # Python's integers: numpy's product wraps at 2**64, so dims (2**31, 2**31, 4) "expected" the header alone and a
    # file of no pixel passed, then failed to reshape (an internal error, before branch probe48)
    expected = header + math.prod(dims)
    held = f"{path} holds {math.prod(dims):,} values (shape {dims})"
    if (refusal := over_memory(held, (expected - header) * HELD_PER_BYTE, "a part of the file")) is not None:
        _counted_whole(path, f, dims, expected, header)
        raise refusal
    body = bytearray()  # grown by what is there: a header declaring terabytes allocates nothing up front
    while len(body) < expected - header and (chunk := f.read(min(expected - header - len(body), CHUNK))):
        body += chunk
    extra = f.read(1) if len(body) == expected - header else b""  # a byte past the declared end: padded
    if len(body) != expected - header or extra:
        raise _wrong_length(path, f, dims, expected, header + len(body) + len(extra))
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def _wrong_length(path: Path, f: Any, dims: tuple[int, ...], expected: int, read: int) -> DataNotFoundError:
    """The error of an IDX file of another length than its header declares, ``read`` bytes of it read (the rest counted)."""
    got = read + _counted_rest(f, PADDING_COUNTED)
    size = f"more than {expected + PADDING_COUNTED:,}" if got > expected + PADDING_COUNTED else str(got)
    return DataNotFoundError(f"{path} is truncated or padded: {size} bytes, expected {expected} for shape {dims}")


CHUNK = 1 << 24  # bytes read at a time
COUNTED_CHUNK = 1 << 20  # bytes read at a time where they are counted, not kept
# bytes of memory a pixel of an IDX file takes while the dataset loads (its byte, float32 tensors, the normalised
# copy): fashion-mnist's 54.9 M pixels raised a process's peak by 653 MB (measured at stop 49)
HELD_PER_BYTE = 12


def memory_available() -> int:
    """Bytes of memory this machine has free for a new allocation (Linux's MemAvailable; else its physical memory)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def over_memory(what: str, need: int, fix: str) -> DataNotFoundError | None:
    """The one-line refusal of data (``what``: "PATH holds N values (shape ...)") whose reading needs about ``need`` bytes
    of memory, more than this machine has available now; None where it fits. ``fix``: what else to
    give ("a part of the file"). Every reader that knows a size before it reads asks this (IDX, SVHN .mat, CIFAR batches, image folders):
    before stop 49 (IDX), stop 50 (SVHN, image folders) and stop 51 (CIFAR) an honest file larger than the memory was read until the system killed
    nasproxy for its memory. The verdict is this moment's, so the message says both numbers: a refusal that a retry does
    not repeat (other programs since ended) is understood."""
    have = memory_available()
    if need <= have:
        return None
    shown = (bytes_shown(need), bytes_shown(have))
    if shown[0] == shown[1]:  # "needs about 1 MB ... has 1 MB": rounded alike, the numbers as they are
        shown = (f"{need:,} bytes", f"{have:,} bytes")
    return DataNotFoundError(
        f"{what}: reading it as a dataset needs about {shown[0]} of memory, and this machine "
        f"has {shown[1]} available now (what the programs running leave free); use a machine with more memory, or {fix}"
    )


def bytes_shown(n: int) -> str:
    """``n`` bytes for a message: "1.2 GB", "470 MB", "900 bytes"."""
    if n >= 10**9:
        return f"{n / 1e9:,.1f} GB"
    return f"{n / 1e6:,.0f} MB" if n >= 10**6 else f"{n:,} bytes"


def _counted_whole(path: Path, f: Any, dims: tuple[int, ...], expected: int, header: int) -> None:
    """Refuse an IDX file whose header declares more than this machine's memory holds as truncated or padded where it is,
    once its bytes are counted (read, none kept): a header that lies about a short file is refused for that, the cause,
    not for the memory."""
    body = _counted_rest(f, expected - header)  # up to one byte past the declared end
    if body != expected - header:
        raise _wrong_length(path, f, dims, expected, header + body)


def _counted_rest(f: Any, limit: int) -> int:
    """Bytes left in ``f``, counted up to a little past ``limit``."""
    n = 0
    while n <= limit and (chunk := f.read(min(COUNTED_CHUNK, limit + 1 - n))):
        n += len(chunk)
    return n


def find_idx(roots: list[Path], prefix: str) -> Path | None:
    """``prefix-idxN-ubyte[.gz]`` in the first root that has it."""
    for root in roots:
        for name in (f"{prefix}-ubyte.gz", f"{prefix}-ubyte"):
            if present(root / name):
                return root / name
    return None


def idx_fits(root: Path) -> None:
    """Refuse the four IDX files of ``root`` (train and t10k images and labels, read together as one dataset) where the
    values their headers declare need more memory, all together, than this machine has available now; before one is
    read. Each file is also checked alone as it is read (:func:`read_idx`), but before stop 51 only so: four files that
    each fitted passed where all four did not. A header that declares more than its file holds counts nothing here:
    :func:`read_idx` refuses it for that."""
    files = [find_idx([root], f"{split}-{kind}") for split in ("train", "t10k") for kind in ("images-idx3", "labels-idx1")]
    values = sum(_idx_declared(path) for path in files if path is not None)
    held = f"{root} holds IDX files of {values:,} values"
    if (refusal := over_memory(held, values * HELD_PER_BYTE, "a part of the files")) is not None:
        raise refusal


def _idx_declared(path: Path) -> int:
    """The values the header of the IDX file ``path`` declares, where the file can hold them (gzipped, at most
    :data:`DEFLATE_MOST` bytes a byte); 0 where it cannot, or where it is no IDX file (:func:`read_idx` says why)."""
    try:
        with path.open("rb") as raw:
            gz = raw.read(2) == b"\x1f\x8b"
        with gzip.open(path, "rb") if gz else path.open("rb") as f:
            head = f.read(4)
            ndim = head[3] if len(head) == 4 and head[:3] == b"\x00\x00\x08" else 0
            sizes = f.read(4 * ndim)
    except (OSError, EOFError):
        return 0
    if ndim == 0 or len(sizes) != 4 * ndim:
        return 0
    values = math.prod(int.from_bytes(sizes[i : i + 4], "big") for i in range(0, len(sizes), 4))
    return values if values <= path.stat().st_size * (DEFLATE_MOST if gz else 1) else 0


def read_idx_pair(roots: list[Path], split: str) -> tuple[U8, I64] | None:
    """Images and labels of ``split`` ('train' or 't10k') from the first root holding both."""
    for root in roots:  # both from one folder: never images of one copy with labels of another
        images = find_idx([root], f"{split}-images-idx3")
        labels = find_idx([root], f"{split}-labels-idx1")
        if images is not None and labels is not None:
            break
    else:
        return None
    x = read_idx(images)
    y = read_idx(labels).astype(np.int64)
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
        raise DataNotFoundError(f"{images} and {labels} do not match: shapes {x.shape} and {y.shape}")
    return x[..., None], y


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickles CIFAR's python batches: dicts, lists, strings and numpy arrays, nothing else, and no array larger
    than the file (``limit`` bytes: an honest batch holds every byte of its arrays).

    The official CIFAR files are pickles; this refuses any other class, so a tampered file
    cannot run code.
    """

    _ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
            ("numpy.core.numeric", "_frombuffer"),  # an array pickled with protocol 5 (Python 3.14's default): bytes,
            ("numpy._core.numeric", "_frombuffer"),  # a dtype and a shape; refused before branch probe48
            ("_codecs", "encode"),
            ("copy_reg", "_reconstructor"),
            ("copyreg", "_reconstructor"),
            ("__builtin__", "object"),
            ("builtins", "object"),
        }
    )

    def __init__(self, raw: bytes, path: Path, encoding: str = "latin1") -> None:
        super().__init__(io.BytesIO(raw), encoding=encoding)
        self.path, self.limit = path, len(raw)

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a dataset file")
        found = super().find_class(module, name)
        if name == "ndarray":  # called, it makes an array of the shape it is given
            return _Ndarray(self)
        if name == "_reconstruct":  # numpy's pickles make each array so, of shape (0,); a tampered one, of any shape
            return lambda subtype, shape, dtype: found(self.within(subtype, shape, dtype), shape, dtype)
        return found

    def within(self, subtype: Any, shape: Any, dtype: Any, buffer: Any = None) -> Any:
        """``subtype`` (numpy.ndarray where the file named it) once an array of ``shape`` and ``dtype`` is known to be
        no larger than the file; else refused, before it is allocated: before stop 51 a batch of a few kilobytes that
        declared 10**9 images there had numpy allocate 2.8 TiB (a MemoryError), or less and took the memory."""
        try:
            dims = (shape,) if isinstance(shape, int) else tuple(shape)
            size = math.prod(int(d) for d in dims) * np.dtype(dtype).itemsize
        except (TypeError, ValueError, OverflowError):  # no shape, or no dtype: numpy's own refusal follows
            size = 0
        if buffer is None and size > self.limit:
            raise DataNotFoundError(
                f"{self.path} declares an array of shape {dims} ({bytes_shown(size)}), more than its {self.limit:,} bytes hold: "
                "the file is damaged, or not a CIFAR python batch; use the official cifar-*-python.tar.gz's files"
            )
        return np.ndarray if isinstance(subtype, _Ndarray) else subtype


class _Ndarray:
    """numpy.ndarray as a CIFAR batch names it: called (a tampered file's way to make an array), the array is no larger
    than the file; as ``_reconstruct``'s first argument, numpy.ndarray itself."""

    def __init__(self, unpickler: _ArraysOnlyUnpickler) -> None:
        self.unpickler = unpickler

    def __call__(self, shape: Any, dtype: Any = float, buffer: Any = None, *rest: Any) -> Any:
        return self.unpickler.within(self, shape, dtype, buffer)(shape, dtype, buffer, *rest)


def read_cifar_batch(path: Path, encoding: str = "latin1") -> dict[str, Any]:
    """One CIFAR python batch as a dict with str keys. ``encoding``: what Python 2's byte strings become (pickle's): the
    default, Latin-1, keeps the bytes of an array's data as they are; ``"bytes"`` keeps every byte string as bytes."""
    if not present(path):
        raise DataNotFoundError(f"missing CIFAR file {path}")
    raw = path.read_bytes()
    if (what := _not_a_pickle(raw)) is not None:
        raise DataNotFoundError(
            f"{path} is {what}, not a CIFAR python batch: a pickle of a dict with 'data' and the labels, as the official "
            "cifar-*-python.tar.gz holds"
        )
    try:
        obj = _ArraysOnlyUnpickler(raw, path, encoding).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise DataNotFoundError(f"cannot read CIFAR file {path}: {e}") from None
    if not isinstance(obj, dict):
        raise DataNotFoundError(f"{path} is not a CIFAR batch (a {type(obj).__name__}, not a dict)")
    # keys of bytes that are not UTF-8 (a foreign pickle's) kept visible in messages: before stop 49, a UnicodeDecodeError
    return {k.decode(errors="backslashreplace") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def cifar_fits(paths: list[Path], source: Path) -> None:
    """Refuse the CIFAR batch files ``paths`` of one dataset (``source``: their folder), all read together, where their
    pixels need more memory than this machine has available now; before one is read. A batch file is its pixels, and
    about 2% of labels and names: its size stands for them. Before stop 51 nothing was checked: batches larger than the
    memory were read until the system killed nasproxy."""
    total = sum(p.stat().st_size for p in paths if present(p))
    held = f"{source} holds CIFAR batches of {bytes_shown(total)} ({len(paths)} files)"
    if (refusal := over_memory(held, total * HELD_PER_BYTE, "fewer images in its batches")) is not None:
        raise refusal


def _keys(d: dict[Any, Any]) -> list[Any]:
    """The keys of a foreign pickle's dict, sorted for a message: keys of several types (1 and 'x') do not compare,
    which was an internal error (TypeError) before stop 49."""
    return sorted(d, key=str)


# the first bytes of files given in a dataset file's place, and what they are: before stop 49, pickle's "invalid load
# key, '\x1f'." or "unpickling stack underflow", the IDX reader's "bad magic number"
_FOREIGN_MAGIC = (
    (b"\x1f\x8b", "gzip-compressed (decompress it with gunzip)"),
    (b"\xfd7zXZ\x00", "xz-compressed (decompress it with unxz)"),
    (b"BZh", "bzip2-compressed (decompress it with bunzip2)"),
    (b"\x93NUMPY", "a file numpy.save wrote (.npy: one array, without the labels)"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file (h5py, MATLAB v7.3, Keras)"),
    (checks.ZIP_MAGIC, "a zip archive (unzip it)"),
)
HEAD_BYTES = 512  # the first bytes of a file that foreign_kind reads: a tar archive's signature is at 257


def foreign_kind(head: bytes) -> str | None:
    """What a file whose first bytes are ``head`` (:data:`HEAD_BYTES` of them) is where it is plainly none of the formats
    datasets ship in: compressed, an archive, another program's arrays, an HTML page (a download that got an error
    page), nothing at all; None otherwise."""
    if not head:
        return "empty (0 bytes: a copy or a download that stopped?)"
    if head[257:262] == b"ustar":
        return "a tar archive (extract it with tar -xf)"
    if head.startswith(b"\x1f\x8b") and _gunzipped(head)[257:262] == b"ustar":  # the archive datasets ship as
        return "a tar.gz archive (extract it with tar -xzf)"
    if head.lstrip()[:14].lower().startswith((b"<!doctype html", b"<html")):
        return "an HTML page (a download that got a web page, such as an error page, in place of the file?)"
    return next((what for magic, what in _FOREIGN_MAGIC if head.startswith(magic)), None)


def _gunzipped(head: bytes) -> bytes:
    """What the first bytes of a gzip stream inflate to (b"" where they are not one)."""
    try:
        return zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(head, HEAD_BYTES)
    except zlib.error:
        return b""


def file_kind(path: Path) -> str:
    """What the file ``path`` is, in words, for a message that expected a folder: "a file", or what its first bytes
    show it is (a tar.gz archive, a zip archive, ...)."""
    try:
        with path.open("rb") as f:
            head = f.read(HEAD_BYTES)
    except OSError:
        return "a file"
    return (foreign_kind(head) or "a file") if head else "an empty file"


def _not_a_pickle(raw: bytes) -> str | None:
    """What the bytes ``raw`` of a file are where they are plainly no pickle: a zip holding arrays or not (before branch
    probe48, pickle's "A load persistent id instruction was encountered, ..."), or another :func:`foreign_kind`."""
    if checks.zip_archive(raw) is not None:
        return "a zip archive (what numpy.savez and torch.save write)"
    return foreign_kind(raw[:HEAD_BYTES])


def cifar_label_names(path: Path, key: str, count: int) -> list[str]:
    """The ``count`` class names under ``key`` of a CIFAR meta file (``batches.meta`` or ``meta``): byte strings in the
    official (Python 2) files, bytes or str in re-pickled ones. Bytes are read as UTF-8 text, or refused: before branch
    probe56 a Python 2 name was read as Latin-1, so one written in UTF-8 ('café') was taken as another ('cafÃ©')."""
    meta = read_cifar_batch(path, encoding="bytes")  # a meta file holds no arrays: its names stay bytes, decoded below
    if key not in meta:
        raise DataNotFoundError(f"CIFAR meta file {path} lacks {key!r} (it has {_keys(meta)}); the file is not an official CIFAR meta file")
    names = meta[key]
    if not isinstance(names, list) or len(names) != count or not all(isinstance(n, (str, bytes)) for n in names):
        raise DataNotFoundError(f"CIFAR meta file {path}: {key!r} must be a list of {count} class names; the file is not an official one")
    try:
        names = [n.decode() if isinstance(n, bytes) else n for n in names]
    except UnicodeDecodeError as e:  # before stop 49, an internal error
        raise DataNotFoundError(
            f"CIFAR meta file {path}: {key!r} holds a name of bytes that are not UTF-8 text ({e.object!r}); the file is not an official one"
        ) from None
    if problem := checks.class_names_problem(names):  # before probe48, ten 'cat's were taken
        raise DataNotFoundError(f"CIFAR meta file {path}: {key!r} {problem}; the file is not an official one")
    return names


def cifar_arrays(batches: list[dict[str, Any]], label_key: str, source: Path) -> tuple[U8, I64]:
    """Stack CIFAR batches: rows of 3072 bytes (R plane, G plane, B plane) -> (N, 32, 32, 3)."""
    for b in batches:
        missing = [k for k in ("data", label_key) if k not in b]
        if missing:
            raise DataNotFoundError(
                f"a CIFAR batch in {source} lacks {missing[0]!r} (it has {_keys(b)}); the file is not an official CIFAR batch"
            )
    what = f"CIFAR batches in {source}"
    for b in batches:  # before branch probe48, pixels stored height-width-channel were read as planes: noise, distilled
        if np.shape(b["data"])[-3:] == (32, 32, 3) or np.shape(b["data"])[-2:] == (1024, 3):
            raise DataNotFoundError(
                f"{what}: 'data' is {np.shape(b['data'])}, pixels in height-width-channel order; CIFAR's files hold rows of "
                "3072 bytes, the red plane, then green, then blue: save data.transpose(0, 3, 1, 2).reshape(-1, 3072)"
            )
    try:
        rows = [pixel_bytes(b["data"], what).reshape(-1, 3072) for b in batches]
        labels = [class_labels(b[label_key], f"{what}: {label_key!r}").reshape(-1) for b in batches]
    except (ValueError, TypeError, OverflowError) as e:  # OverflowError: a label of 2**70 in a list
        raise DataNotFoundError(f"CIFAR batches in {source} are not rows of 3072 bytes with one label each ({e})") from None
    for k, (x, y) in enumerate(zip(rows, labels, strict=True), start=1):  # each batch: before branch probe48 the totals
        if len(x) != len(y):  # only, so a batch's extra labels paired with the next batch's images, every label shifted
            which = f" (batch {k} of {len(batches)})" if len(batches) > 1 else ""
            raise DataNotFoundError(f"CIFAR batches in {source}{which} hold {len(x)} images but {len(y)} labels")
    return np.concatenate(rows).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), np.concatenate(labels)


def read_svhn_mat(path: Path) -> tuple[U8, I64]:
    """SVHN's cropped-digits .mat file: X (32, 32, 3, N), y (N, 1) with 10 meaning digit 0."""
    from scipy.io import loadmat
    from scipy.io.matlab import matfile_version

    if not present(path):
        raise DataNotFoundError(f"missing SVHN file {path}")
    try:
        v73 = matfile_version(path)[0] == 2
    except Exception:  # noqa: BLE001 - not a MAT file at all: loadmat's own message below
        v73 = False
    if v73:  # before branch probe48, scipy's "Please use HDF reader for matlab v7.3 files, e.g. h5py", nasproxy reading none
        raise DataNotFoundError(
            f"SVHN file {path} is a MATLAB v7.3 (HDF5) file; nasproxy reads the MAT v5 files SVHN ships: "
            "save it again with MATLAB's save(..., '-v7'), or use the official train_32x32.mat and test_32x32.mat"
        )
    _svhn_fits(path)
    try:
        mat = loadmat(path)
    except Exception as e:  # noqa: BLE001 - scipy raises many types (IndexError included) for a corrupt file
        raise DataNotFoundError(f"cannot read SVHN file {path}: {e}") from None
    missing = [k for k in ("X", "y") if k not in mat]
    if missing:
        raise DataNotFoundError(
            f"SVHN file {path} lacks {missing[0]!r} (it has {sorted(k for k in mat if not k.startswith('__'))}); expected the cropped-digits format"
        )
    x, y = np.asarray(mat["X"]), np.asarray(mat["y"])
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or y.size != x.shape[3]:
        raise DataNotFoundError(f"SVHN file {path} holds X {x.shape} and y {y.shape}; expected X (32, 32, 3, N) and N labels")
    try:
        digits = class_labels(y, f"SVHN file {path}: 'y'").reshape(-1)
    except (ValueError, TypeError, OverflowError) as e:  # a cell array (dtype object): before stop 49, an internal error
        raise DataNotFoundError(f"SVHN file {path}: 'y' holds {y.dtype} values, not class numbers ({e}); the file is not SVHN's") from None
    if (outside := (digits < 0) | (digits > 10)).any():  # before branch probe48, % 10 took 11 for a 1 and -1 for a 9
        raise DataNotFoundError(
            f"SVHN file {path}: {int(outside.sum()):,} values of 'y' are outside 0-10 (10 is digit 0, as 0 is in a converted copy), the first "
            f"{digits[outside][0]}; the file is not SVHN's"
        )
    try:
        pixels = pixel_bytes(x, f"SVHN file {path}")
    except ValueError as e:  # values of no number (a cell array, true and false): before stop 49, an internal error
        raise DataNotFoundError(f"SVHN file {path}: 'X' holds no pixels ({e}); expected the cropped-digits format") from None
    return pixels.transpose(3, 0, 1, 2), digits % 10


def _svhn_fits(path: Path) -> None:
    """Refuse an SVHN file whose ``X``, as its header declares it (read without its values), needs more memory than this
    machine has available: before stop 50 it was loaded until the system killed nasproxy. A file scipy cannot list, or
    whose header declares more than its bytes can hold (a lie: no memory would be enough), is left to ``loadmat``, whose
    message names what is wrong."""
    declared = _svhn_declared(path)
    if declared is None:
        return
    values, need, shape, kind = declared
    held = f"SVHN file {path} holds X of shape {shape} ({values:,} {kind} values)"
    if (refusal := over_memory(held, need, "a part of the file")) is not None:
        raise refusal


def svhn_fits(paths: list[Path], source: Path) -> None:
    """Refuse SVHN's .mat files ``paths`` (``source``: their folder), read together as one dataset, where the ``X`` their
    headers declare needs more memory, all together, than this machine has available now; before one is read. Each
    is also checked alone as it is read (:func:`read_svhn_mat`), but before stop 51 only so: two files that each fitted
    passed where both did not."""
    declared = [d for p in paths if present(p) and (d := _svhn_declared(p)) is not None]
    values, need = sum(d[0] for d in declared), sum(d[1] for d in declared)
    held = f"{source} holds SVHN files of {values:,} values in X ({len(declared)} files)"
    if (refusal := over_memory(held, need, "a part of the files")) is not None:
        raise refusal


def _svhn_declared(path: Path) -> tuple[int, int, tuple[int, ...], str] | None:
    """What the header of the SVHN file ``path`` declares of ``X`` (read without its values): its values, the bytes
    holding them takes, its shape and MATLAB class; None where scipy cannot list the file, it has no ``X``, or its header
    declares more than its bytes can hold (the readers' own messages say why)."""
    from scipy.io import whosmat

    try:
        shapes = {name: (shape, kind) for name, shape, kind in whosmat(path)}
    except Exception:  # noqa: BLE001 - as loadmat, many types for a corrupt file: its own message follows
        return None
    if "X" not in shapes:
        return None
    shape, kind = shapes["X"]
    values, size = math.prod(shape), MAT_BYTES.get(kind, 8)
    if values * size > path.stat().st_size * (DEFLATE_MOST if _mat_compressed(path) else 1):
        return None
    # loadmat holds the values as stored (``size`` bytes each) until the dataset is made of them
    return values, values * (HELD_PER_BYTE + size - 1), tuple(shape), kind


# bytes per value of a MATLAB class, as whosmat names it (8 for those not here)
MAT_BYTES = {"uint8": 1, "int8": 1, "logical": 1, "uint16": 2, "int16": 2, "uint32": 4, "int32": 4, "single": 4}
DEFLATE_MOST = 1032  # the most bytes that one byte of a zlib stream inflates to
MAT_COMPRESSED = 15  # the data type of a MAT v5 file's compressed variable (miCOMPRESSED)


def _mat_compressed(path: Path) -> bool:
    """Whether a MAT v5 file's variables are compressed (savemat compresses every one or none): the data type of the
    first, after the 128-byte header whose last two bytes give the byte order ("IM": little-endian)."""
    with path.open("rb") as f:
        head = f.read(132)
    return len(head) == 132 and int.from_bytes(head[128:], "little" if head[126:128] == b"IM" else "big") == MAT_COMPRESSED


def class_labels(values: Any, what: str) -> I64:
    """``values`` as int64 class numbers, refused unless each is a whole number: numpy's cast truncates, so labels
    0.7, 1.7, ... (a conversion's floats) were read as 0, 1, ... without a word before branch probe48. The range is
    the caller's to check (the dataset's classes)."""
    a = np.asarray(values)
    if a.dtype.kind == "c":  # before stop 49, cast with numpy's ComplexWarning on stderr, the imaginary part dropped
        raise DataNotFoundError(f"{what}: labels are complex numbers ({a.dtype}); a label is a whole class number")
    if a.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            bad = ~(np.isfinite(a) & (a == np.round(a)))  # NaN and infinity: no number at all
        if bad.any():
            raise DataNotFoundError(
                f"{what}: {int(bad.sum()):,} labels are not whole numbers, the first {a[bad].flat[0].item():g}; "
                "a label is a whole class number"
            )
        if (huge := np.abs(a) >= 2**31).any():  # before, numpy's RuntimeWarning of a cast that overflows, on stderr
            raise DataNotFoundError(
                f"{what}: {int(huge.sum()):,} labels are far beyond any class number, the first {a[huge].flat[0].item():g}"
            )
    return np.asarray(a, dtype=np.int64)


def pixel_bytes(values: Any, what: str) -> U8:
    """``values`` as 8-bit pixels, refused unless each is a whole number from 0 to 255: numpy's cast
    wraps 256 to 0 and makes NaN or 1e30 whatever the machine gives (with a RuntimeWarning), so a
    file converted with float, [0, 1] or 16-bit pixels was read as noise, and distilled, without a word."""
    a = np.asarray(values)
    if a.dtype == np.uint8:  # the official files: nothing to check
        return a
    if a.dtype.kind not in "iuf":  # bool: before stop 49, True read as the pixel value 1 of 255 (near black)
        raise ValueError(f"{a.dtype} values are no pixels")  # the readers' own "not rows of ..." message names the file
    with np.errstate(invalid="ignore"):
        bad = ~((a >= 0) & (a <= 255) & (a == np.round(a)))  # NaN fails every comparison
    if bad.any():
        first = a[bad].flat[0]
        raise DataNotFoundError(
            f"{what}: {int(bad.sum()):,} pixel values are not bytes (whole numbers from 0 to 255), the first {first.item():g} "
            f"({a.dtype}); save the pixels as 8-bit values 0-255, as the official files do"
        )
    return a.astype(np.uint8)
