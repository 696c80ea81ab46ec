"""Space definition files: a small TOML (or JSON) table over one family's parameters.

::

    family = "convnet"                 # which model family the specs build (required)
    description = "a quick space"      # optional; name defaults to the file's stem
    [params]                           # a list searches those values, a single value fixes it
    depth = [1, 2, 3]
    width = [32, 64]
    activation = "relu"

Families may take fixed skeleton settings at the top level (nb201: ``cells_per_stage``,
``widths``). The shipped spaces are such files in the ``search_spaces`` package.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

from nas_proxy import checks
from nas_proxy.errors import InvalidArgumentError, SpaceError, shown
from nas_proxy.spaces.declared import FAMILIES, DeclaredSpace, family_class, unknown_key

SHIPPED_PACKAGE = "search_spaces"  # the top-level package that holds the shipped *.toml files
SUFFIXES = (".toml", ".json")
_TOP_KEYS = ("name", "family", "description", "params")


def load_space_file(path: str | Path) -> DeclaredSpace:
    """The space a ``.toml``/``.json`` file defines; a :class:`SpaceError` naming the file and key."""
    path = Path(path)
    if path.suffix not in SUFFIXES:
        if path.suffix.rstrip() in SUFFIXES and not os.path.lexists(path):  # 'x.toml ': before probe62, "x.toml must end in .toml"
            raise SpaceError(checks.absent("search space file", path), missing=path)
        raise SpaceError(f"search space file {path} must end in .toml or .json")
    try:
        text = checks.read_text("search space", path, checks.SETTINGS_BYTES_MAX)
    except InvalidArgumentError as e:
        raise SpaceError(str(e), missing=e.missing) from None
    return space_from_text(text, str(path), path.suffix, default_name=path.stem)


def shipped_space_names() -> list[str]:
    """The stems of the ``*.toml`` files shipped in the ``search_spaces`` package."""
    return sorted(f.name.removesuffix(".toml") for f in resources.files(SHIPPED_PACKAGE).iterdir() if f.name.endswith(".toml"))


def load_shipped_space(name: str) -> DeclaredSpace:
    """A shipped space, read through importlib.resources (works from a wheel, not only a checkout)."""
    text = resources.files(SHIPPED_PACKAGE).joinpath(f"{name}.toml").read_text(encoding="utf-8")
    return space_from_text(text, f"{SHIPPED_PACKAGE}/{name}.toml", ".toml", default_name=name)


def space_from_text(text: str, source: str, suffix: str, default_name: str) -> DeclaredSpace:
    """Parse and check a definition; every error is one line starting with ``source``."""
    try:
        return space_from_definition(_parse(text, suffix), default_name)
    except SpaceError as e:
        raise SpaceError(f"search space file {source}: {e}") from None


def space_from_definition(definition: dict[str, Any], default_name: str) -> DeclaredSpace:
    """The space a parsed definition (the file's top-level table) describes."""
    if "family" not in definition:
        raise SpaceError(f"key 'family' is required; known families: {', '.join(FAMILIES.names())}")
    cls = family_class(definition["family"])
    settings = {k: v for k, v in definition.items() if k not in _TOP_KEYS}
    for key in settings:
        if key not in cls.SETTINGS:
            raise unknown_key(f"top-level key for family {cls.family}", key, sorted([*_TOP_KEYS, *cls.SETTINGS]))
    name = definition.get("name", default_name)
    description = definition.get("description", "")
    params = definition.get("params", {})
    if not isinstance(name, str) or not isinstance(description, str):
        raise SpaceError(f"keys 'name' and 'description' must be strings, got {name!r} and {description!r}")
    if not name.strip() or not name.isprintable():  # shown in one-line messages, report titles and table cells
        raise SpaceError(f"the space's name (key 'name', else the file's stem) must be printable text on one line, got {shown(name)}")
    if not isinstance(params, dict):
        raise SpaceError(f"key 'params' must be a table of parameter = choices, got {params!r}")
    return cls(name, params, settings, description)


def _parse(text: str, suffix: str) -> dict[str, Any]:
    if suffix == ".json":
        try:
            data = checks.loads(text)
        except ValueError as e:  # JSONDecodeError, or an integer too long to read
            raise SpaceError(f"not valid JSON: {e}") from None
        except RecursionError:
            raise SpaceError("nested too deeply to read") from None
        if not isinstance(data, dict):
            raise SpaceError("a JSON space definition must be an object")
        return data
    try:
        import tomllib  # Python >= 3.11
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]  # Python 3.10: the same API
        except ModuleNotFoundError:
            raise SpaceError("reading TOML needs Python >= 3.11 or the tomli package; or write the space as JSON") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SpaceError(f"not valid TOML: {e}") from None
    except RecursionError:  # as JSON's, above: before, an internal error
        raise SpaceError("nested too deeply to read") from None
