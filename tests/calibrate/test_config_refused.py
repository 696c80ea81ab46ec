"""``calibrate`` reads no --config file yet: a file given is refused first, whatever it holds and whatever else is
missing, as the one real problem of that command line (review50)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas_proxy.cli import main
from nas_proxy.errors import InvalidArgumentError


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


def test_a_calibration_made_under_a_decomposed_name_is_taken_by_that_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fix53c opened a search study made under a decomposed (NFD) name before stop 52 again; calibrate's --study was still
    refused for its name, so that calibration could not be resumed. Now a study there passes the name check (what comes
    next here is the check of the truths: none given); a name that would make a new one is refused as before."""
    from nas_proxy.calibrate.config import CalibrateConfig
    from nas_proxy.calibrate.runner import calibrate

    monkeypatch.chdir(tmp_path)
    nfd = "cafe\u0301"
    with pytest.raises(InvalidArgumentError, match="not in Unicode's composed form"):
        calibrate(CalibrateConfig("convnet-small", ["syn"]), [], "t.csv", nfd)
    (tmp_path / "studies" / nfd).mkdir(parents=True)  # as calibrate made it before stop 52
    with pytest.raises(InvalidArgumentError, match=r"t\.csv holds 0 architectures with ground truth"):
        calibrate(CalibrateConfig("convnet-small", ["syn"]), [], "t.csv", nfd)
