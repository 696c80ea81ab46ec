"""fix62a: a library function takes its defaults from the options class that holds them (one default, one place), and
``score`` reads what evaluate's kept results hold through Kept's public methods."""

from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path
from typing import Any

import pytest

from nas_proxy.configs import SearchBudget
from nas_proxy.distill.config import DistillConfig
from nas_proxy.distill.soft_labels import add_soft_labels, soft_labels
from nas_proxy.evaluate import Kept, evaluate
from nas_proxy.protocols import EvaluateOptions
from nas_proxy.search.config import SearchConfig
from nas_proxy.search.promotion import promote
from nas_proxy.search.runner import search
from nas_proxy.search.scores import score


def _default(function: Any, name: str) -> str:
    """The source of ``function``'s default of ``name`` as written (not its value: 0 is 0, and "auto" is "auto",
    whether written again or taken from the class)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    args = tree.body[0].args  # type: ignore[attr-defined]
    positional = args.posonlyargs + args.args
    pairs = list(zip(positional[len(positional) - len(args.defaults) :], args.defaults, strict=True)) + list(
        zip(args.kwonlyargs, args.kw_defaults, strict=True)
    )
    return next(ast.unparse(default) for arg, default in pairs if arg.arg == name)


@pytest.mark.parametrize(
    ("function", "name", "holder"),
    [
        (evaluate, "runs", EvaluateOptions),
        (evaluate, "seed", EvaluateOptions),  # before fix62a: seed=0 and device="auto" written again in evaluate()
        (evaluate, "device", EvaluateOptions),
        (evaluate, "data_root", EvaluateOptions),
        (evaluate, "hard_labels", EvaluateOptions),
        (score, "seed", SearchConfig),
        (score, "device", SearchConfig),
        (promote, "device", SearchConfig),
        (promote, "workers", SearchBudget),
        (search, "workers", SearchBudget),
        (search, "timeout", SearchBudget),
        (add_soft_labels, "device", DistillConfig),
        (soft_labels, "device", DistillConfig),
    ],
)
def test_a_functions_default_is_its_options_class(function: Any, name: str, holder: type) -> None:
    # taken from the class, not written again: changed there, the function follows
    assert _default(function, name).endswith(f"{holder.__name__}.{name}")
    assert inspect.signature(function).parameters[name].default == getattr(holder, name)


def test_kept_results_are_read_again_through_public_methods(tmp_path: Path) -> None:
    identity = {"what": "fix62a"}
    one, two = Kept(tmp_path, identity), Kept(tmp_path, identity)
    one.add("a", 1.0)
    assert two.entries == {}
    assert two.read() == {"a": 1.0}  # before fix62a score called evaluate's private Kept._read
    two.refresh()
    assert two.entries == {"a": 1.0}
