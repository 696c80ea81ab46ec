"""A protocol study's profile cut short (a write the disk lost, a copy that stopped), then the same ``calibrate``:
drill60 (benchmarks/RESULTS.md §17g) cut ``p.toml`` at random offsets and the command wrote it anew, equal, exit 0,
without a word about the file it replaced (stdout and stderr name it nowhere). A study's ``config.toml`` cut so is
written anew with a warning (``configs.torn_own``, fix59), and ``calibrate --ladders`` says "choosing again"; a
protocol study's profile is taken as its own by ``profile.looks_like_profile`` and, unreadable, replaced
(``cli/calibrate.py``'s ``_other_kind``: ``except NasProxyError: return``).

Fixed by fix60 (``225ae21``: the profile replaced through ``configs.torn_own``, with one warning); this drill failed before.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nas_proxy.cli import main
from nas_proxy.correlate.archs import from_space
from nas_proxy.distill import DistillConfig, distill
from nas_proxy.spaces import get_space
from tests.calibrate.test_profile_kept import FAST


# drill tier: two calibrations of a few seconds each (the second from the stored trials)
@pytest.mark.drill
def test_a_profile_cut_short_is_written_anew_and_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    distill(DistillConfig(dataset="digits", ipc=2, method="random", device="cpu"), tmp_path / "syn", progress=False)
    archs = from_space(get_space("convnet-cpu"), 6, seed=3)
    noise = np.random.default_rng(0).uniform(50, 95, len(archs))
    (tmp_path / "truth.json").write_text(json.dumps([{"spec": a.spec, "accuracy": float(x)} for a, x in zip(archs, noise, strict=True)]))
    command = ["calibrate", "--truth", "truth.json", "--synthetic", "syn", "--study", "cal", "--out", "p.toml", *FAST]
    capsys.readouterr()
    assert main(command) == 0
    fresh = capsys.readouterr()  # what a calibration that writes its profile says of it (its path in the last line)
    usual = {line for line in (fresh.out + fresh.err).splitlines() if "p.toml" in line}
    profile = tmp_path / "p.toml"
    whole = profile.read_bytes()
    cut = whole.index(b"[proxy]") + 12  # inside the [proxy] table: the start of a profile, not a whole one
    profile.write_bytes(whole[:cut])
    capsys.readouterr()
    assert main(command) == 0
    out, err = capsys.readouterr()
    assert profile.read_bytes() == whole  # repaired: written anew from the stored trials
    said = [line for line in (out + err).splitlines() if "p.toml" in line and line not in usual]
    assert said, f"the cut profile ({cut} of {len(whole)} bytes) was replaced without a word"
