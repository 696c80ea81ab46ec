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


__all__ = ["PID_MAX_LIMIT", "process_id"]
