"""tests/rewrite_cache.py: the assert-rewritten bytecode pytest-xdist's controller writes is the file pytest's own import
hook reads (it rewrites nothing again), written once, and again only once its module changed."""

from __future__ import annotations

from pathlib import Path
from types import CodeType

import pytest
from _pytest.assertion.rewrite import PYC_TAIL, _read_pyc, _rewrite_test, get_cache_dir

from tests.rewrite_cache import write_rewritten


def test_the_controllers_rewritten_bytecode_is_what_pytest_reads_and_is_written_again_only_when_stale(
    tmp_path: Path, pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.dont_write_bytecode", False)
    module = tmp_path / "sub" / "test_one.py"
    module.parent.mkdir()
    module.write_text("def test_x():\n    x = 1\n    assert x == 2\n")
    (tmp_path / "sub" / "conftest.py").write_text("X = 1\n")
    (tmp_path / "helper.py").write_text("assert True\n")  # no test module: pytest does not rewrite it
    assert write_rewritten(pytestconfig, tmp_path) == 2
    pyc = get_cache_dir(module) / (module.name[:-3] + PYC_TAIL)
    code = _read_pyc(module, pyc)  # what the import hook reads before it would rewrite
    assert code is not None and code.co_consts == _rewrite_test(module, pytestconfig)[1].co_consts  # the asserts rewritten
    (test_x,) = [c for c in code.co_consts if isinstance(c, CodeType)]
    assert any(name.startswith("@py_assert") for name in test_x.co_varnames), test_x.co_varnames
    assert not list(tmp_path.glob("__pycache__/helper*"))
    assert write_rewritten(pytestconfig, tmp_path) == 0  # current: nothing written again
    module.write_text("def test_x():\n    assert 1 == 1\n")
    assert write_rewritten(pytestconfig, tmp_path) == 1 and _read_pyc(module, pyc) is not None
    monkeypatch.setattr("sys.dont_write_bytecode", True)  # PYTHONDONTWRITEBYTECODE: as pytest, it writes nothing
    module.write_text("def test_x():\n    assert 2 == 2\n")
    assert write_rewritten(pytestconfig, tmp_path) == 0
