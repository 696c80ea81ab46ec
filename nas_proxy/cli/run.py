"""``nasproxy run PRESET``: distill -> search -> correlate from one TOML file (see :mod:`nas_proxy.pipeline`)."""

from __future__ import annotations

import argparse
import sys

from nas_proxy.cli.common import Subparsers, add_quiet, dashboard_command, path_shown, print_json, print_verdict, say
from nas_proxy.cli.search import print_ladder, print_promoted
from nas_proxy.cli.types import nonempty
from nas_proxy.errors import InvalidArgumentError


def add_run(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "run",
        parents=[common],
        help="distill -> search -> correlate from a preset",
        description="Run the whole pipeline from a preset file (presets/*.toml, or its name: demo); run it again to resume.",
    )
    p.add_argument(
        "preset",
        nargs="?",
        type=nonempty,
        help="a preset TOML file, e.g. presets/fashion-mnist-convnet720.toml, or the name of one in presets/ (demo); or --config FILE",
    )
    p.add_argument("--dataset", type=nonempty, metavar="NAME", help="replace the preset's dataset (the run gets its own name)")
    p.add_argument("--device", type=nonempty, help="replace the preset's device")
    p.add_argument(
        "--proxy-profile",
        type=nonempty,
        metavar="FILE",
        help="a proxy profile (nasproxy calibrate writes one): the search's proxy training where the preset's [search.proxy] sets no "
        "value, and its ladder (calibrate --ladders) where the preset's [search] names no proxy_name or ladder",
    )
    add_quiet(p, "no progress bars and no stage lines")
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from nas_proxy.pipeline import clock, run
    from nas_proxy.report.render import summary_lines

    # a preset names its run and study: two are not layered (before fix48b the last --config alone ran, silently)
    given = [*([args.preset] if args.preset else []), *(f"--config {c}" for c in getattr(args, "config", None) or ())]
    if len(given) > 1:
        raise InvalidArgumentError(f"give the preset once: {' or '.join(given)}, not {'both' if len(given) == 2 else 'all of them'}")
    preset = args.preset or (args.config[0] if given else None)
    if not preset:
        raise InvalidArgumentError("the following arguments are required: preset (or --config FILE)")

    def stage(line: str) -> None:  # stdout belongs to the JSON with --json
        say(line, file=sys.stderr if args.json else sys.stdout, flush=True)

    done = run(
        preset, args.dataset, args.device, progress=not args.quiet, on_stage=None if args.quiet else stage, proxy_profile=args.proxy_profile
    )
    if args.json:
        print_json({**{k: v for k, v in done.items() if k != "result"}, "result": done["result"].to_dict()})
        return 0
    say(*summary_lines(done["result"]))
    if done["promotion"]:
        print_promoted(done["promotion"])
    if done.get("ladder"):
        print_ladder(done["ladder"])
    print_verdict(done["result"])
    if done["synthetic"]:  # none with a training-free or early-stopping proxy
        say(f"synthetic set: {path_shown(done['synthetic'])}")
    say(f"search:        {path_shown(done['search']['best'])}  (all trials: {path_shown(done['search']['trials'])})")
    say(f"report:        {path_shown(done['report'])}")
    say(f"config:        {path_shown(done['config'])}")
    say(f"dashboard:     {dashboard_command(done['study'], done['storage'])}")
    stages = ", ".join(f"{stage} {clock(s)}" for stage, s in done["seconds"].items())
    say(f"time:          {stages}; total {clock(done['seconds_total'])} (wall clock)")
    return 0
