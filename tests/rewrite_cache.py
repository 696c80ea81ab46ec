"""The test modules' assert-rewritten bytecode, written once by pytest-xdist's controller before its workers start.

pytest rewrites the asserts of every test module and ``conftest.py`` as it imports them (an AST walk in Python: ~6 CPU-s
for this suite's ~180 modules) and keeps the result in ``__pycache__/NAME.cpython-311-pytest-X.pyc``, which a later run
reads. In ``make test`` every worker collects the whole suite, so in a fresh clone, where no such file exists yet, each
of the 3 workers rewrote every module at once (they start together): ~18 CPU-s, in the first run only, the one that
builds ``.venv`` and is the slowest beside CPU burners (stop 59: 322 s beside 2). The controller now writes them as the
warm server imports torch on the other core, with pytest's own functions (the files its workers then read, as a later
run's do), so that each module is rewritten once. Where pytest's internals differ (another version) or the bytecode
may not be written, nothing is done: each worker rewrites as before."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest


def write_rewritten(config: pytest.Config, folder: Path) -> int:
    """Write the rewritten bytecode of each test module and ``conftest.py`` under ``folder`` whose file is missing
    or stale; returns how many were written."""
    if sys.dont_write_bytecode or config.getoption("assertmode", "rewrite") != "rewrite":
        return 0
    try:
        from _pytest.assertion import rewrite
        from _pytest.assertion.rewrite import PYC_TAIL, _rewrite_test, _write_pyc, get_cache_dir, try_makedirs

        state = config.stash[rewrite.assertstate_key]
    except (ImportError, AttributeError, KeyError):  # not this pytest's internals: the workers rewrite, as before
        return 0
    written = 0
    for fn in sorted([*folder.rglob("test_*.py"), *folder.rglob("conftest.py")]):
        cache = get_cache_dir(fn)
        pyc = cache / (fn.name[:-3] + PYC_TAIL)
        if _current(fn, pyc) or not try_makedirs(cache):
            continue
        try:
            source_hash, code = _rewrite_test(fn, config)
        except (OSError, SyntaxError, ValueError):  # the worker that imports it says so
            continue
        except (TypeError, AttributeError):  # pytest (unpinned, >= 8) changed these internals: the workers rewrite, as before
            return written
        try:
            written += _write_pyc(state, code, source_hash, pyc)
        except (TypeError, AttributeError):
            return written
    return written


def _current(source: Path, pyc: Path) -> bool:
    """Whether ``pyc`` is a checked-hash pyc of ``source``'s bytes (what pytest's ``_read_pyc`` checks before it reads
    the code, which is not read here: ~0.2 CPU-s for the suite's modules, in every run)."""
    try:
        with pyc.open("rb") as f:
            header = f.read(16)
        return (
            header[:8] == importlib.util.MAGIC_NUMBER + b"\x03\x00\x00\x00"
            and header[8:] == importlib.util.source_hash(source.read_bytes())[:8]
        )
    except OSError:
        return False
