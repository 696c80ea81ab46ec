"""What every command shares: the parser class, the common options, ``--config`` files, ``--json``.

A command's options come from three places, the last winning: the dataclass defaults, the tables of
``--config FILE.toml`` (see :mod:`nas_proxy.configs`), the flags given. So flags that set a config
field default to None here ("not given") and their help states the dataclass default.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import errno
import functools
import json
import os
import re
import shlex
import string
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

from nas_proxy import checks, configs
from nas_proxy.cli.types import nonempty
from nas_proxy.configs import default_of
from nas_proxy.errors import InvalidArgumentError, NasProxyError, one_line, printed_line, shown

Subparsers = argparse._SubParsersAction
# the tables a --config file may hold (each command reads its own; see nas_proxy.configs)
TABLES = ("distill", "evaluate", "search", "correlate", "worker", "dashboard", "train")


def _optional(parser: argparse.ArgumentParser, word: str) -> tuple[Any, str | None] | None:
    """argparse's reading of ``word`` as an option: None for a positional, else (its action or None, its explicit value).
    ``_parse_optional`` is private and changed shape: a 3-tuple to 3.12.2, a 4-tuple (a separator added) in 3.12.3-3.12.6
    and 3.13.0, a list of 4-tuples since 3.12.7 and 3.13.1 (several where a single-dash word could be read several ways)."""
    found = parser._parse_optional(word)
    if isinstance(found, list):
        found = found[0] if len(found) == 1 else (None, word, None)
    return None if found is None else (found[0], found[-1])


_NEGATIVE_NUMBER = re.compile(r"^-([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$|^-(?i:inf|infinity|nan)$")


class ScriptParser(argparse.ArgumentParser):
    """argparse taking options in full only (``allow_abbrev=False``; why: :class:`Parser`), an unknown option refused
    naming the options it could mean, before anything else is said of the command line (argparse said "the following
    arguments are required: --out" for ``--ou x``): the parser of a script (``benchmarks/*.py``), whose commands
    RESULTS.md records to be run again. Before fix55b the scripts' own parsers took ``--ou x`` for ``--out x``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{**kwargs, "allow_abbrev": False})
        # a negative number is a value, written as a user writes one: argparse's own reads -1 and -0.5 only, and took
        # '--lambda -1e-3' and '--seed -1e3' for an option missing its value ("expected one argument"; probe58)
        self._negative_number_matcher = _NEGATIVE_NUMBER

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:
        words = sys.argv[1:] if args is None else list(args)
        for word in words:
            if word == "--":
                break
            if (found := _optional(self, word)) is not None and found[0] is None:  # no option of this parser
                self.error(self._unrecognized([word]))
        namespace, rest = self.parse_known_args(words, namespace)
        if rest:
            self.error(self._unrecognized(rest))
        return namespace

    def _get_option_tuples(self, option_string: str) -> list[Any]:
        """argparse's, less a group of flags: a single-dash word longer than its short option (``-hel``) is a mistyped
        option, refused by its name. ``-h`` is each parser's one short option and takes no value, so argparse read ``-hel``
        as ``-h -e -l`` and said "argument -h/--help: ignored explicit argument 'el'"."""
        return [t for t in super()._get_option_tuples(option_string) if not (t[-1] and t[0].nargs == 0)]

    def _unrecognized(self, rest: list[str]) -> str:
        """Why ``rest`` (the words no option or argument took) is refused: the first option this command does not
        take, with those it could mean (the options it abbreviates, else a close spelling), or the words left over."""
        for word in rest:
            name = word.partition("=")[0]
            if name in self._option_string_actions:  # an option of its own left over: it came after '--' (probe60: "did you mean --runs?")
                return f"{name} comes after '--', which ends the options: every word after it is a value; put {name} before the '--'"
            if (name.startswith("--") and len(name) > 2) or (name.startswith("-") and name[1:2].isalpha()):  # not -1, a number
                options = [o for o in self._option_string_actions if o.startswith("--")]
                meant = sorted(o for o in options if o.startswith(name)) or difflib.get_close_matches(name, options, n=3)
                listed = " or ".join(meant) if len(meant) < 3 else f"one of {', '.join(meant)}"
                return f"unknown option {name}" + (f"; did you mean {listed}?" if meant else "")
        return f"unrecognized arguments: {' '.join(rest)}"


class Parser(ScriptParser):
    """argparse with a one-line error (the usage is behind --help) that records the options typed
    (``configs.given(args)``): a value typed equal to its default is still known as typed.

    An option is typed in full: an abbreviation (``--ep 3`` for ``--epochs 3``) is refused, naming the options it
    could mean. nasproxy records and prints the command lines it ran (``config.toml``, RESULTS.md, a hint to copy),
    and an abbreviation that works today stops working, or means another option, once a release adds an option that
    shares its prefix (torchrun's ``--nproc`` is ambiguous since ``--nproc_per_node`` was added; git's own docs tell
    scripts to spell options out); pytest refuses abbreviations for the same reason.

    Required options (``required=True``, and required mutually exclusive groups) are shown as
    required in the usage but not checked while parsing: the namespace's :data:`MISSING` lists those
    not typed, and :func:`missing_required` names every one a command still lacks (after its
    ``--config`` file, see :func:`from_config`) in one error, instead of one per try."""

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self._before_command(sys.argv[1:] if args is None else list(args))
        for action in self._actions:
            configs.track(action)
        deferred = [a for a in self._actions if a.required and not isinstance(a, argparse._SubParsersAction)]
        groups = [g for g in self._mutually_exclusive_groups if g.required]
        with _RequiredAs(deferred, groups, False):
            namespace, rest = super().parse_known_args(args, namespace)
        typed = configs.given(namespace)
        missing: list[Any] = [a for a in deferred if a.dest not in typed]  # actions, then groups
        missing += [g for g in groups if not any(a.dest in typed for a in g._group_actions)]
        setattr(namespace, MISSING, [*getattr(namespace, MISSING, []), *missing])
        return namespace, rest

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:
        """As argparse's, but an option the command does not take is refused by that command's parser:
        its name and its --help are named (argparse names the top-level parser, whose --help lists
        commands, not their options)."""
        namespace, rest = self.parse_known_args(args, namespace)
        chosen = self._chosen(namespace) or self
        if rest:
            chosen.error(chosen._unrecognized(rest))
        for action in chosen._actions:
            value = getattr(namespace, action.dest, None)
            label = f"argument {'/'.join(action.option_strings) or action.metavar or action.dest}"
            for item in value if isinstance(value, list | tuple) else [value]:
                if isinstance(item, str | Path):
                    try:
                        checks.no_control_character(label, str(item))
                        checks.not_home_shorthand(label, str(item))  # quoted, or after '=' (--out=~/x), where bash expands no '~'
                    except NasProxyError as e:
                        chosen.error(str(e))
                if isinstance(item, str | Path) and (problem := checks.not_utf8(str(item), "arguments")) is not None:
                    chosen.error(
                        f"{label}: {shown(str(item))} holds a byte that is not UTF-8 (a name in another encoding); nasproxy "
                        "writes the names it is given into its TOML and Markdown records, which are UTF-8: rename it"
                        if problem.locale is None  # probe57: under the C locale 'sé' is UTF-8, read as ASCII: no rename helps
                        else f"{label}: {shown(str(item))}: {problem.why}; nasproxy writes the names it is given into its "
                        f"UTF-8 records: {checks.LOCALE_FIX}"
                    )
        _out_not_storage(chosen, namespace)
        return namespace

    def _chosen(self, namespace: argparse.Namespace) -> Parser | None:
        """The command's parser that parsed ``namespace``, if this parser has commands and one was given."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction) and getattr(namespace, action.dest, None):
                chosen = action.choices[getattr(namespace, action.dest)]
                return chosen if isinstance(chosen, Parser) else None
        return None

    def _before_command(self, args: list[str]) -> None:
        """Refuse an option typed before the command's name that this parser (the top level's) does not take, where
        argparse would not name it: with no command after it, or none it takes (``nasproxy --hel`` said "the following
        arguments are required: COMMAND", ``nasproxy --conf x spaces`` "invalid choice: 'x'"), or an option of the command
        named (``nasproxy --quiet search`` said "unknown option --quiet; did you mean --quiet?"), or a '--' (``nasproxy --
        spaces`` said "invalid choice: '--'": '--' ends options, and the command's name comes before its own). An option the command
        named does not take either is left to that command's parser, which names the options it could mean."""
        sub = next((a for a in self._actions if isinstance(a, argparse._SubParsersAction)), None)
        if sub is None:
            return
        unknown, command, words = None, None, iter(args)
        for word in words:
            if word == "--" and unknown is None:  # (stop 56) argparse took it for the command: "invalid choice: '--'"
                after = next((w for w in words if w != "--"), None)
                named = after if after in sub.choices else "COMMAND"
                self.error(f"'--' before the command: type the command first ({self.prog} {named} ...), a '--' only after it")
            if word == "--" or (found := _optional(self, word)) is None:  # a positional: the command's name
                command = word if word in sub.choices else None
                break
            action, value = found
            if action is None:
                unknown = unknown or word.partition("=")[0]
            elif action.nargs is None and value is None:  # its value is the next word
                next(words, None)
        if unknown is None:
            return
        owners = [name for name, p in sub.choices.items() if unknown in p._option_string_actions]
        if command in owners or (owners and command is None):
            listed = command or (
                "every command" if len(owners) == len(sub.choices) else " and ".join(filter(None, [", ".join(owners[:-1]), owners[-1]]))
            )
            self.error(f"{unknown} is an option of {listed}, not of {self.prog}: type it after the command's name")
        if command is None:
            self.error(self._unrecognized([unknown]))

    def format_usage(self) -> str:
        with _RequiredAs(*self._deferred(), True):
            return super().format_usage()

    def format_help(self) -> str:
        with _RequiredAs(*self._deferred(), True):
            return super().format_help()

    def _deferred(self) -> tuple[list[argparse.Action], list[Any]]:
        """What is required, while a ``--help`` inside parsing formats the usage."""
        actions = [a for a in self._actions if getattr(a, "_required", a.required)]
        groups = [g for g in self._mutually_exclusive_groups if getattr(g, "_required", g.required)]
        return actions, groups

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")

    # every command's parser, by command (set on each command's parser by cli.build_parser): whose an option is
    commands: dict[str, Parser] = {}  # noqa: RUF012 (an instance's own, set once built)

    @functools.cached_property
    def foreign(self) -> dict[str, list[str]]:
        """The options of the other commands that this command does not take, each with the commands that take it.
        Made at its first use (an unknown option), not by build_parser for every command: that took 1.4 ms of its
        10 ms, in every command and every in-process ``main`` (tests/bad_inputs.py runs 1,486)."""
        own = {name: set(p._option_string_actions) for name, p in self.commands.items()}
        mine = set(self._option_string_actions)
        return {o: [n for n in own if o in own[n]] for o in set().union(*own.values()) - mine}

    def _get_option_tuples(self, option_string: str) -> list[Any]:
        """argparse's (none for a long option: no abbreviation is taken), but the full name of another command's option
        is refused naming that command: before branch probe43 ``run --proxy synflow`` was taken for ``--proxy-profile
        synflow`` ("--proxy-profile file synflow does not exist"), ``distill --split 3`` for ``--split-seed 3`` (calibrate's
        --split FILE), and ``search --sample`` for ``--sampler``; since stop 54 they would be unknown options, a line
        that did not say whose they are."""
        name = option_string.partition("=")[0]
        if (owners := self.foreign.get(name)) is not None:
            close = [o for o in self._option_string_actions if o.startswith(name)]
            self.error(
                f"{name} is an option of {' and '.join(filter(None, [', '.join(owners[:-1]), owners[-1]]))}, "
                f"not of {self.prog.removeprefix('nasproxy ')}" + (f"; did you mean {' or '.join(sorted(close))}?" if close else "")
            )
        return super()._get_option_tuples(option_string)

    def _print_message(self, message: str, file: Any = None) -> None:
        """argparse's, but ``--help`` and ``--version`` on a standard output that cannot be written are
        refused in one line, exit 2, as a command's output is (argparse printed them on stderr when it
        was closed, and lost them without a word when it was full, exit 0 both); a reader that closed
        the pipe early ends it quietly, as it ends a command (``CLOSED_PIPE``)."""
        if not message or file not in (None, sys.stdout):  # None: argparse's sys.stdout, when Python started with it closed
            super()._print_message(message, file)
            return
        try:
            if sys.stdout is None:
                raise OSError(errno.EBADF, "it is closed")
            sys.stdout.write(message)
            sys.stdout.flush()
        except OSError as e:
            silence(sys.stdout)
            if isinstance(e, BrokenPipeError):  # its reader closed it early (`nasproxy --help | head -1`): no error
                self.exit(CLOSED_PIPE)
            self.exit(2, f"{self.prog}: error: cannot write standard output: {e.strerror or e}\n")


# the exit status when the reader of standard output closed it early (`nasproxy spaces | head -1`): no error of
# the user's, so no line, and the status of a Unix tool that SIGPIPE ended (`seq 1 100000 | head -1`: 128 + 13)
CLOSED_PIPE = 141


def silence(stream: Any) -> None:
    """Point ``stream``'s descriptor at /dev/null, once a write to it failed: the interpreter's last
    flush at exit then adds no second message."""
    with contextlib.suppress(OSError, ValueError, AttributeError):  # no descriptor (None, a StringIO in tests): nothing is flushed at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())


MISSING = "missing_required"  # attribute of a parsed namespace: the required options (or groups) not typed


class _RequiredAs:
    """``required`` set to ``value`` on ``actions`` and ``groups`` inside a ``with`` block, as it was
    after it (the declared value is kept as ``_required``)."""

    def __init__(self, actions: list[argparse.Action], groups: list[Any], value: bool) -> None:
        self.items = [*actions, *groups]
        self.value = value
        self.before: list[bool] = []

    def __enter__(self) -> None:
        self.before = [item.required for item in self.items]
        for item in self.items:
            item._required = getattr(item, "_required", item.required)
            item.required = self.value

    def __exit__(self, *exc: object) -> None:
        for item, before in zip(self.items, self.before, strict=True):
            item.required = before


def from_config(action: argparse.Action, table: str, key: str | None = None) -> argparse.Action:
    """Mark a required option as also given by ``key`` (default: its dest) of table ``[table]`` of ``--config``."""
    action.config_key = (table, key or action.dest)  # type: ignore[attr-defined]  # our mark on argparse's object
    return action


class Missing(NamedTuple):
    """A required option not given: its name, and the key of a ``--config`` table that gives it too."""

    name: str
    table: str | None = None
    key: str | None = None


def missing_required(args: argparse.Namespace, extra: Sequence[Missing] = ()) -> None:
    """Raise one error naming every required option ``args`` lacks: not typed (see :class:`Parser`)
    and not in its ``--config`` table either (:func:`from_config`), then ``extra`` (those a command
    finds missing by its own rule). Nothing missing: nothing happens."""
    missing: list[Missing] = []
    for m in getattr(args, MISSING, []):
        if isinstance(m, argparse.Action):
            missing.append(Missing(argparse._get_action_name(m) or m.dest, *getattr(m, "config_key", (None, None))))
        else:  # a required group: one of its options
            missing.append(Missing("one of " + "/".join(argparse._get_action_name(a) or a.dest for a in m._group_actions)))
    if missing and any(m.table for m in missing):
        file = Config(config_files(args))
        missing = [m for m in missing if m.table is None or m.key not in file.table(m.table)]
    missing += extra
    if not missing:
        return
    # a mistake in the file (a key in the wrong table, a value of the wrong type) is the real cause: said first
    check_file(getattr(args, "command", ""), Config(config_files(args)))
    keys: dict[str, list[str]] = {}  # table -> the keys that would do
    for m in missing:
        if m.table is not None and m.key is not None:
            keys.setdefault(m.table, []).append(m.key)
    also = "; ".join(f"{', '.join(k)} may also come from [{t}] of --config" for t, k in keys.items())
    see = f" (see nasproxy {args.command} --help)" if getattr(args, "command", None) else ""
    raise InvalidArgumentError(
        f"the following arguments are required: {', '.join(m.name for m in missing)}{f'; {also}' if also else ''}{see}"
    )


WORKER_NOT_FROM_FILE = ("progress", "heartbeat")  # the fields of [worker] no file sets: --quiet and the heartbeat flags only

FileTable = tuple[str, tuple[type, ...], tuple[str, ...]]  # a table's name, the dataclasses of its keys, the fields a file may not set


def file_tables(command: str) -> list[FileTable]:
    """The tables of a ``--config`` file that ``command`` reads (its sub-tables through their fields), each with the
    dataclasses whose fields its keys set and the fields a file may not set: what :func:`check_file` checks."""
    from nas_proxy.correlate.config import CorrelateConfig
    from nas_proxy.distill.config import DistillConfig, SoftLabelConfig
    from nas_proxy.protocols import EvaluateOptions
    from nas_proxy.search.config import DashboardOptions, SearchConfig, TrainBestConfig
    from nas_proxy.studies.kinds import WorkerOptions

    search: list[FileTable] = [("search", (SearchConfig, configs.SearchBudget), ())]
    tables: dict[str, list[FileTable]] = {
        "distill": [("distill", (DistillConfig,), ())],
        "soft-labels": [("distill.soft_labels", (SoftLabelConfig,), ())],
        "evaluate": [("evaluate", (EvaluateOptions,), ())],
        "search": search,
        "score": search,
        "worker": [("worker", (WorkerOptions,), WORKER_NOT_FROM_FILE)],
        "correlate": [("correlate", (CorrelateConfig, configs.CorrelateBudget), configs.CORRELATE_NOT_FROM_FILE)],
        "dashboard": [("dashboard", (DashboardOptions,), ())],
        "train": [("train", (TrainBestConfig,), ())],
    }
    return tables.get(command, [])


def check_file(command: str, file: Config) -> None:
    """Refuse the first mistake of ``file`` in the tables ``command`` reads (:func:`file_tables`): a key that is no
    option there (a value put in the wrong table: ``[distill.distill] ipc = 1``), a value of the wrong type, as the
    command refuses it once it runs. :func:`missing_required` calls it before it names a missing option: before fix57b
    "the following arguments are required: --ipc" hid the file's mistake, the real cause."""
    for name, classes, not_from_file in file_tables(command):
        allowed = configs.fields(*classes) - set(not_from_file)
        tbl, where = file.table(name, device="device" in allowed), file.where(name)
        configs.check_keys(where, tbl, allowed)
        for cls in classes:
            configs.values(cls, tbl, where)


def show(value: Any) -> str:
    """A default as a flag would be typed: lists comma-separated, floats short (0.01, 1e-05)."""
    if isinstance(value, list | tuple):
        return ",".join(show(v) for v in value)
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


FIELD = "field"  # attribute of an argparse action made by :func:`option`: the (dataclass, field name) it sets


def option(
    p: argparse.ArgumentParser | argparse._ArgumentGroup,
    *flags: str,
    field: tuple[type, str],
    help: str = "",
    none: str | None = None,
    also: str = "",
    **kwargs: Any,
) -> argparse.Action:
    """A flag that sets a config field, ``field`` = (dataclass, field name): its default is None
    ("not given": :func:`nas_proxy.configs.build` then takes the ``--config`` file's value, else the
    field's default) and its help ends with the field's default, read from the dataclass, never
    written out here. ``none`` words a None default ("all"); ``also`` follows the default (a rule)."""
    cls, name = field
    value = default_of(cls, name)
    if value is None and none is None:
        raise TypeError(f"{cls.__name__}.{name} defaults to None: say what None means with none=")
    shown = f"default: {none}" if value is None else f"default {show(value)}"
    text = f"{help} ({shown}{also})" if help else f"{shown}{also}"
    action = p.add_argument(*flags, default=None, help=text, **kwargs)
    setattr(action, FIELD, (cls, name))
    return action


def one_line_errors(name: str) -> Callable[[Callable[[list[str]], int | None]], Callable[..., int]]:
    """A script's ``main(argv)`` (``benchmarks/*.py``) under the command line's rule for bad input: a
    :class:`NasProxyError` (a missing, unreadable or garbled file the user named) is one line
    ``NAME: error: ...`` on stderr and its exit code (2), not a traceback; ``--debug`` among the
    arguments (taken out before ``main`` parses them) shows the traceback above that line, with the same exit code. Before branch
    probe41 power.py, kseed.py, zero_cost_scores.py and rank_average.py printed a traceback for a
    missing input, and fidelity.py and protocol_per_set.py kept copies of this rule."""

    def decorate(main: Callable[[list[str]], int | None]) -> Callable[..., int]:
        @functools.wraps(main)
        def run(argv: list[str] | None = None) -> int:
            args = sys.argv[1:] if argv is None else list(argv)
            debug = "--debug" in args
            try:
                return int(main([a for a in args if a != "--debug"]) or 0)
            except NasProxyError as e:
                from nas_proxy.cli import show_traceback

                show_traceback(debug)
                print(f"{name}: error: {one_line(str(e))}", file=sys.stderr)
                return e.exit_code

        return run

    return decorate


def shell_word(text: str, path: bool = False) -> str:
    """``text`` as one word a shell (bash, zsh) reads back as ``text``, for a command printed to copy: quoted as
    ``shlex.quote`` does; with a control character (a newline, a tab), ANSI-C quoted (``$'a\\nb'``), so the
    command stays on one line; a ``path`` that starts with ``-`` as ``./-x``, which no command reads as an option
    (before, ``--out -x`` printed "next: nasproxy evaluate -x", and ``--out $'a\\nb'`` a hint broken over two lines); a
    character this terminal's encoding cannot show (``PYTHONIOENCODING=ascii``, a C locale) as its UTF-8 bytes in ANSI-C
    quoting (``$'caf\\xc3\\xa9'``), which a shell reads back as the name (before stop 53 the stream's own escape,
    ``'caf\\xe9'``, printed a command that named another file)."""
    if path and text.startswith("-"):
        text = "./" + text
    if all(_plain(c) for c in text):
        return shlex.quote(text)
    escaped = "".join({"\\": "\\\\", "'": "\\'"}.get(c, c) if _plain(c) else _bytes(c) for c in text)
    return f"$'{escaped}'"


def _plain(c: str) -> bool:
    """Whether ``c`` may stand as itself in a command printed to copy: printable (not a control character, nor one that
    reorders the text around it or breaks its line: ``str.isprintable``), and one that standard output and standard
    error can both show in their encoding."""
    if not c.isprintable():  # before fix57b a control character alone (< 32, 127): '\u202e', '\x9b' stood as themselves
        return False
    for stream in (sys.stdout, sys.stderr):
        try:
            c.encode(getattr(stream, "encoding", None) or "utf-8")
        except (UnicodeEncodeError, LookupError):
            return False
    return True


def _bytes(c: str) -> str:
    """``c`` as ANSI-C escapes of its bytes (UTF-8; a byte of a non-UTF-8 file name as that byte)."""
    return "".join(f"\\x{b:02x}" for b in c.encode("utf-8", "surrogateescape"))


def say(*lines: str, file: Any = None, flush: bool = False) -> None:
    """Print each of ``lines`` as one line (on standard output; ``file``: another stream), each character a terminal
    would act on or not show as itself spelled (:func:`nas_proxy.errors.printed_line`): the one way the commands print
    what is not an error line (those: :func:`nas_proxy.errors.one_line`). A name read from a file or a storage, in a
    line, can neither drive the terminal nor break the line; a path meant to be copied is put in it with
    :func:`path_shown` or :func:`shell_word`, whose words are spelled already and read back as the name."""
    for line in lines:
        print(printed_line(line), file=file, flush=flush)


# the characters a shell reads as themselves in a word (shlex.quote's, ASCII), to which path_shown adds every printable
# character beyond ASCII (a letter of any script: no shell reads one otherwise)
_SHELL_PLAIN = frozenset(string.ascii_letters + string.digits + "@%+=:,./-_")


def path_shown(path: str | os.PathLike[str]) -> str:
    """``path`` for a line of output: as it is where a shell reads it as it is (each character stands as itself, in the
    encoding of standard output and error, and none is one a shell acts on), else as the one shell word that reads back as
    it (:func:`shell_word`: ``'my runs/best.json'``, ``$'a\\x1bb'``, ``./-x``): the line stays one line and drives
    nothing, and what a user copies from it into a shell names the file. Before fix59 a printable path was shown raw,
    blanks and ``$`` too, so that a paste of ``runs/$x/best.json`` named ``runs//best.json`` (a path spelled as Python
    writes it, ``'a\\x1bb'``, would name another too)."""
    text = os.fspath(path)
    if not text.startswith("-") and all(_plain(c) and (c in _SHELL_PLAIN or ord(c) > 127) for c in text):
        return text
    return shell_word(text, path=True)


def dashboard_command(study: str, storage: str) -> str:
    """The command that opens the dashboard on ``study``, as search and run print it to copy: each word
    quoted for a shell, a storage URL's password shown as ``***`` (storage.hidden), as every other line
    shows it (before branch probe41 this line printed it in clear; the user types their own password); a study named
    ``-x`` (a preset's name) as ``--study=-x``: probe52's ``run`` printed ``--study -x``, which argparse refuses.)"""
    from nas_proxy.studies.storage import hidden

    study_word = f"--study={shell_word(study)}" if study.startswith("-") else f"--study {shell_word(study)}"  # '--study -x': no value
    return f"nasproxy dashboard {study_word} --storage {shell_word(hidden(storage), path=True)}"


def add_quiet(p: argparse.ArgumentParser, help: str = "no progress bars or progress lines on stderr") -> None:
    """``--quiet``: the same flag and help in every command that reports progress."""
    p.add_argument("--quiet", action="store_true", help=help)


CONFIG_BEFORE = "config_before_command"  # dest of the --config files typed before the command name (config_files)


def common(before_command: bool = False) -> argparse.ArgumentParser:
    """The options of every command (also accepted before the command name: ``before_command``)."""
    p = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand's default must not overwrite ``nasproxy --debug COMMAND``
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print the result as JSON (nothing else on stdout)")
    p.add_argument(
        "--config",
        action="append",
        dest=CONFIG_BEFORE if before_command else "config",  # a command's own list would replace these (config_files)
        type=nonempty,
        metavar="FILE.toml",
        default=argparse.SUPPRESS,
        help="options from a TOML file; given again, the files are layered in order (a later file's key wins over an "
        "earlier one's); flags given win over every file",
    )
    return p


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def command_line(args: argparse.Namespace) -> str:
    """The command as a shell line, recorded with what it made: the arguments main() parsed (``args.argv``), which
    are ``sys.argv``'s from a shell; before, ``sys.argv`` always, so a ``main([...])`` called from a script or a
    notebook recorded the host program's arguments (found by fix41a)."""
    argv = getattr(args, "argv", None)
    return "nasproxy " + " ".join(shell_word(a) for a in (sys.argv[1:] if argv is None else argv))


def off(flag: bool | None) -> bool | None:
    """A ``--no-X`` flag as the value of field ``X``: False when given, None (not given) otherwise."""
    return False if flag else None


# the flags that change only how a CUDA device trains (dest -> flag, what it acts on)
CUDA_ONLY = {
    "no_amp": ("--no-amp", "bf16 autocast"),
    "channels_last": ("--channels-last", "the NHWC memory layout"),
    "cuda_graph": ("--cuda-graph", "a CUDA graph"),
}


def cuda_flags(args: argparse.Namespace, device: str) -> None:
    """Refuse a CUDA-only flag typed with an explicit CPU ``device``: it would change nothing and yet be
    recorded with the run, as ``--download`` with a dataset that downloads nothing is refused (before branch
    probe40 both were accepted). With ``auto`` the flag stays: the same command acts on a GPU where there is
    one and still runs on a laptop, where it changes nothing, as a preset's or a profile's settings do."""
    if device.split(":")[0] != "cpu":
        return
    for dest, (flag, what) in CUDA_ONLY.items():
        if getattr(args, dest, None):
            raise InvalidArgumentError(
                f"{flag} changes nothing with device {shown(device)} ({what} acts on CUDA only; the CPU trains the same "
                "without it): drop it, or use --device auto or cuda"
            )


class Config:
    """The ``--config`` files of a command (none: empty), laid over each other in the order given
    (:class:`nas_proxy.configs.Layers`): each file is read, and its tables and top-level keys checked, alone;
    then a later file's key wins over an earlier's, and :meth:`where` names, for each key, the file it came from."""

    def __init__(self, paths: str | Sequence[str] | None) -> None:
        self.layers = configs.Layers()
        for path in [paths] if isinstance(paths, str) else list(paths or ()):
            doc = configs.read(path)
            configs.check_keys(f"--config {path}", {k: v for k, v in doc.items() if isinstance(v, dict)}, TABLES, "table")
            configs.check_keys(f"--config {path}", {k: v for k, v in doc.items() if not isinstance(v, dict)}, configs.TOP_LEVEL)
            if "device" in doc:  # refused where it is written, not as the device of [distill] (each table's default)
                configs.check_value(str, doc["device"], f"--config {path}: device")
            self.layers.add(path, doc)
        self.doc = self.layers.doc

    def where(self, name: str) -> configs.Where:
        """Where table ``name`` (dotted for a sub-table) was written: ``FILE [name]``, each key's own file."""
        where = self.layers.where(name)
        if "." not in name and "device" in self.layers.origin and "device" not in where.origin:  # the top-level device (table)
            where.origin["device"] = self.layers.origin["device"]
        return where

    def table(self, name: str, device: bool = True) -> dict[str, Any]:
        """Table ``name`` (dotted for a sub-table); with ``device``, the files' top-level device
        is its default."""
        tbl = configs.table(self.doc, name, self.where(name))
        if device and "device" in self.doc and "." not in name:
            tbl.setdefault("device", self.doc["device"])
        return tbl


def config_files(args: argparse.Namespace) -> list[str]:
    """The ``--config`` files of a command line in the order typed, set as ``args.config``: those before the
    command name (``nasproxy --config A search --config B``) first, then the command's own, which argparse
    keeps apart (before branch fix48b the last ``--config`` alone was read, the others silently dropped)."""
    before = vars(args).pop(CONFIG_BEFORE, [])
    args.config = [*before, *(getattr(args, "config", None) or ())]
    # a command that reads no --config file (set_defaults(reads_config=False)) refuses one here, before a file is read:
    # refused, not ignored (a silently unread file would mislead), and before its tables are checked, which said
    # "unknown table 'calibrate'" (before stop 51) for the file's one real problem
    if args.config and getattr(args, "reads_config", True) is False:
        raise InvalidArgumentError(f"{args.command} reads no --config file yet ({', '.join(args.config)}): give its options as flags")
    return list(args.config)


def save_config(out: Path | str, tables: dict[str, Any]) -> None:
    """The resolved config beside a command's outputs, as ``config.toml`` (same keys as --config)."""
    if Path(out).is_dir():
        configs.write(Path(out) / configs.SAVED, tables)


class ProgressBars:
    """Renders the library's progress reports (:mod:`nas_proxy.progress`) on stderr: messages as
    lines, counts as one tqdm bar per stage. ``with ProgressBars():`` listens to every library call
    of the block; ``on_progress`` is the listener itself (``correlate`` takes it as an argument)."""

    def __init__(self) -> None:
        self.bars: dict[str, Any] = {}
        self._listening: Any = None

    def on_progress(self, event: Any) -> None:
        from tqdm import tqdm

        if event.message:  # a line of the library's, which may quote a name read from a file (spelled: see say)
            tqdm.write(printed_line(event.message), file=sys.stderr)
        bar = self.bars.get(event.stage)
        if event.closed:
            if bar is not None:
                bar.close()
                del self.bars[event.stage]
            return
        if not event.total:
            return
        if bar is None and event.done >= event.total:  # a note on a count already complete (distill's last score): drawn once
            return
        if bar is None:
            unit = getattr(event, "unit", "arch")
            bar = self.bars[event.stage] = tqdm(
                total=event.total, initial=event.done, desc=printed_line(event.stage), unit=unit, dynamic_ncols=True, file=sys.stderr
            )
        bar.total = event.total
        if getattr(event, "note", ""):
            bar.set_postfix_str(printed_line(event.note), refresh=False)
        bar.update(event.done - bar.n)  # redrawn at tqdm's own pace
        if event.done >= event.total:
            bar.close()
            del self.bars[event.stage]

    def __enter__(self) -> ProgressBars:
        from nas_proxy import progress

        self._listening = progress.listen(self.on_progress)
        self._listening.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._listening is not None:
            self._listening.__exit__(None, None, None)
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


def print_verdict(result: Any) -> None:
    """The report's opening sentences (``report.verdict``), as plain text."""
    from nas_proxy.report.verdict import verdict

    say("verdict:", *("  " + sentence.replace("**", "") for sentence in verdict(result)))


def _out_not_storage(parser: argparse.ArgumentParser, namespace: argparse.Namespace) -> None:
    """Refuse an --out that is the file of its --storage or --gt-storage (a journal, or a sqlite:/// database): before
    branch probe59 ``search --storage p.log --out p.log`` made the journal and the study's artifacts folder, then failed
    as "cannot write p.log: File exists", leaving both behind."""
    from nas_proxy.studies.storage import storage_file

    out = getattr(namespace, "out", None)
    if not isinstance(out, str | Path):
        return
    for option in ("--storage", "--gt-storage"):
        url = getattr(namespace, option[2:].replace("-", "_"), None)
        try:
            file = storage_file(url) if isinstance(url, str) else None
        except NasProxyError:  # a malformed URL: said where the storage is opened
            continue
        if file is not None and os.path.realpath(file) == os.path.realpath(out):
            parser.error(f"--out {shown(str(out))} is the file of {option} {shown(url)}; give each a path of its own")
