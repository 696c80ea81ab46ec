"""evaluate's memory estimate (``nas_proxy.evaluate.training_memory``) against the measured peak of a real training on the
CPU (RESULTS.md §29, fix61a).

Each case trains a fresh ConvNet with ``nas_proxy.training.train_model`` (SGD, DSA, the evaluation protocol) for three
steps (one with ``steps=1``) on random images, in a child forked from this process after torch is imported, the images
made and the network built. The child resets its peak RSS (``/proc/self/clear_refs``: 5), trains, and reports its peak
RSS (``VmHWM``) minus its RSS before the training: the memory the training itself made resident. Run with glibc's
``MALLOC_MMAP_THRESHOLD_=65536`` (``--live``, the default: set by running itself again with it) every block of 64 KiB or
more is its own mapping, given back when freed, so the peak RSS follows the live tensors; with glibc's default
(``--glibc-default``) freed blocks stay in the heap, and the peak is higher. Its limits: RSS counts pages touched, so a
tensor allocated and never written (none here) would not count; the thread stacks and oneDNN's scratch are in it; it
measures the CPU only (CUDA's allocator keeps its own cache, not measured here).

    .venv/bin/python benchmarks/training_memory.py            # the table of RESULTS.md §29 (a few minutes, one core)
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nas_proxy.models import ConvNetSpec

THRESHOLD = "65536"


def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _old_estimate(spec: ConvNetSpec, shape: tuple[int, int, int], num_classes: int, batch: int, params: int) -> int:
    """The estimate before fix61a: 16 bytes a parameter, 4 bytes for every layer's output (review60's 464 MB)."""
    per_image = num_classes
    for _padding, (fh, fw), (ph, pw) in spec.blocks((shape[1], shape[2])):
        per_image += spec.width * (3 * fh * fw + ph * pw)
    return params * 16 + batch * per_image * 4


def measure(text: str, shape: tuple[int, int, int], batch: int, steps: int) -> tuple[int, int, int, int]:
    """(estimate, old estimate, measured peak, parameters) of ``steps`` steps of the ConvNet ``text`` on ``batch`` images."""
    import torch

    from nas_proxy.evaluate import training_memory
    from nas_proxy.models import ConvNet, ConvNetSpec
    from nas_proxy.training import TrainConfig, train_model

    spec = ConvNetSpec.parse(text)
    torch.manual_seed(0)
    x, y = torch.randn(batch, *shape), torch.arange(batch) % 10
    net = ConvNet(shape[0], 10, (shape[1], shape[2]), spec)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child trains; its peak is this training's alone
        os.close(r)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        before = _status("VmRSS")
        train_model(net, x, y, TrainConfig(epochs=steps, batch_size=batch), 0, True)  # one batch an epoch
        os.write(w, str(_status("VmHWM") - before).encode())
        os._exit(0)
    os.close(w)
    got = b""
    while chunk := os.read(r, 64):
        got += chunk
    os.close(r)
    os.waitpid(pid, 0)
    need, params = training_memory(spec, shape, 10, batch, steps)
    return need, _old_estimate(spec, shape, 10, batch, params), int(got), params


CASES = [  # (ConvNet spec, image shape, batch, steps): each registered ConvNet space's extremes, evaluate's default
    ("depth=3,width=128", (3, 32, 32), 256, 3),  # evaluate's network (ConvNet-3, instance norm, avg pooling)
    ("depth=3,width=256,normalization=none,pooling=none", (3, 32, 32), 32, 3),  # review60's case
    ("depth=1,width=32,activation=sigmoid,normalization=none,pooling=maxpooling", (1, 28, 28), 256, 3),  # convnet720: smallest
    ("depth=4,width=256,activation=leakyrelu,normalization=batchnorm,pooling=maxpooling", (1, 28, 28), 256, 3),  # widest, deepest
    ("depth=4,width=256,normalization=layernorm,pooling=none", (3, 32, 32), 16, 3),  # no pooling, deepest, widest
    ("depth=4,width=32,normalization=groupnorm,pooling=none", (3, 32, 32), 64, 3),
    ("depth=1,width=16,activation=sigmoid,normalization=none,pooling=avgpooling", (1, 28, 28), 256, 3),  # convnet-cpu: smallest
    ("depth=3,width=64,activation=leakyrelu,normalization=batchnorm,pooling=maxpooling", (3, 32, 32), 256, 3),  # convnet-cpu: largest
    ("depth=1,width=1,normalization=none,pooling=none", (3, 32, 32), 256, 3),  # width 1
    ("depth=4,width=1,normalization=instancenorm,pooling=none", (1, 28, 28), 256, 3),
    ("depth=1,width=1024", (1, 16, 16), 250, 3),  # review59's case: activations dominate
    ("depth=2,width=1024,normalization=none", (1, 16, 16), 16, 3),  # parameters dominate
    ("depth=2,width=1024,normalization=none", (1, 16, 16), 16, 1),  # one step: no gradient of a step before
]


def main() -> None:
    from nas_proxy.cli.common import ScriptParser  # options typed in full (tests/project/test_benchmark_parsers.py)

    p = ScriptParser(description=__doc__.splitlines()[0])
    p.add_argument("--glibc-default", action="store_true", help="glibc's own malloc settings (freed blocks kept in the heap)")
    args = p.parse_args()
    if not args.glibc_default and os.environ.get("MALLOC_MMAP_THRESHOLD_") != THRESHOLD:
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "MALLOC_MMAP_THRESHOLD_": THRESHOLD})
    import torch

    torch.set_num_threads(1)
    mode = "glibc default" if args.glibc_default else f"MALLOC_MMAP_THRESHOLD_={THRESHOLD}"
    print(
        f"| network | images | steps | parameters | estimate (MB) | before fix61a (MB) | measured peak (MB), {mode} | estimate / measured |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for text, shape, batch, steps in CASES:
        need, old, peak, params = measure(text, shape, batch, steps)
        mb = 1e6
        images = f"{batch} of {'x'.join(map(str, shape))}"
        print(
            f"| {text} | {images} | {steps} | {params:,} | {need / mb:,.0f} | {old / mb:,.0f} | {peak / mb:,.0f} | {need / peak:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
