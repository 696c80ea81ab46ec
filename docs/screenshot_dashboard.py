"""Remake docs/dashboard.png: a finished study shown by ``nasproxy dashboard``, captured by headless Chromium.

    apt-get install -y chromium            # Debian's package; any Chromium or Chrome on PATH works
    .venv/bin/python docs/screenshot_dashboard.py                      # a tiny digits set, made on the spot
    .venv/bin/python docs/screenshot_dashboard.py --synthetic benchmarks/out/fashion/datadam-ipc10
    .venv/bin/python docs/screenshot_dashboard.py --study demo --storage studies/demo/journal.log   # after make demo: its study

Steps: (1) without ``--synthetic``, ``nasproxy distill`` makes a tiny digits set (IPC 2, 4 iterations);
(2) ``nasproxy search`` runs a 12-trial study on it (30 epochs, a report every 5, so the median pruner acts) into a
temporary journal; (3) ``nasproxy dashboard`` serves it on ``--port``; once the API answers, the study's id is read from
``/api/studies``; (4) Chromium loads ``/dashboard/studies/<id>`` (a single-page app: ``--virtual-time-budget`` lets
it fetch and draw the plots before the capture); (5) the server is stopped. Everything but the PNG is temporary.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NASPROXY = [sys.executable, "-m", "nas_proxy"]  # the interpreter running this script has the package
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
STUDY = "demo-shot"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--synthetic", type=Path, default=None, help="a synthetic set to search on (default: a tiny digits set)")
    p.add_argument("--study", default=None, help="an existing study to show (with --storage), instead of making one")
    p.add_argument("--storage", type=Path, default=None, help="the existing study's journal (with --study)")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard.png")
    p.add_argument("--port", type=int, default=8085)
    p.add_argument("--n-trials", type=int, default=12)
    p.add_argument("--epochs", type=int, default=30, help="proxy epochs per trial")
    p.add_argument("--window", default="1600,1000", help="browser window width,height in pixels")
    p.add_argument("--render-ms", type=int, default=10000, help="Chromium's virtual time budget for the page to draw")
    return p.parse_args()


def q(path: Path) -> str:
    return shlex.quote(str(path))


def run(cmd: list[str]) -> None:
    print("+", shlex.join(cmd), file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def nasproxy(command: str) -> None:
    """``nasproxy COMMAND`` (a shell-quoted string) with this interpreter."""
    run([*NASPROXY, *shlex.split(command)])


def browser() -> str:
    for name in BROWSERS:
        if path := shutil.which(name):
            return path
    raise SystemExit(f"no headless browser found (looked for {', '.join(BROWSERS)}); install one: apt-get install -y chromium")


def wait_for_study(base: str, server: subprocess.Popen[bytes], name: str, timeout: float = 60.0) -> int:
    """Poll the dashboard's API until it answers; the id of study ``name``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"nasproxy dashboard exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/api/studies", timeout=5) as response:
                studies = json.load(response)["study_summaries"]
            return next(int(s["study_id"]) for s in studies if s["study_name"] == name)
        except (urllib.error.URLError, ConnectionError, StopIteration):
            time.sleep(1.0)
    raise SystemExit(f"the dashboard at {base} did not list study {name!r} within {timeout:.0f} s")


def main() -> int:
    args = parse_args()
    chromium = browser()
    with tempfile.TemporaryDirectory(prefix="nasproxy-shot-") as tmp:
        study, storage = args.study, args.storage
        if study is None or storage is None:
            study, storage = STUDY, Path(tmp) / "journal.log"
            synthetic = args.synthetic
            if synthetic is None:
                synthetic = Path(tmp) / "synthetic"
                nasproxy(f"distill --dataset digits --ipc 2 --iterations 4 --batch-real 8 --device cpu --out {q(synthetic)} --quiet")
            search = (
                f"search --synthetic {q(synthetic)} --space convnet720 --study {STUDY} --storage {q(storage)} --n-trials {args.n_trials}"
            )
            nasproxy(f"{search} --epochs {args.epochs} --report-every 5 --device cpu --out {q(Path(tmp) / 'export')} --quiet")
        dashboard = [*NASPROXY, "dashboard", "--study", study, "--storage", str(storage), "--port", str(args.port)]
        print("+", shlex.join(dashboard), "&", file=sys.stderr, flush=True)
        server = subprocess.Popen(dashboard, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{args.port}"
            study_id = wait_for_study(base, server, study)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            flags = "--headless --no-sandbox --disable-gpu --disable-background-networking --hide-scrollbars"
            flags += f" --window-size={args.window} --virtual-time-budget={args.render_ms} --screenshot={q(args.out.resolve())}"
            run([chromium, *shlex.split(flags), f"{base}/dashboard/studies/{study_id}"])
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
