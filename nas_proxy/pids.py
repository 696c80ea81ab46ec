"""Process ids read from files another program wrote or a user edited (a journal's worker, a lock's holder, a
folder's name): :func:`process_id` keeps only what names a process, so that ``os.kill`` never sees anything else.
Torch-free and import-free: a stage of any layer judges by it (the studies' workers, distill's launch folders).
"""

from __future__ import annotations

PID_MAX_LIMIT = 4_194_304  # Linux's largest process id (2**22, PID_MAX_LIMIT): a larger number names no process


def process_id(value: object) -> int | None:
    """``value`` where it names a process (an int from 1 to :data:`PID_MAX_LIMIT`), None otherwise: a record another
    program wrote or a hand edited ("abc", 1.5, true, null, a list, -3, 0, 2**70). Never hand ``os.kill`` another: 0
    and -1 signal this process's group and every process, a negative id a group, a huge one raises OverflowError."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= PID_MAX_LIMIT:
        return None
    return value


def process_id_named(name: str) -> int | None:
    """The process id that ``name`` begins with, up to its first '-', where nasproxy named it so (``f"{os.getpid()}-..."``:
    a launch's temporary folder, a worker's dump file); None where the name is no such id. Only ASCII digits as
    ``str(pid)`` writes them: before review50 ``str.isdecimal`` took '\u0663' (ARABIC-INDIC DIGIT THREE, int() reads 3)
    and '0042', names no nasproxy gave, and a sweep removed them where that process was gone."""
    digits = name.partition("-")[0]
    if not (digits.isascii() and digits.isdecimal()) or digits != str(int(digits)):
        return None
    return process_id(int(digits))


__all__ = ["PID_MAX_LIMIT", "process_id", "process_id_named"]
