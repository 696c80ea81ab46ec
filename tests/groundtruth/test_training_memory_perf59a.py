"""evaluate's memory check (``training_memory``, probe58) counts a ConvNet's activations from its plan of blocks: before
perf59a it ran the network forward on torch's meta device, whose linear and normalisation layers go through torch's
Python decompositions, which import torch._dynamo (~1.5 CPU-s): every ``nasproxy evaluate`` paid it before training."""

from __future__ import annotations

from itertools import product

import pytest
import torch

from nas_proxy.evaluate import BYTES_PER_ACTIVATION, BYTES_PER_PARAMETER, training_memory
from nas_proxy.models import ConvNet, ConvNetSpec
from nas_proxy.models.convnet import ACTIVATIONS, NORMALIZATIONS, POOLINGS
from tests import run_code


def forward_outputs(spec: ConvNetSpec, shape: tuple[int, int, int], num_classes: int, batch: int) -> tuple[int, int]:
    """(values every leaf module outputs, parameters) of a real forward on the CPU: what the count must equal."""
    net = ConvNet(shape[0], num_classes, (shape[1], shape[2]), spec)
    seen: list[int] = []
    handles = [m.register_forward_hook(lambda _m, _i, out: seen.append(out.numel())) for m in net.modules() if not list(m.children())]
    with torch.no_grad():
        net(torch.zeros(batch, *shape))
    for h in handles:
        h.remove()
    return sum(seen), sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 16, 8), (3, 32, 32)], ids=lambda s: "x".join(map(str, s)))
def test_the_count_is_what_every_layer_of_a_forward_pass_outputs(shape: tuple[int, int, int]) -> None:
    """Every normalisation and pooling at every depth that fits, the activations in turn (none changes a shape; narrow
    networks: the count scales with the width, which the parameters' count checks), 28x28 (the first conv's padding of
    3) and non-square images."""
    for i, (depth, normalization, pooling) in enumerate(product((1, 2, 3), NORMALIZATIONS, POOLINGS)):
        spec = ConvNetSpec(depth=depth, width=4, activation=ACTIVATIONS[i % len(ACTIVATIONS)], normalization=normalization, pooling=pooling)
        if pooling != "none" and min(shape[1:]) >> depth < 1:
            continue
        outputs, params = forward_outputs(spec, shape, 7, 3)
        assert training_memory(spec, shape, 7, 3) == (params * BYTES_PER_PARAMETER + outputs * BYTES_PER_ACTIVATION, params), spec


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
