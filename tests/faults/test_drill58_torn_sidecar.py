"""A torn last write of a ground-truth table's provenance.json (drill58).

A table without a ``dataset`` column names its data through the builder's provenance.json beside it
(``nas_proxy.groundtruth.tables._from_sidecar``), and ``calibrate``/``correlate`` refuse to rank a synthetic set of
other data against it. A provenance.json cut short (a disk that lost the end of its write, a copy stopped) is not JSON:
it was taken as "names no data", the check skipped without a word, and ``calibrate --truth`` the committed
Fashion-MNIST table ``--synthetic`` a digits set trained on (drill58: at 12 offsets drawn with seed 58, all 12 loaded
silently; the whole file refuses in one line). The table itself cut anywhere is refused (12 of 12 offsets).
Now a JSON object cut short is refused; a provenance.json that is not JSON at all (another tool's) still names no data.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from nas_proxy.errors import InvalidArgumentError
from nas_proxy.groundtruth.tables import SIDECAR, read_data

TABLES = Path(__file__).resolve().parents[2] / "benchmarks" / "groundtruth"
TABLE = "fashion-mnist-convnet720.csv"


def table_beside(tmp_path: Path, sidecar: bytes) -> Path:
    shutil.copyfile(TABLES / TABLE, tmp_path / TABLE)
    (tmp_path / SIDECAR).write_bytes(sidecar)
    return tmp_path / TABLE


def test_the_whole_provenance_names_the_tables_data(tmp_path: Path) -> None:
    data = read_data(table_beside(tmp_path, (TABLES / SIDECAR).read_bytes()), "--truth")
    assert data is not None and data.dataset == "fashion-mnist"


@pytest.mark.parametrize("seed", range(3))
def test_a_torn_provenance_is_refused_not_taken_as_naming_no_data(tmp_path: Path, seed: int) -> None:
    whole = (TABLES / SIDECAR).read_bytes()
    cut = random.Random(seed).randrange(1, len(whole) - 1)  # a torn last write: some bytes, not all
    with pytest.raises(InvalidArgumentError, match=SIDECAR):
        read_data(table_beside(tmp_path, whole[:cut]), "--truth")


def test_a_provenance_of_another_tool_that_is_not_json_names_no_data(tmp_path: Path) -> None:
    assert read_data(table_beside(tmp_path, b"built by hand, see the lab book\n"), "--truth") is None


@pytest.mark.parametrize("torn", [b"", b"\n", b"\xef\xbb\xbf", b'\xef\xbb\xbf{"data": {"datas'], ids=["empty", "blank", "bom", "bom-cut"])
def test_an_empty_provenance_or_one_cut_after_a_bom_is_refused(tmp_path: Path, torn: bytes) -> None:
    """Stop 58 drew cuts from [1, len-1): 0 bytes (an earlier builder wrote the file in place, so a kill could leave it
    empty) and a cut after a byte-order mark were still taken as naming no data (review59)."""
    with pytest.raises(InvalidArgumentError, match=SIDECAR):
        read_data(table_beside(tmp_path, torn), "--truth")
