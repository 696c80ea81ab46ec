"""Running one bad input in-process and judging it; the markdown table of the results.

A case is a command line run through :func:`nas_proxy.cli.main` inside a workspace of broken files
(:mod:`tests.bad_inputs_files`). It is handled right when it exits non-zero, prints exactly one
line on stderr (no traceback, no "internal error"), says what its ``needle`` expects, and leaves
every file and folder of the workspace as it was.
"""

from __future__ import annotations

import contextlib
import io
import os
import shlex
import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from nas_proxy.cli import main


@dataclass(frozen=True)
class Case:
    """``args``: the command line after ``nasproxy``; ``needle``: a piece of the expected message;
    ``fixed``: the input was mishandled before issue 9 (a traceback, an internal error, a file
    written, exit 0 or garbage results)."""

    args: str
    needle: str
    fixed: bool = False


@dataclass
class Outcome:
    code: int
    stderr: str
    stdout: str
    changed: list[str]  # workspace paths created, removed or modified

    @property
    def message(self) -> str:
        return " ".join(self.stderr.split())


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` -> (size, mtime in ns); folders have size -1."""
    out: dict[str, tuple[int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            out[str(p.relative_to(root))] = (-1 if p.is_dir() and not p.is_symlink() else st.st_size, st.st_mtime_ns)
    return out


def _changes(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
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


def run_case(case: Case, workspace: Path) -> Outcome:
    """Run ``nasproxy ARGS`` in-process with ``workspace`` as the working directory."""
    before = snapshot(workspace)
    out, err = io.StringIO(), io.StringIO()
    cwd = Path.cwd()
    os.chdir(workspace)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), _user_warnings(err):
            try:
                code = main(shlex.split(case.args))
            except SystemExit as e:  # argparse exits on usage errors
                code = e.code if isinstance(e.code, int) else 1
    finally:
        os.chdir(cwd)
    stderr = err.getvalue().replace(f"{workspace}/", "").replace(str(workspace), ".")
    return Outcome(code, stderr, out.getvalue(), _changes(before, snapshot(workspace)))


def problems(case: Case, outcome: Outcome) -> list[str]:
    """What is wrong with how nasproxy handled ``case`` (empty: handled right)."""
    found = []
    lines = outcome.stderr.strip().splitlines()
    if outcome.code == 0:
        found.append("exit 0")
    if len(lines) != 1:
        found.append(f"{len(lines)} lines on stderr")
    if "Traceback" in outcome.stderr or "internal error" in outcome.stderr:
        found.append("traceback or internal error")
    if case.needle not in outcome.message:
        found.append(f"message lacks {case.needle!r}")
    if outcome.changed:
        found.append(f"wrote {', '.join(outcome.changed[:5])}")
    return found


# ---------------------------------------------------------------- the table in the docs

HEADER = """# Bad inputs and what nasproxy says

Every input below is refused with one line on stderr, a non-zero exit (2: usage errors and refused
input) and nothing written. The table is generated from `tests/bad_inputs.py` (the list
`tests/test_bad_inputs.py` runs) by

    python -m tests.bad_inputs --write docs/bad-inputs.md

and the test fails when this file is out of date. The broken files (a truncated IDX, a CIFAR
pickle that calls a function, a decompression-bomb PNG, a `meta.json` whose `tensors` leads out
of its directory, ...) are made by `tests/bad_inputs_files.py`; paths are relative to that
workspace. "fixed" marks the {fixed} of {total} inputs that were mishandled before issue 9: a
traceback or an internal error, exit 0 (garbage results), more than one line, a file written, or
a file outside the synthetic set read.

| # | command | exit | message | |
|--:|---|--:|---|---|
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def table(outcomes: list[tuple[Case, Outcome]]) -> str:
    rows = []
    for i, (case, outcome) in enumerate(outcomes, start=1):
        command = f"`nasproxy {case.args}`".replace("`nasproxy `", "`nasproxy`")
        rows.append(f"| {i} | {_cell(command)} | {outcome.code} | {_cell(outcome.message)} | {'fixed' if case.fixed else ''} |")
    header = HEADER.replace("{fixed}", str(sum(c.fixed for c, _ in outcomes))).replace("{total}", str(len(outcomes)))
    return header + "\n".join(rows) + "\n"


def run_all(cases: list[Case], workspace: Path, pristine: Path) -> list[tuple[Case, Outcome]]:
    """Every case; a case that changed the workspace is followed by a restore from ``pristine``,
    so that one mishandled case cannot change what the next one sees."""
    outcomes = []
    for case in cases:
        outcome = run_case(case, workspace)
        if outcome.changed:
            shutil.rmtree(workspace)
            shutil.copytree(pristine, workspace, symlinks=True)
        outcomes.append((case, outcome))
    return outcomes
