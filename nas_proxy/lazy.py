"""Lazy package attributes: ``import nas_proxy`` (or ``nas_proxy.search``) imports no submodule
until one of its names is used.

torch, Optuna and scipy take seconds to import; a package whose ``__init__`` imported its whole API
made ``nasproxy --help`` wait for all of them, and widened the start-up window in which Ctrl-C
could only print a traceback. A package declares where each public name lives::

    if TYPE_CHECKING:  # what type checkers and readers see
        from nas_proxy.search.config import SearchConfig
    lazy.exports(__name__, {"nas_proxy.search.config": ["SearchConfig"]})

and the first ``nas_proxy.search.SearchConfig`` imports ``nas_proxy.search.config`` (PEP 562's
module ``__getattr__``, through the module-class hook of the Python docs, "Customizing module
attribute access"). tests/cli/test_startup.py checks that the table and the ``TYPE_CHECKING`` imports
agree and that every name resolves.
"""

from __future__ import annotations

import importlib
import sys
import types

TYPE_CHECKING = False  # as typing's, without importing typing before the CLI's main() runs (see nas_proxy/__init__.py)
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any


class LazyPackage(types.ModuleType):
    """A package whose public names are imported on first use."""

    _lazy: dict[str, str]  # public name -> the module that defines it

    def __getattr__(self, name: str) -> Any:  # only for names not yet in the module's namespace
        where = self.__dict__.get("_lazy", {}).get(name)
        if where is None:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where), name)
        self.__dict__[name] = value  # later accesses are plain lookups
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        # Importing a submodule binds it on its parent (importlib does setattr(parent, child, module)).
        # Where a public name is also a submodule's name (nas_proxy.search, the function, and
        # nas_proxy.search, the package), the public name wins, as it did when __init__ imported it.
        if isinstance(value, types.ModuleType) and name in self.__dict__.get("_lazy", {}):
            return
        super().__setattr__(name, value)

    def __dir__(self) -> list[str]:
        return sorted({*self.__dict__, *self.__dict__.get("_lazy", {})})


def exports(package: str, table: Mapping[str, Iterable[str]]) -> None:
    """Make ``package`` (a ``__name__``) a :class:`LazyPackage` that finds each name of ``table``
    (module -> its names) in that module on first use."""
    module = sys.modules[package]
    module.__class__ = LazyPackage
    module.__dict__["_lazy"] = {name: where for where, names in table.items() for name in names}


__all__ = ["LazyPackage", "exports"]
