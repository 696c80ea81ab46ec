"""What a calibration searches over and how it judges a protocol: :class:`CalibrateConfig`.

Apart from the runner so that ``nasproxy calibrate --help`` reads the defaults without importing
torch, Optuna or scipy (tests/cli/test_startup.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from nas_proxy import checks
from nas_proxy.correlate.config import CorrelateConfig, check_n_boot
from nas_proxy.errors import InvalidArgumentError
from nas_proxy.protocols import ProxyConfig

# ProxyConfig field -> candidate values when the user names none (wide enough for a GPU run; the
# CPU measurement in benchmarks/RESULTS.md narrows them)
DEFAULT_CHOICES: dict[str, tuple[Any, ...]] = {
    "epochs": (10, 25, 50, 100),
    "lr": (0.003, 0.01, 0.03, 0.1),
    "batch_size": (32, 64, 128, 256),
    "dsa": (True, False),
}
if "seeds" in {f.name for f in fields(ProxyConfig)}:  # the seed-averaged proxy (issue 12 item 3), when ProxyConfig has it
    DEFAULT_CHOICES["seeds"] = (1, 2, 4)


def check_choices(choices: dict[str, list[Any]]) -> None:
    """Each key a ProxyConfig field, each value list non-empty, distinct and valid for that field."""
    from nas_proxy.profile import check_proxy_values

    for key, values in choices.items():
        if not isinstance(values, list | tuple):
            raise InvalidArgumentError(f"the choices of {key} must be a non-empty list of distinct values, got {values!r}")
        checks.distinct(f"the choices of {key}", values)
        for v in values:
            check_proxy_values({key: v}, f"choice {key}={v!r}")


# the rank agreements a calibration may maximise (functions of nas_proxy.correlate.metrics of the same names)
METRIC_NAMES = ("weighted_tau", "spearman", "kendall")
# rank agreement spans [-1, 1]: above 2 a weight already outweighs any agreement a doubling of cost can buy
COST_WEIGHT_MAX = 100.0


@dataclass
class CalibrateConfig:
    """What a calibration searches over and how it judges a protocol."""

    space: str  # the search space the architectures belong to
    synthetic: list[str]  # synthetic sets to choose among (the first is the default protocol's)
    choices: dict[str, list[Any]] = field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_CHOICES.items()})
    folds: int = 4  # k of the k-fold cross-validation over architectures
    trials: int = 20  # Optuna trials of each study (k fold studies and the final one)
    metric: str = "weighted_tau"  # rank agreement maximised (see the module docstring for why)
    cost_weight: float = 0.02  # fidelity a doubling of proxy cost must buy; 0 ignores cost
    seed: int = 0  # folds, samplers, proxy trainings and bootstrap
    device: str = "auto"
    data_root: str | None = None
    n_boot: int = CorrelateConfig.n_boot  # bootstrap resamples of the held-out intervals (correlate's default)

    def validate(self) -> None:
        checks.text("space", self.space)
        if not isinstance(self.synthetic, list) or not self.synthetic or not all(isinstance(s, str) for s in self.synthetic):
            raise InvalidArgumentError(f"give at least one synthetic set (--synthetic DIR ...), got {self.synthetic!r}")
        checks.distinct_folders("--synthetic", self.synthetic)
        check_choices(self.choices)
        checks.number("folds", self.folds, 2, integer=True)
        checks.count("trials", self.trials, checks.TRIALS_MAX, checks.TRIALS_WHY)
        checks.text("metric", self.metric, METRIC_NAMES)
        checks.number("cost_weight", self.cost_weight, 0, COST_WEIGHT_MAX)
        checks.number("seed", self.seed, 0, checks.SEED_MAX, integer=True)
        check_n_boot(self.n_boot)
        checks.text("device", self.device)

    def objective_text(self) -> str:
        return f"{self.metric}(proxy, truth) - {self.cost_weight:g} * log2(proxy FLOPs / default protocol's FLOPs), on the study's architectures"

    def settings(self) -> dict[str, Any]:
        """What a resumed calibration must share with the first run (not the device or the bootstrap)."""
        return {k: v for k, v in asdict(self).items() if k not in ("device", "data_root", "n_boot")}


TARGET_REGRET = 0.1  # points: the bar for "found the best" (a ladder's regret, calibrate --ladders and benchmarks/ladder.py)


@dataclass
class LadderChoiceConfig:
    """How candidate ladders are built, measured and chosen."""

    target_regret: float = TARGET_REGRET  # points: a ladder "finds the best" when its bootstrap mean regret is at most this
    candidates: int | None = None  # how many candidates the search climbs (the saving is projected to it); None: the calibration's count
    keeps: tuple[float, ...] = (0.5, 0.3, 0.2, 0.1, 0.05)  # middle rungs' fractions in the default grid (RESULTS §11b's)
    finals: tuple[int, ...] = (1, 2, 3)  # the full rung's counts in the default grid
    middle_rungs: int = 2  # middle rungs at most, in the default grid
    n_boot: int = CorrelateConfig.n_boot  # bootstrap resamples of the calibration architectures (correlate's default)
    seed: int = 0  # the resamples

    def validate(self) -> None:
        checks.number("target_regret", self.target_regret, 0.0, 100.0)
        if self.candidates is not None:
            checks.positive("candidates", self.candidates)
        check_n_boot(self.n_boot)
        checks.number("seed", self.seed, 0, checks.SEED_MAX, integer=True)
        checks.number("middle_rungs", self.middle_rungs, 0, 3, integer=True)


__all__ = ["COST_WEIGHT_MAX", "DEFAULT_CHOICES", "METRIC_NAMES", "TARGET_REGRET", "CalibrateConfig", "LadderChoiceConfig", "check_choices"]
