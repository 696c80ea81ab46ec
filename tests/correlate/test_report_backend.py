"""The matplotlib the reports draw with (nas_proxy/report/backend.py): its own lines stay off nasproxy's stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# matplotlib times its note with threading.Timer(5, ...): a Timer that fires at start() stands for a font cache that
# takes more than 5 s to build (a cold cache on a busy machine), without waiting for one
FIRES_AT_ONCE = """
import threading

class Now:
    def __init__(self, interval, function, *args, **kwargs):
        self.function = function
    def start(self):
        self.function()
    def cancel(self):
        pass

threading.Timer = Now
from nas_proxy.report.backend import pyplot
pyplot()
import matplotlib.font_manager
print(len(matplotlib.font_manager.fontManager.ttflist) > 0)
"""


def test_building_the_font_cache_slowly_prints_nothing_of_matplotlib_s(tmp_path: Path) -> None:
    """perf55b saw "Matplotlib is building the font cache; this may take a moment." on a cold correlate's stderr under
    load (matplotlib logs it when building the cache takes more than 5 s), amid nasproxy's one-line output, and a test
    that reads that stderr failed. Cold (a new interpreter, an empty MPLCONFIGDIR: the cache is built here)."""
    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path / "mpl"), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", FIRES_AT_ONCE], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.split() == ["True"], done.stderr
    assert done.stderr == ""
    assert any((tmp_path / "mpl").glob("fontlist-*.json"))  # the cache was built, so the note was due
