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

:func:`after_import` runs a setting of a library (the CLI's quieting of Optuna) as that library is imported,
so that a command that never uses it never imports it only to set it.
"""

from __future__ import annotations

import importlib
import sys
import types

TYPE_CHECKING = False  # as typing's, without importing typing before the CLI's main() runs (see nas_proxy/__init__.py)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from importlib.machinery import ModuleSpec
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


class _AfterImport:
    """A finder, first of ``sys.meta_path``, that finds nothing itself: for a module that has an action waiting, it has the
    other finders find it and gives the module's loader a stand-in that runs the action right after the module's own code.
    It leaves ``sys.meta_path`` once no action waits (before stop 52 it stayed for the life of the process, asked about
    every module imported after)."""

    def __init__(self) -> None:
        self.actions: dict[str, list[Callable[[types.ModuleType], None]]] = {}

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        actions = self.actions.pop(name, None)
        if actions is None:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                if hasattr(spec.loader, "exec_module"):
                    spec.loader = _ThenRun(spec.loader, actions, self, name)
                else:  # no loader of today's protocol to follow (a namespace package): they wait for one that has one
                    self.actions[name] = actions
                return spec
        self.actions[name] = actions  # not found: whoever imports it fails as without us; a later import that finds it runs them
        return None

    def leave_when_idle(self) -> None:
        """Out of ``sys.meta_path`` once every action has run (:func:`after_import` puts a new one there for the next)."""
        if not self.actions and self in sys.meta_path:
            sys.meta_path.remove(self)


class _ThenRun:
    """A module's loader, and then the actions waiting for that module; the module keeps its own loader."""

    def __init__(self, loader: Any, actions: list[Callable[[types.ModuleType], None]], finder: _AfterImport, name: str) -> None:
        self.loader, self.actions, self.finder, self.name = loader, actions, finder, name

    def create_module(self, spec: ModuleSpec) -> types.ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        module.__loader__ = self.loader  # what importlib.resources and inspect read: the module's own loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        try:
            self.loader.exec_module(module)
        except BaseException:  # the import failed (a Ctrl-C in it): a later import that succeeds runs them
            self.finder.actions.setdefault(self.name, [])[:0] = self.actions
            raise
        try:
            for action in self.actions:
                _run(action, module)
        finally:  # run (or a Ctrl-C in one, raised into the import that asked): none waits for this module
            self.finder.leave_when_idle()


def _run(action: Callable[[types.ModuleType], None], module: types.ModuleType) -> None:
    """``action(module)``; an action that fails is said once, as a warning, and the import that ran it still succeeds (before
    stop 53 its error became the import's: a setting of Optuna that failed made the first ``import nas_proxy.search`` fail).
    A Ctrl-C in it is raised."""
    try:
        action(module)
    except Exception as exc:  # noqa: BLE001 - a setting of another library may fail in any way of its own
        import warnings

        from nas_proxy.errors import NasProxyWarning  # here: the start-up imports no more than it did

        what = getattr(action, "__qualname__", repr(action))
        warnings.warn(
            f"{module.__name__} is imported, but {what} could not be run after it (the setting it makes is not made): "
            f"{type(exc).__name__}: {exc}",
            NasProxyWarning,
            stacklevel=2,
        )


def after_import(name: str, action: Callable[[types.ModuleType], None]) -> None:
    """Run ``action(module)`` once the module ``name`` (a top-level one: ``"optuna"``) is imported: right after its own
    code, before anything that imported it uses it; at once if it already is. Where it is never imported, never. An action that
    raises is said once (a :class:`~nas_proxy.errors.NasProxyWarning`: one line from the CLI) and the import still succeeds."""
    module = sys.modules.get(name)
    if module is not None:
        _run(action, module)
        return
    finder = next((f for f in sys.meta_path if isinstance(f, _AfterImport)), None)
    if finder is None:
        finder = _AfterImport()
        sys.meta_path.insert(0, finder)
    waiting = finder.actions.setdefault(name, [])
    if action not in waiting:  # asked again (a process that runs several commands, as the tests do): once is enough
        waiting.append(action)


__all__ = ["LazyPackage", "after_import", "exports"]
