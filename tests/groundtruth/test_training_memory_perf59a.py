"""evaluate's memory check (``training_memory``, probe58) counts what a ConvNet's training saves from its plan of blocks:
before perf59a it ran the network forward on torch's meta device, whose linear and normalisation layers go through torch's
Python decompositions, which import torch._dynamo (~1.5 CPU-s): every ``nasproxy evaluate`` paid it before training. Since
fix61a the count is a lower bound of what a real forward saves (the peak it bounds: benchmarks/RESULTS.md §29)."""

from __future__ import annotations

from itertools import product

import pytest
import torch
import torch.nn.functional as F

from nas_proxy.evaluate import BYTES_PER_PARAMETER, training_memory
from nas_proxy.models import ConvNet, ConvNetSpec
from nas_proxy.models.convnet import ACTIVATIONS, NORMALIZATIONS, POOLINGS
from tests import run_code


def saved_by_a_forward(spec: ConvNetSpec, shape: tuple[int, int, int], num_classes: int, batch: int) -> tuple[int, int]:
    """(bytes, parameters): what a real training forward and its loss on the CPU save for the backward pass, each storage
    once (an in-place activation saves its input's), the parameters left out: what the count must not exceed (fix61a)."""
    net = ConvNet(shape[0], num_classes, (shape[1], shape[2]), spec)
    weights = {p.untyped_storage().data_ptr() for p in net.parameters()}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if (ptr := t.untyped_storage().data_ptr()) not in weights:
            saved[ptr] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        F.cross_entropy(net(torch.randn(batch, *shape)), torch.arange(batch) % num_classes)
    return sum(saved.values()), sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 16, 8), (3, 32, 32)], ids=lambda s: "x".join(map(str, s)))
def test_the_count_is_a_lower_bound_of_what_a_forward_saves_and_close_to_it(shape: tuple[int, int, int]) -> None:
    """Every normalisation and pooling at every depth that fits, the activations in turn (none changes what is saved:
    ReLU and LeakyReLU in place, a sigmoid its result), 28x28 (the first conv's padding of 3) and non-square images. The
    count never exceeds what the forward saves (before fix61a it counted every layer's output, identity norms and in-place
    activations too: up to 3.6x this), and is at least 98 % of it (what it leaves out: a norm's statistics, the labels)."""
    for i, (depth, normalization, pooling) in enumerate(product((1, 2, 3), NORMALIZATIONS, POOLINGS)):
        spec = ConvNetSpec(depth=depth, width=4, activation=ACTIVATIONS[i % len(ACTIVATIONS)], normalization=normalization, pooling=pooling)
        if pooling != "none" and min(shape[1:]) >> depth < 1:
            continue
        saved, params = forward = saved_by_a_forward(spec, shape, 7, 3)
        need, counted = training_memory(spec, shape, 7, 3)
        assert counted == params, spec
        activations = need - params * BYTES_PER_PARAMETER
        assert 0.98 * saved <= activations <= saved, (spec, forward, activations)


def test_the_memory_check_imports_no_torch_dynamo() -> None:
    """In a fresh interpreter (forked warm: torch imported, nothing of nasproxy), the check of the default network and
    of one far too large for any memory leaves torch._dynamo unimported."""
    code = (
        "import sys\nfrom nas_proxy.evaluate import training_memory\nfrom nas_proxy.models import ConvNetSpec\n"
        "print(training_memory(ConvNetSpec(), (3, 32, 32), 10, 256)[1], training_memory(ConvNetSpec(width=10000), (1, 16, 16), 10, 10)[1])\n"
        "print('torch._dynamo' in sys.modules)"
    )
    done = run_code.run(code, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["320010 1800580010", "False"], done.stdout
