"""fix61b: a command's own ``config.toml`` cut short is told from a whole one wherever the cut falls. Before, a cut at a
line's end or inside a comment left a file that read whole, and it was written anew without the warning a cut elsewhere
gives (fix59's ``configs.torn_own``). ``configs.write`` now puts a first line (``configs.HEADER``) and a last line
(``configs.END``) around the options: a file that starts with the first and lacks the last was cut. A file written
before (neither line) is read as before."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nas_proxy import configs, pipeline
from nas_proxy.configs import EmptyOutputWarning
from nas_proxy.errors import NasProxyError
from nas_proxy.search.config import SearchConfig

SEARCH = {"search": {**SearchConfig(None, space="convnet-cpu", data_root="/données/é").to_dict(), **vars(configs.SearchBudget())}}
RUN = {"name": "demo", "device": "cpu", "runs": "runs", **SEARCH, "correlate": {"n_archs": 10, "ground_truth": {"epochs": 2}}}


def judged(path: Path, data: bytes, check: Callable[[], None]) -> list[str] | str:
    """The warnings of ``check()`` over ``path`` holding ``data``, or the one line of its refusal."""
    path.unlink(missing_ok=True)  # not truncated: ext4 writes a truncated file's new bytes out as it closes (~4 ms)
    path.write_bytes(data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            check()
        except NasProxyError as e:
            return str(e)
    return [str(w.message) for w in caught if issubclass(w.category, EmptyOutputWarning)]


CHECKS: dict[str, tuple[dict[str, Any], Callable[[Path], None]]] = {
    "search": (SEARCH, lambda out: configs.check_saved("--out", out, "search")),
    "run": (RUN, lambda out: pipeline._not_another_config(out, "demo")),
}


@pytest.mark.parametrize("kind", CHECKS)
def test_a_config_cut_at_every_byte_is_said_or_refused_and_a_whole_one_read_silently(tmp_path: Path, kind: str) -> None:
    tables, check = CHECKS[kind]
    path = configs.write(tmp_path / configs.SAVED, tables)
    data = path.read_bytes()
    assert data.startswith(f"{configs.HEADER}\n".encode()) and data.endswith(f"\n{configs.END}\n".encode())
    assert judged(path, data, lambda: check(tmp_path)) == []
    assert judged(path, data[:-1], lambda: check(tmp_path)) == []  # only the last newline gone: whole (an editor's save)
    silent = []
    for n in range(len(data) - 1):  # 0 bytes: empty (fix57); inside the first line, any line, a character, the last line
        said = judged(path, data[:n], lambda: check(tmp_path))
        if isinstance(said, str):
            assert "\n" not in said  # refused in one line: never the case for its own, but allowed
        elif len(said) != 1:
            silent.append(n)
    assert silent == [], f"cut at these byte counts of {len(data)}, not said once: {silent[:10]}"


@pytest.mark.parametrize("kind", CHECKS)
def test_a_config_written_before_the_end_line_is_read_as_before(tmp_path: Path, kind: str) -> None:
    tables, check = CHECKS[kind]
    old = configs.dumps(tables).encode()  # what configs.write wrote before fix61b
    path = tmp_path / configs.SAVED
    assert judged(path, old, lambda: check(tmp_path)) == []
    cut = old[: old.index(b"space =") + 3]  # inside a line: said, as fix59 did
    assert judged(path, cut, lambda: check(tmp_path)) == [
        f"{path} was cut short ({len(cut)} bytes, as a write the disk lost leaves the resolved "
        f"{'options' if kind == 'search' else 'preset'}): it is written anew"
    ]


def test_a_user_line_after_the_end_is_not_the_commands(tmp_path: Path) -> None:
    data = configs.write(tmp_path / configs.SAVED, SEARCH).read_bytes() + b"my notes\n"
    said = judged(tmp_path / configs.SAVED, data, lambda: configs.check_saved("--out", tmp_path, "search"))
    assert isinstance(said, str) and "which search would overwrite" in said
