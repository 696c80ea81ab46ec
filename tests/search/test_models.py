"""The ConvNet family: every architecture of the 720 space builds, runs forward and backward, and
exposes the feature maps attention matching needs; bad specs are refused with a clear error."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch
import torch.nn.functional as F

from nas_proxy.errors import InvalidArgumentError
from nas_proxy.models import SPACE_720, ConvNet, ConvNetSpec, space_720
from tests.close import assert_close

SPECS = list(space_720())


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Tensors here are tiny: with several threads, synchronisation costs far more than the maths
    (the 720 sweep takes ~15 s on one thread and minutes on two threads of a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def expected_sides(spec: ConvNetSpec, side: int) -> list[int]:
    """Side length of each block's feature map (pre-pooling) for square ``side`` inputs."""
    sides = []
    for _ in range(spec.depth):
        sides.append(side)
        side = side // 2 if spec.pooling != "none" else side
    return sides


def pooled(f: torch.Tensor, pooling: str) -> torch.Tensor:
    pools: dict[str, Callable[[torch.Tensor, int], torch.Tensor]] = {"maxpooling": F.max_pool2d, "avgpooling": F.avg_pool2d}
    return pools[pooling](f, 2) if pooling != "none" else f


def test_the_space_has_720_distinct_architectures() -> None:
    assert len(SPECS) == len(set(SPECS)) == 720
    for key, values in SPACE_720.items():
        assert {getattr(s, key) for s in SPECS} == set(values)


def smallest_side(spec: ConvNetSpec) -> int:
    """The smallest square image ``spec`` takes whole: a 2x2 map before its last pooling, 4x4 where it never pools
    (an image size is not part of the architecture; at 16x16 for all, the 720 took 20 CPU-s, 9 in 10 of them for
    the unpooled and the shallow at full size)."""
    return 2**spec.depth if spec.pooling != "none" else 4


def runs_forward_and_backward(spec: ConvNetSpec) -> None:
    side = smallest_side(spec)
    net = ConvNet(1, 10, (side, side), spec)
    # one image: the shapes, the pre-pooling features and the gradients are checked as well (perf60a: two took 1.25x the CPU)
    x = torch.randn(1, 1, side, side)
    feats, emb = net.forward_features(x)

    assert [tuple(f.shape) for f in feats] == [(1, spec.width, s, s) for s in expected_sides(spec, side)]
    last = expected_sides(spec, side)[-1] // (2 if spec.pooling != "none" else 1)
    assert net.embedding_dim == spec.width * last * last and emb.shape == (1, net.embedding_dim)
    assert_close(emb, pooled(feats[-1], spec.pooling).flatten(1))  # features are pre-pooling

    logits = net(x)
    assert logits.shape == (1, 10)
    logits.square().sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad.sum()), name  # an inf or a NaN anywhere makes the sum one
    conv = net.blocks[0].conv
    assert isinstance(conv, torch.nn.Conv2d) and conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0


# the 720 in 48 tests of 15 (one depth, width and activation; every normalisation and pooling), each architecture still
# checked on its own and every failing one named: as 720 tests, pytest's own work per test took ~1.5 CPU-s more (perf56c)
GROUPS = sorted({(s.depth, s.width, s.activation) for s in SPECS})


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: "depth={}-width={}-{}".format(*g))
def test_every_space_720_architecture_runs_forward_and_backward(group: tuple[int, int, str]) -> None:
    specs = [s for s in SPECS if (s.depth, s.width, s.activation) == group]
    failed = []
    for spec in specs:
        try:
            runs_forward_and_backward(spec)
        except Exception as e:  # noqa: BLE001 (an error too, a layer that does not build, names its architecture; the rest still run)
            failed.append(f"{spec}: {type(e).__name__}: {e}")
    assert len(specs) == 15 and not failed, "\n".join(failed)


def test_depth_and_width_outside_the_space() -> None:
    spec = ConvNetSpec(depth=5, width=24, normalization="groupnorm", pooling="maxpooling")
    net = ConvNet(3, 7, (32, 32), spec)
    feats, emb = net.forward_features(torch.randn(2, 3, 32, 32))
    assert [f.shape[-1] for f in feats] == [32, 16, 8, 4, 2] and all(f.shape[1] == 24 for f in feats)
    assert emb.shape == (2, 24) and net(torch.randn(2, 3, 32, 32)).shape == (2, 7)
    deep = ConvNet(1, 2, (8, 8), ConvNetSpec(depth=6, width=8, pooling="none"))  # no pooling: any depth
    assert len(deep.forward_features(torch.randn(1, 1, 8, 8))[0]) == 6


@pytest.mark.parametrize("normalization", ["layernorm", "instancenorm"])
def test_28x28_inputs_run_like_32x32(normalization: str) -> None:
    spec = ConvNetSpec(depth=3, width=32, normalization=normalization)
    net28, net32 = ConvNet(1, 10, (28, 28), spec), ConvNet(1, 10, (32, 32), spec)
    feats, emb = net28.forward_features(torch.randn(2, 1, 28, 28))
    assert [f.shape[-1] for f in feats] == [32, 16, 8]
    assert net28.embedding_dim == net32.embedding_dim == 32 * 4 * 4 and emb.shape == (2, 512)


def test_non_square_images() -> None:
    net = ConvNet(3, 4, (16, 8), ConvNetSpec(depth=2, width=32))
    feats, emb = net.forward_features(torch.randn(2, 3, 16, 8))
    assert feats[1].shape == (2, 32, 8, 4) and emb.shape == (2, 32 * 4 * 2)


@pytest.mark.parametrize(("depth", "side"), [(5, 16), (4, 8), (2, 3)])
def test_too_many_poolings_for_the_image_size(depth: int, side: int) -> None:
    with pytest.raises(InvalidArgumentError, match=rf"pools {depth} times, too often for {side}x{side}"):
        ConvNet(1, 10, (side, side), ConvNetSpec(depth=depth, width=32, pooling="avgpooling"))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"activation": "tanh"}, "activation must be one of sigmoid, relu, leakyrelu; got 'tanh'"),
        ({"normalization": "layer"}, "normalization must be one of"),
        ({"pooling": "max"}, "pooling must be one of"),
        ({"depth": 0}, "depth must be an integer in \\[1, 10000\\], got 0"),
        ({"depth": 2.5}, "depth must be an integer"),
        ({"width": 0}, "width must be an integer in \\[1, 10000\\]"),
        ({"width": "64"}, "width must be an integer"),
        ({"normalization": "groupnorm", "width": 30}, "width must be a multiple of 4; got 30"),
    ],
)
def test_bad_spec_values(fields: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        ConvNetSpec(**fields)  # type: ignore[arg-type]


def test_parse_and_round_trip() -> None:
    spec = ConvNetSpec.parse(" depth=4, width=64 ,normalization=batchnorm")
    assert spec == ConvNetSpec(depth=4, width=64, activation="relu", normalization="batchnorm", pooling="avgpooling")
    assert ConvNetSpec.parse("") == ConvNetSpec()
    assert ConvNetSpec.parse("family=convnet,depth=2").depth == 2  # the family key of stored specs is accepted
    assert all(ConvNetSpec.parse(str(s)) == s for s in SPECS)
    assert all(ConvNetSpec.from_dict(s.to_dict()) == s for s in SPECS)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("depth4", "parts are key=value, got 'depth4'"),
        ("colour=red", r"unknown ConvNet spec key\(s\) \['colour'\]"),
        ("depth=abc", "depth must be an integer"),
        ("depth=-1", "depth must be an integer in \\[1, 10000\\]"),
        ("activation=gelu", "activation must be one of"),
        ("normalization=groupnorm,width=30", "multiple of 4"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        ConvNetSpec.parse(text)


def test_reset_parameters_is_reproducible_under_a_seed() -> None:
    net = ConvNet(3, 10, (16, 16), ConvNetSpec(depth=2, width=32, normalization="batchnorm"))

    def state_after_reset(seed: int) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            for p in net.parameters():
                p.fill_(7.0)  # reset must overwrite every parameter
        net(torch.randn(4, 3, 16, 16))  # moves the batchnorm running statistics
        torch.manual_seed(seed)
        net.reset_parameters()
        return {k: v.clone() for k, v in net.state_dict().items()}

    a, b, c = state_after_reset(0), state_after_reset(0), state_after_reset(1)
    assert a.keys() == b.keys() and all(a[k].equal(b[k]) for k in a)
    assert not a["blocks.0.conv.weight"].equal(c["blocks.0.conv.weight"])
    assert not any((v == 7.0).all() for v in a.values() if v.is_floating_point())
    assert a["blocks.0.norm.running_mean"].eq(0).all() and a["blocks.0.norm.running_var"].eq(1).all()


def _torchs_flops(model: torch.nn.Module, sample: torch.Tensor) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(sample)
    return int(counter.get_total_flops())


@pytest.mark.parametrize("name", ["convnet-cpu", "convnet-small", "convnet720", "macro", "nb201"])
def test_the_layer_count_of_every_registered_spaces_networks_is_torchs(name: str) -> None:
    """perf54b: a training process counted FLOPs with FlopCounterMode only, whose first use imports torch._dynamo and
    sympy (~1.5 CPU-s); the project's own networks are counted from their layers, to the FLOP of FlopCounterMode's,
    on seeded draws of each registered space that together take every option of every key (norms, activations,
    poolings, depths, widths, kernels, operations), at two image sizes."""
    import optuna

    from nas_proxy.models.flops import module_flops
    from nas_proxy.spaces import SPACES, get_space

    assert set(SPACES.names()) == {"convnet-cpu", "convnet-small", "convnet720", "macro", "nb201"}  # a new one: add it
    space = get_space(name)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=54))
    seen: set[tuple[str, str]] = set()
    chosen = []
    declared = {(key, repr(v)) for key, values in space.describe().get("params", {}).items() for v in values}
    for _ in range(300):  # keep a draw that takes an option no kept draw took (drawing is cheap, counting is not)
        trial = study.ask()
        spec = space.sample(trial)
        if new := {(key, repr(value)) for key, value in trial.params.items()} - seen:
            seen |= new
            chosen.append(spec)
            if declared <= seen:  # every option taken (at the 14th draw at most): 300 asks took 0.1 CPU-s a space
                break
    assert {pair for pair in declared if pair[0] in {k for k, _ in seen}} <= seen  # every option of every key drawn
    for i, spec in enumerate(chosen):
        channels, side = (1, 28) if i % 2 else (3, 16)
        model = space.build(spec, channels, 10, (side, side))
        sample = torch.randn(1, channels, side, side)
        assert module_flops(model, sample) == _torchs_flops(model, sample) > 0, spec


def test_a_network_the_layer_count_cannot_vouch_for_is_counted_by_torch() -> None:
    """A user's module (its forward may multiply anything), a subclass of a known one, a hooked layer: no layer count
    (None), and count_flops gives FlopCounterMode's number, which counts the user's matrix product too."""
    from nas_proxy.models.flops import module_flops
    from nas_proxy.trainers.synthetic_set import count_flops

    class Gram(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            f = x.flatten(2)
            return (f @ f.transpose(1, 2)).flatten(1)  # a product no layer of the count holds

    class MyConv(torch.nn.Conv2d):
        pass

    sample = torch.randn(2, 3, 8, 8)
    user = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), Gram(), torch.nn.Linear(16, 5))
    subclass = torch.nn.Sequential(MyConv(3, 4, 3), torch.nn.Flatten(), torch.nn.Linear(144, 5))
    hooked = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.Linear(144, 5))
    hooked[0].register_forward_hook(lambda m, a, out: None)
    for model in (user, subclass, hooked):
        assert module_flops(model, sample[:1]) is None
        assert count_flops(model, sample) == _torchs_flops(model, sample[:1])
    layers = module_flops(torch.nn.Sequential(user[0]), sample[:1])
    assert layers is not None and count_flops(user, sample) == layers + 2 * 4 * 36 * 4 + 2 * 16 * 5  # the Gram product too
    plain = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, groups=1, stride=2), torch.nn.Flatten(), torch.nn.Linear(36, 5))
    assert module_flops(plain, sample[:1]) == _torchs_flops(plain, sample[:1])  # known modules alone: counted
