"""Running one bad input in-process and judging it; the markdown table of the results.

A case is a command line run through :func:`nas_proxy.cli.main` inside a workspace of broken files
(:mod:`tests.bad_inputs_files`). It is handled right when it exits non-zero, prints exactly one
line on stderr (no traceback, no "internal error", no character a terminal acts on or shows as other text, such as
an escape or a right-to-left override), says what its ``needle`` expects, and leaves every file and folder of the
workspace as it was.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shlex
import shutil
import signal
import socket
import stat
import struct
import threading
import traceback
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nas_proxy.cli
from nas_proxy.cli import main
from nas_proxy.errors import LINE_MAX

# a case not ended by then hangs (a case takes milliseconds: a guard against waiting for good, not a timing); it is said
# as that case's outcome (exit 124), and the next cases run (review62: before, a hang hung make test naming no case)
CASE_SECONDS = 120.0
HUNG = 124  # the exit status a hung case is given (as timeout(1)'s); nasproxy exits 0, 1, 2, 130 or 143

BUSY_PORT = "{busy_port}"  # in ``args``: a TCP port of 127.0.0.1 that another socket listens on while the case runs


@dataclass(frozen=True)
class Case:
    """``args``: the command line after ``nasproxy``, after any ``NAME=value`` words that set an
    environment variable for the case (``WORLD_SIZE=x distill ...``, as a shell would); ``needle``: a piece of the expected message;
    ``fixed``: the issue that fixed this input (9 or 16; 31: branch probe31; 32: its notes, the stop after; 35: branch probe35; 36: branch probe36; 37: branch probe37; 38: branches probe38, drill38 and left38; 39: branch probe39; 40 on: that stop's branches; 0: refused right from the start): before it,
    a traceback, an internal error, a file written, exit 0, garbage results or the wrong cause named."""

    args: str
    needle: str
    fixed: int = 0


@dataclass
class Outcome:
    code: int
    stderr: str
    stdout: str
    changed: list[str]  # workspace paths created, removed or modified
    after: dict[str, tuple[int, int]] | None = field(default=None, repr=False, compare=False)  # the workspace it left

    @property
    def message(self) -> str:
        return " ".join(self.stderr.split())


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` -> (size, mtime in ns); folders have size -1 (links are not followed).
    ``os.scandir`` keeps it fast: it runs twice per case over some 1,500 paths."""
    out: dict[str, tuple[int, int]] = {}
    folders = [""]
    while folders:
        rel = folders.pop()
        with os.scandir(root / rel) as entries:
            for entry in entries:
                path = f"{rel}/{entry.name}" if rel else entry.name
                st = entry.stat(follow_symlinks=False)
                folder = entry.is_dir(follow_symlinks=False)
                out[path] = (-1 if folder else st.st_size, st.st_mtime_ns)
                if folder:
                    folders.append(path)
    return out


def _changes(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
    if after is before:  # _Watch.snapshot_after saw nothing touched (most cases): no ~1,500 paths to compare (perf57a)
        return []
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


@contextlib.contextmanager
def _user_warnings(stderr: io.StringIO) -> Iterator[None]:
    """Warnings as a user's terminal shows them (deprecations hidden), written into ``stderr``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
            warnings.filterwarnings("ignore", category=category)
        yield
    for w in caught:
        stderr.write(warnings.formatwarning(w.message, w.category, w.filename, w.lineno, w.line))


@contextlib.contextmanager
def _ports(args: str) -> Iterator[str]:
    """``args`` with :data:`BUSY_PORT` replaced by a port that a socket listens on until the case ends."""
    if BUSY_PORT not in args:
        yield args
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield args.replace(BUSY_PORT, str(s.getsockname()[1]))


_ASSIGNMENT = re.compile(r"[A-Z][A-Z0-9_]*=")


def split_environment(args: str) -> tuple[dict[str, str], str]:
    """The ``NAME=value`` words that start ``args`` (environment variables, as a shell reads them), and the rest."""
    env: dict[str, str] = {}
    words = args.split(" ")
    while words and _ASSIGNMENT.match(words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    return env, " ".join(words)


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """``os.environ`` with ``env`` set while the case runs, as it was after."""
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _Hung(BaseException):
    """Raised into a case that runs past :data:`CASE_SECONDS` (a BaseException: the command's ``except Exception`` lets it through)."""


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Raise :class:`_Hung` in the block once it has run ``seconds`` (SIGALRM; in the main thread only, where a signal
    handler can be set: elsewhere the block runs unguarded)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def hung(_signum: int, _frame: object) -> None:
        raise _Hung

    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_case(case: Case, workspace: Path, before: dict[str, tuple[int, int]] | None = None, watch: _Watch | None = None) -> Outcome:
    """Run ``nasproxy ARGS`` in-process with ``workspace`` as the working directory. ``before``: the
    workspace's snapshot as the previous case left it (:func:`run_all`), instead of taking one here;
    ``watch``: its folders' :class:`_Watch`, which says which of them were touched since ``before``."""
    before = snapshot(workspace) if before is None else before
    out, err = io.StringIO(), io.StringIO()
    cwd = Path.cwd()
    os.chdir(workspace)
    env, command = split_environment(case.args)
    command, closed = command.removesuffix(" >&-"), command.endswith(" >&-")  # run with standard output closed
    try:
        with (
            contextlib.redirect_stdout(None if closed else out),  # None: as Python starts with fd 1 closed
            contextlib.redirect_stderr(err),
            _user_warnings(err),
            _environment(env),
            _ports(command) as args,
        ):
            try:
                with _deadline(CASE_SECONDS):
                    code = main(shlex.split(args))
            except SystemExit as e:  # argparse exits on usage errors
                code = e.code if isinstance(e.code, int) else 1
            except _Hung:
                code = HUNG
                print(f"(tests.bad_input_runner: no exit within {CASE_SECONDS:g} s: the case hangs)", file=err)
            except KeyboardInterrupt:  # the run's own Ctrl-C (main says a case's own as an exit status)
                raise
            except BaseException as e:  # noqa: BLE001 - out of main: this case's outcome, named; the next cases still run
                code = 1  # (before review62 the fixture of every case failed, naming none)
                print(f"(tests.bad_input_runner: raised out of main)\n{''.join(traceback.format_exception(e))}", file=err)
    finally:
        # as the command's process ends: its journal heartbeats stopped and removed, here where their paths lead (a beat
        # left running touched its file again a minute later, a later case's write: probe44b's regeneration, once)
        nas_proxy.cli.end_heartbeats()
        os.chdir(cwd)
    stderr = err.getvalue().replace(f"{workspace}/", "").replace(str(workspace), ".")
    stderr = re.sub(r"port \d+ on 127.0.0.1", "port PORT on 127.0.0.1", stderr)  # the busy port differs from run to run
    after = snapshot(workspace) if watch is None else watch.snapshot_after(before)
    return Outcome(code, stderr, out.getvalue(), _changes(before, after), after)


def problems(case: Case, outcome: Outcome) -> list[str]:
    """What is wrong with how nasproxy handled ``case`` (empty: handled right)."""
    found = []
    lines = outcome.stderr.strip().splitlines()
    if outcome.code == 0:
        found.append("exit 0")
    if outcome.code == HUNG:
        found.append(f"no exit within {CASE_SECONDS:g} s (hung)")
    if len(lines) != 1:
        found.append(f"{len(lines)} lines on stderr")
    if "Traceback" in outcome.stderr or "internal error" in outcome.stderr:
        found.append("traceback or internal error")
    if case.needle not in outcome.message:
        found.append(f"message lacks {case.needle!r}")
    if unprintable := sorted({c for c in outcome.stderr if not c.isprintable() and c != "\n"}):  # probe55: an escape sequence
        found.append(f"{''.join(unprintable)!r} on stderr, which a terminal acts on or shows as other text")  # drives a terminal
    if len(outcome.message) > LINE_MAX + 200:  # the command's prefix and argparse's "(see ... --help)" beside the cut text
        found.append(f"a line of {len(outcome.message):,} characters")
    if outcome.changed:
        found.append(f"wrote {', '.join(outcome.changed[:5])}")
    return found


# ---------------------------------------------------------------- the table in the docs

HEADER = """# Bad inputs and what nasproxy says

Every input below is refused with one line on stderr, a non-zero exit (2: usage errors and refused
input) and nothing written. The table is generated from `tests/bad_inputs.py` (the list
`tests/cli/test_bad_inputs.py` runs) by

    python -m tests.bad_inputs --write docs/bad-inputs.md

and the test fails when this file is out of date. The broken files (a truncated IDX, a CIFAR
pickle that calls a function, a decompression-bomb PNG, a `meta.json` whose `tensors` leads out
of its directory, ...) are made by `tests/bad_inputs_files.py`; paths are relative to that
workspace. "fixed" marks the {fixed} of {total} inputs that were mishandled before issue 9: a
traceback or an internal error, exit 0 (garbage results), more than one line, a file written, or
a file outside the synthetic set read. "fixed (16)" marks the {fixed16} inputs, among the {issue16} that issue
16 lists and {more16} more in the same spirit, that were mishandled before issue 16, by those measures
or by naming the wrong cause. "fixed (31)" marks the {fixed31} inputs of branch probe31 (tried as a
stranger would) that were mishandled before it, by those measures or by quoting a long value whole;
"fixed (32)" the {fixed32} that the next stop fixed from that probe's notes; "fixed (35)" the {fixed35} of
branch probe35, "fixed (36)" the {fixed36} of branch probe36 (tried the same way) and of stop 36, "fixed (37)"
the {fixed37} of branch probe37, "fixed (38)" the {fixed38} of branches probe38, drill38 and left38, "fixed (39)" the {fixed39} of branch probe39, and "fixed (N)" from 40 on those of stop N's branches
(probe, drill, fix): {later}. A command that starts with `NAME=value` runs with that
environment variable set, as a shell would; one that ends in `>&-` runs with standard output closed.
`{busy_port}` is a port another socket listens on while the case
runs; `\\n`, `\\r`, `\\t` and `\\udcff` stand for a newline, a carriage return, a tab and a byte that is not UTF-8, and
`\\x1b`, `\\u202e` (an escape, a right-to-left override) for every other character a terminal acts on or shows as other
text: nasproxy's messages spell them so too.

How text becomes a value is decided once (`nas_proxy/checks.py`), the same for every command,
preset and file:

- a number typed on the command line is plain ASCII decimal (`10`, `-3`, `0.01`, `1e-3`): `1_0`,
  digits of other scripts (`١٠`) and `1.0` where an integer is asked are refused; TOML and JSON
  files keep their own, already strict, grammar (TOML's `1_000` is TOML);
- no option takes NaN, infinity, a subnormal float (0 < |x| < 2.2e-308) or an integer beyond
  2147483647; a learning rate is at most float32's largest (3.4e38), DataDAM's attention power
  at most 8, a soft-label temperature in [0.01, 100], bootstrap resamples at most 100,000, workers
  at most 1,024, trials of one study at most 100,000, `evaluate --runs` at most 1,000; `evaluate`
  refuses a `--model` whose training needs more memory than is free (counted before it is built);
- a list (`--early`, `--proxies`, `--objectives`, `--synthetic`, `--*-choices`, `--model`, and every
  array of a preset) has no empty item (a trailing comma), no item twice (`0.01,0.010` repeats),
  and is not empty: an option left out means its default, an empty one is refused; an
  architecture file lists each architecture once, with `score`, `correlate` and `calibrate` alike;
- an option typed on the command line is given, even when its value equals the default (with
  `correlate --study`, `--epochs 50` and `--seed 0` override the study's);
- no option, config or preset string holds a control character (a newline, a tab, an escape ...);
- a file is a regular file (not a folder, FIFO, device or link loop) of at most 64 MiB, UTF-8 with
  or without a byte-order mark; JSON nested deeper than Python reads is refused in one line.

| # | command | exit | message | |
|--:|---|--:|---|---|
"""


def _cell(text: str) -> str:
    """Markdown table cell text: pipes escaped, control characters and non-UTF-8 bytes spelled out."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    text = text.replace("|", "\\|").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    text = re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\x{ord(m.group()):02x}", text)  # an escape (probe46's --out) as \x1b
    # and every other character a viewer acts on or shows as other text (a right-to-left override, a line separator:
    # probe55's), as Python spells it
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def table(outcomes: list[tuple[Case, Outcome]]) -> str:
    rows = []
    for i, (case, outcome) in enumerate(outcomes, start=1):
        env, args = split_environment(case.args)
        command = "`" + "".join(f"{k}={v} " for k, v in env.items()) + (f"nasproxy {args}" if args else "nasproxy") + "`"
        fixed = {0: "", 9: "fixed"}.get(case.fixed, f"fixed ({case.fixed})")
        rows.append(f"| {i} | {_cell(command)} | {outcome.code} | {_cell(outcome.message)} | {fixed} |")
    return header(outcomes) + "\n".join(rows) + "\n"


def header(outcomes: list[tuple[Case, Outcome]]) -> str:
    from tests.bad_inputs import ISSUE16, MORE16

    counts = {
        "{fixed}": sum(c.fixed == 9 for c, _ in outcomes),
        "{total}": len(outcomes),
        "{fixed16}": sum(c.fixed == 16 for c, _ in outcomes),
        "{fixed31}": sum(c.fixed == 31 for c, _ in outcomes),
        "{fixed32}": sum(c.fixed == 32 for c, _ in outcomes),
        "{fixed35}": sum(c.fixed == 35 for c, _ in outcomes),
        "{fixed36}": sum(c.fixed == 36 for c, _ in outcomes),
        "{fixed37}": sum(c.fixed == 37 for c, _ in outcomes),
        "{fixed38}": sum(c.fixed == 38 for c, _ in outcomes),
        "{fixed39}": sum(c.fixed == 39 for c, _ in outcomes),
        "{later}": ", ".join(f"{n} of stop {stop}" for stop, n in sorted(Counter(c.fixed for c, _ in outcomes if c.fixed >= 40).items())),
        "{issue16}": len(ISSUE16),
        "{more16}": len(MORE16),
    }
    text = HEADER
    for key, n in counts.items():
        text = text.replace(key, str(n))
    return text


def _copy(src: str, dst: str) -> None:
    """shutil.copy2, but a FIFO is made anew (copying one would read it, and block), and so is a sparse file of zeros
    (the workspace's 4 GiB one: copy2 would write every byte)."""
    st = os.lstat(src)
    if stat.S_ISFIFO(st.st_mode):
        os.mkfifo(dst)
    elif stat.S_ISREG(st.st_mode) and st.st_size > 1 << 20 and st.st_blocks == 0:  # (a file holding data has blocks)
        with open(dst, "wb") as f:
            f.truncate(st.st_size)
        shutil.copystat(src, dst)
    else:
        shutil.copy2(src, dst)


def copy_workspace(src: Path, dst: Path) -> None:
    """A copy of a workspace: links as links, FIFOs as new FIFOs."""
    shutil.copytree(src, dst, symlinks=True, copy_function=_copy)


def run_all(cases: list[Case], workspace: Path, pristine: Path) -> list[tuple[Case, Outcome]]:
    """Every case; a case that changed the workspace is followed by a restore from ``pristine``,
    so that one mishandled case cannot change what the next one sees. A case's snapshot of the
    workspace after it is the next one's before (one walk of ~1,500 paths per case, not two: a fifth
    of the 676 cases' time); a write that came after a case ended is then the next case's change,
    still reported."""
    outcomes = []
    before, watch = None, _Watch.start(workspace)
    with one_parser():
        for case in cases:
            outcome = run_case(case, workspace, before, watch)
            before = outcome.after
            if outcome.changed:
                shutil.rmtree(workspace)
                copy_workspace(pristine, workspace)
                before = None
                if watch is not None:
                    watch.close()
                    watch = _Watch.start(workspace)  # the copy's folders are new ones
            outcomes.append((case, outcome))
    if watch is not None:
        watch.close()
    return outcomes


class _Watch:
    """Linux's inotify on every folder of a workspace, watched for what changes a :func:`snapshot`: a file or
    folder made, removed, moved, written or its attributes (times, mode) set. No such event since the last
    look: the workspace is as the last snapshot saw it, and a case's walk of its ~1,100 paths (4 ms) is skipped.
    Events in some folders only (a case that took a lock file, or made a study's folder, and removed it again: 396 of
    the 1,072 cases): those folders are listed again, and a folder new in them walked, not the whole workspace (the
    walks were 2.3 of the 7.4 CPU-s of the cases). A watched folder removed or moved, or events lost, take the whole
    walk. Opening and reading files, which every case does, raises none."""

    # IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE, IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE, IN_DELETE_SELF,
    # IN_MOVE_SELF; IN_ONLYDIR | IN_DONT_FOLLOW: a link is not followed out of the workspace (nor is it by snapshot)
    MASK = 0x2 | 0x4 | 0x8 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x800 | 0x01000000 | 0x02000000
    # IN_DELETE_SELF, IN_MOVE_SELF, IN_Q_OVERFLOW, IN_IGNORED: a watched folder gone or moved, events lost: the whole walk
    WALK_ALL = 0x400 | 0x800 | 0x4000 | 0x8000
    EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len; then len bytes of name

    def __init__(self, fd: int, root: Path, libc: Any) -> None:
        self.fd, self.root, self.libc = fd, root, libc
        self.folders: dict[int, str] = {}  # watch descriptor -> the folder's path relative to root ("": root)
        self.blind = False  # a watched folder removed or moved, or events lost: every look walks the whole root

    def add(self, folder: str) -> bool:
        """Watch ``folder`` (a path) and every folder below it; False if one could not be watched (not a link)."""
        for path in [folder] + [os.path.join(d, n) for d, names, _ in os.walk(folder) for n in names]:
            # os.walk lists links to folders among the names, but does not walk them: IN_ONLYDIR leaves them unwatched
            wd = self.libc.inotify_add_watch(self.fd, os.fsencode(path), self.MASK)
            if wd >= 0:
                self.folders[wd] = os.path.relpath(path, self.root) if path != str(self.root) else ""
            elif not os.path.islink(path):
                return False
        return True

    @classmethod
    def start(cls, root: Path) -> _Watch | None:
        """Watches on ``root`` and every folder below it; None where inotify is missing or out of watches
        (every case then takes its walk, as before)."""
        import ctypes
        import ctypes.util
        import sys

        if not sys.platform.startswith("linux"):
            return None
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            return None
        watch = cls(fd, root, libc)
        if not watch.add(str(root)):
            watch.close()
            return None
        return watch

    def touched(self) -> set[str] | None:
        """The folders (relative to the root, "" for it) in which anything was touched since the last call (or the
        start), the events read and dropped; None: one that needs the whole walk (see :data:`WALK_ALL`)."""
        folders: set[str] | None = set()
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return None if self.blind else folders
            at = 0
            while at < len(data):
                wd, mask, _, size = self.EVENT.unpack_from(data, at)
                at += self.EVENT.size + size
                if mask & self.WALK_ALL or wd not in self.folders:
                    self.blind = True  # the paths of the watches may be wrong from here on
                elif folders is not None:
                    folders.add(self.folders[wd])

    def snapshot_after(self, before: dict[str, tuple[int, int]] | None) -> dict[str, tuple[int, int]]:
        """What :func:`snapshot` of the root gives now, ``before`` being the one it gave at the last look: the same
        where nothing was touched, ``before`` with the touched folders listed again where only files in them were."""
        folders = self.touched()
        if before is None or folders is None:
            return snapshot(self.root)
        if not folders:
            return before
        out = dict(before)
        for rel in folders:
            prefix = f"{rel}/" if rel else ""
            entries = {k: v for k, v in out.items() if k.startswith(prefix) and "/" not in k[len(prefix) :]}
            for key in entries:
                del out[key]  # listed again below
            if rel:  # the folder's own times, in its parent's entries
                out[rel] = (-1, os.lstat(self.root / rel).st_mtime_ns)
            # a folder of the last look that is gone was watched: its removal made the watch blind (the whole walk)
            with os.scandir(self.root / rel) as listing:
                for entry in listing:
                    path, st = prefix + entry.name, entry.stat(follow_symlinks=False)
                    folder = entry.is_dir(follow_symlinks=False)
                    out[path] = (-1 if folder else st.st_size, st.st_mtime_ns)
                    if folder and entries.get(path, (0, 0))[0] != -1:  # a folder new here: watched from now on, walked whole
                        if not self.add(str(self.root / path)):
                            self.blind = True  # not watched: no later look could see into it
                            return snapshot(self.root)
                        out.update({f"{path}/{k}": v for k, v in snapshot(self.root / path).items()})
        return out

    def close(self) -> None:
        os.close(self.fd)


@contextlib.contextmanager
def one_parser() -> Iterator[None]:
    """:func:`nas_proxy.cli.build_parser` built once per working directory and environment (a case's
    ``NAME=value`` words) while the block runs, not once per case: its ~170 options cost 5 ms a build
    (argparse formats each one as it is added), 4 of the 863 cases' 14.5 CPU-seconds. Parsing leaves
    the parser as it found it (``Parser`` restores what it changes for one parse), so every case sees
    what a fresh parser would show it; the outcomes are the same with and without (compared case by case)."""
    build = nas_proxy.cli.build_parser
    built: dict[tuple[str, frozenset[tuple[str, str]]], argparse.ArgumentParser] = {}

    def cached() -> argparse.ArgumentParser:
        key = (os.getcwd(), frozenset(os.environ.items()))
        if key not in built:
            built[key] = build()
        return built[key]

    nas_proxy.cli.build_parser = cached
    try:
        yield
    finally:
        nas_proxy.cli.build_parser = build
