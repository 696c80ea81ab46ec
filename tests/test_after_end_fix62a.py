"""fix62a: a key a user adds after the last line (``# end``) of a config.toml ``configs.write`` wrote. The end line says
only that the write reached its end: the file is whole, and the user edited it. Before, it was taken for a file cut
short ("was cut short ... it is written anew"). Now such a file is the command's own, whole: an output folder's is
replaced silently as any edit of it is (it records what the command ran with), and as ``--config`` its key is read as
TOML reads it (a comment ends nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas_proxy import configs
from tests.test_torn_config_fix61b import CHECKS, judged


@pytest.mark.parametrize("kind", CHECKS)
@pytest.mark.parametrize("added", [b"my_key = 1\n", b"my_key = 1", b"\n# mine\nmy_key = 1\n"])
def test_a_key_added_after_the_end_line_is_not_a_cut(tmp_path: Path, kind: str, added: bytes) -> None:
    tables, check = CHECKS[kind]
    data = configs.write(tmp_path / configs.SAVED, tables).read_bytes() + added
    assert judged(tmp_path / configs.SAVED, data, lambda: check(tmp_path)) == []


def test_as_a_config_file_the_key_after_the_end_line_is_read(tmp_path: Path) -> None:
    tables, _ = CHECKS["search"]
    path = configs.write(tmp_path / configs.SAVED, tables)
    path.write_bytes(path.read_bytes() + b"my_key = 1\n")
    assert configs.read(path)["search"]["proxy"]["my_key"] == 1  # in the last table, as TOML reads it
