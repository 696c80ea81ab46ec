"""drill55: a journal whose only record was cut short in its first bytes (a crash or a full disk during a new study's
first write) is repaired as any torn last record is, not refused as a foreign file."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from nas_proxy.errors import JournalRepairedWarning
from nas_proxy.studies.storage import open_storage

FIRST = b'{"op_code":0,"worker_id":"w","study_name":"x","directions":[1]}'


@pytest.mark.parametrize("length", [1, 4, 9, 10, 30])
def test_a_first_record_cut_in_its_first_bytes_is_set_aside(tmp_path: Path, length: int) -> None:
    """drill55's torn-write drill cut ``nasproxy run``'s journal to 1 byte: the same command refused it as 'not an
    Optuna journal' ('{' is no record), while a cut after 10 bytes ('{"op_code"', the check's prefix) was set aside
    and the run went on. Every cut of the first record is now the same torn record, set aside with its warning."""
    journal = tmp_path / "journal.log"
    journal.write_bytes(FIRST[:length])
    with pytest.warns(JournalRepairedWarning, match="cut short"):
        storage = open_storage(str(journal), "x")[0]
    study = optuna.create_study(study_name="x", storage=storage, load_if_exists=True)
    study.set_user_attr("k", 1)
    assert journal.read_bytes().startswith(b'{"op_code"') and journal.read_bytes().endswith(b"\n")
    assert [p.read_bytes() for p in tmp_path.glob("journal.log.torn-*")] == [FIRST[:length]]


@pytest.mark.parametrize("content", [b"{", b"{}\n", b'{"op"\n', b"not a journal"])
def test_a_foreign_or_whole_short_first_line_is_still_refused(tmp_path: Path, content: bytes) -> None:
    """What is not a cut first record stays refused: a line ended by its newline that is no record, other text.
    (A lone '{' without newline is a cut record: the first case is here only with a newline after it.)"""
    journal = tmp_path / "journal.log"
    journal.write_bytes(content + (b"\n" if content == b"{" else b""))
    with pytest.raises(Exception, match="not an Optuna journal"):
        open_storage(str(journal), "x")
