"""A Ctrl-C that lands while a class is created, in a descriptor's ``__set_name__`` (a dataclass's fields, as a module
is imported), reaches the command as Python 3.11's "RuntimeError: Error calling __set_name__ ..." with the
KeyboardInterrupt as its cause: the command says it was interrupted (exit 130), not an internal error (exit 1). The
start-up drill (tests/cli/test_startup.py, 20 moments) met it once at stop 61's merge."""

from __future__ import annotations

import pytest

from nas_proxy import cli


class _Interrupted:
    def __set_name__(self, owner: type, name: str) -> None:
        raise KeyboardInterrupt


def _defines_a_class(args: object) -> int:
    type("Scored", (), {"details": _Interrupted()})  # as `class Scored: details = field(...)` as its module is imported
    return 0


def test_a_ctrl_c_wrapped_by_set_name_is_an_interruption(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("nas_proxy.cli.spaces.cmd_spaces", _defines_a_class)
    code = cli.main(["spaces"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 130 and len(err) == 1 and "interrupted" in err[0] and "internal error" not in err[0], (code, err)
