"""The seed-averaged proxy (``--proxy-seeds K``, nas_proxy.batched) on digits.

Copy k of a K-seed trial must be the network a separate one-seed training with seed k gives: same
initialisation, batches, augmentation and lr schedule. The loop mode (the CPU default) runs each copy
with the same dense kernels on views of the stacked tensors, so it must match bit for bit. The vmap
mode runs grouped kernels that sum in another order: it must match to float32 rounding, compounded
over the steps (see ``VMAP_TOL``).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import optuna
import pytest
import torch
from torch import nn

from nas_proxy.batched import ModelStack
from nas_proxy.cli import main
from nas_proxy.models.convnet import NORMALIZATIONS, ConvNet, ConvNetSpec
from nas_proxy.search import ProxyConfig, ProxyContext, SearchConfig, search
from nas_proxy.spaces import get_space
from nas_proxy.studies.storage import open_storage
from nas_proxy.synthetic import load_synthetic
from nas_proxy.training import TrainConfig, accuracies, accuracy, train_model
from tests.close import assert_close
from tests.conftest import copy_of

SEEDS = (5, 6, 7)
# 3 epochs x 3 steps (20 images, batch 8: steps of 8, 8 and 4) with DSA and the lr decay after the first (6 epochs
# until perf57c: 3 fail as well, every copy of every normalisation, when a stack's copy draws another's permutation or DSA)
CONFIG = TrainConfig(epochs=3, batch_size=8, lr=0.05)
# vmap vs separate trainings after 18 SGD steps (6 epochs): float32 (eps 1.2e-7) kernels that sum in
# another order differ by ~1e-7 relative per op, compounded over the steps. Measured (largest absolute
# difference): without normalisation 6e-8; batch norm 9.5e-6 (its running variance 8.5e-6 on the
# machine of stops before 55); instance norm 7.0e-4 on an AMD EPYC (AVX2), where it divides by the
# spread of 2x2 maps. A wrong seed, batch or augmentation moves a weight by 0.15 (instance norm,
# measured), so 1e-4 (5e-3 for instance norm) leaves 7-10x room on both sides.
VMAP_TOL = 1e-4
VMAP_TOL_BY_NORM = {"instancenorm": 5e-3}
FAST = ProxyConfig(epochs=4, report_every=2, report_images=120)  # as tests/search/test_search.py (digits' validation split)
SPEC = {"family": "convnet", "depth": 1, "width": 32, "activation": "relu", "normalization": "instancenorm", "pooling": "avgpooling"}


def fresh(spec: ConvNetSpec, seed: int, hw: tuple[int, int]) -> ConvNet:
    torch.manual_seed(seed)
    return ConvNet(1, 10, hw, spec)


def floats(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if v.is_floating_point()}


@pytest.mark.parametrize("vectorize", [False, True], ids=["loop", "vmap"])
@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_stack_trains_each_copy_as_its_own_training(normalization: str, vectorize: bool, tiny_run: Path) -> None:
    syn = load_synthetic(tiny_run)
    hw = (int(syn.images.shape[2]), int(syn.images.shape[3]))
    spec = ConvNetSpec(depth=2, width=16, normalization=normalization, pooling="avgpooling")
    separate = [train_model(fresh(spec, s, hw), syn.images, syn.labels, CONFIG, s, flip=False) for s in SEEDS]
    stack = train_model(ModelStack([fresh(spec, s, hw) for s in SEEDS], vectorize), syn.images, syn.labels, CONFIG, SEEDS, flip=False)
    together = [stack.unstack(k, fresh(spec, 0, hw)) for k in range(len(SEEDS))]
    for one, copy in zip(separate, together, strict=True):
        for name, value in floats(one).items():  # weights and BatchNorm's running statistics
            if vectorize:
                tol = VMAP_TOL_BY_NORM.get(normalization, VMAP_TOL)
                assert_close(floats(copy)[name], value, rtol=tol, atol=tol, msg=name)
            else:
                assert torch.equal(floats(copy)[name], value), name
        assert int(copy.state_dict().get("blocks.0.norm.num_batches_tracked", 0)) == int(
            one.state_dict().get("blocks.0.norm.num_batches_tracked", 0)
        )
    alone = [accuracy(m, syn.images, syn.labels, amp=False) for m in separate]
    batched = accuracies(stack, syn.images, syn.labels, amp=False, batch_size=7)
    step = 1 / syn.images.shape[0]  # vmap: a prediction on the edge may flip, at most one image
    assert batched == alone if not vectorize else all(abs(a - b) <= step + 1e-9 for a, b in zip(batched, alone, strict=True))


def test_copies_are_independently_initialised_and_trained(tiny_run: Path) -> None:
    syn = load_synthetic(tiny_run)
    hw = (int(syn.images.shape[2]), int(syn.images.shape[3]))
    models = [fresh(ConvNetSpec(depth=1, width=8, normalization="batchnorm"), s, hw) for s in SEEDS]
    stack = ModelStack(models)
    for name, value in stack.params.items():
        assert value.shape[0] == len(SEEDS)
        assert all(
            not torch.equal(value[a], value[b]) for a in range(3) for b in range(a + 1, 3) if "weight" in name and "norm" not in name
        )
    train_model(stack, syn.images, syn.labels, TrainConfig(epochs=2, batch_size=8), SEEDS, flip=False)
    first = stack.params["blocks.0.conv.weight"]
    assert not torch.equal(first[0], first[1]) and not torch.equal(first[1], first[2])


@pytest.mark.parametrize("vectorize", [None, True], ids=["default", "vmap"])
def test_k_seed_proxy_scores_what_k_separate_trials_score(vectorize: bool | None, tiny_run: Path) -> None:
    space = get_space("convnet720")
    spec = {**SPEC, "normalization": "batchnorm"}
    one = ProxyContext.load(tiny_run, "cpu", FAST)
    alone = [one.score(space, spec, seed=s) for s in (3, 4, 5)]  # seed 3 + k: copy k
    ctx = ProxyContext.load(tiny_run, "cpu", ProxyConfig(**{**FAST.to_dict(), "seeds": 3}))
    ctx.vectorize = vectorize
    together = ctx.score(space, spec, seed=3)
    n_val = one.val_x.shape[0]
    if vectorize:  # within one validation image per copy
        assert all(abs(a.accuracy - b) <= 100 / n_val + 1e-9 for a, b in zip(alone, together.seed_scores, strict=True))
    else:
        assert together.seed_scores == [r.accuracy for r in alone]
    assert together.accuracy == pytest.approx(statistics.fmean(together.seed_scores))
    assert (together.params, together.flops) == (alone[0].params, alone[0].flops)
    assert [e for e, _ in together.curve] == [e for e, _ in alone[0].curve] == [2, 4]
    assert together.seed_attrs()["seed_std"] == pytest.approx(statistics.stdev(together.seed_scores), abs=1e-4)


def test_one_seed_keeps_the_single_network_path_and_its_records(tiny_run: Path) -> None:
    """K = 1 is the proxy as it was: ``train_model`` on ``derive_seed(seed, "proxy", arch)``, and the
    same dicts (no ``seeds`` key in cache keys or stored settings, no ``seed_scores`` in records)."""
    from nas_proxy.spaces import arch_id
    from nas_proxy.trainers.synthetic_set import count_params
    from nas_proxy.utils import derive_seed

    space = get_space("convnet720")
    spec = SPEC
    ctx = ProxyContext.load(tiny_run, "cpu", FAST)
    result = ctx.score(space, spec, seed=2)
    run_seed = derive_seed(2, "proxy", arch_id(spec))
    torch.manual_seed(run_seed)
    model = ctx.build(space, spec)
    train_model(model, ctx.images, ctx.labels, FAST.train_config(), run_seed, ctx.flip, check_every=FAST.report_every)
    assert result.accuracy == 100.0 * accuracy(model, ctx.val_x, ctx.val_y, amp=True)
    assert result.params == count_params(model) and result.seed_scores == [] and result.seed_attrs() == {}
    assert "seeds" not in FAST.to_dict() and "seed_scores" not in result.to_dict()
    assert ProxyConfig(**FAST.to_dict()) == FAST and ProxyConfig(seeds=2).to_dict()["seeds"] == 2


def test_accuracy_needs_an_explicit_amp(tiny_run: Path) -> None:
    """No silent bf16: before, ``accuracy`` autocast on CUDA by default, whatever ``--no-amp`` said."""
    syn = load_synthetic(tiny_run)
    model = fresh(ConvNetSpec(depth=1, width=8), 0, (int(syn.images.shape[2]), int(syn.images.shape[3])))
    with pytest.raises(TypeError, match="amp"):
        accuracy(model, syn.images, syn.labels)  # type: ignore[call-arg]
    assert accuracy(model, syn.images, syn.labels, amp=False) == accuracy(model, syn.images, syn.labels, amp=True)  # CPU: no autocast


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("amp", [False, True])
def test_accuracy_autocasts_only_when_asked(amp: bool, tiny_run: Path) -> None:
    syn = load_synthetic(tiny_run)
    model = fresh(ConvNetSpec(depth=1, width=8), 0, (int(syn.images.shape[2]), int(syn.images.shape[3]))).cuda()
    dtypes: list[torch.dtype] = []
    model.classifier.register_forward_hook(lambda _m, _i, out: dtypes.append(out.dtype))
    accuracy(model, syn.images.cuda(), syn.labels.cuda(), amp=amp)
    stack = ModelStack([model])
    accuracies(stack, syn.images.cuda(), syn.labels.cuda(), amp=amp)
    assert set(dtypes) == {torch.bfloat16 if amp else torch.float32}


def test_search_records_the_seed_scores(tiny_run: Path, tmp_path: Path) -> None:
    config = SearchConfig(
        synthetic=str(tiny_run), space="convnet-small", device="cpu", pruner="none", proxy=ProxyConfig(**{**FAST.to_dict(), "seeds": 2})
    )
    search(config, "k2", 2, storage=str(tmp_path / "j.log"), out=tmp_path, progress=False)
    study = optuna.load_study(study_name="k2", storage=open_storage(str(tmp_path / "j.log"), "k2")[0])
    trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(trials) == 2
    for t in trials:
        scores = [t.user_attrs["seed_score_0"], t.user_attrs["seed_score_1"]]  # scalars: the dashboard lists them
        assert "seed_score_2" not in t.user_attrs
        assert len(scores) == 2 and t.value == pytest.approx(statistics.fmean(scores), abs=1e-3)
        assert t.user_attrs["seed_std"] == pytest.approx(statistics.stdev(scores), abs=1e-3)


def test_score_cli_takes_proxy_seeds(tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archs = tmp_path / "archs.json"
    archs.write_text(json.dumps([SPEC]))
    run = copy_of(tiny_run, tmp_path / "run")  # score keeps its results in the set: the shared one stays read-only
    base = ["score", "--synthetic", str(run), "--space", "convnet720", "--archs", str(archs), "--device", "cpu", "--quiet"]
    fast = ["--epochs", "4", "--report-every", "2", "--report-images", "120", "--json"]
    assert main([*base, *fast, "--proxy-seeds", "2"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert len(row["seed_scores"]) == 2 and row["accuracy"] == pytest.approx(statistics.fmean(row["seed_scores"]))
    assert main([*base, *fast, "--proxy-seeds", "0"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "seeds" in err[0] and "0" in err[0]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("amp", [False, True])
def test_k_seed_proxy_on_cuda_agrees_with_separate_trials(amp: bool, tiny_run: Path) -> None:
    """On CUDA, with batch norm (under vmap it failed on an H100: the default is the loop), with bf16
    autocast when asked; cuDNN's algorithm choice may differ between runs: per-seed scores agree loosely."""
    space, spec = get_space("convnet720"), {**SPEC, "normalization": "batchnorm"}
    config = ProxyConfig(**{**FAST.to_dict(), "amp": amp})
    alone = [ProxyContext.load(tiny_run, "cuda", config).score(space, spec, seed=s).accuracy for s in (0, 1)]
    ctx = ProxyContext.load(tiny_run, "cuda", ProxyConfig(**{**config.to_dict(), "seeds": 2}))
    together = ctx.score(space, spec, seed=0)
    assert ctx.vectorize is None  # the default: ModelStack's loop
    assert all(abs(a - b) <= 5.0 for a, b in zip(alone, together.seed_scores, strict=True)), (alone, together.seed_scores)


def test_the_default_stack_is_the_loop_on_every_device() -> None:
    """vmap is opt-in: on an H100 batch norm under vmap failed (nas_proxy.batched's docstring)."""
    nets = [fresh(ConvNetSpec(depth=1, width=4, normalization="batchnorm"), s, (8, 8)) for s in SEEDS]
    assert ModelStack(nets).vectorize is False and ModelStack(nets, vectorize=True).vectorize is True
