"""``nasproxy dashboard``: optuna-dashboard on a study (table ``[dashboard]``)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from types import FrameType

from nas_proxy.cli.common import Config, Subparsers, add_quiet, option, print_json, say
from nas_proxy.cli.types import integer, nonempty
from nas_proxy.search.config import DashboardOptions


def add_dashboard(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "dashboard",
        parents=[common],
        help="open optuna-dashboard on a study",
        description="Serve optuna-dashboard for a study (127.0.0.1 by default). Options also come from [dashboard] of --config.",
    )
    p.add_argument(
        "--study",
        required=True,
        help="a study made by nasproxy search (its storage: --storage); the dashboard lists every study of that storage",
    )
    p.add_argument("--storage", type=nonempty, help="default: studies/STUDY/journal.log")
    option(p, "--host", field=(DashboardOptions, "host"))
    option(p, "--port", type=integer, field=(DashboardOptions, "port"))
    add_quiet(p, "accepted as by every command; this one draws no progress")  # before branch probe41, refused as unknown
    p.set_defaults(func=cmd_dashboard)


def _stopped(signum: int, frame: FrameType | None) -> None:
    sys.stdout.flush()
    by = "" if signum == signal.SIGINT else f" by {signal.Signals(signum).name}"  # the words of every command's (interrupts)
    print(f"nasproxy dashboard: interrupted{by}", file=sys.stderr, flush=True)
    os._exit(128 + signum)


def cmd_dashboard(args: argparse.Namespace) -> int:
    from nas_proxy import configs
    from nas_proxy.search.dashboard import serve

    file = Config(args.config)
    o = configs.build(DashboardOptions, file.table("dashboard", device=False), file.where("dashboard"), host=args.host, port=args.port)

    def ready(url: str) -> None:  # printed once the study is found, before the server blocks
        # the server writes nothing, so SIGTERM and Ctrl-C stop it at once: raised as a KeyboardInterrupt (nas_proxy.interrupts),
        # either would be swallowed by wsgiref when it lands inside a request, and the server would go on; and
        # optuna-dashboard's run_server returns on a Ctrl-C, which exited 0 with nothing said (drill48), where every
        # command, this one too before it serves, exits 130 with one line
        signal.signal(signal.SIGTERM, _stopped)
        signal.signal(signal.SIGINT, _stopped)
        if args.json:
            print_json({"study": args.study, "url": url, "config": vars(o)})
        else:
            say(f"optuna-dashboard for study {args.study!r} at {url} (Ctrl-C to stop)")
        sys.stdout.flush()

    serve(args.study, args.storage, o.host, o.port, on_ready=ready)
    return 0
