"""fix62a: every file nasproxy reads whole is read with a limit of its kind (checks.read_text), so a hostile one (too
large, not UTF-8, a FIFO, a folder, nested too deeply) is refused in one line before it is parsed, or (a record nasproxy
wrote itself) taken for absent, never read into memory whole or parsed for minutes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nas_proxy import checks
from nas_proxy.errors import InvalidArgumentError
from nas_proxy.profile import ProxyProfile, read_profile, write_profile


def _sparse(path: Path, size: int, head: bytes = b"") -> Path:
    """A file of ``size`` bytes (sparse: nothing written past ``head``), made in no time."""
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size)
    return path


def test_a_profile_just_over_its_limit_is_refused_by_its_size_before_tomllib_reads_it(tmp_path: Path) -> None:
    # before fix62a the limit was checks.MAX_TEXT_BYTES (64 MiB): a hostile profile took tomllib ~80 CPU-s to refuse
    assert checks.SETTINGS_BYTES_MAX < checks.PROFILE_BYTES_MAX < checks.MAX_TEXT_BYTES
    path = _sparse(tmp_path / "p.toml", checks.PROFILE_BYTES_MAX + 1, b"a = [")
    with pytest.raises(
        InvalidArgumentError, match=r"--proxy-profile file .* is too large \(4,194,305 bytes; at most 4,194,304 bytes is read\)"
    ):
        read_profile(path)


def test_the_largest_real_profile_is_read(tmp_path: Path) -> None:
    # the largest registered space (macro: 86,544 architectures) calibrated whole: 1.39 MB, read
    ids = [f"{i:012x}" for i in range(86_544)]
    path = write_profile(ProxyProfile({"epochs": 25}, {"architectures": ids, "command": "x" * 2000}), tmp_path / "p.toml")
    assert os.path.getsize(path) < checks.PROFILE_BYTES_MAX / 2
    assert read_profile(path).calibration["architectures"] == ids


def test_a_profile_calibrate_could_not_read_back_is_not_written(tmp_path: Path) -> None:
    ids = [f"{i:012x}" for i in range(checks.PROFILE_BYTES_MAX // 16 + 1)]
    with pytest.raises(InvalidArgumentError, match=r"the profile to write .* is larger than .* read back"):
        write_profile(ProxyProfile({"epochs": 25}, {"architectures": ids}), tmp_path / "p.toml")
    assert not (tmp_path / "p.toml").exists()
