"""A '--' before the command's name (stop 56): ``nasproxy -- spaces``. argparse took '--' for the command ("invalid
choice: '--' (choose from ...)", a line that did not say what to type, and whose words change with Python's version:
3.12 and 3.13 changed how '--' is parsed). Now one line that names the command to type, exit 2; a '--' after the
command's name is argparse's, as before (it ends that command's options)."""

from __future__ import annotations

import pytest

from nas_proxy.cli import main


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--", "spaces"], "'--' before the command: type the command first (nasproxy spaces ...), a '--' only after it"),
        (["--", "--", "spaces"], "'--' before the command: type the command first (nasproxy spaces ...), a '--' only after it"),
        (["--"], "'--' before the command: type the command first (nasproxy COMMAND ...), a '--' only after it"),
    ],
)
def test_a_double_dash_before_the_command_is_refused_in_one_line(argv: list[str], said: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as refused:
        main(argv)
    out, err = capsys.readouterr()
    assert refused.value.code == 2
    assert out == "" and err == f"nasproxy: error: {said} (see nasproxy --help)\n"


def test_a_double_dash_after_the_command_is_argparses(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spaces", "--"]) == 0
    assert "convnet-small" in capsys.readouterr().out
