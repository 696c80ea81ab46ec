"""fix60: a proxy profile at ``calibrate --out`` cut short (a write the disk lost) was replaced without a word: it looks
like a profile (its first line), does not read as one, and ``_other_kind`` let it pass silently. It is replaced with one
warning line now, as a command's own ``config.toml`` cut short is (``configs.torn_own``, fix59); an empty one already was
(fix57). A whole profile is judged as before, without a warning."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import pytest

from nas_proxy.cli import main
from nas_proxy.cli.calibrate import _output
from nas_proxy.configs import EmptyOutputWarning
from nas_proxy.errors import NasProxyError
from nas_proxy.profile import read_profile
from tests.calibrate.test_ladders_rerun import _argv


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    tmp = tmp_path_factory.mktemp("profile")
    assert main(_argv(tmp, tmp / "p.toml")) == 0
    return (tmp / "p.toml").read_bytes()


def _said(out: Path, data: bytes) -> list[str]:
    out.write_bytes(data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _output(argparse.Namespace(out=str(out), study="s", ladders="auto")) == out
    return [str(w.message) for w in caught if issubclass(w.category, EmptyOutputWarning)]


def _reads(path: Path) -> bool:
    try:
        read_profile(path)
    except NasProxyError:
        return False
    return True


def test_a_profile_cut_anywhere_is_replaced_with_one_warning(profile: bytes, tmp_path: Path) -> None:
    out = tmp_path / "p.toml"
    assert _said(out, profile) == []  # whole: no warning
    cuts = [*range(20, len(profile), 61), len(profile) - 1]
    checked = 0
    for n in cuts:
        said = _said(out, profile[:n])
        if _reads(out):  # (a cut that leaves a profile that reads whole, its last key gone: judged as a whole one)
            continue
        checked += 1
        assert said == [f"{out} was cut short ({n} bytes, as a write the disk lost leaves a profile): it is written anew"], n
    assert checked >= len(cuts) - 2


def test_calibrate_over_a_cut_profile_says_so_once_and_writes_it_whole(
    profile: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "p.toml"
    out.write_bytes(profile[: len(profile) // 2])
    assert main(_argv(tmp_path, out)) == 0
    err = capsys.readouterr().err
    assert (
        err
        == f"nasproxy: warning: {out} was cut short ({len(profile) // 2} bytes, as a write the disk lost leaves a profile): it is written anew\n"
    )
    assert _reads(out)
