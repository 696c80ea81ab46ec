"""The matplotlib the reports draw with: the Agg backend, and a folder for its config and font cache it may write.

matplotlib keeps both in ``$MPLCONFIGDIR``, else under the home folder (``~/.config/matplotlib`` and
``~/.cache/matplotlib`` on Linux). Where those cannot be written (a read-only home, a service account without one) and
no ``MPLCONFIGDIR`` is set, matplotlib makes a temporary folder itself and prints two lines of its own on stderr
("mkdir -p failed for path ...", "Matplotlib created a temporary cache directory ..."; stop 48), amid nasproxy's
one-line output, and leaves that folder behind (nasproxy ends without running :mod:`atexit`). Here such a process is
given one folder of its own in the temporary folder instead, kept between commands so that its font cache is built
once.

A first import that builds matplotlib's font cache and takes more than 5 s (a cold cache on a busy machine) makes
matplotlib log "Matplotlib is building the font cache; this may take a moment." on stderr, amid nasproxy's one-line
output (seen by perf55b in a test's cold command under load): its logger is held to errors for that import.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (files only, no display), its config folder writable."""
    with _quiet_fonts():
        matplotlib().use("Agg")
        import matplotlib.pyplot as plt
    return plt


def matplotlib() -> Any:
    """``matplotlib`` itself (its ``rcParams``: the style a user's matplotlibrc sets), imported as :func:`pyplot` imports
    it, without pyplot's cost."""
    _writable_config_dir()
    with _quiet_fonts():
        import matplotlib as mpl
    return mpl


@contextmanager
def _quiet_fonts() -> Iterator[None]:
    """matplotlib's font manager held to errors: its timed note while the font cache is built (the module's docstring)."""
    fonts = logging.getLogger("matplotlib.font_manager")
    level = fonts.level
    fonts.setLevel(logging.ERROR)
    try:
        yield
    finally:
        fonts.setLevel(level)


def _writable_config_dir() -> None:
    """Set ``MPLCONFIGDIR`` to a folder of this user's in the temporary folder where matplotlib's own cannot be written
    (nothing is changed where ``MPLCONFIGDIR`` is set to a folder that can be: the user's choice, or one made here
    before). One set to a file, or to a folder this user cannot write, is replaced the same way: matplotlib would not use
    it either, and said so in two lines of its own amid nasproxy's one (probe58)."""
    chosen = os.environ.get("MPLCONFIGDIR")
    if chosen and _writable(Path(chosen)):
        return
    if not chosen and all(_writable(folder) for folder in _defaults()):
        return
    if (folder := _own_temporary()) is not None:  # None: no temporary folder can be made either (matplotlib then says so)
        os.environ["MPLCONFIGDIR"] = str(folder)


def _defaults() -> list[Path]:
    """matplotlib's own config and cache folders (its ``_get_config_or_cache_dir``); none where there is no home."""
    try:
        if sys.platform.startswith(("linux", "freebsd")):
            config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
            cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
            return [Path(config, "matplotlib"), Path(cache, "matplotlib")]
        return [Path.home() / ".matplotlib"]
    except RuntimeError:  # no home folder to be found
        return []


def _writable(folder: Path) -> bool:
    """Whether matplotlib takes ``folder``: made if missing (as matplotlib makes it), then a folder this user may write."""
    try:
        folder = folder.resolve()
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return folder.is_dir() and os.access(folder, os.W_OK)


def _own_temporary() -> Path | None:
    """``TMP/nasproxy-matplotlib-UID``, made 0700, where it is a folder (not a link) of this user's that no other may
    write; a new temporary folder otherwise (another user's name in a shared /tmp is never written in)."""
    uid = os.getuid() if hasattr(os, "getuid") else None
    folder = Path(tempfile.gettempdir(), f"nasproxy-matplotlib-{uid if uid is not None else 'user'}")
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        st = folder.lstat()
        if stat.S_ISDIR(st.st_mode) and (uid is None or st.st_uid == uid) and not st.st_mode & 0o022 and os.access(folder, os.W_OK):
            return folder
    except OSError:
        pass
    try:
        return Path(tempfile.mkdtemp(prefix="nasproxy-matplotlib-"))
    except OSError:
        return None
