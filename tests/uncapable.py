"""``python -m tests.uncapable ARGS...``: ``python -m nasproxy ARGS...`` as root without capabilities.

The suite runs as root (CI, containers), where every open and access succeeds whatever a file's mode, so the
permission-denied paths of nasproxy are never taken. A root process without capabilities obeys the modes of
root's files as any user does (``chmod 555 out`` refuses it a write there): this module drops every capability
(the bounding set first, so that no process it starts gets them back at exec, then the effective, permitted
and inheritable sets, as ``setpriv --inh-caps=-all --bounding-set=-all`` does) and runs nasproxy. It is one of
``tests.warm.WARM_MODULES``, so it is forked warm like any nasproxy command; ``run`` below is the command
line, and skips the test (saying why) where the drop cannot be made: not root, or no capabilities to drop.
"""

from __future__ import annotations

import ctypes
import os
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PR_CAPBSET_DROP = 24
CAP_VERSION_3 = 0x20080522
CAP_SETPCAP = 8
CAP_LAST = 63  # above the kernel's last capability, PR_CAPBSET_DROP fails with EINVAL: ignored


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_capabilities() -> None:
    """Drop every capability of this process and of what it starts; OSError where it cannot."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in range(CAP_LAST + 1):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() != 22:  # EINVAL: no such capability
            raise OSError(ctypes.get_errno(), f"prctl(PR_CAPBSET_DROP, {cap})")
    header, data = _Header(CAP_VERSION_3, 0), (_Data * 2)()
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def unavailable() -> str | None:
    """Why a test cannot run nasproxy without capabilities here (None: it can)."""
    if os.geteuid() != 0:
        return "not root: this user's permissions are what they are, the cases need root without capabilities"
    status = dict(line.split(":\t", 1) for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("Cap"))
    if int(status.get("CapBnd", "0"), 16) == 0:
        return "this root has no capabilities to drop (/proc/self/status CapBnd 0): nothing would be denied differently"
    if not int(status.get("CapEff", "0"), 16) >> CAP_SETPCAP & 1:
        return "this root lacks CAP_SETPCAP: it cannot drop the bounding set, so a process it starts would get them back"
    return None


def run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """``nasproxy ARGS`` as root without capabilities, forked warm, text output captured; skips the test
    where that cannot be done (:func:`unavailable`)."""
    import pytest

    from tests import warm

    if (why := unavailable()) is not None:
        pytest.skip(why)
    env = dict(kwargs.pop("env", os.environ))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return warm.run([sys.executable, "-m", "tests.uncapable", *args], env=env, text=True, capture_output=True, **kwargs)


if __name__ == "__main__":
    drop_capabilities()
    sys.argv[0] = "nasproxy"
    runpy.run_module("nas_proxy", run_name="__main__", alter_sys=True)
