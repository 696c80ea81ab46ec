"""The one registry type: a name -> object table that refuses a second object under a name, and
whose errors list the known names and suggest a close match (timm's ``register_model``).

Every extension point is one: datasets, search spaces, model families, distillation methods,
proxy kinds, zero-cost proxies, study kinds, samplers, pruners, objectives.
"""

from __future__ import annotations

import difflib
import importlib
import os
import pkgutil
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

from nas_proxy.errors import DuplicateNameError, NasProxyError, UnknownNameError, shown

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., object])


class ReservedNameError(NasProxyError, ValueError):
    """A member registered under a name its registry keeps free (a zero-cost score named as a column of correlate's
    results.csv); raised as the module that registers it is imported, as :class:`DuplicateNameError` is."""


def _origin(obj: object) -> str:
    """Where ``obj`` was defined, for the duplicate error (``module.qualname``, else its type)."""
    target = obj if hasattr(obj, "__qualname__") else type(obj)
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', type(obj).__name__)}"


_HELPERS: set[object] = set()  # the code of functions that register for their caller (:func:`registers`)


def registers(function: F) -> F:
    """Mark ``function`` as one that registers for its caller (``nas_proxy.proxies.register``'s decorator): a refused
    registration names its caller's line, not this function's (review57: before, the note of a proxy kind registered
    twice named nasproxy's own proxies/base.py)."""
    _HELPERS.add(function.__code__)
    return function


def _registration_site() -> str:
    """``FILE:LINE`` of the code that registers (the first caller outside this module and the functions marked by
    :func:`registers`: a plugin's ``@REGISTRY.register(name)`` line, or its ``add`` call), or "?" where none is known."""
    frame = sys._getframe(1)
    here = os.path.normcase(os.path.abspath(__file__))
    while frame is not None and (os.path.normcase(os.path.abspath(frame.f_code.co_filename)) == here or frame.f_code in _HELPERS):
        frame = frame.f_back  # type: ignore[assignment]
    return "?" if frame is None else f"{frame.f_code.co_filename}:{frame.f_lineno}"


def _at_the_registration(error: NasProxyError) -> NasProxyError:
    """``error`` with the registration that collides as a note (``registered at FILE:LINE``), which the traceback a
    registration error ends in shows under its line: its message names where the object was defined
    (:func:`_origin`), which for an object defined elsewhere (a library's function, a partial) is not the user's code
    (before fix56a the note was not there). Kept out of the message, whose wording tests and docs quote."""
    error.add_note(f"registered at {_registration_site()}")
    return error


def _suggestion(name: str, known: list[str]) -> str | None:
    """The known name closest to ``name``, its case ignored ('FASHION-MNIST' is most like 'fashion-mnist', which
    difflib's case-sensitive ratio missed); None when none is close. The lookup itself stays exact."""
    folded = {k.casefold(): k for k in known}
    # difflib's ratio is at most 2 * (the shorter's length) / (the two lengths' sum): a name longer than 7/3 of the
    # longest known one's cannot reach its cutoff of 0.6, and difflib indexes the name first (12 CPU-ms a 100,000
    # characters: a bad-input case pasted a file as a name); the answer is the same
    if 3 * len(name) > 7 * max(map(len, folded), default=0):
        return None
    close = difflib.get_close_matches(name.casefold(), list(folded), n=1)
    return folded[close[0]] if close else None


class Registry(Generic[T]):
    """Maps names to objects (usually factories). ``kind`` names the table in error messages.

    ``package``: a package with one module per member, named as the member; a name not
    registered yet is looked up by importing that module, which registers it, so that adding a
    member is adding one file there. ``error``: the :class:`UnknownNameError`-like class raised
    for an unknown name. ``reserved``: names no member may take -> why, in words that follow the name ("is a column
    of ..."): registering one is refused like a name taken.
    """

    def __init__(
        self,
        kind: str,
        package: str | None = None,
        error: type[NasProxyError] = UnknownNameError,
        reserved: Mapping[str, str] | None = None,
    ) -> None:
        self.kind = kind
        self.package = package
        self.error = error
        self.reserved = dict(reserved or {})
        self._items: dict[str, T] = {}

    def add(self, name: str, obj: T) -> T:
        """Register ``obj`` as ``name``; a name already taken is a :class:`DuplicateNameError`, a reserved one a
        :class:`ReservedNameError`."""
        if name in self.reserved:  # before stop 54 a DuplicateNameError, though no other member holds the name
            raise _at_the_registration(
                ReservedNameError(
                    f"{self.kind} {name!r} cannot be registered ({_origin(obj)}): {self.reserved[name]}", remedy="give it another name"
                )
            )
        if name in self._items:
            raise _at_the_registration(
                DuplicateNameError(
                    f"{self.kind} {name!r} is registered twice (first {_origin(self._items[name])}, then {_origin(obj)}): "
                    "give the second one another name"
                )
            )
        self._items[name] = obj
        return obj

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@REGISTRY.register("name")`` adds the decorated object under ``name``."""

        def add(obj: T) -> T:
            return self.add(name, obj)

        return add

    def get(self, name: str) -> T:
        """The object registered as ``name`` (imported from ``package`` first if need be); an
        ``error`` listing the known names otherwise."""
        if name not in self._items and name in self._modules():
            importlib.import_module(f"{self.package}.{name}")
        try:
            return self._items[name]
        except KeyError:
            known = self.names()
            close = _suggestion(name, known)
            hint = f" Did you mean {close!r}?" if close else ""
            raise self.error(f"unknown {self.kind} {shown(name)}; known: {', '.join(known)}.{hint}") from None

    def _modules(self) -> list[str]:
        """The members ``package`` holds a module for (not imported)."""
        if self.package is None:
            return []
        path = importlib.import_module(self.package).__path__
        return [m.name for m in pkgutil.iter_modules(path) if not m.name.startswith("_")]

    def names(self) -> list[str]:
        """Every name, registered or in ``package``, sorted."""
        return sorted({*self._items, *self._modules()})

    def items(self) -> list[tuple[str, T]]:
        """(name, object) of every member, sorted by name (``package``'s modules imported)."""
        return [(name, self.get(name)) for name in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._items or name in self._modules()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())
