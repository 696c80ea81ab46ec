"""The exceptions nasproxy raises on purpose.

Every error a user can cause derives from :class:`NasProxyError`; the CLI prints its message as
one line and exits non-zero. Messages state the rule, the value and the fix.
"""

from __future__ import annotations

import os
import re
from typing import Any, TypeVar

try:  # imported now: once the limit is reached, loading its library (a new mapping) fails too (drill42)
    import resource
except ImportError:  # (Windows)
    resource = None  # type: ignore[assignment]

SHOWN_MAX = 60  # characters of a value quoted in a message; a longer one is cut and its length said


def shown(value: Any) -> str:
    """``repr(value)`` for an error message, cut to its start and its length when it is long: a
    5,000-digit number or a pasted file quoted whole would bury the rule and the fix."""
    try:
        text = repr(value)
    except ValueError:  # an int too long for repr (Python's 4,300-digit limit)
        return f"an integer of {value.bit_length() * 30103 // 100000:,}+ digits"
    if len(text) <= SHOWN_MAX:
        return text
    return f"{text[:24]}...({len(text):,} characters)"


LINE_MAX = 1000  # characters of an error or warning line the CLI prints


def spelled(text: str, keep: str = " \t\n\r") -> str:
    """``text`` with each character that is not printable (Python's ``str.isprintable``: Unicode's controls, format
    characters, separators other than the blank, surrogates, unassigned) but a blank, tab, newline or carriage return
    written as its escape (``\\x1b``, ``\\u202e``), as :func:`shown` quotes a value. Before branch probe55 a name read
    from a file or a folder (an image file's, a study's in a storage another program wrote) reached the terminal as it
    was: an escape sequence in it cleared the screen or coloured the line, a right-to-left override reversed the text
    after it, and a line separator (U+2028) broke the one line in two where a reader splits lines. ``keep``: the
    blanks left as they are (:func:`printed_line` keeps the blank alone)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in keep else repr(c)[1:-1] for c in text)


def printed_line(text: str) -> str:
    """``text`` as one line of output that is not an error (a command's stdout, a progress line): as :func:`spelled`,
    a tab, newline and carriage return spelled too (``\\t``, ``\\n``, ``\\r``), nothing else changed or cut, so the
    line is one line and holds what a user copies from it. Before fix57b a name read from a file or a storage
    (a set's meta.json, a space file's description) reached stdout as it was: '\\x1b[2J' cleared the screen, '\\r'
    rewrote the line's start and '\\u202e' reversed what followed."""
    return spelled(text, keep=" ")


# characters of a name that change how the text around it is shown, in words: a bidirectional embedding, override,
# isolate or mark reorders what follows it (a class 'ab\u202ecd' prints as 'abdc'), a line or paragraph separator breaks a printed
# line in two. Other format characters stay: a zero-width (non-)joiner belongs to the spelling of some scripts. A class's
# name holds none (branch probe55): it is recorded in every set and model made from the data, and printed in lines and
# reports that are not error lines (which :func:`spelled` keeps safe).
REORDERING = {
    **{chr(c): f"a bidirectional control (U+{c:04X})" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))},
    # a mark is an invisible strong letter: 'a\u200f: 12' shows as 'a12 :' (review56)
    **{chr(c): f"a bidirectional mark (U+{c:04X})" for c in (0x200E, 0x200F, 0x061C)},
    "\u2028": "a line separator (U+2028)",
    "\u2029": "a paragraph separator (U+2029)",
}


def reordering(name: str) -> str | None:
    """The first character of ``name`` in :data:`REORDERING`, in words; None where it has none."""
    return next((REORDERING[c] for c in name if c in REORDERING), None)


def reordering_names(names: list[str]) -> str | None:
    """What is wrong with class ``names`` where one holds a character of :data:`REORDERING`, as the rest of a sentence
    that starts with where they are (as :func:`nas_proxy.checks.class_names_problem` says it); None where none does."""
    for k, name in enumerate(names):
        if (what := reordering(name)) is not None:
            return f"gives class {k} the name {shown(name)}, which holds {what}, which changes how the text around it is shown"
    return None


def one_line(text: str) -> str:
    """``text`` on one line (newlines and runs of blanks made one blank), its middle cut when it passes
    :data:`LINE_MAX`: the start says the rule and the value, the end the fix. A message that quotes a list
    whole (20,000 unknown proxy names, an argument of 50,000 characters) was a line of that length. Every other
    character a terminal would act on or not show as itself is spelled as Python writes it (:func:`spelled`)."""
    text = " ".join(spelled(text).split())
    if len(text) <= LINE_MAX:
        return text
    head, tail = LINE_MAX * 3 // 5, LINE_MAX // 5
    return f"{text[:head]} ...({len(text) - head - tail:,} characters cut)... {text[-tail:]}"


def out_of_memory(error: BaseException) -> str | None:
    """The one line for an allocation the machine refused (a CPU allocation torch could not make, CUDA out
    of memory, Python's MemoryError), else None: not an internal error, a request too large for this
    machine (``evaluate --model width=2147483647`` asked for 77 GB), or a library that could not be mapped
    into a process whose address space is limited (``ulimit -v``: before branch probe40 an internal error,
    ImportError, from torch's or pandas' import)."""
    text = " ".join(str(error).split())
    if isinstance(error, ImportError) and "failed to map segment" in text:  # a library loaded late, under ulimit -v
        library = re.search(r"([\w.+-]+\.so[\w.]*): failed to map segment", text)
        return (
            f"out of memory: {library.group(1) if library else 'a library'} could not be loaded (failed to map segment from "
            "shared object): this process's memory limit (ulimit -v) is below what the command needs; raise it"
        )
    if not (
        isinstance(error, MemoryError)
        or on_gpu(error)
        or (isinstance(error, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text))
    ):
        return None
    size = ""
    if (asked := refused_bytes(error)) is not None:  # torch's CPU allocator
        size = f" ({in_units(asked)} asked)"
    elif cuda := re.search(r"[Tt]ried to allocate ([\d.]+ [KMGT]iB)", text):
        size = f" ({cuda.group(1)} asked)"
    limit = address_space_limit()
    if limit is not None and not on_gpu(error):
        # the process's own limit, not the machine: before drill42 a 41 KB checkpoint refused under `prlimit --as` read
        # "(0.0 GiB asked): ... does not fit in this machine's memory; a smaller model, batch or dataset would"
        return f"out of memory{size}: this process's memory limit (ulimit -v: {in_units(limit)}) was reached; raise it, then run the same command again"
    return f"out of memory{size}: what this command was asked to hold does not fit in this machine's memory; a smaller model, batch or dataset would"


def on_gpu(error: BaseException) -> bool:
    """Whether ``error`` is a GPU's memory refused (torch.OutOfMemoryError, or CUDA's message), not this process's."""
    return type(error).__name__ == "OutOfMemoryError" or "CUDA" in str(error)  # (without importing torch here)


def refused_bytes(error: BaseException) -> int | None:
    """The bytes torch's CPU allocator was asked for and refused (its "you tried to allocate N bytes"), None when unsaid."""
    found = re.search(r"tried to allocate (\d+) bytes", " ".join(str(error).split()))
    return int(found.group(1)) if found else None


def in_units(n: int) -> str:
    """``n`` bytes for a message: in GiB, MiB or KiB, whichever shows it as at least 1."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n} bytes"


def soft_limit(kind: str) -> int | None:
    """This process's soft limit ``RLIMIT_<kind>`` in bytes ("AS": ``ulimit -v``, ``prlimit --as``; "FSIZE":
    ``ulimit -f``), None when it has none (or no such limit here: Windows)."""
    if resource is None:
        return None
    try:
        soft = resource.getrlimit(getattr(resource, f"RLIMIT_{kind}"))[0]
    except (AttributeError, OSError, ValueError):
        return None
    return None if soft == resource.RLIM_INFINITY else int(soft)


def address_space_limit() -> int | None:
    """This process's address-space limit in bytes (``ulimit -v``, ``prlimit --as``: RLIMIT_AS), None when it has none."""
    return soft_limit("AS")


def address_space_used() -> int | None:
    """The bytes of address space this process holds now (what RLIMIT_AS counts: /proc/self/statm's first field),
    None where it cannot be read (no /proc; or no memory left to read it with)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, MemoryError):
        return None


E = TypeVar("E", bound="NasProxyError")


class NasProxyError(Exception):
    """Base class of the errors a user can cause (bad input, missing data, conflicts).

    ``NasProxyError(cause, remedy=...)`` keeps what is wrong (:attr:`cause`) and what the user of the command that
    raised it does about it (:attr:`remedy`, None where the message names none) apart; its text, the one line the
    CLI prints, is ``cause + sep + remedy`` (``sep`` "; " unless the sentence needs another). A remedy that names a
    command's options or folders (distill's ``--force``) is only that command's: a caller that ran it for the user
    (``run``'s distill stage, a search's random subset) puts its own with :meth:`with_remedy` rather than cutting
    the text, where a cause may itself hold "; " (a path may).

    ``missing`` is the path that does not exist, where that is the error (as it was given): a caller that read paths
    from a file (``run``'s preset) tells by it, not by the wording, which of them failed."""

    exit_code = 2
    missing: str | None = None

    def __init__(self, cause: str, *, remedy: str | None = None, sep: str = "; ", missing: str | os.PathLike[str] | None = None) -> None:
        super().__init__(cause if remedy is None else f"{cause}{sep}{remedy}")
        self.cause = cause
        self.remedy = remedy
        self.sep = sep
        if missing is not None:  # else kept: _remade makes a copy through here
            self.missing = os.fspath(missing)

    def with_remedy(self: E, remedy: str) -> E:
        """This error with ``remedy`` in place of its own (after "; "): a new error of the same class and attributes
        (its exit code), chained to this one (``__cause__``, shown under ``--debug``)."""
        return self._remade(self.cause, remedy, "; ")

    def with_cause(self: E, cause: str) -> E:
        """This error with ``cause`` in place of its own and its remedy kept (a rank of a launch naming itself in it),
        as :meth:`with_remedy` makes one."""
        return self._remade(cause, self.remedy, self.sep)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled (a rank's error sent to every rank, ``distill --distributed``) without calling the class's
        ``__init__``, whose arguments may differ from its message: before stop 50 a DiskFullError could not be read
        back (TypeError: missing 'needed' and 'free'), so every other rank failed unreadably."""
        return (_unpickled, (type(self), self.args), self.__dict__)

    def _remade(self: E, cause: str, remedy: str | None, sep: str) -> E:
        again = type(self).__new__(type(self))  # not the class's __init__, whose arguments may differ (DiskFullError)
        again.__dict__.update(self.__dict__)
        NasProxyError.__init__(again, cause, remedy=remedy, sep=sep)
        again.__cause__ = self
        return again


def _unpickled(cls: type[NasProxyError], args: tuple[Any, ...]) -> NasProxyError:
    e = cls.__new__(cls)
    Exception.__init__(e, *args)
    return e  # its attributes (cause, remedy, sep, a class's own) come with pickle's state


class MemoryLimitError(NasProxyError):
    """This process could not allocate (Python's MemoryError, or its own limit reached: ``ulimit -v``) while it ran a
    trial: not the candidate's fault, so the trial is queued again and the command stops. Exit 1, as out of memory."""

    exit_code = 1


class NothingCountedError(NasProxyError):
    """A stage that ended with none of its work done (a run's search whose every trial failed): what comes after has
    nothing to go on with. Exit 1, as a search whose budget was not met."""

    exit_code = 1


class UnknownNameError(NasProxyError):
    """A name that is not in a registry (dataset, method, space, proxy)."""


class DuplicateNameError(NasProxyError, ValueError):
    """A second object registered under a name a registry already holds (a plugin's naming clash)."""


class DataNotFoundError(NasProxyError):
    """Dataset files are missing; the message says how to get them."""


class InvalidArgumentError(NasProxyError):
    """An option value outside its allowed range."""


class ArtifactError(NasProxyError):
    """A synthetic-set directory or file that is missing, unfinished, corrupt or foreign."""


class DataChangedError(ArtifactError):
    """An artifact made from data that differ from those found now under its name (the same shapes and classes, other
    labels or pixels: files edited in place, another copy): a caller that made the artifact itself, as a cache, makes
    it again from these (a random subset a search drew); another's is refused."""


class NewerFormatError(ArtifactError):
    """A set written by a newer nasproxy: whole, only unreadable here (never made again over)."""


class OutputConflictError(NasProxyError):
    """An output directory that already holds a different run."""


class DifferentRunError(OutputConflictError):
    """An output directory holding a run of other options (its cause names them, there and now), which those options
    continue: a caller that chose the options for the user (``run``'s preset) says to put them back."""


class DivergedError(NasProxyError):
    """The loss became NaN or infinite; the last good state was kept. :attr:`fix`: what to change, apart from how to
    start again (distill's ``--force``), where the raiser knows (a caller with its own way to start says it with it)."""

    exit_code = 3

    def __init__(self, cause: str, *, remedy: str | None = None, sep: str = "; ", fix: str | None = None) -> None:
        super().__init__(cause, remedy=remedy, sep=sep)
        self.fix = fix


class InterruptedRunError(NasProxyError):
    """The run was interrupted (Ctrl-C, or SIGTERM); a checkpoint was written and the run can resume.
    Exit 130, or 143 after SIGTERM (128 + the signal)."""

    exit_code = 130

    def __init__(self, message: str, exit_code: int = 130) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class SpaceError(NasProxyError):
    """A search-space definition file, or an architecture spec, that breaks the space's rules."""


class NasProxyWarning(UserWarning):
    """Something the user should know that did not stop the command; the CLI prints it as one line."""


class JournalRepairedWarning(NasProxyWarning):
    """A study's journal ended in a torn record (a write cut short) that was set aside or completed."""
