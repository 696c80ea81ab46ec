"""Config files: one TOML spelling of every stage's options, read into the stages' dataclasses.

A file (``--config FILE.toml`` on any command, or a preset of ``nasproxy run``) holds one table per
stage; its keys are the field names of the stage's dataclass, and a dataclass field that is itself a
dataclass is a sub-table::

    name = "demo"          # top level, read by `nasproxy run`: name, description, device, runs
    device = "auto"        # also the device of every stage that does not set its own
    [distill]              # DistillConfig
    [evaluate]             # EvaluateOptions (runs, model, seed, device, data_root, hard_labels)
    [evaluate.train]       # TrainConfig
    [search]               # SearchConfig and SearchBudget (n_trials, timeout, workers, promote, promote_epochs, promote_images, promote_protocol)
    [search.proxy]         # ProxyConfig
    [correlate]            # CorrelateConfig and CorrelateBudget (n_archs)
    [correlate.ground_truth]  # GroundTruthConfig
    [correlate.proxy]      # ProxyConfig (`nasproxy correlate`; `run` takes the search's)
    [worker]               # WorkerOptions
    [dashboard]            # DashboardOptions

Values win in this order: the dataclass default < the file < a flag given on the command line.
``--config`` given more than once layers the files in order (:class:`Layers`): a later file's key wins over an
earlier file's, sub-tables merged key by key and arrays replaced whole; each file is read and checked alone
first, and a bad key or value names the file that holds it (:class:`Where`).
Unknown keys, values of the wrong type and non-finite numbers are refused in one line naming the
file, the table and the key, and so is an option asked for where it changes nothing (``select_every``
without ``select_by``: a dataclass's ``idle_options``, see :func:`build`). :func:`dumps` writes a
resolved config back in the same spelling.
"""

from __future__ import annotations

import codecs
import dataclasses
import functools
import json
import math
import os
import re
import stat
import sys
import types
import typing
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from nas_proxy import checks
from nas_proxy.errors import InvalidArgumentError, NasProxyWarning, shown
from nas_proxy.files import read_failure, write_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

T = TypeVar("T")
TOP_LEVEL = ("name", "description", "device", "runs")  # the keys outside every table (presets)
GIVEN = "options_given"  # attribute of an argparse namespace: the ``dest`` of every option typed on the command line


def track(action: Any) -> None:
    """Make an argparse action record, when the user types its option, its ``dest`` in the
    namespace's :data:`GIVEN` set: a flag typed with its default value is given all the same (a
    value equal to the default never stands for "not typed")."""
    cls = type(action)
    if getattr(cls, "_records_given", False):
        return
    if cls not in _RECORDING:

        class Recording(cls):  # type: ignore[valid-type,misc]  # a subclass of a class known at run time
            _records_given = True

            def __call__(self, parser: Any, namespace: Any, values: Any, option: str | None = None) -> None:
                setattr(namespace, GIVEN, {*getattr(namespace, GIVEN, ()), self.dest})
                super().__call__(parser, namespace, values, option)

        Recording.__name__ = cls.__name__
        _RECORDING[cls] = Recording
    action.__class__ = _RECORDING[cls]


_RECORDING: dict[type, type] = {}  # argparse action class -> its recording subclass


def given(namespace: Any) -> frozenset[str]:
    """The ``dest`` of every option typed on the command line that made ``namespace`` (see :func:`track`)."""
    return frozenset(getattr(namespace, GIVEN, ()))


@dataclass
class SearchBudget:
    """How much of a search one command runs, not stored in the study's :class:`SearchConfig`: its trials
    (``n_trials``), time (``timeout``) and processes (``workers``), and the promotion after it, a real training of
    its best candidates (``promote``, ``promote_epochs``, ``promote_images``, ``promote_protocol``)."""

    n_trials: int = 50  # trials of the study, complete + pruned, across workers and runs; a demo-sized default
    timeout: float | None = None  # seconds after which no trial starts; None: no limit
    workers: int = 1  # processes on this machine (one process is the safe default on a shared CPU)
    promote: int = 0  # then train the K best distinct candidates on the real training split (0: none, the proxy alone)
    promote_epochs: int | None = None  # epochs of each promoted training; None: the ground truth's (search.config.promotion_epochs)
    promote_images: int | None = None  # training images of each promoted training; None: the whole training split
    promote_protocol: str | None = None  # a name of protocols.TRAINING_PROTOCOLS for each promoted training; None: standard


@dataclass
class CorrelateBudget:
    """How many architectures a correlation checks."""

    n_archs: int = 20  # from the study's best (then stratified) or the space; 20 keeps a CPU run short


# CorrelateConfig's fields no config file sets (the data's split and a batch size of the training-free scores: a
# correlation's own, fixed), so left out of the config.toml a correlation writes
CORRELATE_NOT_FROM_FILE = ("split_seed", "val_fraction", "zero_cost_batch")


def read(path: Path | str, what: str = "--config") -> dict[str, Any]:
    """The tables of a TOML file; one-line errors for a missing, unreadable or malformed file."""
    p = Path(path)
    if checks.status(what, p) is None:
        raise checks.not_found(what, p)
    try:
        doc = tomllib.loads(checks.read_text(what, p, checks.SETTINGS_BYTES_MAX), parse_float=_file_float)
    except tomllib.TOMLDecodeError as e:
        raise InvalidArgumentError(f"{what} {p} is not valid TOML: {' '.join(str(e).split())}") from None
    except RecursionError:  # tomllib recurses into nested arrays and inline tables: before, an internal error
        raise checks.too_deep(f"{what} {p}") from None
    _no_number_rounded_to_0(doc, f"{what} {p}")
    _no_arrays_of_tables(doc, f"{what} {p}")
    return doc


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")  # a TOML key written without quotes


@dataclass(frozen=True)
class _RoundsTo0:
    """A float of a TOML file that rounds to 0 (``why``: :func:`nas_proxy.checks.file_float`'s words), kept in the
    document in its value's place until its key is known: tomllib gives its float parser the number's text alone."""

    why: str


def _file_float(text: str) -> float | _RoundsTo0:
    try:
        return checks.file_float(text)
    except ValueError as e:
        return _RoundsTo0(str(e))


def _no_number_rounded_to_0(value: Any, where: str, table: str = "", key: str = "") -> None:
    """Refuse the first number of ``value`` (a TOML document, read with :func:`_file_float`) that rounds to 0, naming its
    table and key (an array's item by its index: ``lrs[1]``). Before fix59: "--config c.toml: the number '1e-400' rounds
    to 0", no key."""
    if isinstance(value, _RoundsTo0):
        raise InvalidArgumentError(f"{where}{f' [{table}]' if table else ''}: {key}: {value.why}")
    if isinstance(value, Mapping):
        for k, v in value.items():
            name = k if _BARE_KEY.fullmatch(k) else shown(k)
            if key:  # a table inside an array: its keys after the array's item
                _no_number_rounded_to_0(v, where, table, f"{key}.{name}")
            elif isinstance(v, Mapping):
                _no_number_rounded_to_0(v, where, f"{table}.{name}" if table else name)
            else:
                _no_number_rounded_to_0(v, where, table, name)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _no_number_rounded_to_0(v, where, table, f"{key}[{i}]")


def _no_arrays_of_tables(doc: Mapping[str, Any], where: str, prefix: str = "") -> None:
    """Refuse ``[[name]]`` (an array of tables): every stage has one table of options."""
    for key, value in doc.items():
        if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            raise InvalidArgumentError(
                f"{where}: [[{prefix}{key}]] is an array of tables; write [{prefix}{key}] (one table of options, single brackets)"
            )
        if isinstance(value, Mapping):
            _no_arrays_of_tables(value, where, f"{prefix}{key}.")


@dataclass
class Layers:
    """Config files laid over each other in the order given (``--config A --config B``, :meth:`add`): a later
    file's key replaces an earlier file's, a table is merged key by key (a sub-table too), an array is replaced
    whole. Each value keeps the file it came from, and each value a later file replaced is kept to be checked
    too (:func:`values`): a file with a bad value is refused even where another file overrides that value."""

    paths: list[str] = field(default_factory=list)  # the files, in order
    doc: dict[str, Any] = field(default_factory=dict)  # their tables, laid over each other
    origin: dict[str, str] = field(default_factory=dict)  # dotted key of a value of doc ("search.proxy.epochs") -> its file
    shadowed: dict[str, list[tuple[str, Any]]] = field(default_factory=dict)  # dotted key -> (file, value) replaced since

    def add(self, path: str, doc: Mapping[str, Any]) -> None:
        """Lay the tables ``doc`` of file ``path`` over those before it."""
        self.paths.append(path)
        self._lay(self.doc, doc, path, "")

    def _lay(self, into: dict[str, Any], doc: Mapping[str, Any], path: str, prefix: str) -> None:
        for key, value in doc.items():
            dotted = prefix + key
            merged = isinstance(value, Mapping) and isinstance(into.get(key), dict)
            if key in into and not merged:  # replaced: its values (a whole table's) are shadowed
                for k in [k for k in self.origin if k == dotted or k.startswith(dotted + ".")]:
                    self.shadowed.setdefault(k, []).append((self.origin.pop(k), _get(into, k[len(prefix) :])))
            if isinstance(value, Mapping):
                into[key] = into[key] if merged else {}
                self._lay(into[key], value, path, dotted + ".")
            else:
                into[key] = value
                self.origin[dotted] = path

    def where(self, name: str) -> Where:
        """Where table ``name`` (dotted for a sub-table) was written: the files that set its keys, each key's own."""
        return Where(self.paths, "", self.origin, self.shadowed).sub(name)


def _get(tbl: Mapping[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        tbl = tbl[part]
    return tbl


class Where(str):
    """``FILE [table]``, where a table of options was written, for the messages about its keys. A table laid
    over from several files (:class:`Layers`) reads ``A, B [table]``, and :func:`at` names, for one key, the one
    file whose value is used: a bad value or an unknown key is shown where the user can fix it."""

    files: tuple[str, ...]  # the files that set a key of the table, in order (none set one: every file read)
    table: str  # the table's dotted name, "search.proxy"
    origin: dict[str, str]  # key of the table (dotted below a sub-table) -> the file its value came from
    shadowed: dict[str, list[tuple[str, Any]]]  # key (dotted likewise) -> (file, value) that a later file replaced

    def __new__(
        cls, files: Iterable[str], table: str, origin: Mapping[str, str], shadowed: Mapping[str, list[tuple[str, Any]]] | None = None
    ) -> Where:
        unique = tuple(dict.fromkeys(files))
        where = super().__new__(cls, f"{', '.join(unique)} [{table}]")
        where.files, where.table, where.origin, where.shadowed = unique, table, dict(origin), dict(shadowed or {})
        return where

    def of(self, key: str) -> str:
        """Where ``key`` of the table was written: the file of its value, else every file of the table."""
        return f"{self.origin[key]} [{self.table}]" if key in self.origin else str(self)

    def sub(self, name: str) -> Where:
        """The sub-table ``name`` of this table."""
        table = f"{self.table}.{name}" if self.table else name

        def inner(by_key: Mapping[str, Any]) -> dict[str, Any]:
            return {k[len(name) + 1 :]: v for k, v in by_key.items() if k.startswith(name + ".")}

        origin = inner(self.origin)
        files = list(origin.values()) or ([self.origin[name]] if name in self.origin else list(self.files))
        return Where(files, table, origin, inner(self.shadowed))


def at(where: str, key: str) -> str:
    """Where ``key`` of the table ``where`` names was written (``where`` itself, but for a :class:`Where`)."""
    return where.of(key) if isinstance(where, Where) else where


def check_keys(where: str, table: Mapping[str, Any], allowed: Iterable[str], kind: str = "key") -> None:
    """Refuse the first key of ``table`` outside ``allowed`` (``where`` names the file and table)."""
    allowed = sorted(allowed)
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise InvalidArgumentError(f"{at(where, unknown[0])}: unknown {kind} {unknown[0]!r}; allowed: {', '.join(allowed)}")


def fields(*classes: type) -> set[str]:
    """The field names of dataclasses."""
    return {f.name for cls in classes for f in dataclasses.fields(cls)}


def table(doc: Mapping[str, Any], name: str, where: str) -> dict[str, Any]:
    """``doc[name]`` (a dotted name reaches a sub-table), empty when absent, refused when not a table."""
    value: Any = doc
    for part in name.split("."):
        value = value.get(part, {}) if isinstance(value, Mapping) else None
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(f"{where}: [{name}] must be a table of keys, got {shown(value)}")
    return dict(value)


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    """``typing.get_type_hints(cls)``, read once per class: it evaluates every annotation again on each call, and a
    command builds its configs several times (perf57a: 0.5 of the 7 CPU-s of tests/bad_inputs.py's 1,302 cases)."""
    return typing.get_type_hints(cls)


def values(cls: type, tbl: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The keys of ``tbl`` that are fields of dataclass ``cls``, each checked against the field's type
    (ints for floats become floats, arrays for tuples become tuples, sub-tables become dataclasses)."""
    hints = _type_hints(cls)
    out = {}
    for name in fields(cls) & set(tbl):
        out[name] = _convert(hints[name], tbl[name], f"{at(where, name)}: {name}", _sub(where, name))
    if isinstance(where, Where):  # each file is checked: a value that a later file overrides too
        for name in fields(cls) & set(where.shadowed):
            for path, value in where.shadowed[name]:
                alone = Where([path], where.table, {})
                _convert(hints[name], value, f"{alone}: {name}", alone.sub(name))
    return out


def build(cls: type[T], tbl: Mapping[str, Any], where: str, **flags: Any) -> T:
    """``cls`` from its defaults, then ``tbl`` (every key must be a field), then ``flags`` that are
    not None (the options given on the command line).

    A dataclass with an ``idle_options()`` method (``{field: message}``: the fields that change nothing
    in this configuration, such as ``select_every`` without ``select_by``) has each of them refused when
    it was asked for: a flag given, or a file value other than the field's default (a file that
    :func:`dumps` wrote spells out every default and is read back as it was written)."""
    check_keys(where, tbl, fields(cls))
    from_file = values(cls, tbl, where)
    given = {k: v for k, v in flags.items() if v is not None}
    built = cls(**{**from_file, **given})
    idle: Mapping[str, str] = getattr(built, "idle_options", dict)()
    for name, message in idle.items():
        if name in given:
            raise InvalidArgumentError(message)
        if name in from_file and from_file[name] != default_of(cls, name):
            raise InvalidArgumentError(f"{at(where, name)}: {message}")
    return built


def default_of(cls: type, name: str) -> Any:
    """The default of field ``name`` of dataclass ``cls`` (its ``default_factory`` called)."""
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    if f.default is dataclasses.MISSING:
        raise TypeError(f"{cls.__name__}.{name} has no default")
    return f.default


def check_value(tp: Any, value: Any, name: str) -> Any:
    """``value`` checked against type ``tp`` as a table's key is (``name`` says where it is written), for a key
    outside the stages' tables: the top-level ``device`` that every table takes as its default."""
    return _convert(tp, value, name, name)


def _convert(tp: Any, value: Any, name: str, where: str) -> Any:
    if _is_optional(tp):
        tp = next(a for a in typing.get_args(tp) if a is not type(None))  # TOML has no null: a value is given
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, Mapping):
            raise InvalidArgumentError(f"{name} must be a table of {tp.__name__} keys, got {shown(value)}")
        return build(tp, value, where)
    if origin in (list, tuple):
        item = typing.get_args(tp)[0]
        if not isinstance(value, list):
            raise InvalidArgumentError(f"{name} must be an array such as [{_example(item)}], got {shown(value)}")
        items = [_convert(item, v, f"{name}[{i}]", where) for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok:
            try:
                number = float(value)
            except OverflowError:  # an integer past the largest float (probe53: 1 and 400 zeros was an internal error)
                number = math.inf
            if not math.isfinite(number):
                raise InvalidArgumentError(f"{name} must be a finite number, got {shown(value)}")
            value = number
    elif tp is str:
        ok = isinstance(value, str)
        if ok and not value.strip():  # as a flag's (cli.types.nonempty): before probe44, "" meant the default without a word
            blank = "an empty string" if not value else f"only blanks {value!r}"
            raise InvalidArgumentError(f"{name} is {blank}; give a value, or leave the key out for its default")
        checks.no_control_character(name, value)
        checks.not_home_shorthand(name, value)
    else:  # pragma: no cover - a field type this loader was not taught
        raise TypeError(f"{name}: config fields of type {tp!r} are not supported")
    if not ok:
        raise InvalidArgumentError(f"{name} must be {_kind(tp)}, got {shown(value)}")
    return value


def _sub(where: str, name: str) -> str:
    """``FILE [search]`` -> ``FILE [search.proxy]``: where a sub-table is."""
    if isinstance(where, Where):
        return where.sub(name)
    return f"{where[:-1]}.{name}]" if where.endswith("]") else f"{where}.{name}"


def _is_optional(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in typing.get_args(tp)


def _kind(tp: Any) -> str:
    return {bool: "true or false", int: "an integer", float: "a finite number", str: "a string"}.get(tp, str(tp))


def _example(tp: Any) -> str:
    return {int: "1, 2", float: "0.1, 1.0", str: '"a", "b"'}.get(tp, "...")


def plain(obj: Any) -> Any:
    """A dataclass (or a mapping of them) as nested dicts of TOML values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    return obj


def dumps(tables: Mapping[str, Any]) -> str:
    """TOML text of ``tables`` (nested dicts of str, int, float, bool and arrays of them); a None is
    written as a comment, TOML having no null, and reads back as the field's default."""
    lines: list[str] = []
    _dump(plain(tables), "", lines)
    return "\n".join(lines).strip() + "\n"


def _dump(tbl: Mapping[str, Any], prefix: str, lines: list[str]) -> None:
    for key, value in tbl.items():
        if not isinstance(value, Mapping):
            lines.append(f"# {key} unset" if value is None else f"{key} = {_value(value)}")
    for key, value in tbl.items():
        if isinstance(value, Mapping):
            lines += ["", f"[{prefix}{key}]"]
            _dump(value, f"{prefix}{key}.", lines)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML basic string


SAVED = "config.toml"  # the resolved config a command saves beside its outputs (cli.common.save_config)


class EmptyOutputWarning(NasProxyWarning):
    """An output file of nasproxy's own found empty (0 bytes) or cut short where it writes one: taken as absent
    (:func:`empty_own`, :func:`torn_own`)."""


def empty_own(path: Path, what: str) -> bool:
    """Whether ``path`` is an empty regular file (0 bytes, not a link) where a command writes its ``what`` whole, by a
    rename after fsync (a profile, :data:`SAVED`): only a write the disk lost leaves one so, and it holds nothing to lose,
    so it is absent (written anew), with a warning. Before fix57 it was refused as a file of another's (drill56)."""
    try:
        found = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISREG(found.st_mode) or found.st_size:
        return False
    warnings.warn(
        EmptyOutputWarning(f"{path} is empty (0 bytes, as a write the disk lost leaves {what}): it holds nothing, and is written anew"),
        stacklevel=2,
    )
    return True


# the start of a line :func:`dumps` writes, where a write cut it: a comment, a table's name, a key and its value
_LINE_START = re.compile(r"#.*|\[[A-Za-z0-9_.]*\]?|[A-Za-z0-9_]+(?: (?:=(?: .*)?)?)?|")

# The first and last lines :func:`write` puts around :func:`dumps`' text (fix61b): a file that starts with HEADER is whole
# only where it holds END as a whole line (lines after it a user added: fix62a), wherever a lost write cut it; before, a cut at a line's end (or inside a comment) left a
# file that read whole, and was written anew without the warning a cut elsewhere gives. The first line, not the last
# alone, says that a file has an end to lose: one written before fix61b has neither, and is judged as before (a cut at
# a line's end is not seen there). Two comments: a file written so is still the same TOML for --config.
HEADER = '# nasproxy\'s resolved options; one cut short lacks the last line, "# end"'
END = "# end"


def _marked(data: bytes) -> tuple[bool, bytes]:
    """Whether ``data`` (a file's bytes) is one :func:`write` wrote since fix61b (its first line :data:`HEADER`, or the
    start of it), and what follows that line."""
    header = (HEADER + "\n").encode()
    if data.startswith(header) or header.startswith(data):
        return True, data[len(header) :]
    return False, data


def torn_own(path: Path, what: str, first: str, mine: Callable[[dict[str, Any]], bool], read_whole: bool = False) -> bool:
    """Whether ``path`` is a regular file (not a link) holding the start of a file a command writes whole (``what``, by
    :func:`dumps` and a rename after fsync) cut short: its first line ``first`` (or the start of it), whole lines that
    read as TOML and that ``mine`` takes for the command's, then at most the start of one more line of :func:`dumps`'
    (a key and part of its value, a comment, a table's name; a character cut in its bytes). Only a write the disk lost
    leaves one so, and what it holds the command writes again: it is absent (written anew), with a warning, as an empty
    one (:func:`empty_own`, which the caller asks first). Before fix59, one cut inside a line was refused as a file of
    another's ("not valid TOML"), and a run's own cut before its [search] too.

    A file :func:`write` wrote (its first line :data:`HEADER`, then ``first``) is whole only where its last line is
    :data:`END`: cut anywhere else it is the start of one. Lines after that one a user added (a key, a note): the file is
    whole, edited, and judged so (before fix62a: "cut short"); TOML reads a key there as any other, a comment ends nothing.
    ``read_whole``: the caller read the file as the command's
    own; then only such a file is judged (one without :data:`HEADER` that reads whole cannot be told from a whole one)."""
    try:
        found = os.lstat(path)
        if not stat.S_ISREG(found.st_mode) or not 0 < found.st_size <= checks.MAX_TEXT_BYTES:
            return False
        with open(path, "rb") as f:
            data = f.read(checks.MAX_TEXT_BYTES + 1)
    except OSError:
        return False
    size = len(data)
    marked, data = _marked(data)
    if (marked and END.encode() in data.split(b"\n")) or (read_whole and not marked):
        return False  # whole: its end line is where the write ended (what follows it, or its newline gone, an editor's)
    end = data.rfind(b"\n") + 1
    try:  # the last line's bytes: a character cut in them is held back, not refused
        head, tail = data[:end].decode(), codecs.getincrementaldecoder("utf-8")().decode(data[end:], final=False)
    except UnicodeDecodeError:
        return False
    if not (data or marked) or not _LINE_START.fullmatch(tail):
        return False
    if not head:
        if not first.startswith(tail):
            return False
    else:
        try:
            doc = tomllib.loads(head)
        except (tomllib.TOMLDecodeError, RecursionError):
            return False
        if head.partition("\n")[0] != first or not mine(doc):
            return False
    warnings.warn(
        EmptyOutputWarning(f"{path} was cut short ({size} bytes, as a write the disk lost leaves {what}): it is written anew"),
        stacklevel=2,
    )
    return True


def check_saved(option: str, out: Path | str, command: str) -> None:
    """Refuse an output directory whose :data:`SAVED` file ``command`` would overwrite and did not write:
    another command's resolved options (a search's, where ``correlate --out`` names its folder), or a
    file of the user's. Checked before any work; a folder without one, or with ``command``'s own, passes."""
    path = Path(out) / SAVED
    if (found := checks.status(option, path)) is None or empty_own(path, "the resolved options"):
        return
    checks.regular_file(  # before probe54, opened to read: a FIFO there hung distill, search and correlate
        found.st_mode,
        lambda what: f"{option} {out} holds {path.name}, which is {what}, not {command}'s resolved options; give a directory of its own",
    )
    try:
        with open(path, "rb"):
            pass
    except PermissionError as e:  # before probe42's note: "holds config.toml, not search's", a cause it could not know
        raise InvalidArgumentError(
            f"{option} {out} holds {path.name}, which cannot be read, so {command} cannot tell whose it is: "
            f"{read_failure(e, 'give a directory of its own')}"
        ) from None
    except OSError:
        pass  # read_text below says why

    def mine(doc: dict[str, Any]) -> bool:
        return set(doc) == {command} and isinstance(doc[command], dict)

    try:
        doc = tomllib.loads(checks.read_text(option, path, checks.SETTINGS_BYTES_MAX))
    except tomllib.TOMLDecodeError as e:  # nasproxy writes it whole (atomically): a user's, or its own damaged since
        if torn_own(path, "the resolved options", f"[{command}]", mine):
            return
        raise InvalidArgumentError(
            f"{option} {out} holds {path.name}, not {command}'s (it is not valid TOML: {e}), which {command} would "
            f"overwrite: give a directory of its own; if it was {command}'s and got damaged, delete it and run the same "
            "command again"
        ) from None
    except (InvalidArgumentError, RecursionError):
        doc = None
    if doc is not None and mine(doc):
        torn_own(path, "the resolved options", f"[{command}]", mine, read_whole=True)  # said where cut at a line's end
        return
    if torn_own(path, "the resolved options", f"[{command}]", mine):  # (a character cut in its last bytes: not UTF-8)
        return
    tables = sorted(doc) if doc and all(isinstance(v, dict) for v in doc.values()) else None
    whose = f"the resolved options of {', '.join(tables)}" if tables else f"not {command}'s"
    raise InvalidArgumentError(f"{option} {out} holds {path.name}, {whose}, which {command} would overwrite: give a directory of its own")


def write(path: Path | str, tables: Mapping[str, Any]) -> Path:
    """Write ``tables`` as ``path`` (the resolved config saved beside a command's outputs), between :data:`HEADER` and
    :data:`END`, so that a copy cut short by a lost write is told from a whole one wherever the cut falls."""
    p = Path(path)
    write_text(p, f"{HEADER}\n{dumps(tables)}{END}\n")
    return p
