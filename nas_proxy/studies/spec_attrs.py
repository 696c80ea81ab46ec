"""An architecture spec as scalar user attributes of a queued training's trial (ground truth, promotion).

optuna-dashboard lists a scalar user attribute as one row (a number also as a sortable column of
the trials table) and prints any other value as JSON clipped at the card's edge. So a queued
training carries its spec as one attribute per leaf, named by its path under :data:`PREFIX`:
``arch.family = "macro"``, ``arch.stages.0.depth = 2``, ``arch.widths.1 = 32`` (a list item by
its index), each with its own JSON type (string, integer, float, boolean), beside ``arch_id``.
:func:`spec_from_attrs` rebuilds the spec exactly and refuses one that no longer gives the
recorded ``arch_id``.

The studies are shared by specs of several spaces and of files, so the spec cannot be the trial's
parameters rebuilt by one space (as in a search study, ``search.study.spec_of``). A spec these
paths cannot carry exactly (an empty list or object, a key that is empty, holds a dot or is all
digits) keeps the JSON attribute ``spec``; trials written before this layout carry ``spec`` too,
and both layouts are read as they are, so one study may hold both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nas_proxy.errors import NasProxyError
from nas_proxy.spaces.base import Spec, arch_id, canonical_json

PREFIX = "arch."  # the user attributes of a spec's leaves: arch.<key>[.<key or index>...]
JSON_ATTR = "spec"  # the whole spec as one JSON attribute: the layout before, and the fallback


class SpecAttrsError(NasProxyError):
    """A trial whose ``arch.*`` attributes no longer give the architecture it recorded."""


class _NotFlatError(Exception):
    """A spec the ``arch.*`` paths cannot carry exactly."""


def spec_attrs(spec: Spec) -> dict[str, Any]:
    """The user attributes that carry ``spec``: one scalar per leaf under :data:`PREFIX`, or the
    JSON attribute ``spec`` when the paths cannot carry it exactly."""
    try:
        flat = dict(_leaves(spec, PREFIX[:-1])) if isinstance(spec, Mapping) else {}
    except _NotFlatError:
        flat = {}
    exact = bool(flat) and canonical_json(_rebuild(flat)) == canonical_json(spec)  # what is stored is what trains
    return flat if exact else {JSON_ATTR: spec}


def spec_from_attrs(attrs: Mapping[str, Any], trial: int | None = None) -> Spec | None:
    """The spec a trial's user attributes carry (either layout; None: they carry none). The
    ``arch.*`` layout is checked against the trial's ``arch_id`` (``trial``: its number, for the message)."""
    flat = {k: v for k, v in attrs.items() if k.startswith(PREFIX)}
    if not flat:
        stored = attrs.get(JSON_ATTR)
        return None if stored is None else dict(stored)
    spec = _rebuild(flat)
    recorded = attrs.get("arch_id")
    if recorded is not None and arch_id(spec) != recorded:
        who = "a trial" if trial is None else f"trial {trial}"
        raise SpecAttrsError(
            f"{who}'s {PREFIX}* attributes give architecture {arch_id(spec)}, but it recorded arch_id {recorded}: "
            "its attributes were edited; restore them or delete the trial"
        )
    return spec


def without_spec(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """``attrs`` less the attributes that carry a spec (either layout)."""
    return {k: v for k, v in attrs.items() if k != JSON_ATTR and not k.startswith(PREFIX)}


def _leaves(value: Any, path: str) -> list[tuple[str, Any]]:
    """(attribute name, scalar) of every leaf of ``value`` below ``path``."""
    if isinstance(value, Mapping):
        if not value:
            raise _NotFlatError
        out = []
        for key, item in value.items():
            if not isinstance(key, str) or not key or "." in key or key.isdigit():
                raise _NotFlatError  # a key a path cannot name, or one read back as a list index
            out += _leaves(item, f"{path}.{key}")
        return out
    if isinstance(value, list | tuple):
        if not value:
            raise _NotFlatError
        return [leaf for i, item in enumerate(value) for leaf in _leaves(item, f"{path}.{i}")]
    if value is None or isinstance(value, str | int | float):  # bool is an int
        return [(path, value)]
    raise _NotFlatError


def _rebuild(flat: Mapping[str, Any]) -> Spec:
    """The nested spec of :func:`_leaves`'s attributes: objects from names, lists from indices."""
    root: dict[str, Any] = {}
    for name, value in flat.items():
        *parents, last = name[len(PREFIX) :].split(".")
        node = root
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise SpecAttrsError(f"user attribute {name!r} lies below a value of another attribute: the arch.* attributes were edited")
        node[last] = value
    out = _lists(root)
    assert isinstance(out, dict)
    return out


def _lists(node: Any) -> Any:
    """``node`` with every object keyed 0..n-1 (a list's items by index) turned back into a list."""
    if not isinstance(node, dict):
        return node
    items = {k: _lists(v) for k, v in node.items()}
    if items and all(k.isdigit() for k in items) and sorted(map(int, items)) == list(range(len(items))):
        return [items[str(i)] for i in range(len(items))]
    return items


__all__ = ["JSON_ATTR", "PREFIX", "SpecAttrsError", "spec_attrs", "spec_from_attrs", "without_spec"]
