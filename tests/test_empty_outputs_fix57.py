"""An empty (0-byte) output file of nasproxy's own is absent, not foreign (fix57): a proxy profile at ``calibrate
--out``, a command's saved options (``config.toml`` in search, distill and correlate's ``--out``, a run's folder). Each
is written whole by a rename after fsync, so only a write the disk lost leaves one empty (drill56), and it holds nothing
to lose: it is written anew, with a warning line. Before, each was refused as another's file. A file with anything in
it is judged as before."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from nas_proxy import configs, pipeline
from nas_proxy.cli.calibrate import _output
from nas_proxy.configs import EmptyOutputWarning
from nas_proxy.errors import InvalidArgumentError, OutputConflictError


def test_an_empty_saved_config_is_absent(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_bytes(b"")
    with pytest.warns(EmptyOutputWarning, match=r"config\.toml is empty"):
        configs.check_saved("--out", tmp_path, "correlate")
    (tmp_path / "config.toml").write_bytes(b"\n")  # a byte: judged as before
    with pytest.raises(InvalidArgumentError, match="which correlate would overwrite"):
        configs.check_saved("--out", tmp_path, "correlate")


def test_an_empty_linked_config_is_judged_as_before(tmp_path: Path) -> None:
    """A symbolic link is the user's doing, even to an empty file: not taken for one of nasproxy's."""
    (tmp_path / "elsewhere.toml").write_bytes(b"")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "config.toml").symlink_to(tmp_path / "elsewhere.toml")
    with pytest.raises(InvalidArgumentError, match="which correlate would overwrite"):
        configs.check_saved("--out", tmp_path / "out", "correlate")


def test_an_empty_profile_is_absent(tmp_path: Path) -> None:
    out = tmp_path / "p.toml"
    out.write_bytes(b"")
    args = argparse.Namespace(out=str(out), study="s", ladders=None)
    with pytest.warns(EmptyOutputWarning, match=r"p\.toml is empty"):
        assert _output(args) == out
    out.write_text("notes\n")
    with pytest.raises(InvalidArgumentError, match="is not a proxy profile"):
        _output(args)


def test_an_empty_run_config_is_absent(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_bytes(b"")
    with pytest.warns(EmptyOutputWarning):
        pipeline._not_another_config(tmp_path, "demo")
    (tmp_path / "config.toml").write_text("x = 1\n")
    with pytest.raises(OutputConflictError):
        pipeline._not_another_config(tmp_path, "demo")


def test_calibrate_over_an_empty_profile_writes_it_with_one_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from nas_proxy.cli import main
    from nas_proxy.profile import looks_like_profile
    from tests.calibrate.test_ladders_rerun import _argv

    out = tmp_path / "p.toml"
    out.write_bytes(b"")
    assert main(_argv(tmp_path, out)) == 0
    err = capsys.readouterr().err
    assert (
        err
        == f"nasproxy: warning: {out} is empty (0 bytes, as a write the disk lost leaves a profile): it holds nothing, and is written anew\n"
    )
    assert looks_like_profile(out.read_text())
