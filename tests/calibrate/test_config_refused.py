"""``calibrate`` reads no --config file yet: a file given is refused first, whatever it holds and whatever else is
missing, as the one real problem of that command line (review50)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas_proxy.cli import main


@pytest.mark.parametrize(
    ("content", "where", "flags"),
    [
        ("[calibrate]\nseed = 1\n", "after", ["--space", "convnet-cpu"]),  # before stop 51: "unknown table 'calibrate'"
        ("[search]\nseed = 1\n", "after", []),  # before stop 51: "the following arguments are required: ..."
        ("[calibrate]\nseed = 1\n", "before", []),  # nasproxy --config F calibrate
    ],
)
def test_a_config_file_given_to_calibrate_is_refused_first(
    content: str, where: str, flags: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(content)
    given = ["--config", str(config)]
    argv = [*given, "calibrate", *flags] if where == "before" else ["calibrate", *given, *flags]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        f"nasproxy calibrate: error: calibrate reads no --config file yet ({config}): give its options as flags\n"
    )
