"""What every command shares: the parser class, the common options, ``--config`` files, ``--json``.

A command's options come from three places, the last winning: the dataclass defaults, the tables of
``--config FILE.toml`` (see :mod:`nas_proxy.configs`), the flags given. So flags that set a config
field default to None here ("not given") and their help states the dataclass default.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any, NoReturn

from nas_proxy import configs
from nas_proxy.checks import nonempty
from nas_proxy.errors import InvalidArgumentError

Subparsers = argparse._SubParsersAction
# the tables a --config file may hold (each command reads its own; see nas_proxy.configs)
TABLES = ("distill", "evaluate", "search", "correlate", "worker", "dashboard")


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (the usage is behind --help) that records the options typed
    (``configs.given(args)``): a value typed equal to its default is still known as typed."""

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        for action in self._actions:
            configs.track(action)
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def common() -> argparse.ArgumentParser:
    """The options of every command (also accepted before the command name)."""
    p = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand's default must not overwrite ``nasproxy --debug COMMAND``
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print the result as JSON (nothing else on stdout)")
    p.add_argument(
        "--config", type=nonempty, metavar="FILE.toml", default=argparse.SUPPRESS, help="options from a TOML file; flags given win"
    )
    return p


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def command_line() -> str:
    return "nasproxy " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def off(flag: bool | None) -> bool | None:
    """A ``--no-X`` flag as the value of field ``X``: False when given, None (not given) otherwise."""
    return False if flag else None


class Config:
    """The ``--config`` file of a command (empty without one): its tables, checked as they are read."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.doc: dict[str, Any] = configs.read(path) if path else {}
        if path:
            configs.check_keys(f"--config {path}", {k: v for k, v in self.doc.items() if isinstance(v, dict)}, TABLES, "table")
            configs.check_keys(f"--config {path}", {k: v for k, v in self.doc.items() if not isinstance(v, dict)}, configs.TOP_LEVEL)

    def where(self, name: str) -> str:
        return f"{self.path} [{name}]"

    def table(self, name: str, device: bool = True) -> dict[str, Any]:
        """Table ``name`` (dotted for a sub-table); with ``device``, the file's top-level device
        is its default."""
        tbl = configs.table(self.doc, name, self.where(name))
        if device and "device" in self.doc and "." not in name:
            tbl.setdefault("device", self.doc["device"])
        return tbl


def required(value: Any, flag: str, key: str, table: str) -> Any:
    """A value a command cannot run without, from its flag or its config table."""
    if value is None:
        raise InvalidArgumentError(f"the following arguments are required: {flag} (or {key} in [{table}] of --config)")
    return value


def save_config(out: Path | str, tables: dict[str, Any]) -> None:
    """The resolved config beside a command's outputs, as ``config.toml`` (same keys as --config)."""
    if Path(out).is_dir():
        configs.write(Path(out) / "config.toml", tables)


class ProgressBars:
    """Renders a stage's progress reports: messages as lines, counts as one tqdm bar per stage."""

    def __init__(self) -> None:
        self.bars: dict[str, Any] = {}

    def on_progress(self, event: Any) -> None:
        from tqdm import tqdm

        if event.message:
            tqdm.write(event.message, file=sys.stderr)
        if event.total:
            bar = self.bars.get(event.stage)
            if bar is None:
                bar = self.bars[event.stage] = tqdm(total=event.total, desc=event.stage, unit="arch", dynamic_ncols=True)
            bar.update(event.done - bar.n)
            if event.done >= event.total:
                bar.close()

    def __enter__(self) -> ProgressBars:
        return self

    def __exit__(self, *exc: object) -> None:
        for bar in self.bars.values():
            bar.close()


def print_verdict(result: Any) -> None:
    """The report's opening sentences (``correlate.verdict``), as plain text."""
    from nas_proxy.correlate.verdict import verdict

    print("verdict:")
    for sentence in verdict(result):
        print("  " + sentence.replace("**", ""))
