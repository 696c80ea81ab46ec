"""A cached teacher whose file is whole but whose record or weights cannot be its own (edited, another teacher's,
another program's) is trained again with one warning naming the file and the fault, as a torn one is (branch probe46:
before, a val_accuracy of "abc" was an internal error, NaN weights made every soft label NaN with exit 0)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save

from nas_proxy.distill import soft_labels as sl

IDENTITY = {"spec": {"family": "convnet", "depth": 1}, "arch_id": "0123456789ab", "seed": 7, "file": "teacher.safetensors"}
RECORD = {**IDENTITY, "val_accuracy": 43.3, "seconds": 9.8}


def _write(file: Path, model: torch.nn.Module, record: Any, weights: Callable[[torch.Tensor], torch.Tensor] = lambda v: v) -> None:
    state = {k: weights(v.detach()).contiguous() for k, v in model.state_dict().items()}
    file.write_bytes(save(state, metadata=None if record is None else {"record": json.dumps(record)}))


@pytest.mark.parametrize(
    ("record", "weights", "why"),
    [
        ({**RECORD, "val_accuracy": "abc"}, None, "its record's val_accuracy is 'abc', not a percentage"),
        ({**RECORD, "val_accuracy": float("nan")}, None, "its record's val_accuracy is nan, not a percentage"),
        ({**RECORD, "val_accuracy": 150.0}, None, "its record's val_accuracy is 150.0, not a percentage"),
        ({**RECORD, "val_accuracy": True}, None, "its record's val_accuracy is True, not a percentage"),
        ({**RECORD, "seconds": -1}, None, "its record's seconds is -1, not a number of seconds"),
        (
            {**RECORD, "spec": {"family": "convnet", "depth": 2}},
            None,
            r"its record's spec is not that of architecture 0123456789ab \(the file's name\)",
        ),
        ({**RECORD, "arch_id": "000000000000"}, None, "its record's arch_id is '000000000000', not '0123456789ab'"),
        ({**RECORD, "seed": "x"}, None, "its record's seed is 'x', not 7"),
        ({**RECORD, "file": "../x.safetensors"}, None, "its record's file is '../x.safetensors', not 'teacher.safetensors'"),
        ([1, 2], None, r"its record is \[1, 2\], not a JSON object"),
        (None, None, r"it holds no teacher's record \(another program's weights\?\)"),
        (RECORD, lambda v: torch.full_like(v, float("nan")), "its weights hold NaN or infinity"),
        (RECORD, lambda v: torch.full_like(v, float("inf")), "its weights hold NaN or infinity"),
    ],
)
def test_a_cached_teacher_that_cannot_be_its_own_is_trained_again(record: Any, weights: Any, why: str, tmp_path: Path) -> None:
    model = torch.nn.Linear(2, 2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    file = tmp_path / "teacher.safetensors"
    _write(file, model, record, weights or (lambda v: v))
    with pytest.warns(sl.TeacherRetrainedWarning, match=rf"cached teacher {file} is unreadable \({why}\); it is trained again"):
        assert sl._read_teacher(file, model, IDENTITY) is None
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # no weight of it loaded


def test_a_cached_teacher_of_its_own_is_read_without_a_word(tmp_path: Path) -> None:
    model = torch.nn.Linear(2, 2)
    file = tmp_path / "teacher.safetensors"
    _write(file, model, RECORD)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sl._read_teacher(file, model, IDENTITY) == RECORD


def test_a_cached_teacher_whose_bytes_changed_is_trained_again_not_loaded(tmp_path: Path) -> None:
    """drill48: 16 bytes of a kept teacher's weights overwritten (its size kept, so its header still accounts for it,
    and the numbers still finite) were loaded as the teacher, and soft labels made with them. Now the file holds the
    sha256 of its weights and record: the teacher is trained again, said in one warning."""
    model, file = torch.nn.Linear(8, 8), tmp_path / "teacher.safetensors"
    sl._keep_teacher(file, model, RECORD)
    whole = file.read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sl._read_teacher(file, model, IDENTITY) == RECORD  # as written: read without a word
    before = {k: v.clone() for k, v in model.state_dict().items()}
    start = 8 + int.from_bytes(whole[:8], "little")
    file.write_bytes(whole[: start + 40] + torch.full((4,), 0.5).numpy().tobytes() + whole[start + 56 :])  # finite weights
    why = "its weights or record no longer match the sha256 written with them"
    with pytest.warns(sl.TeacherRetrainedWarning, match=rf"cached teacher {file} is unreadable \({why}\); it is trained again"):
        assert sl._read_teacher(file, model, IDENTITY) is None
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # no weight of it loaded


def test_a_teacher_with_batch_norm_is_kept_and_read_back(tmp_path: Path) -> None:
    """drill49: a teacher holding a 0-d tensor (batch norm's num_batches_tracked, any teacher drawn with batch norm)
    was trained, then not kept: 'distill --soft-labels 2 ...' ended in 'internal error: RuntimeError: self.dim() cannot
    be 0 to view Long as Byte'. Now it is kept with its sha256, read back without a word, and a changed count is seen."""
    norm = torch.nn.BatchNorm2d(4)
    norm.num_batches_tracked = torch.tensor(3)
    model, file = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), norm), tmp_path / "teacher.safetensors"
    sl._keep_teacher(file, model, RECORD)
    other = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sl._read_teacher(file, other, IDENTITY) == RECORD
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in other.state_dict().items())
    whole = file.read_bytes()
    header = json.loads(whole[8 : 8 + int.from_bytes(whole[:8], "little")])
    start, _ = header["1.num_batches_tracked"]["data_offsets"]
    at = 8 + int.from_bytes(whole[:8], "little") + start
    file.write_bytes(whole[:at] + (4).to_bytes(8, "little") + whole[at + 8 :])  # the count 3 made 4
    with pytest.warns(sl.TeacherRetrainedWarning, match="no longer match the sha256 written with them"):
        assert sl._read_teacher(file, other, IDENTITY) is None
