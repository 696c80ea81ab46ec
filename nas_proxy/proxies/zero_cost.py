"""Training-free architecture scores (zero-cost proxies): the baselines a user would pick instead.

Each proxy is a function ``(model, x, y) -> float`` of an untrained network and one minibatch
(``x``: (N, C, H, W) images, ``y``: (N,) class indices), registered in :data:`ZERO_COST`. Higher is
better for all of them. Shared rules:

- the caller's model is never modified: every proxy that runs the network works on a deepcopy
  (parameters, buffers such as BatchNorm statistics, ``.grad`` and the train/eval flag stay as given);
- the model and the batch must be on the same device;
- results are deterministic for a given model and batch; layers that draw random numbers (dropout,
  in the proxies that run in train mode) use torch's global RNG, so seed it with ``torch.manual_seed``;
- "weights" means the ``weight`` of every ``nn.Linear`` and ``nn.Conv1d/2d/3d`` (biases and
  normalisation affines excluded), as in the zero-cost-proxies code (Abdelfattah et al., ICLR 2021).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nas_proxy.columns import TAKEN
from nas_proxy.registry import Registry
from nas_proxy.trainers.synthetic_set import count_flops

ZeroCostProxy = Callable[[nn.Module, Tensor, Tensor], float]
# correlate's results.csv holds a column per proxy, named as the proxy, beside its own (nas_proxy.columns), which a score
# of one of those names would overwrite: before fix53e a score registered as 'truth' was taken here, then refused by
# correlate alone (fix53b). params and flops may be taken: the zero-cost proxies of those names measure the network's
# size as those columns do (their column is the column)
ZERO_COST: Registry[ZeroCostProxy] = Registry(
    "zero-cost proxy",
    reserved={
        name: f"{name!r} is a column of correlate's results.csv ({what}), which its scores would overwrite" for name, what in TAKEN.items()
    },
)

_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_RELUS = (nn.ReLU, nn.LeakyReLU)


def _weights(net: nn.Module) -> list[Tensor]:
    return [m.weight for m in net.modules() if isinstance(m, _WEIGHTED)]


def _saliency(net: nn.Module) -> float:
    """sum over weights of |w * dw|, with the gradients already in ``.grad``."""
    return sum(float((w.detach() * w.grad).abs().sum()) for w in _weights(net) if w.grad is not None)


def _cross_entropy_gradients(model: nn.Module, x: Tensor, y: Tensor) -> nn.Module:
    """A train-mode copy of ``model`` holding d(mean cross-entropy on (x, y))/d(parameter) in ``.grad``.

    Train mode: BatchNorm normalises with the batch's statistics, as a network does at initialisation.
    """
    net = copy.deepcopy(model).train().requires_grad_(True)
    net.zero_grad(set_to_none=True)
    F.cross_entropy(net(x), y).backward()
    return net


@ZERO_COST.register("synflow")
def synflow(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """SynFlow (Tanaka et al., NeurIPS 2020): sum over weights of |w * dR/dw|, R = sum(f_|theta|(1)).

    On a float64 copy whose parameters are all replaced by their absolute values, one all-ones input
    of one image's shape is pushed through and R is the sum of the outputs; ``y`` is unused. float64
    because the score grows like a product over layers (1e30..1e60 is common; rank by its log if you
    plot it). The copy runs in eval mode, as Tanaka et al.'s code scores: BatchNorm uses its running
    statistics (train-mode statistics of one constant image are degenerate) and dropout is off.
    Normalisers that subtract a per-sample mean (GroupNorm, LayerNorm) break SynFlow's all-positive
    premise; the score is computed through them as they are.
    """
    net = copy.deepcopy(model).double().eval().requires_grad_(True)
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    net.zero_grad(set_to_none=True)
    ones = torch.ones((1, *x.shape[1:]), dtype=torch.float64, device=x.device)  # (1, C, H, W)
    net(ones).sum().backward()
    return _saliency(net)


@ZERO_COST.register("naswot")
def naswot(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """NASWOT (Mellor et al., ICML 2021): log|det K| of the batch's ReLU-code kernel; ``y`` is unused.

    Every ``nn.ReLU`` / ``nn.LeakyReLU`` module's output is read by a forward hook; a unit's code is
    1 where its output is > 0 (for LeakyReLU the same as its input > 0). Over all N_A units, K[i, j] =
    N_A - Hamming(code_i, code_j), the number of units on which images i and j agree. Returns -inf
    when K is singular (e.g. two images with identical codes), and NaN for a network without ReLU
    modules (sigmoid-only, or ReLUs called functionally): it has no codes to compare. Runs in train
    mode (batch statistics), without gradients.
    """
    net = copy.deepcopy(model).train()
    n = x.shape[0]
    agree = torch.zeros((n, n), dtype=torch.float64, device=x.device)  # (N, N): K, summed over layers

    def record(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        s = (output.detach().flatten(1) > 0).to(torch.float64) * 2 - 1  # (N, units) of +-1
        agree.add_((s.shape[1] + s @ s.T) / 2)  # s s^T = agreements - disagreements

    relus = [m for m in net.modules() if isinstance(m, _RELUS)]
    if not relus:
        return math.nan
    hooks = [m.register_forward_hook(record) for m in relus]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in hooks:
            h.remove()
    return float(torch.linalg.slogdet(agree).logabsdet)


@ZERO_COST.register("grad_norm")
def grad_norm(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """Sum over weights of ||dL/dw||_2, L the mean cross-entropy of the batch (Abdelfattah et al.).

    The per-layer norms are summed (as in the zero-cost-proxies code), not combined into one norm
    over all parameters. Train mode (batch statistics; dropout draws from torch's RNG).
    """
    net = _cross_entropy_gradients(model, x, y)
    return sum(float(w.grad.norm()) for w in _weights(net) if w.grad is not None)


@ZERO_COST.register("snip")
def snip(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """SNIP (Lee et al., ICLR 2019) as a score: sum over weights of |w * dL/dw|, L as in grad_norm."""
    return _saliency(_cross_entropy_gradients(model, x, y))


@ZERO_COST.register("params")
def params(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """The number of parameters (each shared tensor counted once, frozen ones included)."""
    return float(sum(p.numel() for p in model.parameters()))


@ZERO_COST.register("flops")
def flops(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """Forward FLOPs of one image in eval mode, as torch's FlopCounterMode counts them.

    A multiply-add is 2 FLOPs; matrix products and convolutions are counted, elementwise layers
    (activations, normalisation, pooling, bias additions) are not. Counted by the project's one counter
    (:func:`~nas_proxy.trainers.synthetic_set.count_flops`, a trial's ``flops``): from the layers of the project's own
    networks, FlopCounterMode for any other. Before fix55b FlopCounterMode always, whose first use in a process imports
    torch._dynamo and sympy (:mod:`nas_proxy.models.flops`): in trial 1 of every search or worker that scored ``flops``,
    where ``ready_to_count_flops`` skips that import for the project's spaces.
    """
    return float(count_flops(copy.deepcopy(model), x[:1]))


def score_all(model: nn.Module, x: Tensor, y: Tensor, names: Sequence[str] | None = None) -> dict[str, tuple[float, float]]:
    """``{name: (score, seconds)}`` for the named proxies (all registered ones by default).

    Unknown names fail before any proxy runs. The seconds are wall-clock time; every proxy
    that computes on the device ends by turning a tensor into a Python float, which waits for the GPU.
    """
    proxies = {name: ZERO_COST.get(name) for name in (ZERO_COST.names() if names is None else names)}
    out: dict[str, tuple[float, float]] = {}
    for name, proxy in proxies.items():
        start = time.perf_counter()
        score = proxy(model, x, y)
        out[name] = (score, time.perf_counter() - start)
    return out
