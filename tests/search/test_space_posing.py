"""A space file that calls itself by a registered space's name (key 'name', else its stem: a shipped space copied and
edited, as docs/commands.md suggests) and holds other architectures is named by its path: messages and reports name a
space by its name, and such a file passed for the registered space (probe57: a search of 'convnet-cpu' whose trials
were not convnet-cpu's). A file holding the same architectures as the registered space is that space, and keeps its
name."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from nas_proxy.spaces import get_space


def shipped(name: str) -> str:
    return resources.files("search_spaces").joinpath(f"{name}.toml").read_text(encoding="utf-8")


def test_a_copy_of_a_registered_space_under_its_name_is_that_space(tmp_path: Path) -> None:
    (tmp_path / "convnet-cpu.toml").write_text(shipped("convnet-cpu"))
    space = get_space(tmp_path / "convnet-cpu.toml")
    assert space.name == "convnet-cpu" and space.definition_sha256() == get_space("convnet-cpu").definition_sha256()


@pytest.mark.parametrize("named", ['name = "convnet-cpu"\n', ""])  # by its key, or by the file's stem
def test_other_architectures_under_a_registered_name_are_named_by_their_path(tmp_path: Path, named: str) -> None:
    path = tmp_path / "convnet-cpu.toml"
    path.write_text(named + 'family = "convnet"\n[params]\ndepth = [1, 2]\nwidth = 16\n')
    assert get_space(str(path)).name == str(path)
    assert get_space("convnet-cpu").name == "convnet-cpu"  # the registered one is left as it is
    (tmp_path / "mine.toml").write_text('family = "convnet"\n[params]\ndepth = [1, 2]\nwidth = 16\n')
    assert get_space(tmp_path / "mine.toml").name == "mine"  # a name of its own: kept
