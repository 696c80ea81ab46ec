"""The environment variables of the libraries behind the command line (nas_proxy/cli/environment.py): a value the
library can use passes, one it cannot is refused naming the variable, and MPLBACKEND is asked of the commands that draw
a report only (the refusals themselves, end to end: tests/bad_inputs.py's PROBE61)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nas_proxy.cli.environment import check_environment
from nas_proxy.errors import InvalidArgumentError


@pytest.mark.parametrize("value", ["0.5", "1e-2"])
def test_a_tqdm_variable_tqdm_reads_passes(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("TQDM_MININTERVAL", value)
    monkeypatch.setenv("TQDM_NOT_AN_OPTION", "anything")  # tqdm ignores the names it has no option of
    check_environment("search")


def test_a_tqdm_variable_tqdm_cannot_read_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TQDM_NCOLS", "wide")
    with pytest.raises(InvalidArgumentError, match=r"TQDM_NCOLS='wide' \(ValueError: .*\); correct or unset it$"):
        check_environment("evaluate")


def test_mplbackend_is_read_by_the_commands_that_draw_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPLBACKEND", "nonsense")
    for command in ("search", "distill", "calibrate"):  # nothing drawn with matplotlib: no import, no refusal
        check_environment(command)
    with pytest.raises(InvalidArgumentError, match=r"^MPLBACKEND is 'nonsense', not a backend matplotlib knows"):
        check_environment("correlate")
    monkeypatch.setenv("MPLBACKEND", "Agg")  # a name matplotlib knows, in any case
    check_environment("correlate")


@pytest.mark.skipif(not (Path(torch.__file__).parent / "lib" / "libgomp.so.1").is_file(), reason="a torch without GNU libgomp")
def test_an_openmp_variable_is_asked_of_libgomp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_PROC_BIND", "close")  # read by libgomp: passes
    check_environment("score")
    monkeypatch.setenv("OMP_DYNAMIC", "maybe")
    with pytest.raises(InvalidArgumentError, match=r"cannot read the environment's OMP_DYNAMIC='maybe': it would say so"):
        check_environment("score")
