"""Distillation runs: determinism, resume, divergence, interruption, the artifact, the baselines."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch
from PIL import Image

from nas_proxy.data import load_dataset
from nas_proxy.distill import distill
from nas_proxy.distill.methods import METHODS, DataDAM
from nas_proxy.errors import ArtifactError, DivergedError, InterruptedRunError, InvalidArgumentError, OutputConflictError
from nas_proxy.synthetic import load_synthetic
from tests import fabricate as fab
from tests.conftest import copy_of, tiny_config


def images(path: Path) -> torch.Tensor:
    return load_synthetic(path).images


def test_artifact_is_self_describing(tiny_run: Path) -> None:
    syn = load_synthetic(tiny_run)
    meta = syn.meta
    assert syn.images.shape == (20, 1, 16, 16) and torch.equal(syn.labels, torch.arange(10).repeat_interleave(2))
    assert meta["dataset"]["name"] == "digits" and meta["dataset"]["class_names"] == [str(i) for i in range(10)]
    assert meta["split"] == {
        "seed": 0,
        "val_fraction": 0.1,
        "train_size": meta["split"]["train_size"],
        "val_size": meta["split"]["val_size"],
    }
    assert meta["method"] == "datadam" and meta["iterations_done"] == 6 and meta["seed"] == 0
    # the defaults as resolved (RESULTS.md §19: the official code's recipe), never None
    assert meta["config"]["attention_power"] == 1.0 and meta["config"]["net_norm"] == "batchnorm"
    assert meta["config"]["batchnorm_stats"] == "own"
    resolved = meta["config"]["resolved"]
    assert resolved == {**resolved, "image_lr": 1.0, "batch_real": 8, "method": {"attention_power": 1.0, "lambda_mmd": 0.01}}
    assert "normalization=batchnorm" in resolved["distillation_net"]
    assert meta["package_version"] and meta["loss"]["windows"] == 3
    with Image.open(tiny_run / "grid.png") as grid:  # one row per class, two images per row
        assert grid.size == (2 * 17 + 1, 10 * 17 + 1)


def test_same_seed_same_result_other_seed_differs(tiny_run: Path, tmp_path: Path) -> None:
    distill(tiny_config(), tmp_path / "again", progress=False)
    assert torch.equal(images(tiny_run), images(tmp_path / "again"))
    distill(tiny_config(seed=1), tmp_path / "other", progress=False)
    assert not torch.equal(images(tiny_run), images(tmp_path / "other"))


def test_loss_falls_during_distillation(tmp_path: Path) -> None:
    result = distill(tiny_config(iterations=60, log_every=10, ipc=1, init="noise"), tmp_path / "run", progress=False)
    history = [h[1] for h in _history(tmp_path / "run")]
    assert len(history) == 6
    assert sum(history[-2:]) < 0.8 * sum(history[:2]), history
    assert result.meta["loss"]["last"]["sam"] < result.meta["loss"]["first"]["sam"]
    assert result.meta["loss"]["last"]["mmd"] < result.meta["loss"]["first"]["mmd"]


def _history(run: Path) -> list[list[float]]:
    rows = (run / "losses.csv").read_text().splitlines()[1:]
    return [[float(v) for v in row.split(",")] for row in rows]


def test_a_run_on_28px_one_channel_images_resumes_bit_for_bit(tmp_path: Path, one_thread: None) -> None:
    """Fashion-MNIST's images load with a channels-last stride (one channel: the same bytes), a
    checkpoint's come back plain: the pool is made plain, or a resumed run's convolutions take another
    kernel and drift by float rounding (1e-5 after one step; found by a kill -9 drill on the real set)."""
    train_y, test_y = fab.shuffled_labels(list(range(10)), 16, seed=1), fab.shuffled_labels(list(range(10)), 1, seed=2)
    fab.idx_files(tmp_path / "data" / "FashionMNIST" / "raw", train_y, test_y, gz=False)  # the real format, 16 images a class
    config = tiny_config(dataset="fashion-mnist", data_root=str(tmp_path / "data"), iterations=3, checkpoint_every=1)
    whole = distill(config, tmp_path / "whole", progress=False)
    distill(tiny_config(dataset="fashion-mnist", data_root=str(tmp_path / "data"), iterations=1), tmp_path / "r", progress=False)
    distill(config, tmp_path / "r", resume=True, progress=False)  # iteration 1 (a flip) is the first after the checkpoint
    assert torch.equal(images(tmp_path / "r"), images(whole.path))


def test_interrupted_run_resumes_to_the_uninterrupted_result(tiny_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"

    def interrupt_at_2(done: int, losses: dict[str, float]) -> None:
        if done == 2:
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C does

    with pytest.raises(InterruptedRunError, match="the same command continues it"):
        distill(tiny_config(), out, progress=False, callback=interrupt_at_2)
    assert not (out / "meta.json").exists()  # nothing half-written: no finished artifact
    distill(tiny_config(), out, progress=False)  # the same call continues from the checkpoint
    assert torch.equal(images(out), images(tiny_run))
    assert _history(out) == _history(tiny_run)


def test_ctrl_c_in_the_last_iteration_stops_the_run_and_the_same_call_finishes_it(tiny_run: Path, tmp_path: Path) -> None:
    """A Ctrl-C during the last iteration, after it read its stop flag (its read-back; with --select-by its
    score), stops the run there too. Before, leaving the loop dropped it: the run went on as if none came,
    through its soft labels' teachers and, under `nasproxy run`, its search (found by a kill drill)."""
    out = tmp_path / "run"

    def interrupt_at_last(done: int, losses: dict[str, float]) -> None:
        if done == 6:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(InterruptedRunError, match="at iteration 6/6; checkpoint saved") as stopped:
        distill(tiny_config(), out, progress=False, callback=interrupt_at_last)
    assert stopped.value.exit_code == 130 and not (out / "meta.json").exists()
    distill(tiny_config(), out, progress=False)  # the same call writes the set from the last checkpoint
    assert torch.equal(images(out), images(tiny_run))
    assert _history(out) == _history(tiny_run)


def test_killed_run_resumes_from_the_last_periodic_checkpoint(tiny_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"

    def die_at_4(done: int, losses: dict[str, float]) -> None:
        if done == 4:
            raise SystemExit("killed")  # no chance to write a checkpoint

    with pytest.raises(SystemExit):
        distill(tiny_config(checkpoint_every=3), out, progress=False, callback=die_at_4)
    distill(tiny_config(checkpoint_every=3), out, resume=True, progress=False)
    assert torch.equal(images(out), images(tiny_run))


def test_resume_can_extend_a_finished_run(tiny_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    distill(tiny_config(iterations=3), out, progress=False)
    distill(tiny_config(), out, resume=True, progress=False)
    assert torch.equal(images(out), images(tiny_run))


def test_resume_to_fewer_iterations_than_ran_says_what_to_do(tiny_run: Path, tmp_path: Path) -> None:
    """probe51: --resume asking fewer iterations than the set ran was refused with no way on ('already ran 6
    iterations, more than the 3 asked for'); now it says one, and the set is kept."""
    out = copy_of(tiny_run, tmp_path / "run")
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    done = tiny_config().iterations
    with pytest.raises(OutputConflictError) as error:
        distill(tiny_config(iterations=done - 1), out, resume=True, progress=False)
    assert str(error.value) == (
        f"{out} already ran {done} iterations, more than the {done - 1} asked for; ask for {done} or more to continue it, "
        f"or --force to start again with {done - 1}"
    )
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


class NaNAfter3(DataDAM):
    """DataDAM whose loss turns NaN from the fourth call on."""

    calls = 0

    def loss(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        terms = super().loss(*args, **kwargs)
        NaNAfter3.calls += 1
        if NaNAfter3.calls > 3:
            terms["loss"] = terms["loss"] * float("nan")
        return terms


def test_nan_loss_stops_and_keeps_the_last_good_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(METHODS._items, "nan-test", NaNAfter3)
    NaNAfter3.calls = 0
    with pytest.raises(DivergedError, match="iteration 3"):
        distill(tiny_config(method="nan-test"), tmp_path / "bad", progress=False)
    assert not (tmp_path / "bad" / "meta.json").exists()
    from safetensors.torch import load_file

    kept = load_file(str(tmp_path / "bad" / "checkpoint.safetensors"))["images"]
    distill(tiny_config(iterations=3), tmp_path / "good", progress=False)
    assert torch.isfinite(kept).all()
    assert torch.equal(kept, images(tmp_path / "good"))


def test_an_image_lr_that_throws_pixels_past_what_a_set_holds_stops_before_the_set_is_written(tmp_path: Path) -> None:
    """fix50a: with image lr 1e30 the loss stayed finite and distill wrote, exit 0, a set whose pixels were beyond
    +-1,000,000, which evaluate, search and correlate refuse ('distil again', which did the same). Now a divergence:
    no meta.json, the remedy to lower the image lr."""
    with pytest.raises(DivergedError, match=r"beyond \+-1,000,000.*Lower the image lr \(now 1e\+30\)"):
        distill(tiny_config(image_lr=1e30), tmp_path / "bad", progress=False)
    assert not (tmp_path / "bad" / "meta.json").exists()


def test_random_subset_is_real_training_images_of_the_right_class(tmp_path: Path) -> None:
    syn = load_synthetic(distill(tiny_config(method="random", ipc=3), tmp_path / "r", progress=False).path)
    splits = load_dataset("digits").split(0, 0.1)
    for img, label in zip(syn.images, syn.labels, strict=True):
        matches = (splits.train_x == img).flatten(1).all(1)
        assert matches.any() and bool((splits.train_y[matches] == label).all())
        assert not (splits.val_x == img).flatten(1).all(1).any()  # never a validation image
    assert syn.meta["iterations_done"] == 0


def test_ipc_above_the_smallest_class_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=r"ipc must be between 1 and \d+ \(the smallest class"):
        distill(tiny_config(ipc=10_000), tmp_path / "x", progress=False)
    assert not (tmp_path / "x" / "meta.json").exists()


def test_output_directory_conflicts(tiny_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    distill(tiny_config(iterations=2), out, progress=False)
    with pytest.raises(OutputConflictError, match=r"holds a different run \(ipc: 2 there, 3 now\)"):
        distill(tiny_config(iterations=2, ipc=3), out, resume=True, progress=False)
    distill(tiny_config(iterations=2, ipc=3), out, force=True, progress=False)
    assert load_synthetic(out).ipc == 3
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(OutputConflictError, match="not empty"):
        distill(tiny_config(), foreign, progress=False)
    with pytest.raises(OutputConflictError, match="nothing to resume"):
        distill(tiny_config(), tmp_path / "new", resume=True, progress=False)


def test_a_checkpoint_whose_bytes_changed_is_refused_not_resumed_from(tiny_run: Path, tmp_path: Path) -> None:
    """drill48: 16 bytes of an interrupted run's checkpoint overwritten (its size kept, so its safetensors header
    still accounts for it), and the same command resumed from those pixels without a word, exit 0. A field of its
    metadata changed so that it still reads (``done``) was taken as well. Now each is refused in one line."""
    out = tmp_path / "run"

    def die_at_4(done: int, losses: dict[str, float]) -> None:
        if done == 4:
            raise SystemExit("killed")

    with pytest.raises(SystemExit):
        distill(tiny_config(checkpoint_every=3), out, progress=False, callback=die_at_4)
    path = out / "checkpoint.safetensors"
    whole = path.read_bytes()
    start = 8 + int.from_bytes(whole[:8], "little")  # the tensors' bytes begin after the header
    for changed in (
        whole[: start + 100] + bytes(range(16)) + whole[start + 116 :],  # pixels
        whole.replace(b'"done":"3"', b'"done":"2"'),  # a field that still reads
    ):
        assert len(changed) == len(whole) and changed != whole
        path.write_bytes(changed)
        with pytest.raises(ArtifactError, match=r"checkpoint .*checkpoint\.safetensors is corrupt \(.*\); start again with --force"):
            distill(tiny_config(checkpoint_every=3), out, progress=False)
    path.write_bytes(whole)
    distill(tiny_config(checkpoint_every=3), out, progress=False)  # the checkpoint as written: resumed from
    assert torch.equal(images(out), images(tiny_run))
