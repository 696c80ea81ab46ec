"""The docstrings that list a config dataclass's fields list them all (fix50d: configs' table said SearchBudget held
n_trials, timeout and workers, and EvaluateOptions five fields: the promotion's four and hard_labels were missing)."""

from __future__ import annotations

import dataclasses
import re

import pytest

from nas_proxy import configs, protocols

# "[search]  # SearchConfig and SearchBudget (n_trials, ...)": the fields of the last class named, in parentheses
LISTED = re.compile(r"^\s*\[[\w.]+\]\s+# (?:\w+ and )?(\w+) \(([\w, ]+)\)$", re.M)


def _own_fields(cls: type) -> set[str]:
    """A dataclass's fields that are keys of its table (a field that is a dataclass is a sub-table)."""
    default = cls()
    return {f.name for f in dataclasses.fields(cls) if not dataclasses.is_dataclass(getattr(default, f.name))}


def test_the_config_tables_list_every_field_of_their_dataclass() -> None:
    listed = {name: fields for name, fields in LISTED.findall(configs.__doc__ or "")}
    assert set(listed) == {"EvaluateOptions", "SearchBudget", "CorrelateBudget"}
    for name, fields in listed.items():
        cls = getattr(configs, name, None) or getattr(protocols, name)
        assert set(fields.replace(" ", "").split(",")) == _own_fields(cls), name


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(configs.SearchBudget)])
def test_search_budget_names_each_of_its_fields(field: str) -> None:
    assert f"``{field}``" in (configs.SearchBudget.__doc__ or "")
