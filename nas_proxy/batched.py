"""K independently initialised copies of one network, trained together as one batched model.

The copies' parameters and buffers are stacked along a new leading dimension
(``torch.func.stack_module_state``) and one template module runs them all under ``torch.func.vmap``
with ``functional_call``: a convolution becomes one grouped convolution over the K copies, so a
step is one sequence of kernels instead of K. ``training.train_model`` trains a stack as it trains
one network (the same loop; copy k is trained as it would be alone with ``seeds[k]``) and
``training.accuracies`` scores every copy. Vectorised, the results equal K separate trainings up
to float32 rounding (grouped kernels sum in another order), not bit for bit.

BatchNorm works unchanged: its running statistics are stacked buffers, updated in place per copy
under ``vmap``. Instance, group and layer norm have no buffers. The batched path runs eagerly: CUDA
graphs and channels_last (``TrainConfig``) are single-network options and are not applied here.

The default is ``vectorize=False``: the copies run one after the other on views of the same stacked
tensors, with the same optimiser; its results equal K separate trainings bit for bit. Measured:
on the CPU grouped kernels are slower than K dense ones (benchmarks/RESULTS.md §9: a vmapped trial
took 1.9x (K = 2) and 4.4x (K = 4) the CPU time of the loop); on an H100 (torch 2.11, cuDNN 9.19)
batch norm under ``vmap`` fails ("NYI: querying is_contiguous inside of vmap"), so vmap is opt-in
(``vectorize=True``) until a GPU run shows where it pays.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

# (K, B, classes), (K, B) or (K, B, classes) -> (K,): the cross-entropy of each copy on its own batch, in one vmapped
# call (the vectorised stack's); the loop's stack takes each copy's as its own training does (``losses``)
_per_copy_loss = vmap(lambda logits, labels: F.cross_entropy(logits, labels))


class ModelStack:
    """``len(models)`` networks of one architecture, as stacked tensors and a template module.

    The networks must share the architecture (same parameter names and shapes) and device.
    ``vectorize``: all copies in one vmapped call (opt-in, see the module docstring), or (default)
    one call per copy on views of the stacked tensors.
    """

    def __init__(self, models: Sequence[nn.Module], vectorize: bool | None = None) -> None:
        if not models:
            raise ValueError("a ModelStack needs at least one network")
        self.size = len(models)
        params, buffers = stack_module_state(list(models))  # name -> (K, *shape); params are leaves with grad
        self.params: dict[str, Tensor] = params
        self.buffers: dict[str, Tensor] = buffers
        self.template = copy.deepcopy(models[0]).to("meta")  # holds the structure only; tensors come from the stack
        self.vectorize = bool(vectorize)  # None: the default, the loop (vmap is opt-in: module docstring)

    def _call(self, params: dict[str, Tensor], buffers: dict[str, Tensor], x: Tensor) -> Tensor:
        return functional_call(self.template, (params, buffers), (x,))

    def __call__(self, x: Tensor, shared: bool = False) -> Tensor:
        """Logits (K, N, classes): copy k on ``x[k]`` (x is (K, N, C, H, W)), or every copy on the
        same ``x`` (N, C, H, W) when ``shared``."""
        if self.vectorize:
            return vmap(self._call, in_dims=(0, 0, None if shared else 0))(self.params, self.buffers, x)
        copies = []
        for k in range(self.size):  # views of copy k's slices: gradients and BatchNorm updates land in the stack
            params = {name: t[k] for name, t in self.params.items()}
            buffers = {name: t[k] for name, t in self.buffers.items()}
            copies.append(self._call(params, buffers, x if shared else x[k]))
        return torch.stack(copies)

    def logits(self, x: Tensor) -> Tensor:
        """Every copy on the same images ``x`` (N, C, H, W): (K, N, classes)."""
        return self(x, shared=True)

    def losses(self, xb: Sequence[Tensor], yb: Sequence[Tensor]) -> Tensor:
        """The cross-entropy of each copy (K,) on its own batch ``xb[k]`` and labels ``yb[k]``. The loop's copies take
        it one by one, with the same kernel as a network trained alone: under ``vmap`` cross-entropy runs as torch's
        Python decomposition, whose first call imports SymPy (~0.45 CPU-s, more in a large process: perf60b)."""
        logits = self(torch.stack(list(xb)))
        if self.vectorize:
            return _per_copy_loss(logits, torch.stack(list(yb)))
        return torch.stack([F.cross_entropy(logits[k], labels) for k, labels in enumerate(yb)])

    def parameters(self) -> list[Tensor]:
        """The stacked parameters (K, *shape), what one optimiser steps for all copies."""
        return list(self.params.values())

    def train(self, mode: bool = True) -> ModelStack:
        self.template.train(mode)
        return self

    def eval(self) -> ModelStack:
        return self.train(False)

    @property
    def training(self) -> bool:
        return self.template.training

    def unstack(self, k: int, model: nn.Module) -> nn.Module:
        """Copy ``k``'s tensors into ``model`` (a network of the same architecture); returns it."""
        with torch.no_grad():
            state = {name: t[k] for name, t in {**self.params, **self.buffers}.items()}
            model.load_state_dict(state)
        return model
