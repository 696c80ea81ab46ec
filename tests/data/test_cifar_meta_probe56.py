"""CIFAR meta files as Python 2 wrote them: a class name is a byte string (pickle's BINSTRING), whose encoding the file
does not say. Branch probe56: such names are read as UTF-8 text, as Python 3's own bytes names are; before, each byte was
taken as a Latin-1 character, so a name written in UTF-8 ('café') became another name ('cafÃ©'), taken without a word."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas_proxy.data.formats import cifar_label_names
from nas_proxy.errors import DataNotFoundError
from tests import fabricate as fab

NAMES = [f"c{k}" for k in range(10)]


def _meta(folder: Path, first: bytes) -> Path:
    """A batches.meta of Python 2 (names as byte strings) whose class 0 is named ``first``."""
    meta = {b"label_names": [first, *(n.encode() for n in NAMES[1:])], b"num_cases_per_batch": 4, b"num_vis": 3072}
    return fab.write_pickle(folder / "batches.meta", meta, python2=True)


def test_a_python2_name_in_utf8_is_read_as_the_text_it_spells(tmp_path: Path) -> None:
    names = cifar_label_names(_meta(tmp_path, "café".encode()), "label_names", 10)
    assert names == ["café", *NAMES[1:]]


def test_a_python2_name_in_another_encoding_is_refused_saying_so(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"holds a name of bytes that are not UTF-8 text \(b'caf\\xe9'\)"):
        cifar_label_names(_meta(tmp_path, "café".encode("latin-1")), "label_names", 10)


def test_python3_names_stay_as_they_are(tmp_path: Path) -> None:
    meta = {"label_names": ["café", *NAMES[1:]], "num_cases_per_batch": 4}
    path = fab.write_pickle(tmp_path / "batches.meta", meta, python2=False)
    assert cifar_label_names(path, "label_names", 10) == ["café", *NAMES[1:]]
