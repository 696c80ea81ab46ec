"""A space file that calls itself by a registered space's name (key 'name', else its stem) and holds other
architectures is refused: studies, reports and proxy profiles name a space by its name, so it would pass for the
registered one (probe57: a study of 'convnet-cpu' whose trials were not convnet-cpu's). A file holding the same
architectures as the registered space (a copy a user edits later) is that space and is read."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from nas_proxy.errors import SpaceError
from nas_proxy.spaces import get_space


def shipped(name: str) -> str:
    return resources.files("search_spaces").joinpath(f"{name}.toml").read_text(encoding="utf-8")


def test_a_copy_of_a_registered_space_under_its_name_is_that_space(tmp_path: Path) -> None:
    (tmp_path / "convnet-cpu.toml").write_text(shipped("convnet-cpu"))
    space = get_space(tmp_path / "convnet-cpu.toml")
    assert space.name == "convnet-cpu" and space.definition_sha256() == get_space("convnet-cpu").definition_sha256()


@pytest.mark.parametrize("named", ['name = "convnet-cpu"\n', ""])  # by its key, or by the file's stem
def test_other_architectures_under_a_registered_name_are_refused(tmp_path: Path, named: str) -> None:
    path = tmp_path / "convnet-cpu.toml"
    path.write_text(named + 'family = "convnet"\n[params]\ndepth = [1, 2]\nwidth = 16\n')
    with pytest.raises(SpaceError, match=r"names itself 'convnet-cpu', a registered space's name, but holds other"):
        get_space(path)
    (tmp_path / "mine.toml").write_text('family = "convnet"\n[params]\ndepth = [1, 2]\nwidth = 16\n')
    assert get_space(tmp_path / "mine.toml").name == "mine"  # under a name of its own: read
