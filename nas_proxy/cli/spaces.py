"""``nasproxy spaces``: the registered search spaces."""

from __future__ import annotations

import argparse

from nas_proxy.cli.common import Config, Subparsers, add_quiet, print_json, say
from nas_proxy.cli.types import nonempty


def add_spaces(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "spaces",
        parents=[common],
        help="list the registered search spaces, or describe one",
        description="List the registered search spaces (one line each), or describe one: its dimensions and their values, size, family.",
    )
    p.add_argument(
        "name", nargs="?", type=nonempty, help="a space name or file to describe (default: [search] space of --config, else all)"
    )
    add_quiet(p, "accepted as by every command; this one draws no progress")  # before branch probe41, refused as unknown
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
    elif name:
        say(*describe_lines(described[0]))
    else:
        for d in described:
            size = d.get("size")
            say(f"{d['name']:<16} family={d['family']:<8} size={size if size else 'conditional'}  {d.get('description', '')}")
    return 0


def describe_lines(d: dict[str, object]) -> list[str]:
    """One space's ``describe()`` for people: its name, family, size, description, then each
    searched dimension with its values, the fixed settings and any other key the family adds."""
    size = d.get("size")
    lines = [
        f"{d['name']}  (family {d['family']})",
        f"  {d['description']}" if d.get("description") else "",
        f"size: {size:,} architectures" if size else "size: conditional (not a product of the choices below)",
    ]
    params = d.get("params") or {}
    fixed = d.get("fixed") or {}
    assert isinstance(params, dict) and isinstance(fixed, dict)
    width = max((len(k) for k in [*params, *fixed]), default=0)
    if params:
        lines.append(f"searched ({len(params)} dimensions):")
        lines += [f"  {k:<{width}}  {_values(v, count=True)}" for k, v in params.items()]
    if fixed:
        lines.append("fixed:")
        lines += [f"  {k:<{width}}  {_values(v)}" for k, v in fixed.items()]
    for key, value in d.items():
        if key not in ("name", "family", "description", "size", "params", "fixed"):
            lines.append(f"{key.replace('_', ' ')}: {_values(value)}")
    return [line for line in lines if line]


def _values(v: object, count: bool = False) -> str:
    """A list as ``a, b, c`` (with ``count``: and how many), anything else as itself."""
    if isinstance(v, list | tuple):
        return ", ".join(str(x) for x in v) + (f"  ({len(v)} values)" if count else "")
    return str(v)
