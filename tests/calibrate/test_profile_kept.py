"""A plain ``calibrate`` run again after it finished leaves its profile alone (fix55a): the same bytes, the same
mtime (a search or a make rule that watches the profile does not see it change). Before, every run wrote it again."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from nas_proxy.cli import main
from nas_proxy.correlate.archs import from_space
from nas_proxy.distill import DistillConfig, distill
from nas_proxy.spaces import get_space

# a calibration of a few seconds: 6 architectures, 2 folds, 2 trials per study, 1 epoch
FAST = [
    "--space", "convnet-cpu", "--folds", "2", "--trials", "2", "--cost-weight", "0",
    "--epochs-choices", "1", "--lr-choices", "0.01,0.05", "--batch-size-choices", "64", "--dsa-choices", "off",
    "--bootstrap", "100", "--seed", "0", "--device", "cpu", "--quiet",
]  # fmt: skip


# drill tier (three calibrations, ~5 CPU-s): make test checks the write itself below; drill55 found the rewrite end to end
@pytest.mark.drill
def test_the_same_calibration_again_leaves_its_profile_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    distill(DistillConfig(dataset="digits", ipc=2, method="random", device="cpu"), tmp_path / "syn", progress=False)
    archs = from_space(get_space("convnet-cpu"), 6, seed=3)
    noise = np.random.default_rng(0).uniform(50, 95, len(archs))
    (tmp_path / "truth.json").write_text(json.dumps([{"spec": a.spec, "accuracy": float(x)} for a, x in zip(archs, noise, strict=True)]))
    command = ["calibrate", "--truth", "truth.json", "--synthetic", "syn", "--study", "cal", *FAST]
    assert main(command) == 0
    profile = tmp_path / "studies" / "cal" / "profile.toml"
    before, stat = profile.read_bytes(), profile.stat()
    os.utime(profile, ns=(stat.st_atime_ns, stat.st_mtime_ns - 10**9))  # a second back: a rewrite cannot keep its mtime
    written = profile.stat().st_mtime_ns
    assert main(command) == 0  # the same command, the study finished
    assert profile.read_bytes() == before and profile.stat().st_mtime_ns == written
    profile.write_bytes(before.replace(b"[proxy]", b"[proxy]\n# edited"))  # a profile that is not the calibration's is written
    assert main(command) == 0 and profile.read_bytes() == before


def test_a_profile_written_again_unchanged_keeps_its_file(tmp_path: Path) -> None:
    # the write itself, without a calibration: the same profile leaves the file (its mtime) alone, another replaces it
    from nas_proxy.profile import ProxyProfile, write_profile

    path = tmp_path / "p.toml"
    profile = ProxyProfile({"epochs": 7, "lr": 0.03}, {"heldout_interval": [0.1, 0.5], "seed": 3})
    write_profile(profile, path)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - 10**9))
    written = path.stat().st_mtime_ns
    write_profile(profile, path)
    assert path.stat().st_mtime_ns == written
    write_profile(ProxyProfile({"epochs": 8, "lr": 0.03}, {"heldout_interval": [0.1, 0.5], "seed": 3}), path)
    assert path.stat().st_mtime_ns != written and "epochs = 8" in path.read_text()
