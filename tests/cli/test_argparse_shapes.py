"""The command line reads argparse's private ``_parse_optional``, whose answer changed shape across Python versions
(review56): a 3-tuple (action, option string, explicit value) up to 3.12.2, a 4-tuple with the separator before the
value in 3.12.3-3.12.6 and 3.13.0, a list of 4-tuples since 3.12.7 and 3.13.1. Unpacked as a 3-tuple, any option typed
before the command (``nasproxy --debug search``) was a ValueError on 3.13 and ``-hel`` printed the help. The suite runs
on one Python: each shape is given here by a parser that answers it."""

from __future__ import annotations

from typing import Any

import pytest

from nas_proxy.cli.common import _optional

ACTION = object()


class Answers:
    """A parser whose ``_parse_optional`` gives ``answer``."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def _parse_optional(self, word: str) -> Any:
        return self.answer


@pytest.mark.parametrize(
    ("answer", "read"),
    [
        (None, None),  # a positional, every version
        ((ACTION, "--out", None), (ACTION, None)),  # to 3.12.2: --out, its value the next word
        ((ACTION, "--out", "x"), (ACTION, "x")),  # --out=x
        ((None, "--nope", None), (None, None)),  # no option of this parser
        ((ACTION, "--out", None, None), (ACTION, None)),  # 3.12.3-3.13.0: the separator third
        ((ACTION, "--out", "=", "x"), (ACTION, "x")),
        ([(ACTION, "--out", None, None)], (ACTION, None)),  # since 3.12.7 / 3.13.1: a list
        ([(ACTION, "--out", "=", "x")], (ACTION, "x")),
        ([(ACTION, "-a", "", "bc"), (ACTION, "-ab", "", "c")], (None, None)),  # several readings: no one option
    ],
)
def test_each_shape_of_argparse_answer_reads_the_same(answer: Any, read: Any) -> None:
    assert _optional(Answers(answer), "--out") == read  # type: ignore[arg-type]
