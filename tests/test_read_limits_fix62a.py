"""fix62a: every file nasproxy reads whole is read with a limit of its kind (checks.read_text), so a hostile one (too
large, not UTF-8, a FIFO, a folder, nested too deeply) is refused in one line before it is parsed, or (a record nasproxy
wrote itself) taken for absent, never read into memory whole or parsed for minutes."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


# the JSON files nasproxy reads whole (its own records, kept results, a user's best.json): checks.read_json, the limit
# checks.MAX_TEXT_BYTES; each hostile kind below refused (a user's file) or taken for absent (a record of its own)
HOSTILE = ("fifo", "folder", "too large", "not utf-8", "too deep")


def _hostile(path: Path, kind: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "too large":
        _sparse(path, checks.MAX_TEXT_BYTES + 1, b'{"top": [')
    elif kind == "not utf-8":
        path.write_bytes(b'{"top": "\xff\xfe"}')
    else:
        path.write_text("[" * 100_000 + "]" * 100_000)
    return path


def _never_opened(fifo: Path, call: Callable[[], Any]) -> Any:
    """``call()``'s result, and that it never opened ``fifo`` to read: a watcher opens the writing end the moment a
    reader holds the other (that reader then reads an empty file and goes on, so a reader that opens it fails the test,
    never hangs it)."""
    done, opened = threading.Event(), threading.Event()

    def watch() -> None:
        while not done.is_set():
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:  # ENXIO: no reader holds it
                done.wait(0.001)
                continue
            opened.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        result = call()
    finally:
        done.set()
        watcher.join()
    assert not opened.is_set(), f"{fifo} was opened to read"
    return result


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_hostile_best_json_is_refused_in_one_line(tmp_path: Path, kind: str) -> None:
    from nas_proxy.search.study import best_model

    path = _hostile(tmp_path / "best.json", kind)
    expected = {
        "fifo": "is a FIFO",
        "folder": "is a directory",
        "too large": "is too large",
        "not utf-8": "is not UTF-8 text",
        "too deep": "nested too deeply",
    }[kind]
    with pytest.raises(InvalidArgumentError) as caught:
        _never_opened(path, lambda: best_model(path)) if kind == "fifo" else best_model(path)
    assert expected in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_hostile_record_of_its_own_is_taken_for_absent(tmp_path: Path, kind: str) -> None:
    from nas_proxy.search.trained_folder import read_record
    from nas_proxy.synthetic import PENDING, _pending_meta

    record = _hostile(tmp_path / "train" / ".training.json", kind)
    pending = _hostile(tmp_path / "set" / PENDING, kind)
    if kind == "fifo":
        assert _never_opened(record, lambda: read_record(record)) is None
        assert _never_opened(pending, lambda: _pending_meta(pending.parent, "0" * 64)) is None
    else:
        assert read_record(record) is None
        assert _pending_meta(pending.parent, "0" * 64) is None


def test_a_provenance_json_over_the_limit_beside_a_table_is_refused_unread(tmp_path: Path) -> None:
    # before fix62a the builder's sidecar was read whole (Path.read_bytes): a 10 GB file filled the memory
    from nas_proxy.groundtruth.tables import SIDECAR, read_data

    table = tmp_path / "truth.csv"
    table.write_text("arch_id,test_accuracy\nabc,90\n")
    _sparse(tmp_path / SIDECAR, checks.MAX_TEXT_BYTES + 1, b'{"data": {')
    with pytest.raises(
        InvalidArgumentError, match=r"provenance.json, which names the data of the tables beside it, is too large"
    ) as caught:
        read_data(table, "--truth")
    assert "\n" not in str(caught.value)
