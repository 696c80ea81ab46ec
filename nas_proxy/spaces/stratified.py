"""A few architectures of a space that differ in every dimension: a stratified draw.

Drawing N members uniformly can give four ReLU batch-norm networks; here every categorical
parameter runs through its choices in rounds, each round in its own seeded order, so that among N
draws every value of a parameter with m choices appears ``N // m`` or ``N // m + 1`` times (a
parameter suggested in every draw), and the parameters' orders are independent of each other (a
Latin-hypercube-like design). Draw ``t`` depends only on the seed and ``t``: the first N of 2N
draws are the N draws.
"""

from __future__ import annotations

import random
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution

from nas_proxy.spaces.base import SearchSpace, Spec, arch_id
from nas_proxy.utils import derive_seed


class CyclingSampler(optuna.samplers.BaseSampler):
    """An Optuna sampler whose trial ``t`` takes choice ``order[t % m]`` of every categorical
    parameter, ``order`` a seeded permutation of its ``m`` choices redrawn for every round of ``m``
    trials; other distributions are sampled at random (seeded)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._random = optuna.samplers.RandomSampler(seed=seed)

    def infer_relative_search_space(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(
        self, study: optuna.Study, trial: optuna.trial.FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return {}

    def sample_independent(
        self, study: optuna.Study, trial: optuna.trial.FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        if not isinstance(param_distribution, CategoricalDistribution):
            return self._random.sample_independent(study, trial, param_name, param_distribution)
        choices = param_distribution.choices
        rnd, position = divmod(trial.number, len(choices))
        order = random.Random(derive_seed(self.seed, "stratified", param_name, rnd)).sample(range(len(choices)), len(choices))
        return choices[order[position]]


def stratified_specs(space: SearchSpace, n: int, seed: int, max_draws: int = 50) -> list[Spec]:
    """``n`` distinct specs of ``space`` drawn by :class:`CyclingSampler` (a repeated spec is
    skipped; a space with fewer than ``n`` members gives them all, after ``max_draws * n`` draws)."""
    study = optuna.create_study(sampler=CyclingSampler(seed))
    out: dict[str, Spec] = {}
    for _ in range(max_draws * n):
        if len(out) == n:
            break
        trial = study.ask()
        spec = space.sample(trial)
        study.tell(trial, 0.0)
        out.setdefault(arch_id(spec), spec)
    return list(out.values())


__all__ = ["CyclingSampler", "stratified_specs"]
