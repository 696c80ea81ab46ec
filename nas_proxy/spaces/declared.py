"""Spaces declared as a table of choices per parameter: what a space file defines.

A family (convnet, nb201, macro) subclasses :class:`DeclaredSpace` and says which parameters a
definition may restrict (``PARAMS``), which fixed skeleton values it may set (``SETTINGS``), how a
trial becomes a spec (``sample``) and which parameter values a spec uses (``_values``). Validation,
``params_of``, ``describe`` and ``build`` then come from here. A parameter with a single choice is
fixed: it is recorded in every spec but never suggested to the trial.
"""

from __future__ import annotations

import difflib
import math
from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from nas_proxy import checks
from nas_proxy.errors import InvalidArgumentError, SpaceError, UnknownNameError, shown
from nas_proxy.registry import Registry
from nas_proxy.spaces.base import SearchSpace, Spec

if TYPE_CHECKING:  # torch: imported where a network is built; Optuna: by the search that samples; not to list or check a space
    import optuna
    from torch import nn

Choices = tuple[Any, ...]
_KIND_NAMES = {bool: "true or false", int: "an integer", str: "a string"}


@dataclass(frozen=True)
class Param:
    """What a definition may say about one parameter (or skeleton setting) of a family."""

    kind: type  # bool, int or str: the exact type of every value
    default: Choices  # the choices when a definition leaves the parameter out (settings: one value)
    allowed: Choices | None = None  # the legal values; None: any value of ``kind`` (integers: >= 1)
    sequence: bool = False  # settings only: the value is a non-empty list of such items

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not a legal value, or ``None`` when it is."""
        if self.sequence:
            if not isinstance(value, list | tuple) or not value:
                return f"must be a non-empty list, got {value!r}"
            return next(filter(None, map(self._item_problem, value)), None)
        return self._item_problem(value)

    def _item_problem(self, value: Any) -> str | None:
        if type(value) is not self.kind:  # exact: True is not an integer here
            return f"must be {_KIND_NAMES[self.kind]}, got {value!r}"
        if self.allowed is not None and value not in self.allowed:
            return f"must be one of {', '.join(map(str, self.allowed))}; got {value!r}"
        if self.allowed is None and type(value) is int and value < 1:  # bools are never below 1
            return f"must be >= 1, got {value!r}"
        if self.allowed is None and type(value) is int and value > checks.NETWORK_MAX:  # widths, depths, cells
            return f"must be at most {checks.NETWORK_MAX:,}, got {shown(value)}"
        return None


def suggest(trial: optuna.trial.BaseTrial, name: str, choices: Choices) -> Any:
    """``trial.suggest_categorical(name, choices)``; a single choice is fixed and not suggested."""
    return choices[0] if len(choices) == 1 else trial.suggest_categorical(name, choices)


def is_member(value: Any, choices: Choices) -> bool:
    """``value in choices`` with exact types (``True`` is not ``1``) and lists compared by value."""
    return any(type(value) is type(c) and value == c for c in choices)


def expect_keys(spec: Mapping[str, Any], keys: tuple[str, ...], family: str) -> None:
    """Raise naming the first missing key, or every unknown one, of a ``family`` spec (``"family"`` included)."""
    if not isinstance(spec, Mapping):
        raise SpaceError(f"a {family} spec must be a dict, got {type(spec).__name__}")
    if spec.get("family") != family:
        raise SpaceError(f"spec key 'family' must be {family!r} here, got {spec.get('family')!r}")
    if missing := [k for k in keys if k not in spec]:
        raise SpaceError(f"{family} spec lacks key {missing[0]!r}; a {family} spec has keys family, {', '.join(keys)}")
    try:  # the one wording of an unknown key (the architecture specs' own, models/*_spec.py); before stop 53 a fourth
        checks.known_keys(f"{family} spec", spec, ("family", *keys))
    except InvalidArgumentError as e:  # a space's error, which a space file's reader names its file in
        raise SpaceError(str(e)) from None


def unknown_key(kind: str, key: str, known: list[str]) -> SpaceError:
    """The error for a key that is not in ``known``, suggesting a close match."""
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return SpaceError(f"unknown {kind} {key!r}; known: {', '.join(known)}.{hint}")


class DeclaredSpace(SearchSpace):
    """A space given by choices per parameter and fixed settings of one family's skeleton.

    ``choices`` maps a name of ``PARAMS`` to a list of values to search (or one value to fix);
    ``settings`` maps a name of ``SETTINGS`` to its value. Both are checked here, so a definition
    outside the family raises :class:`SpaceError` naming the key.
    """

    PARAMS: ClassVar[dict[str, Param]]  # what a definition may list under [params]
    SETTINGS: ClassVar[dict[str, Param]] = {}  # fixed skeleton values a definition may set

    def __init__(
        self, name: str, choices: Mapping[str, Any] | None = None, settings: Mapping[str, Any] | None = None, description: str = ""
    ) -> None:
        self.name = name
        self.description = description
        given = {key: self._check_choices(key, value) for key, value in (choices or {}).items()}
        self.choices: dict[str, Choices] = self._complete(given)
        self.settings: dict[str, Any] = {key: param.default[0] for key, param in self.SETTINGS.items()}
        for key, value in (settings or {}).items():
            if key not in self.SETTINGS:
                raise unknown_key(f"{self.family} setting", key, sorted(self.SETTINGS))
            if why := self.SETTINGS[key].problem(value):
                raise SpaceError(f"setting {key!r} {why}")
            self.settings[key] = list(value) if isinstance(value, tuple) else value

    def _check_choices(self, key: str, value: Any) -> Choices:
        if key not in self.PARAMS:
            raise unknown_key(f"{self.family} parameter", key, sorted(self.PARAMS))
        values = tuple(value) if isinstance(value, list | tuple) else (value,)
        if not values:
            raise SpaceError(f"parameter {key!r} has an empty choice list; give at least one value")
        for v in values:
            if why := self.PARAMS[key].problem(v):
                raise SpaceError(f"parameter {key!r}: each choice {why}")
        if len(set(values)) < len(values):
            raise SpaceError(f"parameter {key!r} repeats a choice in {list(values)}")
        return values

    def _complete(self, given: dict[str, Choices]) -> dict[str, Choices]:
        """The choices of every parameter, defaults where the definition is silent."""
        return {key: given.get(key, param.default) for key, param in self.PARAMS.items()}

    @abstractmethod
    def _values(self, spec: Spec) -> list[tuple[str, Any, Choices]]:
        """(trial param name, value, allowed values) for every parameter ``spec`` uses; settings
        appear with their one allowed value. Raises :class:`SpaceError` on a malformed spec."""

    @classmethod
    @abstractmethod
    def build_spec(cls, spec: Spec, channels: int, num_classes: int, image_size: tuple[int, int]) -> nn.Module:
        """Build any spec of the family, whether or not it is in a given space."""

    @classmethod
    def fits(cls, spec: Spec, channels: int, num_classes: int, image_size: tuple[int, int]) -> None:
        """Raises the error :meth:`build_spec` would raise for ``spec`` on images of ``image_size``, building nothing
        that holds weights: here, on torch's meta device; a family may check the shapes alone."""
        import torch  # imported where a network is built

        with torch.device("meta"):
            cls.build_spec(spec, channels, num_classes, image_size)

    def validate(self, spec: Spec) -> None:
        for key, value, allowed in self._values(spec):
            if not is_member(value, allowed):
                shown = ", ".join(map(str, allowed))
                raise SpaceError(f"spec value {key}={value!r} is outside search space {self.name!r}; allowed: {shown}")

    def params_of(self, spec: Spec | str) -> dict[str, Any]:
        spec = self.parse(spec) if isinstance(spec, str) else spec
        self.validate(spec)
        return {key: value for key, value, allowed in self._values(spec) if len(allowed) > 1}

    def build(self, spec: Spec, channels: int, num_classes: int, image_size: tuple[int, int]) -> nn.Module:
        self.validate(spec)
        return self.build_spec(spec, channels, num_classes, image_size)

    def size(self) -> int | None:
        return math.prod(len(c) for c in self.choices.values())

    def describe(self) -> dict[str, Any]:
        searched = {k: list(c) for k, c in self.choices.items() if len(c) > 1}
        fixed = {k: c[0] for k, c in self.choices.items() if len(c) == 1}
        return {
            "name": self.name,
            "family": self.family,
            "description": self.description,
            "params": searched,
            "fixed": {**fixed, **self.settings},
            "size": self.size(),
        }


FAMILIES: Registry[type[DeclaredSpace]] = Registry("model family")


def family_class(family: object) -> type[DeclaredSpace]:
    """The space class of a ``family`` key's value, or a SpaceError naming the key."""
    if not isinstance(family, str):
        raise SpaceError(f"key 'family' must name a model family ({', '.join(FAMILIES.names())}); got {family!r}")
    try:
        return FAMILIES.get(family)
    except UnknownNameError as e:
        raise SpaceError(f"key 'family': {e}") from None
