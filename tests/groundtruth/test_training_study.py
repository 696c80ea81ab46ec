"""A full-data training study (nas_proxy/groundtruth/trainings.py): opened only on data that can be read."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from nas_proxy.errors import NasProxyError
from nas_proxy.groundtruth.study import DataRef, open_study
from nas_proxy.protocols import GroundTruthConfig
from nas_proxy.studies.storage import open_storage


def test_a_ground_truth_of_data_that_cannot_be_read_leaves_no_study(tmp_path: Path) -> None:
    """review51: since fix50e the study is opened, then its data read (to record their content_sha256): data that
    cannot be read (a folder not there) left an empty study of that name in the storage, without its data or its kind
    (before fix50e, empty and marked). Now the data are read first: refused in one line, the storage as it was."""
    storage = open_storage(str(tmp_path / "gt.log"), "gt")
    missing = DataRef(f"imagefolder:{tmp_path / 'photos'}", 0, 0.5)
    with pytest.raises(NasProxyError, match="does not exist"):
        open_study(storage, missing, GroundTruthConfig(epochs=1, early=()))
    assert optuna.get_all_study_summaries(storage.backend, include_best_trial=False) == []
