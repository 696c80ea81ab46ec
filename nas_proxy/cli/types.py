"""argparse types: a flag's text as a value, or argparse's one-line error (the rule broken, the text given)."""

from __future__ import annotations

import argparse

from nas_proxy.checks import parse_float, parse_int


def integer(value: str) -> int:
    """argparse type: an integer in plain ASCII decimal (``1_0``, ``١٠`` and ``1.0`` are refused)."""
    try:
        return parse_int(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def nonempty(value: str) -> str:
    """argparse type of a path or name option: not empty (an empty path would mean the current
    directory, or the option's default, silently), nor only blanks (a name of spaces is a slip of
    the quoting, not a file anyone means to write)."""
    if not value:
        raise argparse.ArgumentTypeError("expected a value, got an empty string")
    if not value.strip():
        raise argparse.ArgumentTypeError(f"expected a value, got only blanks {value!r}")
    return value


def finite_float(value: str) -> float:
    """argparse type: a finite float in plain ASCII (``nan``, ``inf``, ``1e999``, subnormals and
    digits of other scripts are refused at parse time)."""
    try:
        return parse_float(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
