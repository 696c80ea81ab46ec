"""drill57: the report's plots (stop 56's digest, ``nasproxy-drawn-from``) after a kill -9 or a lost disk write.

A plot is left alone where its PNG holds the digest of the inputs it would be drawn from (``render._drawn_from``).
matplotlib writes the text chunk that holds the digest before the image data, so a PNG cut short after it (a disk
that lost the end of the write: the torn-last-write drills of stops 55 and 56) still said "current" while its pixels
were torn: kept, and inlined torn into report.html (fixed: ``_drawn_from`` asks for PNG's IEND chunk last). A kill -9
while a plot is written cannot tear it (it is written to a temporary and renamed): the drill-tier test holds the
write half done, kills the process, and checks that the same report then stands whole.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from nas_proxy.report.render import COST, SCATTER, write_reports
from tests.correlate.test_correlate_report import metrics, result
from tests.faults.test_faults import wait_until

IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # PNG's last chunk: no data, its type, its CRC


def whole_png(data: bytes) -> bool:
    """Whether ``data`` is a whole PNG: its pixels decode (Pillow) and it ends with the IEND chunk (which Pillow does
    not read to its end: a PNG without its last byte decodes)."""
    if not data.endswith(IEND):
        return False
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except (OSError, SyntaxError, ValueError):
        return False
    return True


@pytest.mark.parametrize("cut", ["half", "all but the last byte"])
def test_a_plot_cut_short_after_its_digest_is_drawn_again(tmp_path: Path, cut: str) -> None:
    report = result(tmp_path, {"p": metrics()}, 6)
    write_reports(report)
    png = (tmp_path / SCATTER).read_bytes()
    assert whole_png(png)
    kept = len(png) // 2 if cut == "half" else len(png) - 1
    assert b"nasproxy-drawn-from" in png[:kept]  # the digest survives the cut: the case drilled
    (tmp_path / SCATTER).write_bytes(png[:kept])  # what a disk that lost the end of the write leaves
    write_reports(report)  # the same report again
    assert whole_png((tmp_path / SCATTER).read_bytes()), f"scatter.png cut to {cut} was kept as current"


KILLED_MID_WRITE = """
import sys, time
from pathlib import Path
import nas_proxy.report.render as render
from nas_proxy.files import atomic_path
from tests.correlate.test_correlate_report import metrics, result

out = Path(sys.argv[1])
real = render.write_bytes

def held(path, data):
    if path.name != sys.argv[2]:
        return real(path, data)
    with atomic_path(path, len(data)) as tmp:  # files.write_bytes's own write, held half done for the kill
        with open(tmp, "wb") as f:
            f.write(data[: len(data) // 2])
            f.flush()
            Path(sys.argv[3]).write_text("holding")
            time.sleep(600)

render.write_bytes = held
render.write_reports(result(out, {"p": metrics(), "q": metrics()}, 6))
"""


@pytest.mark.drill
@pytest.mark.parametrize("name", [SCATTER, COST])
def test_a_kill_while_a_plot_is_written_leaves_the_report_whole_after_the_same_command(tmp_path: Path, name: str) -> None:
    """The first report drawn (proxy p), then a changed one (p and q) killed -9 while ``name`` is half written: the old
    PNG stays whole and is not taken as current; the report written again holds whole PNGs drawn from p and q."""
    write_reports(result(tmp_path, {"p": metrics()}, 6))
    before = (tmp_path / name).read_bytes()
    event = tmp_path / "holding"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    script = textwrap.dedent(KILLED_MID_WRITE)
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path), name, str(event)], cwd=root, env=env, start_new_session=True)
    try:
        wait_until(lambda: event.exists() or proc.poll() is not None, f"the writer holding {name} half written", 300)
        assert proc.poll() is None, f"the writer ended ({proc.returncode}) before it held {name}"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert (tmp_path / name).read_bytes() == before  # the kill left the old plot, whole
    again = result(tmp_path, {"p": metrics(), "q": metrics()}, 6)
    write_reports(again)
    for plot in (SCATTER, COST):
        data = (tmp_path / plot).read_bytes()
        assert whole_png(data)
    assert (tmp_path / name).read_bytes() != before  # drawn again from p and q, not kept as current
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # the killed write's temporary gone
