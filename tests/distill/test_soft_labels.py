"""Soft labels: teachers trained on the training split only, stored with the set, learned by every
proxy that trains on it (and ignored with hard_labels), cached so that a kill retrains nothing done."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from nas_proxy.batched import ModelStack
from nas_proxy.cli import main
from nas_proxy.data import load_dataset, stratified_split
from nas_proxy.distill import distill
from nas_proxy.distill import soft_labels as sl
from nas_proxy.distill.soft_labels import SoftLabelConfig, add_soft_labels, teacher_indices
from nas_proxy.errors import ArtifactError, InvalidArgumentError, OutputConflictError
from nas_proxy.evaluate import evaluate
from nas_proxy.proxies import RunSetup
from nas_proxy.proxies.synthetic import SyntheticSetProxy
from nas_proxy.search import ProxyConfig, ProxyContext
from nas_proxy.spaces import arch_id, get_space
from nas_proxy.spaces.stratified import stratified_specs
from nas_proxy.synthetic import load_synthetic, save_synthetic
from nas_proxy.trainers.fulldata import DataRef
from nas_proxy.training import TrainConfig, train_model
from tests import warm
from tests.conftest import copy_of, tiny_config
from tests.gate import TEACHER, Gate

SPACE = "convnet-small"
# two teachers that learn in about a second: 37.5 and 34.2 % validation accuracy on digits (the bar: 20 %, twice chance);
# 4 epochs (70-80 %) cost twice the CPU and no test here asks how well they learned
TINY = SoftLabelConfig(teachers=2, space=SPACE, epochs=2, images=400)
SPEC = {"family": "convnet", "depth": 1, "width": 32, "activation": "relu", "normalization": "instancenorm", "pooling": "avgpooling"}


@pytest.fixture(scope="module")
def soft_run(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny DataDAM run labelled by two tiny teachers."""
    out = tmp_path_factory.mktemp("soft") / "tiny-soft"
    add_soft_labels(tiny_run, TINY, out=out, device="cpu")
    return out


def with_labels(src: Path, dst: Path, soft: torch.Tensor) -> Path:
    """A copy of the set at ``src`` whose soft labels are ``soft`` (recorded as from no teacher)."""
    syn = load_synthetic(src)
    meta = {k: v for k, v in syn.meta.items() if k not in ("format", "format_version", "tensors", "tensors_sha256")}
    meta["soft_labels"] = {"config": {}, "members": [], "seconds": 0.0}
    save_synthetic(dst, syn.images, syn.labels, meta, tuple(syn.dataset["mean"]), tuple(syn.dataset["std"]), soft_labels=soft)
    return dst


# ---- training on soft targets ---------------------------------------------------------------


def test_one_hot_soft_labels_train_bit_for_bit_as_hard_labels(tiny_run: Path) -> None:
    """With one-hot rows the cross-entropy's gradient is the same tensor as with class indices (the
    loss value itself may differ in its last bit: another summation order), so the networks agree
    exactly, under DSA too (an augmented image keeps its source image's row)."""
    syn = load_synthetic(tiny_run)
    one_hot = F.one_hot(syn.labels, syn.num_classes).float()
    config = TrainConfig(epochs=3, batch_size=8)  # several batches per epoch, DSA on
    nets = []
    for y in (syn.labels, one_hot):
        torch.manual_seed(0)
        net = get_space(SPACE).build(SPEC, 1, syn.num_classes, (int(syn.images.shape[2]), int(syn.images.shape[3])))
        nets.append(train_model(net, syn.images, y, config, seed=5, flip=False))
    for a, b in zip(nets[0].state_dict().values(), nets[1].state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_one_hot_soft_labels_train_the_stack_bit_for_bit_as_hard_labels(tiny_run: Path) -> None:
    syn = load_synthetic(tiny_run)
    one_hot = F.one_hot(syn.labels, syn.num_classes).float()
    stacks = []
    for y in (syn.labels, one_hot):
        models = []
        for s in (1, 2):
            torch.manual_seed(s)
            models.append(get_space(SPACE).build(SPEC, 1, syn.num_classes, (int(syn.images.shape[2]), int(syn.images.shape[3]))))
        stacks.append(train_model(ModelStack(models), syn.images, y, TrainConfig(epochs=3, batch_size=8), [1, 2], flip=False))
    for name in stacks[0].params:
        assert torch.equal(stacks[0].params[name], stacks[1].params[name])


def test_a_one_hot_set_scores_as_the_hard_set_in_every_proxy_path(tiny_run: Path, tmp_path: Path) -> None:
    syn = load_synthetic(tiny_run)
    one_hot = with_labels(tiny_run, tmp_path / "one-hot", F.one_hot(syn.labels, syn.num_classes).float())
    space = get_space(SPACE)
    for seeds in (1, 2):  # the single network and the K-seed stack
        config = ProxyConfig(epochs=2, report_every=1, report_images=50, seeds=seeds)
        hard = ProxyContext.load(tiny_run, "cpu", config).score(space, SPEC)
        soft = ProxyContext.load(one_hot, "cpu", config).score(space, SPEC)
        assert soft.accuracy == hard.accuracy and soft.curve == hard.curve and soft.seed_scores == hard.seed_scores


def test_soft_labels_are_learned_and_hard_labels_ignores_them(tiny_run: Path, soft_run: Path, tmp_path: Path) -> None:
    space = get_space(SPACE)
    config = ProxyConfig(epochs=3, report_every=3, report_images=50)
    hard = ProxyContext.load(tiny_run, "cpu", config).score(space, SPEC)
    soft = ProxyContext.load(soft_run, "cpu", config).score(space, SPEC)
    ignored = ProxyContext.load(soft_run, "cpu", replace(config, hard_labels=True)).score(space, SPEC)
    assert ignored.accuracy == hard.accuracy and ignored.curve == hard.curve
    assert soft.curve != hard.curve  # the soft targets changed the training
    soft_copy = copy_of(soft_run, tmp_path / "soft")  # evaluate keeps its results in the set: the shared ones stay read-only
    a = evaluate(soft_copy, runs=1, model="depth=1,width=16", train=TrainConfig(epochs=2), device="cpu")
    b = evaluate(soft_copy, runs=1, model="depth=1,width=16", train=TrainConfig(epochs=2), device="cpu", hard_labels=True)
    c = evaluate(copy_of(tiny_run, tmp_path / "hard"), runs=1, model="depth=1,width=16", train=TrainConfig(epochs=2), device="cpu")
    assert a.synthetic["soft_labels"] and not b.synthetic["soft_labels"] and b.accuracies == c.accuracies != a.accuracies


# ---- the teachers ---------------------------------------------------------------------------


@pytest.mark.parametrize("images", [None, 300])
def test_teachers_train_on_the_training_split_only(images: int | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = load_dataset("digits")
    seen: list[torch.Tensor] = []
    real_train = sl.train_model

    def spy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *args: Any, **kwargs: Any) -> torch.nn.Module:
        seen.append(x.clone())
        return real_train(model, x, y, *args, **kwargs)

    monkeypatch.setattr(sl, "train_model", spy)
    run = distill(tiny_config(method="random", split_seed=3, val_fraction=0.2), tmp_path / "r").path
    add_soft_labels(run, replace(TINY, images=images, epochs=1), device="cpu")  # which rows train, not how well: one epoch
    train_idx, val_idx = stratified_split(ds.train_y, 0.2, 3)  # the split the set was made with
    idx, scored_on = teacher_indices(ds.train_y, 3, 0.2, images, seed=0)
    assert torch.equal(scored_on, val_idx)
    assert set(idx.tolist()) <= set(train_idx.tolist()) and not set(idx.tolist()) & set(val_idx.tolist())
    assert idx.numel() == train_idx.numel() if images is None else abs(idx.numel() - images) < 10  # rounded per class
    if images:  # stratified: every class in proportion
        counts = torch.bincount(ds.train_y[idx], minlength=10)
        assert int(counts.max() - counts.min()) <= 2
    assert len(seen) == 2 and all(torch.equal(x, ds.train_x[idx]) for x in seen)  # these rows exactly; the test set never
    meta = load_synthetic(run).meta["soft_labels"]
    assert meta["train_images"] == idx.numel() and all(0 <= m["val_accuracy"] <= 100 for m in meta["members"])


def test_teachers_are_stratified_over_every_dimension() -> None:
    space = get_space("convnet720")
    specs = stratified_specs(space, 4, seed=0)
    assert len({arch_id(s) for s in specs}) == 4
    for dim in ("depth", "width"):  # four choices each: every one once
        assert sorted(s[dim] for s in specs) == sorted(space.describe()["params"][dim])
    for dim in ("activation", "pooling"):  # three choices: all of them among four members
        assert len({s[dim] for s in specs}) == 3
    assert stratified_specs(space, 8, seed=0)[:4] == specs  # more teachers extend the ensemble
    assert stratified_specs(space, 4, seed=1) != specs


def test_the_labels_are_the_teachers_mean_softmax(soft_run: Path) -> None:
    syn = load_synthetic(soft_run)
    record = syn.meta["soft_labels"]
    ds = load_dataset("digits")
    teachers = []
    for m in record["members"]:
        net = get_space(SPACE).build(m["spec"], 1, 10, ds.image_size)
        net.load_state_dict(load_file(str(soft_run / "teachers" / m["file"])))
        teachers.append(net.eval())
    with torch.no_grad():
        expected = torch.stack([F.softmax(t(syn.images), 1) for t in teachers]).mean(0)
    assert syn.soft_labels is not None and torch.allclose(syn.soft_labels, expected, atol=1e-6)
    assert record["config"] == TINY.identity() and record["space"] == SPACE and len(record["members"]) == 2
    assert record["seconds"] > 0 and record["protocol"]["epochs"] == TINY.epochs == 2 and not record["protocol"]["dsa"]


def test_a_teacher_that_learned_nothing_is_left_out(tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real, calls = sl.accuracy, []

    def second_near_chance(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, **kwargs: Any) -> float:
        calls.append(model)
        return 0.12 if len(calls) == 2 else real(model, x, y, **kwargs)  # 12 %: below twice chance (10 %)

    monkeypatch.setattr(sl, "accuracy", second_near_chance)
    out = tmp_path / "one-left"
    record = add_soft_labels(tiny_run, TINY, out=out, device="cpu")["soft_labels"]
    assert [m["used"] for m in record["members"]] == [True, False] and record["used"] == 1
    syn = load_synthetic(out)
    first = record["members"][0]
    net = get_space(SPACE).build(first["spec"], 1, 10, (int(syn.images.shape[2]), int(syn.images.shape[3])))
    net.load_state_dict(load_file(str(out / "teachers" / first["file"])))
    with torch.no_grad():
        assert torch.allclose(syn.soft_labels, F.softmax(net.eval()(syn.images), 1), atol=1e-6)  # type: ignore[arg-type]
    monkeypatch.setattr(sl, "accuracy", lambda *args, **kwargs: 0.1)
    with pytest.raises(InvalidArgumentError, match=r"no teacher reached 20.0 % validation accuracy \(2x chance, 10.0 %"):
        # every accuracy is the one above whatever the teachers learned: the shortest training does
        add_soft_labels(tiny_run, replace(TINY, epochs=1, images=100), out=tmp_path / "none-left", device="cpu")


def test_a_teacher_of_two_classes_can_count_as_learned() -> None:
    """Twice chance is 100 % with two balanced classes (README's cat/dog folder): no teacher short of perfect was kept, and
    soft-labels refused every such set ('no teacher reached 2x chance (100.0 %) ... (best 83.3 %)'). Above a third, the bar
    is half way from chance to 100 %; at ten classes it stays twice chance."""
    assert sl.learned_threshold(50.0) == 75.0 and sl.learned_threshold(60.0) == 80.0
    assert sl.learned_threshold(10.0) == 20.0 and sl.learned_threshold(100 / 3) == pytest.approx(200 / 3)


def test_a_lower_temperature_sharpens_the_labels(soft_run: Path, tmp_path: Path) -> None:
    cold = add_soft_labels(soft_run, replace(TINY, temperature=0.25, cache=str(soft_run / "teachers")), out=tmp_path / "cold", device="cpu")
    assert all(m["cached"] for m in cold["soft_labels"]["members"])  # the same teachers, read from the cache
    assert cold["soft_labels"]["mean_top_probability"] > load_synthetic(soft_run).meta["soft_labels"]["mean_top_probability"]


# ---- the artifact ---------------------------------------------------------------------------


def test_a_set_with_soft_labels_round_trips(tiny_run: Path, soft_run: Path) -> None:
    hard, soft = load_synthetic(tiny_run), load_synthetic(soft_run)
    assert hard.soft_labels is None and hard.meta["format_version"] == 1  # old sets: unchanged, still version 1
    assert soft.soft_labels is not None and soft.soft_labels.shape == (20, 10) and soft.meta["format_version"] == 2
    assert torch.equal(soft.images, hard.images) and torch.equal(soft.labels, hard.labels)
    assert soft.meta["derived_from"]["tensors_sha256"] == hard.meta["tensors_sha256"] != soft.meta["tensors_sha256"]
    assert torch.equal(load_synthetic(soft_run).soft_labels, soft.soft_labels)  # type: ignore[arg-type]
    assert soft.name() == "datadam-ipc2-soft" and soft.name(hard_labels=True) == hard.name() == "datadam-ipc2"
    assert soft.one_off_seconds() == hard.one_off_seconds() + soft.meta["soft_labels"]["seconds"]


def test_edited_soft_labels_are_refused(soft_run: Path, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from nas_proxy.digests import file_sha256

    def rewrite(name: str, change: Any, meta_change: Any = None) -> Path:
        run = Path(shutil.copytree(soft_run, tmp_path / name))
        tensors = load_file(str(run / "synthetic.safetensors"))
        change(tensors)
        save_file(tensors, str(run / "synthetic.safetensors"))
        meta = json.loads((run / "meta.json").read_text())
        meta["tensors_sha256"] = file_sha256(run / "synthetic.safetensors")
        if meta_change:
            meta_change(meta)
        (run / "meta.json").write_text(json.dumps(meta))
        return run

    with pytest.raises(ArtifactError, match=r"holds no 'soft_labels' tensor but meta\.json records them"):
        load_synthetic(rewrite("dropped", lambda t: t.pop("soft_labels")))
    with pytest.raises(ArtifactError, match="probability rows"):
        load_synthetic(rewrite("negative", lambda t: t["soft_labels"].mul_(-1)))
    with pytest.raises(ArtifactError, match=r"are not \(20, 10\) \(images, classes\)"):
        load_synthetic(rewrite("shape", lambda t: t.update(soft_labels=t["soft_labels"][:, :5].contiguous())))
    for dtype in (torch.float64, torch.float16):  # before probe46, read (float16 images were refused)
        with pytest.raises(ArtifactError, match=rf"soft_labels are {str(dtype)[6:]}, not float32 \(probability rows\)"):
            load_synthetic(rewrite(f"dtype-{dtype}", lambda t, d=dtype: t.update(soft_labels=t["soft_labels"].to(d))))
    with pytest.raises(ArtifactError, match="does not record them"):
        load_synthetic(rewrite("unrecorded", lambda t: None, lambda m: m.pop("soft_labels")))


def test_the_cache_keys_change_with_the_labels(tiny_run: Path, soft_run: Path, tmp_path: Path) -> None:
    def proxy(path: Path, hard: bool = False) -> SyntheticSetProxy:
        setup = RunSetup(space=get_space(SPACE), data=DataRef("digits"), out=tmp_path, training=ProxyConfig(hard_labels=hard))
        p = SyntheticSetProxy(setup, "x", "datadam", str(path), 2)
        p.prepare()
        return p

    keys = {proxy(tiny_run).cache_key(), proxy(soft_run).cache_key(), proxy(soft_run, hard=True).cache_key()}
    assert len(keys) == 3
    assert ProxyConfig().to_dict() == ProxyConfig(hard_labels=False).to_dict() and "hard_labels" not in ProxyConfig().to_dict()


def test_correlate_names_a_soft_set_and_still_makes_the_random_subset(soft_run: Path, tmp_path: Path) -> None:
    # the module's teachers, read from soft_run's cache (a random subset of the same split and seed has the same teachers;
    # until stop 59 they were trained again here: 0.9 CPU-s)
    shared = replace(TINY, cache=str(soft_run / "teachers"))
    soft_random = distill(tiny_config(method="random", soft_labels=shared), tmp_path / "rs").path
    assert all(m["cached"] for m in load_synthetic(soft_random).meta["soft_labels"]["members"])
    setup = RunSetup(space=get_space(SPACE), data=DataRef("digits"), out=tmp_path, synthetic=[str(soft_random)])
    assert [p.name for p in SyntheticSetProxy.offer(setup)] == ["random-ipc2-soft", "random-ipc2"]
    hard = replace(setup, training=ProxyConfig(hard_labels=True))
    assert [p.name for p in SyntheticSetProxy.offer(hard)] == ["random-ipc2"]  # trained on its labels it is the random subset


def test_hard_labels_are_taken_with_a_set_that_has_soft_labels_and_refused_without(tiny_run: Path, tmp_path: Path) -> None:
    """--hard-labels changes what a soft set trains on, so search and correlate take it there; on a set
    without soft labels it changes nothing and is refused (before: refused on a soft set too, since
    the set's proxy trained with hard labels no longer counted as soft)."""
    from nas_proxy.proxies.choose import check_training_used
    from nas_proxy.search import SearchConfig
    from nas_proxy.search.target import check_options_used

    syn = load_synthetic(tiny_run)
    soft = with_labels(tiny_run, tmp_path / "soft", F.one_hot(syn.labels, syn.num_classes).float())
    hard = ProxyConfig(hard_labels=True)
    check_options_used(SearchConfig(synthetic=str(soft), space=SPACE, proxy=hard), [None])
    with pytest.raises(InvalidArgumentError, match="--hard-labels changes nothing with datadam-ipc2: no set it trains on has soft"):
        check_options_used(SearchConfig(synthetic=str(tiny_run), space=SPACE, proxy=hard), [None])
    setup = RunSetup(space=get_space(SPACE), data=DataRef("digits"), out=tmp_path, training=hard, synthetic=[str(soft)])
    check_training_used(hard, SyntheticSetProxy.offer(setup), None, "correlate run")


# ---- the commands ---------------------------------------------------------------------------


def test_distill_adds_soft_labels_to_a_finished_run_without_redistilling(
    soft_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "dam"
    base = ["distill", "--dataset", "digits", "--ipc", "2", "--iterations", "4", "--batch-real", "8", "--device", "cpu", "--quiet"]
    assert main([*base, "--out", str(out)]) == 0
    before = load_synthetic(out)
    soft = ["--soft-labels", "2", "--teacher-space", SPACE, "--teacher-epochs", "2", "--teacher-images", "400"]
    soft += ["--teacher-dir", str(soft_run / "teachers")]  # the module's teachers (the same split and seed): none trained here
    assert main([*base, "--out", str(out), "--resume", *soft]) == 0
    assert "soft labels of 20 images from 2 teachers of convnet-small" in capsys.readouterr().out
    after = load_synthetic(out)
    assert torch.equal(after.images, before.images) and after.meta["seconds"] == before.meta["seconds"]  # no iteration ran again
    assert after.soft_labels is not None and after.meta["tensors_sha256"] != before.meta["tensors_sha256"]
    assert all(m["cached"] for m in after.meta["soft_labels"]["members"])
    saved = (out / "config.toml").read_text()
    assert "[distill.soft_labels]" in saved and "teachers = 2" in saved


def test_soft_labels_command_copies_and_is_idempotent(
    tiny_run: Path, soft_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "copy"
    # a folder that holds only a teacher cache (a copy of soft_run's: TINY's teachers of this set) is one the copy may be
    # written to, its teachers read from there (until stop 59 trained again here, the same two: 1.0 CPU-s)
    shutil.copytree(soft_run / "teachers", out / "teachers")
    args = ["soft-labels", str(tiny_run), "--out", str(out), "--soft-labels", "2", "--teacher-space", SPACE, "--teacher-epochs", "2"]
    args += ["--teacher-images", "400", "--device", "cpu", "--quiet", "--json"]
    assert main(args) == 0
    meta = json.loads(capsys.readouterr().out)
    assert meta["soft_labels"]["cache"] == "teachers" and len(list((out / "teachers").iterdir())) == 2
    assert all(m["cached"] for m in meta["soft_labels"]["members"])
    mtime = (out / "synthetic.safetensors").stat().st_mtime_ns
    assert main(args) == 0  # the same labels again: nothing to do
    capsys.readouterr()
    assert (out / "synthetic.safetensors").stat().st_mtime_ns == mtime
    assert main([*args, "--seed", "1"]) == 0  # another seed: other teachers, other labels
    reseeded = json.loads(capsys.readouterr().out)["soft_labels"]
    assert reseeded["seed"] == 1 and meta["soft_labels"]["seed"] == 0
    assert [m["seed"] for m in reseeded["members"]] != [m["seed"] for m in meta["soft_labels"]["members"]]
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(OutputConflictError, match="not empty"):
        add_soft_labels(tiny_run, TINY, out=other, device="cpu")
    # drill41: a copy cut short (a torn write) was refused, 'does not match the SHA-256 in meta.json ...; distil again', exit 2,
    # though its source is whole: it is now made again from the source, its teachers read from its cache
    for name in ("synthetic.safetensors", "meta.json"):
        data = (out / name).read_bytes()
        (out / name).write_bytes(data[: len(data) // 2])
        assert main(args) == 0, capsys.readouterr().err
        again = json.loads(capsys.readouterr().out)["soft_labels"]
        assert again["members"] == meta["soft_labels"]["members"]
        assert load_synthetic(out).meta["soft_labels"]["seed"] == 0
    # review41: but a copy a newer nasproxy wrote is whole, only unreadable here: refused, not made again over
    newer = json.loads((out / "meta.json").read_text())
    (out / "meta.json").write_text(json.dumps({**newer, "format_version": newer["format_version"] + 1}))
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert main(args) == 2
    assert "written by a newer nasproxy" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_search_and_score_run_on_a_soft_set(soft_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    proxy = ["--epochs", "2", "--report-every", "1", "--report-images", "50", "--device", "cpu"]
    storage = f"sqlite:///{tmp_path / 's.db'}"
    search = ["search", "--synthetic", str(soft_run), "--space", SPACE, "--study", "soft", "--n-trials", "2", "--storage", storage]
    assert main([*search, *proxy, "--quiet", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    import optuna

    study = optuna.load_study(study_name="soft", storage=storage)
    trial = study.trials[0]
    assert trial.user_attrs["synthetic_sha256"] == load_synthetic(soft_run).meta["tensors_sha256"]
    assert result  # the search printed its result
    archs = tmp_path / "archs.json"
    archs.write_text(json.dumps([SPEC]))
    score = ["score", "--synthetic", str(copy_of(soft_run, tmp_path / "soft")), "--space", SPACE, "--archs", str(archs), *proxy, "--json"]
    assert main(score) == 0
    soft = json.loads(capsys.readouterr().out)
    assert main([*score, "--hard-labels"]) == 0
    hard = json.loads(capsys.readouterr().out)
    assert soft != hard


def test_ctrl_c_while_a_teacher_trains_says_the_trained_ones_are_kept(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The line of a Ctrl-C among the teachers was a bare 'nasproxy soft-labels: interrupted' (distill's
    too, outside its loop): it now says what the same command keeps."""
    out = tmp_path / "cut"
    args = ["soft-labels", str(tiny_run), "--out", str(out), "--soft-labels", "2", "--teacher-space", SPACE, "--teacher-epochs", "1"]
    args += ["--teacher-images", "100", "--device", "cpu", "--quiet"]
    trained: list[int] = []

    def second_interrupted(*a: Any, **k: Any) -> Any:
        trained.append(1)
        if len(trained) == 2:
            raise KeyboardInterrupt
        return train_model(*a, **k)

    monkeypatch.setattr(sl, "train_model", second_interrupted)
    assert main(args) == 130
    err = capsys.readouterr().err.splitlines()
    assert err == ["nasproxy soft-labels: interrupted; trained teachers are kept; run the same command again to resume"]
    assert len(list((out / "teachers").glob("*.safetensors"))) == 1


# ---- a kill -9 while the teachers train -----------------------------------------------------


def test_a_killed_labelling_keeps_its_finished_teachers(tiny_run: Path, soft_run: Path, tmp_path: Path) -> None:
    """kill -9 while the second teacher waits at the gate (the first one's file written); the same
    command then reads that file instead of training it again, and gives the labels an uninterrupted
    run gives (the module's soft_run: the same options, TINY)."""
    out = tmp_path / "killed"
    args = [str(tiny_run), "--out", str(out), "--soft-labels", "2", "--teacher-space", SPACE, "--teacher-epochs", "2"]
    args += ["--teacher-images", "400", "--device", "cpu", "--quiet", "--json"]
    command = [sys.executable, "-m", "nas_proxy", "soft-labels", *args]
    gate = Gate(tmp_path / "gate", at=TEACHER, let_through=1)  # the first teacher trained and written, the second held
    env = gate.env({**os.environ, "OMP_NUM_THREADS": "1"})
    child = warm.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        gate.wait([child], [child.pid])
        first = sorted((out / "teachers").glob("*.safetensors"))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
    assert first and not (out / "meta.json").exists()  # killed before the set was labelled
    stamps = {p.name: p.stat().st_mtime_ns for p in first}
    assert main(["soft-labels", *args]) == 0
    meta = load_synthetic(out).meta["soft_labels"]
    cached = {m["file"] for m in meta["members"] if m["cached"]}
    assert set(stamps) <= cached and len(cached) < 2  # the first teacher read back, the second trained
    assert all((out / "teachers" / name).stat().st_mtime_ns == t for name, t in stamps.items())
    whole = load_synthetic(soft_run)
    assert torch.equal(load_synthetic(out).soft_labels, whole.soft_labels)  # type: ignore[arg-type]
    assert [m["val_accuracy"] for m in meta["members"]] == [m["val_accuracy"] for m in whole.meta["soft_labels"]["members"]]


@pytest.mark.parametrize("cut", [0, 8, 100])
def test_a_cached_teacher_cut_short_is_trained_again_with_one_warning_naming_it(cut: int, tmp_path: Path) -> None:
    """A teacher's file in the cache cut short (a kill or a full disk mid-write, a copy cut short) is
    not read: it is trained again, and a warning names the file (before, silently)."""
    from safetensors.torch import save

    model = torch.nn.Linear(2, 2)
    record = {"spec": {"family": "convnet"}, "arch_id": "0123456789ab", "seed": 7, "file": "teacher.safetensors"}
    identity, record = record, {**record, "val_accuracy": 43.3, "seconds": 9.8}
    whole = save({k: v.detach().contiguous() for k, v in model.state_dict().items()}, metadata={"record": json.dumps(record)})
    file = tmp_path / "teacher.safetensors"
    file.write_bytes(whole[:cut])
    with pytest.warns(sl.TeacherRetrainedWarning, match=rf"cached teacher {file} is unreadable \(.+\); it is trained again"):
        assert sl._read_teacher(file, model, identity) is None
    file.write_bytes(whole)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing said of a whole teacher, nor of one not trained yet
        assert sl._read_teacher(file, model, identity) == record
        assert sl._read_teacher(tmp_path / "absent.safetensors", model, identity) is None


@pytest.mark.parametrize("what", ["FIFO", "directory", "symbolic link to nothing"])
def test_a_teachers_path_that_is_no_regular_file_is_refused_and_left_there(what: str, tmp_path: Path) -> None:
    """Something not a teacher's file where a teacher is kept (a FIFO, a folder, a link to nothing): before stop 47 a
    FIFO was trained over and replaced silently, a folder refused only after the teacher's training ("give a file
    path"). Now refused before training, naming it, and left as it was."""
    file = tmp_path / "teacher.safetensors"
    {"FIFO": os.mkfifo, "directory": os.mkdir, "symbolic link to nothing": lambda p: os.symlink("nowhere", p)}[what](file)
    identity = {"spec": {"family": "convnet"}, "arch_id": "0123456789ab", "seed": 7, "file": file.name}
    with pytest.raises(InvalidArgumentError, match=rf"teacher cache {tmp_path}: teacher.safetensors is an? {what}, not a teacher's"):
        sl._read_teacher(file, torch.nn.Linear(2, 2), identity)
    assert os.path.lexists(file) and not file.is_file()
