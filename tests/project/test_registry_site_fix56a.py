"""fix56a: a registration a registry refuses (a reserved name, a name taken) says where it was made, the user's file and
line, under its line in the traceback: its message names where the object was defined, which for an object defined
elsewhere (here a library's function) is the library's."""

from __future__ import annotations

import inspect
import traceback

import pytest

from nas_proxy.errors import DuplicateNameError
from nas_proxy.proxies.zero_cost import ZERO_COST, params
from nas_proxy.registry import Registry, ReservedNameError


def here(offset: int = 0) -> str:
    """``FILE:LINE`` of the caller's line, ``offset`` lines below it."""
    frame = inspect.stack()[1]
    return f"{frame.filename}:{frame.lineno + offset}"


def test_a_reserved_name_is_refused_naming_the_registration_not_the_librarys_function() -> None:
    with pytest.raises(ReservedNameError) as refused:
        site = here(1)
        ZERO_COST.register("truth")(params)
    assert "(nas_proxy.proxies.zero_cost.params)" in str(refused.value)  # the message: where the object was defined
    assert refused.value.__notes__ == [f"registered at {site}"]
    shown = "".join(traceback.format_exception(refused.value))
    assert shown.rstrip().endswith(f"registered at {site}"), shown  # what a plugin's author reads, last
    assert "truth" not in ZERO_COST


def test_a_name_registered_twice_is_refused_naming_the_second_registration() -> None:
    table: Registry[object] = Registry("thing", reserved={"kept": "it is kept"})
    table.add("one", params)
    with pytest.raises(DuplicateNameError) as refused:
        site = here(2)

        @table.register("one")
        def mine() -> None:
            pass

    assert refused.value.__notes__ == [f"registered at {site}"], (refused.value.__notes__, site)
    with pytest.raises(ReservedNameError) as reserved:
        site = here(1)
        table.add("kept", params)
    assert reserved.value.__notes__ == [f"registered at {site}"]
