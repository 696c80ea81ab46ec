"""Zero-cost proxies on tiny networks: hand-computed values, and the rules every registered one keeps."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

from nas_proxy.errors import UnknownNameError
from nas_proxy.models.convnet import ConvNet, ConvNetSpec
from nas_proxy.proxies.zero_cost import ZERO_COST, flops, grad_norm, naswot, params, score_all, snip, synflow


def with_weights(layer: nn.Linear, weight: list[list[float]], bias: list[float] | None = None) -> nn.Linear:
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight))
        if bias is not None:
            layer.bias.copy_(torch.tensor(bias))
    return layer


def tiny_convnet(activation: str = "relu", normalization: str = "batchnorm") -> ConvNet:
    return ConvNet(1, 10, (8, 8), ConvNetSpec(depth=2, width=8, activation=activation, normalization=normalization))


def batch(n: int = 8) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g)


def test_synflow_by_hand() -> None:
    # After |.|: W1 = [[1, 2], [3, 4]], W2 = [[1, 2]]. On the all-ones input h = W1 1 = (3, 7), the
    # ReLU passes it, R = W2 h = 3 + 14 = 17. dR/dW2 = h -> sum |W2 * h| = 1*3 + 2*7 = 17;
    # dR/dW1[i, j] = W2[i] -> sum |W1 * dR/dW1| = 1 + 2 + 2*3 + 2*4 = 17. SynFlow = 34.
    net = nn.Sequential(
        with_weights(nn.Linear(2, 2, bias=False), [[1, -2], [3, 4]]), nn.ReLU(), with_weights(nn.Linear(2, 1, bias=False), [[-1, 2]])
    )
    x = torch.randn(5, 2)  # only its shape matters
    assert synflow(net, x, torch.zeros(5, dtype=torch.long)) == pytest.approx(34.0)


def test_params_and_flops_by_hand() -> None:
    spec = ConvNetSpec(depth=1, width=4, activation="relu", normalization="none", pooling="avgpooling")
    net = ConvNet(1, 10, (8, 8), spec)
    x, y = torch.randn(3, 1, 8, 8), torch.zeros(3, dtype=torch.long)
    # conv 1 -> 4, 3x3: 4*9 + 4 = 40; pooled 4 x 4x4 = 64 features; linear 64*10 + 10 = 650
    assert params(net, x, y) == 690
    # conv: 2 * (4*8*8 outputs) * (1*9 taps) = 4608; linear 2 * 64 * 10 = 1280 (one image only)
    assert flops(net, x, y) == 4608 + 1280
    assert flops(nn.Linear(4, 3), torch.randn(7, 4), y) == 2 * 4 * 3


def test_naswot_by_hand() -> None:
    x = torch.tensor([[1.0, 1, 1, 1], [1, -1, -1, 1]])  # codes 1111 and 1001: N_A = 4, Hamming 2
    y = torch.zeros(2, dtype=torch.long)
    # K = [[4, 2], [2, 4]], det 12
    assert naswot(nn.Sequential(nn.ReLU()), x, y) == pytest.approx(math.log(12))
    assert naswot(nn.Sequential(nn.LeakyReLU(0.1)), x, y) == pytest.approx(math.log(12))
    # a layer whose outputs are positive for every image: all codes equal, K = 3 * ones, singular
    same = nn.Sequential(with_weights(nn.Linear(4, 3), [[0] * 4] * 3, [1, 2, 3]), nn.ReLU())
    assert naswot(same, torch.randn(5, 4), torch.zeros(5, dtype=torch.long)) == -math.inf
    # no ReLU, no codes
    assert math.isnan(naswot(tiny_convnet("sigmoid"), *batch()))
    assert math.isfinite(naswot(tiny_convnet("leakyrelu"), *batch()))


def test_grad_norm_by_hand() -> None:
    # W = 0, b = 0, x = (1, 0), y = 0: softmax (1/2, 1/2), dL/dlogits = (-1/2, 1/2),
    # dL/dW = outer((-1/2, 1/2), (1, 0)) -> norm sqrt(1/2). The bias gradient is not counted.
    net = with_weights(nn.Linear(2, 2), [[0, 0], [0, 0]], [0, 0])
    assert grad_norm(net, torch.tensor([[1.0, 0]]), torch.tensor([0])) == pytest.approx(math.sqrt(0.5))
    # a zero input gives the weights a zero gradient, whatever the loss
    assert grad_norm(nn.Linear(2, 2), torch.zeros(4, 2), torch.tensor([0, 1, 0, 1])) == 0.0


def test_snip_by_hand() -> None:
    # W = (1, -1)^T, x = 1, y = 0: logits (1, -1), p1 = sigmoid(-2), dL/dlogits = (p0 - 1, p1) = (-p1, p1),
    # so |W * dL/dW| sums to 2 p1 = 2 / (1 + e^2)
    net = with_weights(nn.Linear(1, 2, bias=False), [[1], [-1]])
    assert snip(net, torch.tensor([[1.0]]), torch.tensor([0])) == pytest.approx(2 / (1 + math.e**2))


@pytest.mark.parametrize("name", ZERO_COST.names())
@pytest.mark.parametrize("activation", ["relu", "sigmoid", "leakyrelu"])
def test_every_proxy_on_convnets(name: str, activation: str) -> None:
    score = ZERO_COST.get(name)(tiny_convnet(activation), *batch())
    assert isinstance(score, float)
    assert math.isfinite(score) or (name == "naswot" and activation == "sigmoid")


def dropout_net() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 10))


@pytest.mark.parametrize("name", ZERO_COST.names())
@pytest.mark.parametrize("make", [tiny_convnet, dropout_net], ids=["convnet_bn", "dropout"])
def test_proxy_is_deterministic_and_leaves_model_untouched(name: str, make: Callable[[], nn.Module]) -> None:
    torch.manual_seed(0)
    model = make().eval()  # eval: a proxy that switches to train mode must do it on its copy
    before = copy.deepcopy(model.state_dict())
    x, y = batch()
    proxy = ZERO_COST.get(name)
    torch.manual_seed(1)
    first = proxy(model, x, y)
    torch.manual_seed(1)
    assert proxy(model, x, y) == first
    assert not model.training
    assert all(p.grad is None for p in model.parameters())
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights, signs, BN running stats


def test_score_all() -> None:
    x, y = batch()
    out = score_all(tiny_convnet(), x, y)
    assert list(out) == ZERO_COST.names()
    assert all(isinstance(s, float) and t >= 0 for s, t in out.values())
    assert list(score_all(tiny_convnet(), x, y, ["snip", "params"])) == ["snip", "params"]
    with pytest.raises(UnknownNameError, match="synflow"):
        score_all(tiny_convnet(), x, y, ["params", "synflw"])


def test_a_score_named_as_a_column_of_correlates_results_is_refused_at_registration() -> None:
    """fix53e: ``@ZERO_COST.register("truth")`` was taken, and only correlate refused the name (fix53b: before, its
    scores replaced every row's ground truth in results.csv). The registry refuses it now, naming the column; params and
    flops, which measure their columns as those do, stay registered."""
    from nas_proxy.columns import TAKEN as RESULT_COLUMNS  # every column of results.csv a score would overwrite
    from nas_proxy.groundtruth.tables import DATASET
    from nas_proxy.registry import ReservedNameError

    assert DATASET in RESULT_COLUMNS  # the ground-truth tables' column, which results.csv's rows carry
    for name in RESULT_COLUMNS:
        with pytest.raises(ReservedNameError) as refused:  # fix54b: a DuplicateNameError before, no member holding it
            ZERO_COST.register(name)(params)
        assert str(refused.value).startswith(f"zero-cost proxy {name!r} cannot be registered (nas_proxy.proxies.zero_cost.params): ")
        assert str(refused.value).endswith(
            f"{name!r} is a column of correlate's results.csv ({RESULT_COLUMNS[name]}), which its scores would overwrite; give it another name"
        )
        assert name not in ZERO_COST
    assert ZERO_COST.get("params") is params and ZERO_COST.get("flops") is flops
