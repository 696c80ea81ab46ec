"""``--json`` on the commands that had none (worker, dashboard; run is in test_pipeline): the result
as JSON on stdout and nothing else there."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from nas_proxy.cli import main
from tests import warm
from tests.pg import free_port


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a tiny synthetic set and a search study ``s`` of one trial (studies/s/journal.log)."""
    root = tmp_path_factory.mktemp("json")
    from nas_proxy.distill import DistillConfig, distill
    from nas_proxy.search import ProxyConfig, SearchConfig, search

    distill(DistillConfig(dataset="digits", ipc=1, iterations=1, batch_real=4, net_width=8, device="cpu"), root / "syn", progress=False)
    config = SearchConfig(synthetic=str(root / "syn"), space="convnet-cpu", sampler="random", device="cpu", proxy=ProxyConfig(epochs=1))
    search(config, "s", 1, str(root / "journal.log"), out=root / "out", progress=False)
    return root


def test_worker_json_is_the_study_after_it(study: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["worker", "--study", "s", "--storage", str(study / "journal.log"), "--n-trials", "2", "--quiet", "--json"])
    out = json.loads(capsys.readouterr().out)  # the whole of stdout is the JSON
    assert code == 0 and out["study"] == "s" and out["trials"]["complete"] == 2 and out["config"]["n_trials"] == 2


def test_dashboard_json_is_printed_before_it_serves(study: Path) -> None:
    port = free_port()
    args = ["dashboard", "--study", "s", "--storage", str(study / "journal.log"), "--port", str(port), "--json"]
    proc = warm.Popen([sys.executable, "-m", "nas_proxy", *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not lines or lines[-1] != "}\n":  # the JSON object, printed with indentation
            line = proc.stdout.readline()
            assert line, f"dashboard exited with {proc.poll()} before printing its JSON: {''.join(lines)}"
            lines.append(line)
        ready = json.loads("".join(lines))
        assert ready["url"] == f"http://127.0.0.1:{port}/" and ready["config"]["port"] == port
        deadline = time.monotonic() + 120
        while True:  # the server starts right after the JSON
            try:
                with urllib.request.urlopen(ready["url"], timeout=10) as page:
                    assert page.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "the dashboard never answered"
                time.sleep(0.5)
    finally:
        proc.terminate()  # (the server is stopped, not interrupted: wsgiref swallows a Ctrl-C that lands in a request)
        rest, _ = proc.communicate(timeout=120)
    assert rest == ""  # nothing else on stdout
    assert proc.returncode == 143  # SIGTERM stops the server whatever it was doing (wsgiref swallows a KeyboardInterrupt in a request)
