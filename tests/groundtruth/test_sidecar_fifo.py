"""A FIFO named provenance.json beside a ground-truth table (probe57's lead: the sidecar was read with a plain
read_text, and opening a FIFO waits for a writer) is not the builder's file: the table names no data, and nothing
waits. Before the fix this test's reader stayed blocked."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from nas_proxy.groundtruth.tables import SIDECAR, read_data


def test_a_fifo_beside_a_table_is_not_its_provenance_and_is_never_opened(tmp_path: Path) -> None:
    table = tmp_path / "truth.csv"
    table.write_text("arch_id,val_accuracy\na,0.5\nb,0.6\n")
    os.mkfifo(tmp_path / SIDECAR)
    found: list[object] = []
    reader = threading.Thread(target=lambda: found.append(read_data(table, "--truth")), daemon=True)
    reader.start()
    reader.join(30)
    if reader.is_alive():  # unblock the opened FIFO so the thread ends
        with open(tmp_path / SIDECAR, "w"):
            pass
    assert not reader.is_alive() and found == [None]
