"""``nasproxy spaces``: the registered search spaces."""

from __future__ import annotations

import argparse

from nas_proxy.checks import nonempty
from nas_proxy.cli.common import Config, Subparsers, print_json


def add_spaces(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "spaces",
        parents=[common],
        help="list the registered search spaces",
        description="List the registered search spaces, or describe one.",
    )
    p.add_argument(
        "name", nargs="?", type=nonempty, help="a space name or file to describe (default: [search] space of --config, else all)"
    )
    p.set_defaults(func=cmd_spaces)


def cmd_spaces(args: argparse.Namespace) -> int:
    from nas_proxy import configs
    from nas_proxy.search import SearchConfig
    from nas_proxy.spaces import get_space, space_names

    file = Config(args.config)
    name = args.name or configs.values(SearchConfig, file.table("search"), file.where("search")).get("space")
    described = [get_space(n).describe() for n in ([name] if name else space_names())]
    if args.json:
        print_json(described)
    else:
        for d in described:
            size = d.get("size")
            print(f"{d['name']:<16} family={d['family']:<8} size={size if size else 'conditional'}  {d.get('description', '')}")
    return 0
