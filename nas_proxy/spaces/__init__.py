"""Search spaces by name or file: ``get_space("convnet720")``, ``get_space("my-space.toml")``.

Every ``*.toml`` file of the ``search_spaces`` package is registered under its stem. Register a
space written in Python with ``@SPACES.register("name")`` on a function that returns it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from nas_proxy.errors import SpaceError, UnknownNameError
from nas_proxy.registry import Registry
from nas_proxy.spaces.base import SearchSpace, Spec, arch_id, canonical_json
from nas_proxy.spaces.convnet import ConvNetSpace
from nas_proxy.spaces.declared import FAMILIES, DeclaredSpace, Param, family_class
from nas_proxy.spaces.files import SUFFIXES, load_shipped_space, load_space_file, shipped_space_names, space_from_definition
from nas_proxy.spaces.macro import MacroSpace
from nas_proxy.spaces.nb201 import NB201Space

if TYPE_CHECKING:  # torch: imported where a network is built, not to list or check a space
    from torch import nn

SPACES: Registry[Callable[[], SearchSpace]] = Registry("search space")
for _name in shipped_space_names():
    SPACES.register(_name)(partial(load_shipped_space, _name))


def get_space(name_or_path: str | Path) -> SearchSpace:
    """A registered space by name, or the space a ``.toml``/``.json`` file defines."""
    text = str(name_or_path)
    if text in SPACES:
        return SPACES.get(text)()
    if isinstance(name_or_path, Path) or text.endswith(SUFFIXES) or "/" in text:
        return _own_name(load_space_file(text), text)
    try:
        return SPACES.get(text)()
    except UnknownNameError as e:
        raise UnknownNameError(f"{e} A space file is given by its path (*.toml or *.json).") from None


def _own_name(space: SearchSpace, path: str) -> SearchSpace:
    """``space``, read from file ``path``, named by that path where it calls itself by a registered space's name (its
    key 'name', else its file's stem: a shipped space copied and edited, as docs/commands.md suggests) and holds
    other architectures: messages and reports name a space by its name, and such a file passed for the registered
    space (probe57: a search of 'convnet-cpu' whose trials were not convnet-cpu's). A copy holding the same
    architectures is that space and keeps its name."""
    if space.name in SPACES and SPACES.get(space.name)().definition_sha256() != space.definition_sha256():
        space.name = path
    return space


def space_names() -> list[str]:
    return SPACES.names()


def build_model(spec: Spec, channels: int, num_classes: int, image_size: tuple[int, int]) -> nn.Module:
    """A fresh network for any spec, by its ``"family"`` key (no space membership check)."""
    if not isinstance(spec, dict):
        raise SpaceError(f"a spec is a JSON object with a 'family' key; got {spec!r}")
    cls = family_class(spec.get("family"))
    return cls.build_spec(spec, channels, num_classes, image_size)


__all__ = [
    "FAMILIES",
    "SPACES",
    "ConvNetSpace",
    "DeclaredSpace",
    "MacroSpace",
    "NB201Space",
    "Param",
    "SearchSpace",
    "Spec",
    "arch_id",
    "build_model",
    "canonical_json",
    "get_space",
    "load_space_file",
    "space_from_definition",
    "space_names",
]
