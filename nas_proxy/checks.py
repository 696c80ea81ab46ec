"""One check per kind of value a user gives: numbers in a range, plain names, paths inside a folder.

Every config's ``validate()`` and every command uses these, so the same rule gives the same
one-line :class:`InvalidArgumentError` ("what rule, what value, what fix") everywhere: in the CLI,
in a preset and in the Python API. NaN and infinity are never a valid option value.

How text becomes a value is decided here once, for every command and every file:
- a number on the command line is plain ASCII decimal (``10``, ``-3``, ``0.01``, ``1e-3``): no
  blanks around it (``' 5'``), no ``1_0``, no digits of other scripts (``١٠``), no ``1.0`` where an integer is asked; files keep
  their own grammar (TOML, JSON), which is already strict;
- no option takes a subnormal float (below 2.2e-308 in magnitude, but not 0) or an integer beyond
  :data:`INT_MAX`;
- a comma-separated list (``--early``, ``--proxies``, ``--objectives``, ``--*-choices``,
  ``--model``) and every list in a file has no empty item, no repeated item, and is not empty: an
  option left out means "the default", an empty one is refused;
- no string an option, a config or a preset gives holds a control character (:func:`no_control_character`);
- a file the user names is a regular file (not a FIFO, device or folder, not a symbolic-link
  loop), at most :data:`MAX_TEXT_BYTES` (a settings file: a space, a preset, a config, at most
  :data:`SETTINGS_BYTES_MAX`; a proxy profile :data:`PROFILE_BYTES_MAX`), UTF-8 with or without a byte-order mark, and JSON in it
  is nested at most as deep as Python can read.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import stat
import sys
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple, TypeVar

from nas_proxy.errors import InvalidArgumentError, NasProxyError, NasProxyWarning, reordering, reordering_names, shown
from nas_proxy.files import read_failure, shorten, too_long

T = TypeVar("T")


def number(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
    optional: bool = False,
) -> None:
    """``value`` is a finite number (an int with ``integer``) within ``[low, high]``; ``low_open`` /
    ``high_open`` exclude that end; ``optional`` also allows ``None``."""
    if value is None and optional:
        return
    kind = "an integer" if integer else "a finite number"
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type or not math.isfinite(value):
        raise InvalidArgumentError(f"{name} must be {kind}, got {shown(value)}")
    if isinstance(value, float) and _subnormal(value):
        raise InvalidArgumentError(f"{name} must be 0 or at least {sys.float_info.min:.1e} in magnitude, got the subnormal {shown(value)}")
    if isinstance(value, int) and high is None and abs(value) > INT_MAX:
        high = INT_MAX  # every integer option fits in 32 bits: a larger one is a typo, and overflows torch and numpy
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        raise InvalidArgumentError(f"{name} must be {_range(low, high, low_open, high_open)}, got {shown(value)}")


def _range(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    def fmt(x: float) -> str:
        return str(x) if isinstance(x, int) else f"{x:g}"

    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{fmt(low)}, {fmt(high)}{')' if high_open else ']'}"
    if low is not None:
        return f"greater than {fmt(low)}" if low_open else f"at least {fmt(low)}"
    if high is not None:
        return f"less than {fmt(high)}" if high_open else f"at most {fmt(high)}"
    return ""


SEED_MAX = 2**31 - 1  # seeds plus a worker index must stay below 2**32 (numpy's and Optuna's limit)
INT_MAX = 2**31 - 1  # the largest integer any option takes (counts, sizes, epochs): beyond it torch and numpy overflow
# the largest width, depth or cells per stage of a network (spec or space file): wider or deeper than any
# network trained, and small enough that building one ends (1e20 channels overflowed torch; a
# million blocks built for hours before the first trial)
NETWORK_MAX = 10_000
WORKERS_MAX = 1024  # processes of one command on one machine, and the sampler seed offsets of workers
# the most trials one study takes (search --n-trials, calibrate --trials): a study keeps every trial (kilobytes each in its
# journal: 10**9 trials were terabytes) and its sampler reads them all to propose the next, so a study's time grows with
# the square of its trials; NAS benchmarks' searches run hundreds to a few thousand (probe58: 10**9 was taken, and ran)
TRIALS_MAX = 100_000
RUNS_MAX = 1_000  # networks one `evaluate` trains: the field reports the mean of 5 to 10 (10**9 was taken, and ran)
# the most epochs one training runs (every --epochs, the ground truth's, the teachers', the promotion's, --select-epochs):
# synthetic sets are evaluated with 300 to 1,000 (DC, DM, MTT, DataDAM), NAS-Bench-201's ground truth trains 200; ten times
# the most is still a plan, 10**9 is a typo (probe60: taken, and trained for ever)
EPOCHS_MAX = 10_000
# the most iterations one distillation runs: DataDAM's and DM's papers run 20,000, MTT's 5,000 to 10,000 (probe60: 10**9
# was taken, and ran for ever)
ITERATIONS_MAX = 1_000_000
MAX_TEXT_BYTES = 64 << 20  # the largest text file (archs, truth, profile, meta.json) read whole
# the largest settings file (a search space, a preset, a --config, a study's or run's config.toml) read: Python's tomllib
# reads about 1 MB a second (a space file of one 10 MB line took 9 CPU-s to parse before it was refused), and the largest
# nasproxy ships is 3 KB (presets/demo.toml)
SETTINGS_BYTES_MAX = 1 << 20
# the largest proxy profile read (--proxy-profile): its [calibration] architectures list every id calibrated on, and the
# largest registered space calibrated whole (macro, 86,544 ids) writes 1.39 MB (fix62a); 4 MiB is three times that. tomllib
# parses the most hostile 4 MiB (an array of 2 million integers) in 6.8 CPU-s; at 64 MiB (before fix62a) in about 80
PROFILE_BYTES_MAX = 4 << 20
SET_FORMAT = "nasproxy.synthetic"  # a synthetic set's meta.json says so (nas_proxy.synthetic writes and reads sets)
SET_META = "meta.json"
SECONDS_MAX = 1e9  # a measured time in seconds (about 31 years): larger is a typo, and a sum of such would overflow
LR_MAX = 3.4028234663852886e38  # float32's largest value: a larger learning rate overflows the optimiser's float32 step


def _subnormal(x: float) -> bool:
    return x != 0.0 and abs(x) < sys.float_info.min


def positive(name: str, value: Any, optional: bool = False) -> None:
    """An integer >= 1 (counts: epochs, trials, workers, batch sizes)."""
    number(name, value, 1, integer=True, optional=optional)


def count(name: str, value: Any, high: int, why: str, low: int = 1) -> None:
    """An integer in [``low``, ``high``]: a count of work (trials, networks, epochs) whose larger values are a typo, not a
    plan; above ``high`` refused before any work, naming the limit and ``why`` ("the most trials one study takes: ...")."""
    number(name, value, low, integer=True)
    if value > high:
        raise InvalidArgumentError(f"{name} {value} is more than {high:,}, {why}")


TRIALS_WHY = (
    "the most trials one study takes: a study keeps every trial (kilobytes each in its storage) and its sampler reads them "
    "all to propose the next; a search runs hundreds to a few thousand"
)
WORKERS_WHY = "the most processes one command starts on one machine: each loads the data and trains on its own"
RUNS_WHY = "the most networks one evaluate trains: the field reports the mean of 5 to 10"
EPOCHS_WHY = "the most epochs one training runs: synthetic sets are evaluated with 300 to 1,000, NAS-Bench-201's ground truth 200"
ITERATIONS_WHY = "the most iterations one distillation runs: DataDAM's and DM's papers run 20,000"


def epochs(name: str, value: Any, optional: bool = False) -> None:
    """A training's epochs: an integer in [1, :data:`EPOCHS_MAX`]; ``optional`` also allows ``None``."""
    if value is not None or not optional:
        count(name, value, EPOCHS_MAX, EPOCHS_WHY)


def sha256(name: str, value: Any, whose: str, optional: bool = True) -> None:
    """A SHA-256 digest as nasproxy writes one: 64 lowercase hex digits (``whose``: "the tensors file's"); ``optional``
    also allows ``None`` (absent from files written before it was recorded)."""
    if value is None and optional:
        return
    if not (isinstance(value, str) and re.fullmatch("[0-9a-f]{64}", value)):
        raise InvalidArgumentError(f"{name} must be {whose} SHA-256 (64 hex digits), got {shown(value)}")


def text(name: str, value: Any, choices: list[str] | tuple[str, ...] | None = None) -> None:
    """A string (one of ``choices`` when given)."""
    if not isinstance(value, str) or (choices is not None and value not in choices):
        allowed = f"one of {', '.join(choices)}" if choices is not None else "a string"
        raise InvalidArgumentError(f"{name} must be {allowed}, got {shown(value)}")


def not_home_shorthand(name: str, value: Any) -> None:
    """A value that is not a path written with a shell's ``~`` (``~`` or ``~/...``, and ``~USER`` or ``~USER/...``
    for a user of this machine): only a shell expands it, and nasproxy takes a path as written. Before branch probe43
    a preset's ``runs = "~/nasruns"`` (or ``--out=~/x``, where bash expands no ``~``) made a folder named ``~`` in the
    working folder, exit 0; before probe43b ``--out=~root/x`` made one named ``~root``. A ``~x`` that names no user
    is a folder of that name to a shell too, and is taken."""
    if not isinstance(value, str) or not value.startswith("~"):
        return
    user, slash, rest = value[1:].partition("/")
    home = "$HOME" if not user else _home_of(user)
    if home is None:
        return
    whose = "your home folder" if not user else f"the home folder of user {user}"
    raise InvalidArgumentError(
        f"{name} is {shown(value)}: '~{user}' is {whose} to a shell only, and nasproxy takes this path as written, "
        f"which names a folder '~{user}' here; write the folder out, or let a shell expand it (\"{home}{slash}{rest}\")"
    )


_CONTROL_NAMES = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab", "\x1b": "an escape"}


def no_control_character(name: str, value: Any) -> None:
    """A string without a control character (a newline, tab, carriage return, escape, ...: Unicode's Cc): a value
    nasproxy is given is a path, a name or a list, which it writes into one-line messages and its records. Before
    branch probe46 ``--out $'x\\ny'`` made a folder of that name (exit 0), and ``evaluate $'sy\\nn'`` was refused as
    "sy n does not exist", a path it was not given. A NUL is left to the path checks (:func:`not_too_long`)."""
    if not isinstance(value, str):
        return
    if (what := control_character(value)) is not None:
        raise InvalidArgumentError(
            f"{name} is {shown(value)}: it holds a control character ({what}), which no path or name nasproxy takes may hold "
            "(a paste that carried one?); give it without"
        )
    if (what := reordering(value)) is not None:  # probe56: --out 'x\u202ey' made a folder printed 'xy' reversed on stdout
        raise InvalidArgumentError(
            f"{name} is {shown(value)}: it holds {what}, which changes how the text around it is shown; no path or name "
            "nasproxy takes may hold one (a paste that carried it?): give it without"
        )


def control_character(value: str) -> str | None:
    """The first control character in ``value`` (Unicode's Cc but NUL), in words ("a newline"); None where it has none."""
    found = next((c for c in value if c != "\x00" and unicodedata.category(c) == "Cc"), None)
    return None if found is None else _CONTROL_NAMES.get(found, f"U+{ord(found):04X}")


def class_names_problem(names: list[str]) -> str | None:
    """What is wrong with a dataset's ``names`` of its classes, as the rest of a sentence that starts with where they are
    ("gives class 3 no name"); None where nothing is. Each name is printed in lines and recorded, in order, in every set
    and model made from the data, so each is some text, none holds a control character or one that reorders text
    (:data:`~nas_proxy.errors.REORDERING`), and no two are the same (a report or a model's labels could not tell them
    apart). Names that differ in case or blanks only are two names: no output makes a file or folder of a class's name,
    and an image folder's classes 'Cat' and 'cat' are two folders."""
    if empty := [k for k, n in enumerate(names) if not n.strip()]:
        return f"gives class {empty[0]} no name"
    for k, n in enumerate(names):
        if (what := control_character(n)) is not None:
            return f"gives class {k} the name {shown(n)}, which holds a control character ({what})"
        if any("\ud800" <= c <= "\udfff" for c in n):  # probe56: 'caf\udce9', a folder's name in Latin-1, was taken
            return (
                f"gives class {k} the name {shown(n)}, which holds a lone surrogate (no UTF-8 text does: a name read in another encoding?)"
            )
    if len(set(names)) != len(names):
        return f"names {next(n for n in names if names.count(n) > 1)!r} more than once"
    return reordering_names(names)  # nor one that changes how the text around it is shown (probe55)


def _home_of(user: str) -> str | None:
    """The home folder of ``user`` as a shell's ``~USER`` finds it, or None where there is no such user."""
    import pwd

    try:
        return pwd.getpwnam(user).pw_dir
    except (KeyError, ValueError):  # no such user; a name with a NUL
        return None


def plain_name(name: str, value: Any, what: str = "directory", existing: Callable[[], bool] | None = None) -> None:
    """A name that is one path component: not empty, no '/', '\\', and not starting with '.'
    (so that it cannot name '.', '..' or a hidden file when it is joined to a folder), printable
    UTF-8 text (no newline, tab or other control character, no byte that is not UTF-8), and no
    blank at either end (``' s1'`` would be a second study beside ``s1``, told apart by a space), written
    composed (Unicode NFC: ``'cafe\u0301'`` would be a second study beside ``'caf\xe9'``, told apart by nothing seen),
    unless ``existing`` says the name already names one: a study made under a decomposed name before stop 52 is opened by
    that name (before stop 53 it was refused, so it could no longer be opened at all)."""
    if (
        not isinstance(value, str)
        or not value
        or value != value.strip()
        or "/" in value
        or "\\" in value
        or value.startswith(".")
        or not value.isprintable()
        or not _utf8(value)
    ):
        raise InvalidArgumentError(
            f"{name} must be a plain name (printable text, no '/' or '\\', not starting with '.' nor starting or ending with a blank): "
            f"it names a {what}; got {shown(value)}"
        )
    if decomposed(value) and (existing is None or not existing()):
        composed_name(name, value, what)


def decomposed(value: str) -> bool:
    """Whether ``value`` is not in Unicode's composed form (NFC), as a keyboard types it."""
    return unicodedata.normalize("NFC", value) != value


def composed_name(name: str, value: str, what: str) -> None:
    """Refuse a name not written composed (Unicode NFC) that would name a new ``what``: ``'cafe'`` + U+0301 beside
    ``'caf'`` + U+00E9 would be two folders, two studies, that print alike. A decomposed name (NFD: macOS keeps file
    names so) is told to be typed; one that no keyboard decomposed (a CJK compatibility ideograph, U+F900, as Korean hanja
    input gives; a singleton such as U+212B ANGSTROM SIGN; combining marks out of order) is told its characters and the
    composed form to write: before fix53e it was told of macOS and to type it again, which gives the same refused name."""
    composed = unicodedata.normalize("NFC", value)
    if composed == value:
        return
    prints = f"it would name another {what} than {composed!a} does, though both print {shown(composed)}"
    if unicodedata.is_normalized("NFD", value):
        raise InvalidArgumentError(
            f"{name} {shown(value)} is {value!a}, not in Unicode's composed form (NFC) as a keyboard types it (a decomposed "
            f"name, NFD, is how macOS keeps file names): {prints}; type the name, or write it composed (NFC)"
        )
    replaced = [c for c in dict.fromkeys(value) if unicodedata.normalize("NFC", c) != c]  # each changed alone: its own words
    why = "; ".join(f"{_code_points(c)}, which NFC replaces by {_code_points(unicodedata.normalize('NFC', c))}" for c in replaced[:3])
    raise InvalidArgumentError(
        f"{name} {shown(value)} is {value!a}, not in Unicode's composed form (NFC)"
        f"{': ' + why if why else ' (NFC composes or reorders its characters)'}: {prints}; write it as {composed!a}"
    )


def _code_points(text: str) -> str:
    """``'U+212B ANGSTROM SIGN'``: each character of ``text`` by its code point and Unicode name, joined by ' + '."""
    return " + ".join(f"U+{ord(c):04X} {unicodedata.name(c, 'unnamed')}" for c in text)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a byte of a non-UTF-8 file name, as Python decodes it (surrogateescape)
        return False
    return True


LOCALE_FIX = "set LANG=C.UTF-8 or PYTHONUTF8=1"


class NotUtf8(NamedTuple):
    """Why a name is not UTF-8 text: its bytes, and ``locale``, the encoding this Python reads names in, where those
    bytes are UTF-8 and only that reading made them otherwise (None: a name in another encoding); ``why`` in words."""

    raw: bytes
    locale: str | None
    why: str


def not_utf8(text: str, read: str) -> NotUtf8 | None:
    """The one rule for a name as Python decoded it (an argument, a file name; ``read``: which, in words such as "file
    names"): None where it is UTF-8 text. A byte that is not UTF-8 reaches Python as a lone surrogate; bytes that are
    UTF-8 do too where Python reads names as ASCII (the C locale, with PYTHONUTF8=0 and PYTHONCOERCECLOCALE=0), and then
    the locale, not the name, is what to change (probe57: ``--out sé`` was "a name in another encoding ... rename it")."""
    if _utf8(text):
        return None
    raw = os.fsencode(text)
    encoding = sys.getfilesystemencoding()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return NotUtf8(raw, None, f"its bytes {raw!r} are a name in another encoding")
    if encoding.replace("-", "").lower() == "utf8":  # (only made up in-process: a UTF-8 Python decodes UTF-8 bytes)
        return NotUtf8(raw, None, f"its bytes {raw!r} are a name in another encoding")
    return NotUtf8(raw, encoding, f"its bytes {raw!r} are UTF-8, but this Python reads {read} as {encoding} (the C locale)")


def inside(folder: Path, relative: str, what: str) -> Path:
    """``folder / relative``, refused unless it stays inside ``folder`` (no absolute path, no
    ``..``, no symbolic link that leads out)."""
    candidate = folder / relative
    root = folder.resolve()
    if Path(relative).is_absolute() or root not in (candidate.resolve(), *candidate.resolve().parents):
        raise InvalidArgumentError(f"{what} {shown(relative)} leads outside {folder}; it must name a file inside that directory")
    return candidate


KINDS: tuple[tuple[Callable[[int], bool], str], ...] = (  # what a file of each type is, in words (os.stat's st_mode)
    (stat.S_ISREG, "a file"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),  # /dev/null, /dev/zero, a terminal (before fix58 "a device", as a block device)
    (stat.S_ISBLK, "a block device"),  # a disk
    (stat.S_ISLNK, "a symbolic link"),  # only where a link is not followed (os.lstat)
)


def kind(mode: int) -> str:
    """What a file of mode ``mode`` is, in words ("a FIFO", "a socket", "a character device", ...; "a file" for a regular one,
    which before fix56a was "not a regular file", as any type it does not know still is)."""
    return next((what for test, what in KINDS if test(mode)), "not a regular file")


def file_kind(path: Path | str) -> str:
    """What ``path``, there and not a folder, is in words: "a file", or :func:`kind`'s ("a character device", "a FIFO", ...): the
    refusals of an output folder that is not one (before probe54 a device or a socket was "a file")."""
    return kind(os.stat(path).st_mode)


def regular_file(mode: int, refusal: Callable[[str], str], error: Callable[[str], NasProxyError] = InvalidArgumentError) -> None:
    """Refuse, in one line, a path of mode ``mode`` that is not a regular file where nasproxy reads or replaces one: a
    FIFO (its read hangs), a device (/dev/zero: read for ever), a socket, a folder. ``refusal(kind)``: the message, given
    :func:`kind`'s words; ``error``: its class (a storage's: StorageError; before fix57 the storage wrote its own two inline).
    Before fix56a written inline at each such place (probe54's three)."""
    if not stat.S_ISREG(mode):
        raise error(refusal(kind(mode)))


def not_a_folder(what: str, path: Path | str) -> str | None:
    """Why ``path``, which a command needs as a folder, is not one, as a cause: :func:`absent`'s where nothing is there
    (a link to nothing named as such), "{what} {path} is {kind}, not a directory" where something else is (a device, a
    FIFO, a socket, a file: :func:`file_kind`); None for a folder. A symbolic-link loop, a name too long or a path that
    cannot be read is refused in one line (:func:`status`). Before fix55b ``--data-root /dev/null`` said "does not exist
    (or is not a directory)"."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        if e.errno not in (errno.ENOENT, errno.ENOTDIR):  # a part of it a file: nothing there either
            status(what, path)  # refuses it in its own words
        return absent(what, path)
    return None if stat.S_ISDIR(mode) else f"{what} {path} is {file_kind(path)}, not a directory"


def status(option: str, path: Path | str) -> os.stat_result | None:
    """``os.stat`` of a path the user named (following links); None when it does not exist; a
    symbolic-link loop or an unreadable path is refused in one line."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise InvalidArgumentError(f"{option} {path} is a symbolic link loop (it leads back to itself); give a real path") from None
        if e.errno == errno.ENAMETOOLONG:
            raise _too_long(option, path) from None
        raise InvalidArgumentError(f"{option} {path} cannot be read: {read_failure(e)}") from None


def absent(what: str, path: Path | str) -> str:
    """Why a path the user gave (``what``: "--config", "image folder") is not there, as a cause: "{what} {path} does not
    exist", or, where it or a folder on its way is a symbolic link whose target is missing, that link and its target
    (before stop 53 a dangling ``--config`` link said only "does not exist", though ``ls`` lists it). The one wording of
    a missing input path; its error carries the path (:attr:`NasProxyError.missing`)."""
    p = Path(path)
    for part in (p, *p.parents):
        if os.path.islink(part) and not os.path.exists(part):  # a link to nothing (lstat finds it, stat does not)
            target = os.readlink(part)
            if os.path.islink(os.path.join(os.path.dirname(part), target)):  # a chain of links: name where it ends
                target = f"{target} (which leads to {os.path.realpath(part)})"
            link = f"{what} {path} is" if part == p else f"{what} {path} does not exist: {part} is"
            return f"{link} a symbolic link to {target}, which does not exist"
    if str(path) == "-":  # before probe62, "--archs file - does not exist", of a stranger's standard input (files.py: outputs)
        return f"{what} - does not exist: nasproxy reads its inputs from files, not from standard input ('-')"
    if any(part != part.strip() for part in p.parts):  # before probe62, 'syn ' was "synthetic set syn does not exist"
        given = os.path.join(*(part.strip() for part in p.parts))
        where = "its path" if str(path) != str(path).strip() else "a name in its path"
        there = f" ({shown(given)} exists)" if given and os.path.lexists(given) else ""
        return f"{what} {shown(str(path))} does not exist: {where} starts or ends with a blank{there}"
    return f"{what} {path} does not exist"


def not_found(
    what: str, path: Path | str, error: type[NasProxyError] = InvalidArgumentError, *, remedy: str | None = None
) -> NasProxyError:
    """The error (of class ``error``) of an input path that is not there: :func:`absent`'s cause, ``remedy`` after it,
    and the path as :attr:`NasProxyError.missing` (``run`` tells by it whether a path its preset writes is the one
    missing: before stop 53 configs.read, the image folder, a synthetic set, a data root and a storage file gave none)."""
    return error(absent(what, path), remedy=remedy, missing=path)


def not_too_long(option: str, path: Path | str) -> None:
    """Refuse a path that the system refuses for its length (ENAMETOOLONG), whether or not it exists: where a
    command asks whether a file is there (``Path.exists``, ``is_dir``), Python raises OSError for it, which was an
    internal error before probe44 (a journal storage, --data-root), or a NUL byte (a config's ``"\\u0000"``), which makes
    Python raise ValueError there. Other errors are left to the code that opens it."""
    try:
        os.stat(path)
    except ValueError:  # a NUL (a config's "\u0000"): before review44, 'internal error: ValueError: embedded null byte'
        raise InvalidArgumentError(f"{option} {shown(str(path))} holds a NUL byte, which no path can; give the path itself") from None
    except OSError as e:
        if e.errno == errno.ENAMETOOLONG:
            raise _too_long(option, path) from None


def _too_long(option: str, path: Path | str) -> InvalidArgumentError:
    return InvalidArgumentError(f"{option} {shorten(path)}: {too_long(path)}")


def existing_file(option: str, path: Path | str) -> Path:
    """A path that is a readable regular file (not missing, not a directory, FIFO or device; one whose
    permissions refuse this user is one line, not a PermissionError from the read that follows)."""
    p = _existing(option, path, stat.S_ISREG, "a regular file; give a file", f"{option} file")
    try:
        with open(p, "rb"):  # a regular file: opening it neither blocks nor reads
            pass
    except OSError as e:
        raise InvalidArgumentError(f"{option}{'' if option.endswith('file') else ' file'} {p} cannot be read: {read_failure(e)}") from None
    return p


def existing_dir(option: str, path: Path | str) -> Path:
    """A path that is a directory (following links); one line for a missing one, a file, a loop."""
    return _existing(option, path, stat.S_ISDIR, "a directory", option)


def _existing(option: str, path: Path | str, kind_ok: Callable[[int], bool], wanted: str, what: str) -> Path:
    p = Path(path)
    st = status(option, p)
    if st is None:
        raise not_found(what, path)  # as given ('./gt.csv', which Path writes 'gt.csv')
    if not kind_ok(st.st_mode):
        raise InvalidArgumentError(f"{option} {p} is {'a file' if stat.S_ISREG(st.st_mode) else kind(st.st_mode)}, not {wanted}")
    return p


def output_path(option: str, path: Path | str) -> Path:
    """A path a command will create or write: refused when it is a symbolic-link loop (a missing
    path is fine: the command makes it)."""
    status(option, path)
    return Path(path)


def not_a_synthetic_set(option: str, out: Path | str, file: Path | None = None, inside: bool = True) -> None:
    """Refuse an output directory that is a synthetic set: a command's files (config.toml, caches,
    reports, teachers; ``file``, named in the message, when the option names a file in ``out``) would be
    written among, or over, the set's own; ``inside``: one in a set's folder too (a set's own teachers
    folder is the one that may be, ``--teacher-dir``)."""
    output_path(option, file or out)
    if _is_set(Path(out)):
        where = f"{option} {out} is a synthetic set" if file is None else f"{option} {file} is in the synthetic set {out}"
        raise InvalidArgumentError(f"{where}, whose folder holds its own files only: give a directory of its own")
    if inside:
        not_inside_a_synthetic_set(option, file or out)


def not_inside_a_synthetic_set(option: str, out: Path | str) -> None:
    """Refuse an output path in a synthetic set's folder (at any depth): the set's folder holds its own
    files only, and a run written there is lost or copied with the set."""
    for folder in Path(os.path.abspath(out)).parents:
        if _is_set(folder):
            shown_folder = folder if Path(out).is_absolute() else os.path.relpath(folder)
            raise InvalidArgumentError(
                f"{option} {out} is inside the synthetic set {shown_folder}, whose folder holds its own files only: give a directory of its own"
            )


def _is_set(folder: Path) -> bool:
    """Whether ``folder`` holds a synthetic set's meta.json (read only when small)."""
    meta = folder / SET_META
    try:
        return meta.is_file() and meta.stat().st_size <= MAX_TEXT_BYTES and f'"{SET_FORMAT}"' in meta.read_text(errors="replace")
    except OSError:
        return False


def _mib(n: int) -> float:
    """``n`` bytes in MiB for a size refusal, to a tenth below 10 MiB (a file just over a 1 MiB limit is 1.3, not 1)."""
    return round(n / 2**20, 1) if n < 10 << 20 else round(n / 2**20)


def read_text(option: str, path: Path | str, limit: int = MAX_TEXT_BYTES) -> str:
    """The text of a file the user named (UTF-8, a byte-order mark dropped); one-line errors for a
    missing file, something that is not a regular file (a FIFO, a device, ``/dev/stdin``: refused before it is opened, so
    nothing waits on it), a file over ``limit`` bytes, one that shrinks or grows while it is read, or bytes that are not text.
    The kernel's own files are regular files whose size does not tell their length (procfs says 0, sysfs 4,096): they are
    read whole, to their end."""
    p = existing_file(option, path)
    try:
        with open(p, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > limit:
                sizes = (f"{_mib(size):,.10g} MiB", f"{_mib(limit):,.10g} MiB")
                if _mib(size) == _mib(limit):  # "1 MiB; at most 1 MiB": rounded alike, the numbers as they are
                    sizes = (f"{size:,} bytes", f"{limit:,} bytes")
                raise InvalidArgumentError(
                    f"{option} file {p} is too large ({sizes[0]}; at most {sizes[1]} is read); is it the right file?"
                )
            raw = f.read(limit + 1)  # one byte more: a file that grew past the limit while read is not taken cut at it
            shrank = len(raw) < size and not _same_again(f, size, raw, limit)
            grew = len(raw) > size and os.fstat(f.fileno()).st_size != size  # (procfs says 0 and stays so: read whole)
    except OSError as e:
        raise InvalidArgumentError(f"{option} file {p} cannot be read: {read_failure(e)}") from None
    if shrank or grew:  # before stop 53 (54: grew) the part read was taken: a TOML cut after a whole line read as one without the rest
        raise InvalidArgumentError(
            f"{option} file {p} {'shrank' if shrank else 'grew'} while it was read ("
            f"{f'{len(raw):,} of its {size:,} bytes read' if shrank else f'{len(raw):,} bytes read, {size:,} as it was opened'}"
            "): another process was writing it; run again once it is written whole"
        )
    if len(raw) > limit:  # (a kernel file of more)
        raise InvalidArgumentError(f"{option} file {p} is too large (more than {_mib(limit):,.10g} MiB is not read); is it the right file?")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidArgumentError(f"{option} file {p} is not UTF-8 text{_what_instead(p)}") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")  # universal newlines, as a file read as text has them


def read_json(what: str, path: Path | str, limit: int = MAX_TEXT_BYTES) -> Any:
    """The JSON of a file (:func:`loads` of :func:`read_text`): the one way a JSON file is read, one nasproxy wrote itself
    too (a record, kept results: a stranger may have replaced it, a write may have been lost). An
    :class:`InvalidArgumentError` where it cannot be read as text (missing, not a regular file: never opened, over
    ``limit``, not UTF-8), a ValueError where the text is not JSON (cut short, nested too deeply): a caller that takes
    such a file for absent catches both. Before fix62a eight readers read their file whole with ``Path.read_text``: a
    FIFO there waited for ever, a 100 MB file was read and parsed."""
    return loads(read_text(what, path, limit))


def _same_again(f: BinaryIO, size: int, raw: bytes, limit: int) -> bool:
    """Whether a file that gave fewer bytes than its ``size`` (its st_size as opened) still says that size and gives the
    same bytes read again: a file of the kernel's whose st_size is not its length (sysfs says 4,096 of a 23-byte line:
    before stop 54 refused as "shrank while it was read"), not one another process is cutting (its size changed, or a
    second read differs)."""
    if os.fstat(f.fileno()).st_size != size:
        return False
    f.seek(0)
    return f.read(limit + 1) == raw


ZIP_MAGIC = b"PK\x03\x04"  # a zip archive's first bytes (xlsx, torch.save, numpy.savez)
# the first bytes of files often saved where UTF-8 text is asked for: their codec (text) or what they are, and the fix
_NOT_UTF8 = (
    (b"\xff\xfe\x00\x00", "utf-32", ": it is UTF-32 text (so its first bytes say); save it as UTF-8"),
    (b"\x00\x00\xfe\xff", "utf-32", ": it is UTF-32 text (so its first bytes say); save it as UTF-8"),
    (
        b"\xff\xfe",
        "utf-16",
        ": it is UTF-16 text (so its first bytes say), as Windows' 'Unicode' and PowerShell's > write it; save it as UTF-8",
    ),
    (b"\xfe\xff", "utf-16", ": it is UTF-16 text (so its first bytes say); save it as UTF-8"),
    (b"\x1f\x8b", None, ": it is gzip-compressed; decompress it first (gunzip)"),
    (ZIP_MAGIC, None, ": it is a zip archive (a workbook such as .xlsx is one); unzip it, or save the sheet as CSV"),
)


def _what_instead(p: Path) -> str:
    """What a file that is not UTF-8 seems to be, from its first bytes (before probe44: "a binary file?" for
    all, UTF-16 text included); text in another encoding only when all of it reads as printable text in it."""
    try:
        raw = p.read_bytes()
    except OSError:
        raw = b""
    if (saved := zip_archive(raw)) not in (None, ANY_ZIP):  # before branch probe48, a torch.save file
        return f": it is {saved}, not text; give the text file asked for"  # given for best.json was "a workbook such as .xlsx"
    for magic, codec, what in _NOT_UTF8:
        if raw.startswith(magic) and (codec is None or _printable(raw, codec)):
            return what
    return " (a binary file?); give a text file"


ANY_ZIP = "a zip archive"  # what zip_archive says of a zip that holds no tensors or arrays (a workbook, ...)


def zip_archive(raw: bytes) -> str | None:
    """What the bytes ``raw`` of a file are where they are a zip archive: a file torch.save wrote (its pickle,
    '*/data.pkl'), one numpy.savez wrote ('*.npy' members), or :data:`ANY_ZIP` (a workbook, a zip that cannot be
    listed, ...); None where they are no zip. The one test of a zip for every reader (text files, CIFAR batches)."""
    import io
    import zipfile

    if not raw.startswith(ZIP_MAGIC):
        return None
    try:
        names = zipfile.ZipFile(io.BytesIO(raw)).namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return ANY_ZIP
    if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
        return "a file torch.save wrote (a zip holding data.pkl)"
    if names and all(n.endswith(".npy") for n in names):
        return "a file numpy.savez wrote (a zip of .npy arrays)"
    return ANY_ZIP


def _printable(raw: bytes, codec: str) -> bool:
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\t\n\r" for ch in text)


def whole_lines(option: str, path: Path | str, text: str) -> None:
    """Refuse a table (``text``, read from ``path``) that does not end in a newline: its last row may
    be a write that stopped, whose last number reads as a shorter one (0.7345 cut to 0.73) with no
    field missing to show it. Every tool that writes a CSV ends it in a newline."""
    if text and not text.endswith(("\n", "\r")):
        last = text.rsplit("\n", 1)[-1]
        raise InvalidArgumentError(
            f"{option} file {path} does not end in a newline: its last line {shown(last)} may be cut short (a write that stopped); "
            "write it again, or end it with a newline if that line is whole"
        )


def parse_json(what: str, text: str) -> Any:
    """``json.loads(text)`` with one-line errors naming ``what``: not JSON, or nested too deeply
    for Python to read (a recursion error otherwise)."""
    try:
        return loads(text)
    except TooDeepError:
        raise too_deep(what) from None
    except ValueError as e:  # json.JSONDecodeError, or an integer too long to read
        raise InvalidArgumentError(f"{what} is not valid JSON: {e}") from None


def too_deep(what: str) -> InvalidArgumentError:
    """The error of a JSON or TOML file nested deeper than Python's parsers recurse (a RecursionError otherwise)."""
    return InvalidArgumentError(f"{what} is nested too deeply to read (more than about {sys.getrecursionlimit()} levels of [ or {{)")


def whole_row(path: Path | str, line: int, row: dict[Any, Any], header: Sequence[str], header_line: int = 1) -> None:
    """Refuse a ``csv.DictReader`` row with more or fewer fields than the header, as the ladder tables' reader
    does: the reader puts extra fields aside and fills missing ones with None, so a decimal comma (``60,5``)
    was read as the accuracy 60 without a word. ``line``: the file's (1 the first); ``header_line``: the header's,
    named where it is not the first (blank or comment lines above it)."""
    extra = row.get(None) or []
    missing = sum(value is None for key, value in row.items() if key is not None)
    if extra or missing:
        raise InvalidArgumentError(
            f"{path} line {line} has {len(header) + len(extra) - missing} fields, {_the_header(header_line)} {len(header)}; fix or "
            "drop that row (a comma inside a field needs quotes; a decimal comma, 60,5, splits the number)"
        )


def columns(path: Path | str, header: Iterable[str] | None, header_line: int = 1) -> None:
    """Refuse a CSV header that names a column twice (a reader by name would keep one of the two
    silently); ``header_line``: its line in the file, named where it is not the first."""
    seen: set[str] = set()
    for name in header or ():
        if name in seen:
            raise InvalidArgumentError(f"{path}: {_the_header(header_line)} names column {name!r} twice; give each column once")
        seen.add(name)


def _the_header(line: int) -> str:
    """How a message names a CSV's header: "the header", with its line where that is not the first."""
    return "the header" if line <= 1 else f"the header (line {line})"


def file_number(raw: Any, csv_field: bool) -> float:
    """A number read from a file of architectures or ground truth, as the ladder tables' reader takes one: a JSON
    number (not true, not the text "60.0"), or a CSV field's plain ASCII decimal (blanks around it are the file's
    layout; not '6_0' or full-width digits, which float() reads); NaN for anything else, which the caller refuses.
    Before branch probe40 float() read JSON text and every spelling float() knows, and a JSON integer too large for a
    float was an internal error."""
    if isinstance(raw, str):
        if not csv_field:  # JSON text: a number must be a number
            return math.nan
        try:
            return parse_float(raw.strip())
        except ValueError:
            return math.nan
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return math.nan
    try:
        return float(raw)
    except OverflowError:  # an integer of hundreds of digits
        return math.inf


def percentages(where: str, values: Iterable[float], column: str = "accuracy") -> None:
    """Refuse accuracies that are all at most 1: fractions (0.8) where percentages (80) are read,
    which would be taken as 0.8 % (no ground truth of a classifier is below 1 % everywhere)."""
    seen = list(values)
    if seen and max(seen) <= 1.0:
        raise InvalidArgumentError(
            f"{where}: every {column} is at most 1 ({min(seen):g} to {max(seen):g}): fractions, where accuracies are read "
            "in % (0-100); multiply them by 100 (0.8 -> 80)"
        )


def known_keys(what: str, given: Iterable[str], known: Sequence[str]) -> None:
    """Refuse the keys of ``given`` (a table's) that are not in ``known``: all of them named, sorted, then the known
    ones in their order (``unknown ConvNet spec key(s) ['colour']; known: family, depth, ...``)."""
    if unknown := sorted(set(given) - set(known)):
        raise InvalidArgumentError(f"unknown {what} key(s) {unknown}; known: {', '.join(known)}")


def distinct(name: str, values: Iterable[T], show: Callable[[T], str] = repr) -> list[T]:
    """``values`` as a list, refused when empty or when one value appears twice (equal: ``1`` and ``1.0``). A hashable
    value is looked up in a set, one that is not (a list among a config's choices) among those before it: before fix58
    every value was, 30,000 names in 32.5 s."""
    out: list[T] = []
    seen: set[Any] = set()
    unhashable: list[T] = []
    for v in values:
        try:
            again = v in seen
        except TypeError:  # (unhashable)
            again = v in unhashable
            unhashable.append(v)
        else:
            seen.add(v)
        if again:
            raise InvalidArgumentError(f"{name} names {show(v)} twice; give each value once")
        out.append(v)
    if not out:
        raise InvalidArgumentError(f"{name} is empty; give at least one value, or leave it out for the default")
    return out


def distinct_folders(name: str, paths: Iterable[str]) -> list[str]:
    """``paths`` refused as :func:`distinct` refuses values, and also when two of them are one folder
    named two ways (``syn`` and ``./syn``, relative and absolute, through a link)."""
    out = distinct(name, paths)
    seen: dict[str, str] = {}
    for path in out:
        real = os.path.realpath(path)
        if real in seen:
            raise InvalidArgumentError(f"{name} names one folder twice, as {shown(seen[real])} and {shown(path)}; give each once")
        seen[real] = path
    return out


def items(name: str, text: str, parse: Callable[[str], Any] = str, show: Callable[[Any], str] = repr) -> list[Any]:
    """A comma-separated list typed on the command line (``--early 0.1,1``): every item parsed by
    ``parse`` (which raises ValueError or InvalidArgumentError on a bad item); no empty item, no
    item twice (compared after parsing: ``0.01,0.010`` repeats), not empty."""
    if not text.strip():
        raise InvalidArgumentError(f"{name} is empty; give at least one value, or leave it out for the default")
    parts = [p.strip() for p in text.split(",")]
    if "" in parts:
        raise InvalidArgumentError(f"{name} has an empty item in {shown(text)} (a trailing or doubled comma?); remove it")
    values = []
    for part in parts:
        try:
            values.append(parse(part))
        except ValueError as e:
            raise InvalidArgumentError(f"{name}: {e} (in {shown(text)})") from None
    return distinct(name, values, show)


_INTEGER = re.compile(r"[+-]?[0-9]+\Z")
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\Z")


def parse_int(text: str) -> int:
    """Plain ASCII decimal digits with an optional sign; ValueError naming the text otherwise."""
    if not _INTEGER.match(text):
        raise ValueError(f"expected an integer such as 10, got {shown(text)}{_blanks(text)}")
    return _int(text)


def _blanks(text: str) -> str:
    """Why a number with blanks around it is refused, said (before branch left38, ' 5' was read as 5)."""
    return " (no blanks around a number)" if text != text.strip() and text.strip() else ""


DIGITS_MAX = 4300  # Python's int() reads no longer decimal text (sys.get_int_max_str_digits' default)


def _int(text: str) -> int:
    """``int(text)``; a number too long for int() is a ValueError saying so (not naming Python's setting)."""
    digits = len(text.lstrip("+-"))
    if digits > DIGITS_MAX:
        raise ValueError(f"a number of {digits:,} digits (at most {INT_MAX} is taken, and no more than {DIGITS_MAX:,} digits read)")
    return int(text)


class DuplicateKeyError(ValueError):
    """A JSON object that names a key twice (:func:`loads`)."""


class TooDeepError(ValueError):
    """JSON nested deeper than Python's parser recurses (:func:`loads`)."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object; one that names a key twice is a ValueError (json.loads would keep the last silently)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKeyError(f"an object names key {shown(key)} twice")
        out[key] = value
    return out


def loads(text: str) -> Any:
    """``json.loads``, but an integer too long to read, or an object naming a key twice, is a
    ValueError saying so (a ValueError, as :class:`json.JSONDecodeError` is, that callers turn
    into their one-line error), as is one nested deeper than Python's parser recurses (a RecursionError otherwise: an
    internal error of every reader that did not catch it, review61)."""
    try:
        return json.loads(text, parse_int=_int, parse_float=file_float, object_pairs_hook=_object)
    except RecursionError:
        raise TooDeepError(f"nested too deeply to read (more than about {sys.getrecursionlimit()} levels of [ or {{)") from None


def parse_float(text: str) -> float:
    """A finite, not subnormal number in plain ASCII (``0.01``, ``1e-3``); ValueError otherwise."""
    if not _NUMBER.match(text):
        if text.strip().lower().lstrip("+-") in ("nan", "inf", "infinity"):
            raise ValueError(f"expected a finite number, got {shown(text)}")
        raise ValueError(f"expected a number, got {shown(text)}{_blanks(text)}")
    x = float(text)
    if not math.isfinite(x):
        raise ValueError(f"expected a finite number, got {shown(text)}")
    if _rounds_to_0(text, x):  # probe56: '1e-400' was taken as 0
        raise ValueError(f"expected 0 or a number of at least {sys.float_info.min:.1e} in magnitude, got {shown(text)}, which rounds to 0")
    if _subnormal(x):
        raise ValueError(f"expected 0 or a number of at least {sys.float_info.min:.1e} in magnitude, got the subnormal {shown(text)}")
    return x


def _rounds_to_0(text: str, x: float) -> bool:
    """Whether the float literal ``text``, read as ``x``, names a number other than 0 that a float cannot hold ('1e-400')."""
    return x == 0 and any(c in "123456789" for c in text.lower().partition("e")[0])


def file_float(text: str) -> float:
    """A float literal of a TOML or JSON file (their ``parse_float``): ``float(text)``, as those readers take it, but one
    that rounds to 0 ('1e-400', read as 0.0 without a word: probe57's ``lambda_mmd = 1e-400`` ran DataDAM without its
    MMD term) is a ValueError; infinities and NaN are left to the checks of the value, which name its key."""
    x = float(text)
    if _rounds_to_0(text, x):
        raise ValueError(f"the number {shown(text)} rounds to 0: write 0, or a number of at least {sys.float_info.min:.1e} in magnitude")
    return x


class BatchCappedWarning(NasProxyWarning):
    """A batch size (or a count of images to take) set above the images it is taken from: capped to them (:func:`batch`)."""


def batch(name: str, asked: int, have: int, data: str, default: int, then: str) -> int:
    """The one rule for a batch larger than its data (fix61a), every command's: ``asked`` (option ``name``) capped to the
    ``have`` images it takes from (``data``: "images of syn"), as torch's DataLoader takes a batch larger than its dataset
    whole. Capped, not refused: a protocol's batch serves data of every size (the default 256 on a set of 100 images is
    the field's protocol), and so does one preset, profile or ladder. A value set above the data (not ``default``) is said
    in one :class:`BatchCappedWarning` line, "NAME ASKED is more than the HAVE DATA: THEN"; the default is capped without a
    word. The caller asks once a command, in the command's process (not per epoch, trial, worker or rank: Python says a
    warning once per line of code it comes from), and records what this returns, the value used."""
    if asked > have and asked != default:
        warnings.warn(f"{name} {asked} is more than the {have} {data}: {then}", BatchCappedWarning, stacklevel=2)
    return min(asked, have)


class HeldCaps:
    """The :class:`BatchCappedWarning` lines a block held (:func:`caps_held`), said by :meth:`say`."""

    def __init__(self) -> None:
        self.held: list[warnings.WarningMessage] = []

    def say(self) -> None:
        for w in self.held:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
        self.held = []


@contextlib.contextmanager
def caps_held() -> Iterator[HeldCaps]:
    """Hold the batch caps said inside the block, to be said by the caller once nothing more is refused (``say()``): a
    command that reads its data, then refuses its storage, says its one line and not a cap of a training it never ran.
    Every other warning is said as the block ends."""
    caps = HeldCaps()
    seen: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as seen:
            yield caps
    finally:
        for w in seen:
            if issubclass(w.category, BatchCappedWarning):
                caps.held.append(w)
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
