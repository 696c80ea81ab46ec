"""Image folders: one folder of images per class, read as ``uint8`` arrays ``(N, H, W, C)`` and ``int64`` labels.

Any image PIL reads, of 8 or 16 bits, greyscale or colour, resized and centre-cropped to one size; what cannot be read
as such (floating-point or 32-bit pixels, a class folder whose name holds a control character or one that reorders text) is refused in one line.
Pixels are read as torchvision's ImageFolder reads them: as stored (no EXIF orientation applied), the first frame of a
file of several; a warning says how many of a folder's images a viewer would show otherwise.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nas_proxy import checks
from nas_proxy.data import formats
from nas_proxy.data.formats import I64, U8, over_memory
from nas_proxy.errors import DataNotFoundError, NasProxyWarning, reordering, shown
from nas_proxy.files import read_failure

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".jfif", ".jpe", ".pbm", ".pgm", ".ppm", ".pnm")
# image files nasproxy does not read (PIL reads none of them without a plugin): named in a warning, not left out silently
UNREAD_IMAGE_SUFFIXES = (".heic", ".heif", ".avif", ".jxl", ".svg", ".dng", ".cr2", ".nef", ".arw", ".raw")


class ImageFolderWarning(NasProxyWarning):
    """What reading an image folder found in it (image files of kinds not read, EXIF orientations, files of several
    frames, folders beside train/ and test/): the same in every process that reads the folder."""


WARNINGS_SAID_VARIABLE = "NASPROXY_IMAGE_FOLDER_SAID"  # digests of the warnings said of image folders (see say_once)
# the digests WARNINGS_SAID_VARIABLE keeps, the latest (16 hex digits and a blank each: 4.3 KB); past it the oldest are forgotten,
# so that one of those says its warning again. Unbounded, a process that read thousands of folders had an environment
# variable that grew with each (Linux refuses to start a process with one over 128 KiB: ~7,700 warnings)
SAID_MAX = 256
MACOS_ARCHIVE_FOLDER = "__MACOSX"  # the folder of macOS's resource forks that its zips hold beside the files


def say_once(message: str) -> None:
    """Warn ``message`` (an :class:`ImageFolderWarning`) once per command: not where this process, or one that started
    it, said it already. A command loads its dataset several times (its shape, its real batches, its validation split;
    each load reset Python's once-per-place record, as the decoder's warning filter is set), and a search's worker
    processes (a promotion's, a launch's ranks) read the folder their command read before it started them, writing on
    its terminal: before stop 51 a search said a folder's warning twice, and once more for each of its workers. What
    was said is recorded in this process's environment, which the processes it starts inherit; a ``nasproxy worker``
    started apart (another terminal, another machine) says it, its user may not have seen it. The record keeps the
    latest :data:`SAID_MAX` warnings: a warning said before those is said again."""
    digest = hashlib.sha256(message.encode()).hexdigest()[:16]
    said = os.environ.get(WARNINGS_SAID_VARIABLE, "").split()
    if digest in said:
        return
    warnings.warn(ImageFolderWarning(message), stacklevel=3)
    os.environ[WARNINGS_SAID_VARIABLE] = " ".join([*said, digest][-SAID_MAX:])


def subfolders(folder: Path) -> list[str]:
    """The names of an image folder's folders (following links; hidden ones left out), sorted. A link to nothing
    there (or a loop of links) is refused: before branch probe48 it was left out as a file is, a class silently gone."""
    entries = [(p, is_dir) for p, is_dir in _entries(folder) if not p.name.startswith(".")]
    if any(p.name == MACOS_ARCHIVE_FOLDER and is_dir for p, is_dir in entries):  # before branch probe56, a class of no images:
        say_once(  # "needs at least 2 classes with at least 2 images each; class sizes {'__MACOSX': 0, 'cat': 3, 'dog': 3}"
            f"{folder}: {MACOS_ARCHIVE_FOLDER}/ not read: macOS's zip adds it (the '._NAME' files of its images), it is no class"
        )
        entries = [(p, is_dir) for p, is_dir in entries if p.name != MACOS_ARCHIVE_FOLDER]
    if broken := [p for p, is_dir in entries if not is_dir and p.is_symlink() and not p.exists()]:
        raise DataNotFoundError(
            f"{broken[0]} in image folder {folder} is a link to nothing (or a loop of links): a class folder not there; "
            "point it at the class's folder, or remove it"
        )
    names = [p.name for p, is_dir in entries if is_dir]
    for name in names:  # a class's name is its folder's: before stop 49, 'ca\nt' was recorded so, and broke the lines printing it
        if (what := checks.control_character(name)) is not None:
            raise DataNotFoundError(
                f"image folder {folder} holds a folder named {shown(name)}, whose name holds a control character ({what}): "
                "a class's name is its folder's, recorded in every set and model made from it and printed; rename the folder"
            )
    for name in names:  # probe56: a folder named in Latin-1 was taken, its class recorded as 'caf\udce9' (a lone surrogate)
        if (problem := checks.not_utf8(name, "file names")) is not None:
            raise DataNotFoundError(
                f"image folder {folder} holds a folder named {shown(name)}, whose name is not read as UTF-8 text: {problem.why}; "
                "a class's name is its folder's, recorded as text in every set and model made from it: "
                + ("rename the folder" if problem.locale is None else checks.LOCALE_FIX)
            )
    for name in names:  # probe55: 'ab\u202ecd' was taken, printed 'abdc' in every line and report that names it (exit 0)
        if (what := reordering(name)) is not None:
            raise DataNotFoundError(
                f"image folder {folder} holds a folder named {shown(name)}, whose name holds {what}, which changes how the "
                "text around it is shown: a class's name is its folder's, recorded in every set and model made from it and "
                "printed; rename the folder"
            )
    if blank := [name for name in names if not name.strip()]:  # before stop 50 the set was written, then refused by each reader
        raise DataNotFoundError(
            f"image folder {folder} holds a folder named {shown(blank[0])}, a blank name: a class's name is its folder's, "
            "recorded in every set and model made from it, and a set's readers refuse a class with no name; rename the folder"
        )
    return names


def _entries(folder: Path) -> list[tuple[Path, bool]]:
    """Every entry of an image folder, sorted, and whether it is a folder; a folder whose permissions
    refuse this user (no read or no search bit) is one line, not a PermissionError from the listing."""
    try:
        return [(p, p.is_dir()) for p in sorted(folder.iterdir())]
    except OSError as e:
        raise DataNotFoundError(f"image folder {folder} cannot be read: {read_failure(e)}") from None


@dataclass(frozen=True)
class _Listing:
    """An image folder listed, nothing decoded: its class names and its image files with their class numbers."""

    root: Path
    classes: list[str]
    files: list[tuple[int, Path]]


def _listing(root: Path) -> _Listing:
    """The classes and image files of ``root``; a warning names the image files of kinds not read."""
    classes = subfolders(root)
    entries = [  # hidden files left out, as hidden folders are: macOS writes '._NAME.png' beside each image on a foreign
        (k, p)  # disk, and before branch probe48 the first of them refused the folder ("cannot identify image file")
        for k, c in enumerate(classes)
        for p, _ in _entries(root / c)
        if not p.name.startswith(".")
    ]
    files = [(k, p) for k, p in entries if p.suffix.lower() in IMAGE_SUFFIXES]
    if unread := [p for _, p in entries if p.suffix.lower() in UNREAD_IMAGE_SUFFIXES]:  # before stop 49, left out without
        say_once(  # a word: a phone's .heic photos, a class silently smaller, or empty ("class sizes {'b': 0}")
            f"{root}: {len(unread):,} image file{'s' if len(unread) > 1 else ''} not read, of kinds nasproxy does not read "
            f"({', '.join(sorted({p.suffix.lower() for p in unread}))}; the first {shown(str(unread[0].relative_to(root)))}): "
            f"it reads {' '.join(IMAGE_SUFFIXES)}; convert them to one of those to use them"
        )
    if not files:
        raise DataNotFoundError(f"no images under {root}: expected {root}/<class>/<image>.png (or .jpg, ...)")
    return _Listing(root, classes, files)


def read_image_folder(root: Path, size: int) -> tuple[U8, I64, list[str]]:
    """Class-per-folder images, shorter side resized to ``size`` then centre-cropped.

    Greyscale if every image is greyscale, RGB otherwise.
    """
    return read_image_folders([root], size)[0]


def read_image_folders(roots: list[Path], size: int) -> list[tuple[U8, I64, list[str]]]:
    """The image folders a dataset is made of together (``train/`` and ``test/``), each read as :func:`read_image_folder`
    reads it, once their memory, all together, is known to fit: before stop 51 each folder was checked alone, so two
    that each fitted passed where both did not."""
    listings = [_listing(root) for root in roots]
    _fits(listings, size)
    return [_read(listing, size) for listing in listings]


def _fits(listings: list[_Listing], size: int) -> None:
    """Refuse folders whose images, as the loader holds them (``size`` x ``size``, one channel where every image of a
    folder is greyscale, else three), need more memory than this machine has available now, before an image is decoded.
    Where even three channels fit, no image is opened; else each folder's images' headers are read (a colour folder's
    first colour image ends it) for their channels: before stop 51 every folder was counted as greyscale, a third of
    what a colour one needs, so a colour folder up to three times the memory passed and was read until the system
    killed nasproxy."""
    pixels = [len(listing.files) * size * size for listing in listings]
    if sum(pixels) * COLOUR * FOLDER_HELD_PER_BYTE <= formats.memory_available():  # looked up there, where a test sets it
        return
    channels = [_channels(listing) for listing in listings]
    need = sum(n * c for n, c in zip(pixels, channels, strict=True)) * FOLDER_HELD_PER_BYTE
    counts = [len(listing.files) for listing in listings]
    kinds = " and ".join(dict.fromkeys("in colour" if c == COLOUR else "greyscale" for c in channels))
    folder = str(listings[0].root)
    if len(listings) > 1:  # train/ and test/ of one folder
        parts = " and ".join(f"{listing.root.name}/ {n:,}" for listing, n in zip(listings, counts, strict=True))
        folder = f"{listings[0].root.parent} ({parts})"
    held = f"image folder {folder} holds {sum(counts):,} images of {size}x{size} pixels, {kinds}, once read"
    if (refusal := over_memory(held, need, "fewer images, or a smaller --image-size")) is not None:
        raise refusal


COLOUR = 3  # channels of a colour image as the loader holds it (RGB); a greyscale one, 1
# bytes of memory a byte of an image folder's pixels takes while the dataset loads, at its peak. Measured at stop 53 (one
# load_dataset's peak RSS rise, an RGB folder of 6,000 64x64 PNGs at 32: 13.05 bytes a byte; of 3,000 96x80 JPEGs at
# 48: 12.9); before, counted at 12, it fell short of the real rise (review52: 0.89x and 0.95x). Stop 54 took
# data.base.channel_stats' float64 copy of the training images (8 x 0.8) out, which was thought the peak: a folder of
# 6,000 random 64x64 PNGs at 32 rose 12.5 and 12.5 bytes a byte after, 12.6 and 12.8 before, so the peak is elsewhere in
# the load (not found), and this stays.
FOLDER_HELD_PER_BYTE = 14


def _channels(listing: _Listing) -> int:
    """The channels the loader will hold ``listing``'s images in: 1 where every one is greyscale, else 3 (RGB); their
    headers read, no pixel decoded. A file whose header cannot be read is left to :func:`_read`, which names it."""
    from PIL import Image

    for _, p in listing.files:
        checks.existing_file("image", p)  # a FIFO named x.png would block Image.open forever
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # refused by _read, where it is decoded
                with Image.open(p) as im:
                    if not _greyscale(im.mode):
                        return COLOUR
        except Exception:  # noqa: BLE001 - PIL raises many types for a broken file: _read refuses it in its words
            continue
    return 1


def _greyscale(mode: str) -> bool:
    """Whether an image of PIL ``mode`` is read as greyscale: 1-bit, 8-bit, and 16- or 32-bit integer pixels."""
    return mode in ("L", "1") or mode.startswith("I")


def _read(listing: _Listing, size: int) -> tuple[U8, I64, list[str]]:
    """The images of a listed folder, decoded, resized and cropped, with their labels and the folder's classes."""
    from PIL import Image, UnidentifiedImageError

    root, files = listing.root, listing.files
    # (n, size, size, channels): written as each image is decoded, one channel until the first colour image, then three
    # (the greyscale ones before it as PIL's L -> RGB makes them: the value in each). Before stop 53 the decoded images
    # were kept in a list (PIL holds RGB as 4 bytes a pixel), copied to a list of arrays, then stacked: small blocks the
    # process kept after, so that an RGB folder raised the peak 3.6x its array (47.6 MB over 18.4 MB for 6,000 images
    # at 32x32), and the whole load rose 267 MB where 221 MB were counted (0.83x; see FOLDER_HELD_PER_BYTE).
    x: U8 = np.empty((len(files), size, size, 1), dtype=np.uint8)
    labels: list[int] = []
    turned: list[tuple[Path, int]] = []  # images with an EXIF orientation other than upright, and it
    animated: list[Path] = []  # files of several frames (of which the first is read)
    for k, p in files:
        checks.existing_file("image", p)  # a FIFO named x.png would block Image.open forever; a link to nothing, a loop
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)  # refused, not decoded
                with Image.open(p) as im:
                    if (orientation := _orientation(im)) is not None:
                        turned.append((p, orientation))
                    if _animated(im):
                        animated.append(p)
                    pixels = np.asarray(_resize_crop(_eight_bit(im, p), size), dtype=np.uint8)  # (size, size[, 3])
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise DataNotFoundError(
                f"image {p} declares more than {Image.MAX_IMAGE_PIXELS:,} pixels (a decompression bomb, or far too large); remove it or shrink it"
            ) from None
        except (UnidentifiedImageError, OSError, SyntaxError) as e:  # PIL raises SyntaxError for some broken headers
            if _empty(p):  # PIL's "cannot identify image file" named no cause (probe58)
                raise DataNotFoundError(f"cannot read image {p}: it is an empty file (0 bytes); remove it or copy it again") from None
            raise DataNotFoundError(f"cannot read image {p}: {e}") from None
        if pixels.ndim == 3 and x.shape[3] == 1:  # the first colour image: the folder is read in RGB
            x = np.repeat(x, COLOUR, axis=3)
        x[len(labels)] = pixels[..., None] if pixels.ndim == 2 else pixels
        labels.append(k)
    _warn_read_as_stored(root, len(files), turned, animated)
    return x, np.asarray(labels, dtype=np.int64), listing.classes


# what a photo viewer does to an image of each EXIF orientation (tag 0x0112) other than 1, upright: nasproxy does none
ORIENTATIONS = {
    2: "mirrors it left to right",
    3: "turns it 180°",
    4: "flips it upside down",
    5: "mirrors it and turns it 90° counter-clockwise",
    6: "turns it 90° clockwise",
    7: "mirrors it and turns it 90° clockwise",
    8: "turns it 90° counter-clockwise",
}
EXIF_ORIENTATION = 0x0112


def _orientation(im: Any) -> int | None:
    """The EXIF orientation of an open image where it is not upright (2-8), else None (none, 1, or a value of no meaning)."""
    try:
        value = im.getexif().get(EXIF_ORIENTATION)
    except Exception:  # noqa: BLE001 - a broken EXIF block: the pixels are still read, as every viewer reads them
        return None
    return value if isinstance(value, int) and value in ORIENTATIONS else None


def _animated(im: Any) -> bool:
    """Whether an open image file holds several frames: an animated GIF, WebP or PNG, a multi-page TIFF. A JPEG of the
    Multi-Picture Format (MPO: a camera's or phone's photo, with previews or a second view after it) is one photo."""
    if im.format == "MPO":
        return False
    try:
        return bool(getattr(im, "is_animated", False))
    except Exception:  # noqa: BLE001 - a later frame broken (PIL raises IndexError for a GIF cut short): the first is read
        return False


def _warn_read_as_stored(root: Path, count: int, turned: list[tuple[Path, int]], animated: list[Path]) -> None:
    """Say once per folder (:func:`say_once`) which of its ``count`` images are read otherwise than a viewer shows them: before stop 50,
    silently. Read as torchvision's ImageFolder reads them (the pixels as stored, the first frame), so that a network
    trained here meets the pixels that such a loader feeds it, and sets made before keep their pixels."""
    if turned:
        first, orientation = turned[0]
        say_once(
            f"{root}: {len(turned):,} of {count:,} images carry an EXIF orientation, which photo viewers apply and nasproxy "
            f"does not (as torchvision's loader does not): they are read as stored, turned or mirrored (the first "
            f"{shown(str(first.relative_to(root)))}, orientation {orientation}: a viewer {ORIENTATIONS[orientation]}); to read "
            "them upright, write upright copies into a new folder (exiftran -ai, mogrify -auto-orient, or PIL's "
            "ImageOps.exif_transpose) and give that folder (not in place: what was made from this one would be refused, made from "
            "other pixels)"
        )
    if animated:
        say_once(
            f"{root}: {len(animated):,} of {count:,} image files hold several frames (an animated GIF, WebP or PNG, a "
            f"multi-page TIFF; the first {shown(str(animated[0].relative_to(root)))}): only the first frame of each is read, "
            "as torchvision's loader reads it; save the frame meant as a single image to use another"
        )


def _eight_bit(im: Any, path: Path) -> Any:
    """``im`` with 8-bit pixels: a 16-bit greyscale image (``I;16``, or ``I`` as PIL reads some
    16-bit files) scaled from 0-65535 to 0-255 (PIL's own conversion clips every value above 255 to
    white: a 16-bit folder read as one flat white image); floating-point pixels are refused, their
    file states no range, and so are integer pixels outside 0-65535 (a 32-bit or signed image): before
    stop 49 they were clipped to white or black without a word. Not stretched by each image's own range:
    that would make a dark picture as bright as a light one, where the fixed 0-65535 keeps them apart."""
    from PIL import Image

    if im.mode == "F":
        raise DataNotFoundError(
            f"image {path} has floating-point pixels (mode F), whose range its file does not state; save it with 8- or 16-bit pixels"
        )
    if not im.mode.startswith("I"):
        return im
    pixels = np.asarray(im)
    low, high = int(pixels.min()), int(pixels.max())
    if low < 0 or high > SIXTEEN_BITS:
        raise DataNotFoundError(
            f"image {path} has integer pixels from {low:,} to {high:,} (mode {im.mode}), outside the 16-bit range 0-{SIXTEEN_BITS} "
            "that nasproxy scales to 8 bits, and its file states no other range; save it with 8- or 16-bit pixels (0-65535)"
        )
    scaled = pixels.astype(np.float64) / 257.0  # 65535 -> 255
    return Image.fromarray(np.rint(scaled).astype(np.uint8), "L")


SIXTEEN_BITS = 65535  # the white of a 16-bit image


def _resize_crop(im: Any, size: int) -> Any:
    from PIL import Image

    w, h = im.size
    scale = size / min(w, h)
    im = im.convert("RGB" if im.mode not in ("L", "1") else "L")
    im = im.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BILINEAR)
    w, h = im.size
    left, top = (w - size) // 2, (h - size) // 2
    return im.crop((left, top, left + size, top + size))


def _empty(path: Path) -> bool:
    """Whether ``path`` is a file of 0 bytes (a copy cut short, a placeholder)."""
    try:
        return path.stat().st_size == 0
    except OSError:
        return False
