"""One check per kind of value a user gives: numbers in a range, plain names, paths inside a folder.

Every config's ``validate()`` and every command uses these, so the same rule gives the same
one-line :class:`InvalidArgumentError` ("what rule, what value, what fix") everywhere: in the CLI,
in a preset and in the Python API. NaN and infinity are never a valid option value.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from nas_proxy.errors import InvalidArgumentError


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
        raise InvalidArgumentError(f"{name} must be {kind}, got {value!r}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        raise InvalidArgumentError(f"{name} must be {_range(low, high, low_open, high_open)}, got {value!r}")


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


def positive(name: str, value: Any, optional: bool = False) -> None:
    """An integer >= 1 (counts: epochs, trials, workers, batch sizes)."""
    number(name, value, 1, integer=True, optional=optional)


def text(name: str, value: Any, choices: list[str] | tuple[str, ...] | None = None) -> None:
    """A string (one of ``choices`` when given)."""
    if not isinstance(value, str) or (choices is not None and value not in choices):
        allowed = f"one of {', '.join(choices)}" if choices is not None else "a string"
        raise InvalidArgumentError(f"{name} must be {allowed}, got {value!r}")


def plain_name(name: str, value: Any, what: str = "directory") -> None:
    """A name that is one path component: not empty, no '/', '\\', and not starting with '.'
    (so that it cannot name '.', '..' or a hidden file when it is joined to a folder)."""
    if not isinstance(value, str) or not value or "/" in value or "\\" in value or value.startswith("."):
        raise InvalidArgumentError(f"{name} must be a plain name (no '/' or '\\', not starting with '.'): it names a {what}; got {value!r}")


def inside(folder: Path, relative: str, what: str) -> Path:
    """``folder / relative``, refused unless it stays inside ``folder`` (no absolute path, no
    ``..``, no symbolic link that leads out)."""
    candidate = folder / relative
    root = folder.resolve()
    if Path(relative).is_absolute() or root not in (candidate.resolve(), *candidate.resolve().parents):
        raise InvalidArgumentError(f"{what} {relative!r} leads outside {folder}; it must name a file inside that directory")
    return candidate


def existing_file(option: str, path: Path | str) -> Path:
    """A path that is a readable regular file (not missing, not a directory)."""
    p = Path(path)
    if not p.exists():
        raise InvalidArgumentError(f"{option} file {p} does not exist")
    if not p.is_file():
        raise InvalidArgumentError(f"{option} {p} is a directory (or not a regular file); give a file")
    return p


def read_text(option: str, path: Path | str) -> str:
    """The text of a file the user named (UTF-8); one-line errors for a missing file, a
    directory, or bytes that are not text."""
    p = existing_file(option, path)
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidArgumentError(f"{option} file {p} is not UTF-8 text (a binary file?); give a JSON or CSV text file") from None
    except OSError as e:
        raise InvalidArgumentError(f"{option} file {p} cannot be read: {e.strerror}") from None


def finite_float(value: str) -> float:
    """argparse type: a finite float (``nan``, ``inf`` and ``1e999`` are refused at parse time)."""
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if not math.isfinite(x):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {value!r}")
    return x
