"""A settings file (a search space, a preset, a ``--config``) over ``checks.SETTINGS_BYTES_MAX`` is refused in one line
before it is parsed: Python's tomllib reads about 1 MB a second, and probe59's space of one 10 MB line took 9 CPU-s to
parse before a check on its values refused it. A file of exactly the limit is read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nas_proxy import checks, configs
from nas_proxy.errors import NasProxyError
from nas_proxy.spaces.files import load_space_file

SPACE = 'family = "convnet"\n[params]\nwidth = [16, 32]\n'
CONFIG = "[distill]\nipc = 2\n"


def _padded(path: Path, text: str, size: int) -> Path:
    """``text`` then a comment that makes the file ``size`` bytes: valid TOML whatever its size."""
    path.write_text(text + "#" + "x" * (size - len(text) - 2) + "\n", encoding="utf-8")
    assert path.stat().st_size == size
    return path


READERS: dict[str, tuple[str, Callable[[Path], Any], Callable[[Any], bool], str]] = {
    "space": (SPACE, load_space_file, lambda r: r.choices["width"] == (16, 32), "search space file"),
    "config": (CONFIG, configs.read, lambda r: r == {"distill": {"ipc": 2}}, "--config file"),
    "preset": (CONFIG, lambda p: configs.read(p, "preset"), lambda r: r == {"distill": {"ipc": 2}}, "preset file"),
}


@pytest.mark.parametrize("kind", READERS)
def test_a_settings_file_over_the_limit_is_refused_and_one_at_it_is_read(tmp_path: Path, kind: str) -> None:
    text, read, right, what = READERS[kind]
    assert right(read(_padded(tmp_path / "at.toml", text, checks.SETTINGS_BYTES_MAX)))
    over = _padded(tmp_path / "over.toml", text, checks.SETTINGS_BYTES_MAX + 1)
    with pytest.raises(NasProxyError) as e:
        read(over)
    assert str(e.value) == (f"{what} {over} is too large (1,048,577 bytes; at most 1,048,576 bytes is read); is it the right file?")


def test_a_size_refusal_shows_mib_to_a_tenth_and_bytes_where_the_tenths_read_alike(tmp_path: Path) -> None:
    path = tmp_path / "big.toml"
    for size, shown in [(1_300_000, "1.2 MiB; at most 1 MiB"), (11 << 20, "11 MiB; at most 1 MiB")]:
        with open(path, "wb") as f:
            f.truncate(size)  # sparse: refused on its size, before a byte is read
        with pytest.raises(NasProxyError, match=f"is too large \\({shown} is read\\)"):
            configs.read(path)
