"""fix58: checks.distinct compared each value with every one before it (``v in out`` on a list): 10,000 names took 4.0 s,
30,000 took 32.5 s (load 14 on 2 cores), quadratic. Hashable values are now looked up in a set; a value that cannot be
hashed (a list among a config's choices) is still compared with those before it. Counted here by comparisons, not time."""

from __future__ import annotations

import re

import pytest

from nas_proxy import checks
from nas_proxy.errors import InvalidArgumentError


class Counted:
    """A name that counts how often it is compared for equality."""

    compared = 0

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        Counted.compared += 1
        return isinstance(other, Counted) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


def test_distinct_names_are_not_each_compared_with_all_before() -> None:
    Counted.compared = 0
    names = [Counted(f"n{i}") for i in range(2000)]
    assert checks.distinct("--x", names) == names
    assert Counted.compared < len(names)  # (the list scan: 1,999,000)


@pytest.mark.parametrize(
    ("values", "twice"),
    [(["a", "b", "a"], "'a'"), ([[1], [2], [1]], "[1]"), ([1, [2], 1.0], "1.0"), ([{"a": 1}, "x", {"a": 1}], "{'a': 1}")],
)
def test_a_value_named_twice_is_refused_hashable_or_not(values: list[object], twice: str) -> None:
    with pytest.raises(InvalidArgumentError, match=rf"^--x names {re.escape(twice)} twice; give each value once$"):
        checks.distinct("--x", values)


def test_distinct_values_hashable_or_not_are_kept_in_order() -> None:
    assert checks.distinct("--x", [[1], "a", [2], 1]) == [[1], "a", [2], 1]
