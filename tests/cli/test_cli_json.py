"""``--json`` on the commands that had none (worker, dashboard; run is in test_pipeline): the result
as JSON on stdout and nothing else there."""

from __future__ import annotations

import itertools
import json
import sys
import urllib.request
from pathlib import Path
from typing import IO

import pytest

from nas_proxy.cli import main
from tests import warm
from tests.dashboard_port import free_ports, serving


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


def _json_object(out: IO[str]) -> str:
    """The JSON object the dashboard prints (with indentation) before it serves; "" if it ends first."""
    lines: list[str] = []
    while not lines or lines[-1] != "}\n":
        line = out.readline()
        if not line:
            return ""
        lines.append(line)
    return "".join(lines)


def test_dashboard_json_is_printed_before_it_serves(study: Path) -> None:
    """On a port free when asked, started again on another where another process took it meanwhile (fix50d: before,
    the test failed then)."""
    args = ["dashboard", "--study", "s", "--storage", str(study / "journal.log"), "--json"]
    proc, port, printed = serving([sys.executable, "-m", "nas_proxy", *args], warm.Popen, _json_object, text=True)
    try:
        ready = json.loads(printed)
        assert ready["url"] == f"http://127.0.0.1:{port}/" and ready["config"]["port"] == port
        with urllib.request.urlopen(ready["url"], timeout=10) as page:  # serving (serving() waited for its answer)
            assert page.status == 200
    finally:
        proc.terminate()  # (the server is stopped, not interrupted: wsgiref swallows a Ctrl-C that lands in a request)
        rest, _ = proc.communicate(timeout=120)
    assert rest == ""  # nothing else on stdout
    assert proc.returncode == 143  # SIGTERM stops the server whatever it was doing (wsgiref swallows a KeyboardInterrupt in a request)


def test_a_dashboard_port_taken_meanwhile_is_tried_again_on_another(study: Path) -> None:
    """fix50d: the port a test picks free can be taken before the dashboard binds it (tests run beside each other):
    here the test itself holds the first port offered, listening; the dashboard refuses it ('is in use'), and
    serving() starts it again on the next, which it serves."""
    import socket

    args = [sys.executable, "-m", "nas_proxy", "dashboard", "--study", "s", "--storage", str(study / "journal.log")]
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        proc, port, first = serving(args, warm.Popen, ports=iter([taken, *itertools.islice(free_ports(), 3)]), text=True)
        try:
            assert port != taken and first == f"optuna-dashboard for study 's' at http://127.0.0.1:{port}/ (Ctrl-C to stop)\n"
        finally:
            proc.terminate()
            proc.communicate(timeout=120)
