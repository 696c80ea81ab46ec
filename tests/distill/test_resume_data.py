"""A distillation is resumed only on the data it was started on: its checkpoint records the data's content_sha256
(pixels and labels). Before stop 51, ``distill`` killed, an image of its folder rewritten in place (the same class), then
the same command resumed the checkpoint without a word: pixels made from the old images went on with the new ones."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file

from nas_proxy.cli import main
from nas_proxy.data import load_dataset
from nas_proxy.distill import DistillConfig, distill
from nas_proxy.distill.checkpoint import DATA, DIGEST
from nas_proxy.errors import DataChangedError
from nas_proxy.synthetic import CHECKPOINT, META, read_safetensors
from tests import warm
from tests.data.test_data_changed import CHANGED, noisy_folder, turn
from tests.distill.test_distill_spaces import ROOT, nasproxy
from tests.gate import CHECKPOINT as WRITING_CHECKPOINT
from tests.gate import Gate

REFUSED = "give the data it was made from, or --force to start again"


def flags(folder: Path, out: Path, iterations: int) -> list[str]:
    """``distill`` of ``folder`` (3 classes of 8 noise images) with datadam, a checkpoint every iteration."""
    return [
        *("distill", "--dataset", f"imagefolder:{folder}", "--method", "datadam", "--ipc", "1", "--batch-real", "4"),
        *("--val-fraction", "0.5", "--iterations", str(iterations), "--checkpoint-every", "1", "--device", "cpu", "--quiet"),
        *("--out", str(out)),
    ]


def turn_back(path: Path) -> None:
    """The image at ``path`` as it was before :func:`turn` (three more quarter turns; PNG keeps every pixel)."""
    for _ in range(3):
        turn(path)


def test_a_distillation_killed_then_resumed_on_an_image_rewritten_since_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, out = noisy_folder(tmp_path / "photos"), tmp_path / "syn"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    gate = Gate(tmp_path / "gate", at=WRITING_CHECKPOINT, let_through=1)  # the first checkpoint written, the second held
    run = warm.Popen(
        nasproxy(*flags(folder, out, 50)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=gate.env(env), cwd=ROOT
    )
    gate.wait([run], [run.pid])
    run.send_signal(signal.SIGKILL)  # killed while writing its second checkpoint: the first is kept, whole
    run.communicate()
    assert run.returncode == -signal.SIGKILL and not (out / META).exists()
    kept = (out / CHECKPOINT).read_bytes()
    _, recorded = read_safetensors(out / CHECKPOINT)
    assert recorded[DATA] == load_dataset(f"imagefolder:{folder}").content_sha256() and recorded["done"] == "1"

    turn(folder / "dog" / "2.png")  # the same class, labels, mean and std: only the pixels tell
    assert main(flags(folder, out, 3)) == 2  # the same command (iterations may grow or shrink on resume: 3 keeps it short)
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith(f"nasproxy distill: error: the checkpoint in {out} was distilled from imagefolder:{folder} images that differ"), (
        err
    )
    assert err.endswith(f"{CHANGED}; {REFUSED}"), err
    assert (out / CHECKPOINT).read_bytes() == kept and not (out / META).exists()  # nothing written, nothing lost

    turn_back(folder / "dog" / "2.png")  # the data it was started on: resumed, to the end
    assert main(flags(folder, out, 3)) == 0, capsys.readouterr().err
    assert read_safetensors(out / CHECKPOINT)[1]["done"] == "3"


def test_a_finished_set_is_not_taken_as_that_of_data_changed_since(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """drill52: distill finished, an image of its folder turned in place, the same command: before, exit 0 and 'wrote
    OUT' with nothing computed, and evaluate then refused the set ('... or distill again from this one'), which did the
    same again. Refused in one line now, as a checkpoint on other data is (a --distributed rank refused it already)."""
    folder, out = noisy_folder(tmp_path / "photos"), tmp_path / "syn"
    assert main(flags(folder, out, 2)) == 0
    kept = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    turn(folder / "dog" / "2.png")
    assert main(flags(folder, out, 2)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.endswith(f"{CHANGED}; {REFUSED}"), err
    # fix53a: it said "the checkpoint in OUT" where the user has a finished set
    assert err.startswith(f"nasproxy distill: error: the set in {out} was distilled from imagefolder:{folder} images that differ"), err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == kept  # nothing written
    turn_back(folder / "dog" / "2.png")  # the data it was made from: the set taken as it is, as before
    assert main(flags(folder, out, 2)) == 0
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name != "config.toml"} == {
        k: v for k, v in kept.items() if k != "config.toml"
    }


def _cut_at_2(folder: Path, out: Path) -> DistillConfig:
    """A run of ``folder`` checkpointed at iteration 2 of 3, unfinished (its set removed, as a kill leaves it)."""
    config = DistillConfig(
        dataset=f"imagefolder:{folder}", method="datadam", ipc=1, batch_real=3, val_fraction=0.5, iterations=2, device="cpu"
    )
    distill(config, out, progress=False)
    for name in (META, "synthetic.safetensors", "grid.png", "losses.csv"):
        (out / name).unlink(missing_ok=True)
    return replace(config, iterations=3)


def test_a_checkpoint_written_before_the_digest_is_resumed_as_before(tmp_path: Path) -> None:
    folder = noisy_folder(tmp_path / "photos")
    config = _cut_at_2(folder, tmp_path / "syn")
    path = tmp_path / "syn" / CHECKPOINT
    tensors, metadata = load_file(path), read_safetensors(path)[1]
    save_file(tensors, path, metadata={k: v for k, v in metadata.items() if k not in (DATA, DIGEST)})  # as an earlier nasproxy wrote it
    turn(folder / "cat" / "1.png")
    done = distill(config, tmp_path / "syn", progress=False)  # not refused: its data unknown, as before
    assert done.meta["iterations_done"] == 3
    assert read_safetensors(path)[1][DATA] == load_dataset(f"imagefolder:{folder}").content_sha256()  # recorded from now on


def test_each_rank_of_a_sharded_run_refuses_its_checkpoint_on_other_data_before_any_enters_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--distributed``: each rank reads its own copy of the data. The check is one of the steps every rank agrees on
    (sharded._prepare, as the options' check), so that a rank whose data changed is heard by all before any of them
    enters the loop, whose collectives (batch norm, --nets) its peers would wait in. One gloo rank, in this process."""
    import tempfile

    import torch.distributed as dist

    from nas_proxy.distill import sharded

    folder = noisy_folder(tmp_path / "photos")
    config = DistillConfig(
        dataset=f"imagefolder:{folder}", method="datadam", ipc=1, batch_real=3, val_fraction=0.5, iterations=2, device="cpu"
    )
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("LOCAL_RANK", "0")
    with tempfile.TemporaryDirectory() as d:
        dist.init_process_group("gloo", init_method=f"file://{d}/rendezvous", rank=0, world_size=1)
        try:
            sharded.distill_sharded(config, tmp_path / "syn")
            shard = tmp_path / "syn" / "shards" / "0-of-1"
            kept = (shard / CHECKPOINT).read_bytes()
            turn(folder / "emu" / "3.png")

            def entered(*args: object, **kwargs: object) -> None:
                raise AssertionError("a rank entered the distillation on other data")

            monkeypatch.setattr(sharded, "distill", entered)
            with pytest.raises(DataChangedError) as refused:
                sharded.distill_sharded(replace(config, iterations=3), tmp_path / "syn", resume=True)
        finally:
            dist.destroy_process_group()
    assert refused.value.cause.startswith(f"the checkpoint in {shard} was distilled from imagefolder:{folder} images that differ")
    assert refused.value.cause.endswith(f"{CHANGED} (rank 0 of 1)") and refused.value.remedy == REFUSED
    assert (shard / CHECKPOINT).read_bytes() == kept
