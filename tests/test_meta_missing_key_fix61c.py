"""A synthetic set's ``meta.json`` missing a key it must hold: before branch fix61c a missing ``dataset.channels`` was
reported as "must be an integer, got None" and a missing ``format_version`` as "must be 1 to 2, got 0" (a default the
file never held); the message now says the key is missing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nas_proxy.errors import ArtifactError
from nas_proxy.synthetic import FORMAT, META, read_meta


def _meta() -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": 1,
        "dataset": {
            "name": "cifar10",
            "num_classes": 2,
            "channels": 1,
            "image_size": [4, 4],
            "mean": [0.5],
            "std": [0.25],
            "class_names": ["a", "b"],
        },
        "split": {"seed": 0, "val_fraction": 0.1},
        "method": "datadam",
        "ipc": 1,
        "tensors": "synthetic.safetensors",
    }


def _written(tmp_path: Path, meta: dict[str, Any]) -> Path:
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / META).write_text(json.dumps(meta))
    return tmp_path / "set"


def test_a_whole_meta_is_read(tmp_path: Path) -> None:
    assert read_meta(_written(tmp_path, _meta()))["dataset"]["channels"] == 1


def test_a_missing_format_version_is_named_missing(tmp_path: Path) -> None:
    meta = _meta()
    del meta["format_version"]
    with pytest.raises(ArtifactError, match=r"meta\.json: format_version is missing") as e:
        read_meta(_written(tmp_path, meta))
    assert "got 0" not in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(("table", "key"), [("dataset", "channels"), ("split", "seed"), (None, "ipc"), (None, "dataset")])
def test_a_missing_key_is_named_missing(tmp_path: Path, table: str | None, key: str) -> None:
    meta = _meta()
    del (meta[table] if table else meta)[key]
    name = f"{table}.{key}" if table else key
    with pytest.raises(ArtifactError, match=rf"meta\.json: {name} is missing") as e:
        read_meta(_written(tmp_path, meta))
    assert "got None" not in str(e.value) and "\n" not in str(e.value)


def test_a_null_key_is_still_a_wrong_type(tmp_path: Path) -> None:
    meta = _meta()
    meta["dataset"]["channels"] = None
    with pytest.raises(
        ArtifactError, match=r"dataset\.channels must be an integer, got null|dataset\.channels must be an integer, got None"
    ):
        read_meta(_written(tmp_path, meta))
