"""Screenshots of what a user reads, in headless Chromium: a correlation report and the dashboard.

    python scripts/screenshot.py report [REPORT_DIR] --out shots/
        REPORT_DIR: a ``nasproxy correlate`` output (report.html); without it, the crowded report
        of tests/correlate/test_correlate_report.py (a long proxy name, close points, an architecture at
        chance, a 4-architecture ceiling) is written to OUT/crowded first. Also prints the texts
        of its plots that overlap (none expected).
    python scripts/screenshot.py dashboard STORAGE --out shots/ [--path /dashboard/studies/1]
        optuna-dashboard served on STORAGE (a journal file, sqlite:///, postgresql://) at a free
        port, each study's page shot, and any HTTP status >= 500 the page's requests got.

Needs ``chromium`` (Debian: ``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, ClassVar
from wsgiref.simple_server import WSGIRequestHandler, make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    sys.exit("no chromium on PATH (Debian: apt-get install chromium)")


def shoot(url: str, png: Path, width: int = 1300, height: int = 2600) -> None:
    """``url`` rendered by headless Chromium into ``png`` (JavaScript given 8 s of virtual time)."""
    cmd = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--virtual-time-budget=8000",
        f"--window-size={width},{height}",
        f"--screenshot={png}",
        url,
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    print(f"{png}  <- {url}")


def report(args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nas_proxy.report.notes import failed_archs
    from nas_proxy.report.plots import cost_figure, overlaps, scatter_figure
    from nas_proxy.report.render import write_reports

    folder = args.dir
    if folder is None:
        from tests.correlate.test_correlate_report import crowded

        folder = args.out / "crowded"
        result = crowded(folder)
        write_reports(result)
        for name, fig in (("fidelity_cost", cost_figure(result)), ("scatter", scatter_figure(result, failed_archs(result)))):
            print(f"{name}: overlapping or clipped texts: {overlaps(fig) or 'none'}")
            plt.close(fig)
    shoot((folder / "report.html").resolve().as_uri(), args.out / "report.png", height=args.height)


class _Logged(WSGIRequestHandler):
    errors: ClassVar[list[str]] = []

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        if str(code).isdigit() and int(code) >= 500:
            self.errors.append(f"{code} {self.requestline}")

    def log_message(self, format: str, *args: Any) -> None:
        pass


def dashboard(args: argparse.Namespace) -> None:
    import optuna
    import optuna_dashboard

    from nas_proxy.studies.storage import open_storage

    storage, _ = open_storage(args.storage, args.study)
    server = make_server("127.0.0.1", 0, optuna_dashboard.wsgi(storage), handler_class=_Logged)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        paths = args.path or [
            f"/dashboard/studies/{s._study_id}" for s in optuna.get_all_study_summaries(storage, include_best_trial=False)
        ]
        for i, path in enumerate(paths):
            shoot(base + path, args.out / f"dashboard-{i}.png", height=args.height)
    finally:
        server.shutdown()
    print(f"server errors: {_Logged.errors or 'none'}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    r = sub.add_parser("report", help="a correlation report (report.html)")
    r.add_argument("dir", nargs="?", type=Path, help="a correlate output directory (default: the crowded test report)")
    d = sub.add_parser("dashboard", help="optuna-dashboard on a storage")
    d.add_argument("storage", help="a journal file, sqlite:/// or postgresql:// URL")
    d.add_argument("--study", default="demo", help="a study in it (names the storage's folder when STORAGE is a name)")
    d.add_argument("--path", action="append", help="a page of the dashboard (default: every study's page)")
    for s in (r, d):
        s.add_argument("--out", type=Path, default=Path("shots"), help="where the PNGs go")
        s.add_argument("--height", type=int, default=2600, help="window height in pixels")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    {"report": report, "dashboard": dashboard}[args.what](args)


if __name__ == "__main__":
    main()
