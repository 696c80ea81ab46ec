"""fix58: checks.kind said "a device" of a character device (/dev/null, /dev/zero, a terminal) and of a block device (a
disk) alike, where the refusals name every other type (a FIFO, a socket, a directory). It names which."""

from __future__ import annotations

import os
import stat

from nas_proxy import checks


def test_kind_names_which_device() -> None:
    assert checks.kind(os.stat("/dev/null").st_mode) == "a character device"
    assert checks.kind(stat.S_IFCHR | 0o666) == "a character device"
    assert checks.kind(stat.S_IFBLK | 0o660) == "a block device"  # a disk (only root makes one: its type bits)
    assert (checks.kind(stat.S_IFIFO | 0o600), checks.kind(stat.S_IFSOCK | 0o755)) == ("a FIFO", "a socket")


def test_a_refusal_names_the_character_device() -> None:
    assert checks.not_a_folder("data root", "/dev/null") == "data root /dev/null is a character device, not a directory"
