"""The resolved configuration of a search, stored in the study so that any worker can join it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from nas_proxy import checks
from nas_proxy.errors import InvalidArgumentError, shown
from nas_proxy.protocols import DEFAULT_PROTOCOL, TRAINING_PROTOCOLS, GroundTruthConfig, ProxyConfig
from nas_proxy.registry import Registry

if TYPE_CHECKING:  # the factories import Optuna when called: the command line needs only their names
    import optuna


@dataclass(frozen=True)
class Objective:
    """What a search optimises besides (after) the proxy's accuracy."""

    direction: str  # an Optuna StudyDirection's name (MAXIMIZE, MINIMIZE): Optuna is not imported to name it
    metric: str  # the study's name for it (Optuna's metric names, shown by the dashboard)


OBJECTIVES: Registry[Objective] = Registry("objective")
OBJECTIVES.add("accuracy", Objective("MAXIMIZE", "val_accuracy"))  # the proxy trial's validation accuracy
OBJECTIVES.add("params", Objective("MINIMIZE", "params"))
OBJECTIVES.add("flops", Objective("MINIMIZE", "flops"))  # forward FLOPs of one image

SAMPLERS: Registry[Callable[[int, int], optuna.samplers.BaseSampler]] = Registry("sampler")
PRUNERS: Registry[Callable[[ProxyConfig], optuna.pruners.BasePruner]] = Registry("pruner")


@SAMPLERS.register("tpe")
def _tpe(seed: int, n_objectives: int) -> optuna.samplers.BaseSampler:
    import optuna

    # multivariate + group model the joint (and conditional) parameters; the constant liar keeps
    # parallel workers from proposing the same candidate while others are still training
    return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True)


@SAMPLERS.register("random")
def _random(seed: int, n_objectives: int) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.RandomSampler(seed=seed)


@SAMPLERS.register("bruteforce")
def _bruteforce(seed: int, n_objectives: int) -> optuna.samplers.BaseSampler:
    import optuna

    from nas_proxy.studies.requeue import DRAWN_MARK, cut_short

    base = optuna.samplers.BruteForceSampler

    class BruteForce(base):  # type: ignore[misc,valid-type]
        """Optuna's, blind to finished trials that never drew a candidate (a Ctrl-C before sampling, a
        trial refused beyond the budget): in Optuna 5.1 one such trial makes the sampler take the whole
        space as tried, and a resumed search stops at once (optuna issue #5097). Blind too to a finished trial
        whose draw was cut short (``requeue.cut_draw``: a kill between two of its parameters' writes): Optuna took
        the subtree below its parameters as tried, and a search on convnet-small never trained its two
        ``depth=1`` architectures and trained two others twice (drill58)."""

        _study: Any = None  # the study sampled: cut_draw reads its mark of a whole draw
        # the trial ending (after_trial): Optuna's after_trial gives _populate_tree a bare copy of it (number -1, its
        # parameters and state, no attributes), which read as a draw cut short: its candidate stayed untried, and the
        # sampler's study.stop() came a trial late, after a repeat (review59)
        _ending: Any = None

        def sample_independent(self, study: Any, trial: Any, *rest: Any) -> Any:
            self._study = study
            return super().sample_independent(study, trial, *rest)

        def after_trial(self, study: Any, trial: Any, *rest: Any) -> None:
            self._study, self._ending = study, trial
            super().after_trial(study, trial, *rest)

        def _populate_tree(self, tree: Any, trials: list[Any], *rest: Any) -> Any:
            mark = None if self._study is None else self._study.user_attrs.get(DRAWN_MARK)  # read once: a query on a database

            def tried(t: Any) -> bool:
                if not t.state.is_finished():
                    return True
                drawn = self._ending if t.number < 0 and self._ending is not None else t  # (the bare copy: the trial's attributes)
                return bool(t.params) and not cut_short(mark, drawn)

            return base._populate_tree(tree, [t for t in trials if tried(t)], *rest)

    return BruteForce(seed=seed)


@SAMPLERS.register("nsga2")
def _nsga2(seed: int, n_objectives: int) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.NSGAIISampler(seed=seed)


@SAMPLERS.register("gp")
def _gp(seed: int, n_objectives: int) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.GPSampler(seed=seed)


@PRUNERS.register("none")
def _no_pruner(proxy: ProxyConfig) -> optuna.pruners.BasePruner:
    import optuna

    return optuna.pruners.NopPruner()


@PRUNERS.register("median")
def _median(proxy: ProxyConfig) -> optuna.pruners.BasePruner:
    import optuna

    # judge a trial only after 5 complete ones and from its second report on (steps are epochs)
    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=proxy.report_every + 1)


@PRUNERS.register("hyperband")
def _hyperband(proxy: ProxyConfig) -> optuna.pruners.BasePruner:
    import optuna

    return optuna.pruners.HyperbandPruner(min_resource=proxy.report_every, max_resource=proxy.epochs)


@dataclass
class SearchConfig:
    """Everything that defines what a study searches and how candidates are scored."""

    synthetic: str | None  # the synthetic-set directory made by `nasproxy distill`; None: a proxy on `dataset`
    space: str  # a registered space name or a space file path
    objectives: list[str] = field(default_factory=lambda: ["accuracy"])  # accuracy[,params|flops]
    sampler: str = "tpe"  # Optuna's default sampler, here multivariate + grouped (see _tpe)
    pruner: str = "median"  # forced to none with several objectives (Optuna cannot prune those)
    max_params: int | None = None  # candidates above this are skipped (pruned) before training
    seed: int = 0  # sampler seed (worker k uses seed + k) and proxy-training seed
    device: str = "auto"  # CUDA when present
    data_root: str | None = None  # where the real data is, when not where distill found it
    proxy: ProxyConfig = field(default_factory=ProxyConfig)  # how a synthetic-set proxy trains (sets, random subsets)
    # the proxy registry's member that scores every trial (datadam-ipc10, random-ipc10, early@1ep, synflow);
    # None: the `synthetic` set's own proxy
    proxy_name: str | None = None
    dataset: str | None = None  # the real data of a proxy that uses no distilled set (default split); None: the set's
    # a fidelity ladder climbed in this study ("random-ipc10:1.0,early@1ep:0.2,full:3", nas_proxy.ladders): its
    # first rung is the proxy of every candidate, the best climb; None: one proxy, no ladder
    ladder: str | None = None

    def validate(self) -> None:
        if not isinstance(self.objectives, list) or not all(isinstance(o, str) for o in self.objectives):
            raise InvalidArgumentError(f"objectives must be a list of names such as ['accuracy', 'params'], got {shown(self.objectives)}")
        checks.text("sampler", self.sampler)
        checks.text("pruner", self.pruner)
        if not self.objectives or self.objectives[0] != "accuracy":
            raise InvalidArgumentError(
                f"the first objective must be accuracy, got {shown(','.join(self.objectives)) if self.objectives else 'none'}"
            )
        checks.distinct("objectives", self.objectives)
        unknown = [o for o in self.objectives if o not in OBJECTIVES]
        if unknown:
            raise InvalidArgumentError(
                f"objectives are accuracy followed by any of params, flops (no repeats); got {shown(','.join(self.objectives))}"
            )
        SAMPLERS.get(self.sampler)
        PRUNERS.get(self.pruner)
        if len(self.objectives) > 1 and self.pruner != "none":
            raise InvalidArgumentError("Optuna cannot prune multi-objective studies: use --pruner none with several objectives")
        checks.positive("--max-params", self.max_params, optional=True)
        checks.number("seed", self.seed, 0, checks.SEED_MAX, integer=True)
        for name, value in (("synthetic", self.synthetic), ("--proxy", self.proxy_name), ("--dataset", self.dataset)):
            if value is not None:
                checks.text(name, value)
        if self.ladder is not None:
            from nas_proxy.ladders import parse_ladder

            checks.text("--ladder", self.ladder)
            parse_ladder(self.ladder)
        checks.text("space", self.space)
        checks.text("device", self.device)
        self.proxy.validate()

    @property
    def directions(self) -> list[optuna.study.StudyDirection]:
        import optuna

        return [optuna.study.StudyDirection[OBJECTIVES.get(o).direction] for o in self.objectives]

    def to_dict(self) -> dict[str, Any]:
        """The fields; ``proxy_name``, ``dataset`` and ``ladder`` only when set, so that a search on a
        set alone stores the settings it stored before they existed."""
        d = asdict(self)
        for key in ("proxy_name", "dataset", "ladder"):
            if d[key] is None:
                del d[key]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SearchConfig:
        d = dict(d)
        d["proxy"] = ProxyConfig(**d.get("proxy", {}))
        return cls(**d)


def promotion_epochs(promote_epochs: int | None) -> int:
    """Epochs of each promoted training: ``promote_epochs`` (``SearchBudget``), else the ground truth's."""
    return GroundTruthConfig.epochs if promote_epochs is None else promote_epochs


def default_pruner(objectives: list[str] | None) -> str:
    """The pruner of a search that names none: the field's default (:attr:`SearchConfig.pruner`),
    or none with several objectives (Optuna cannot prune those)."""
    return SearchConfig.pruner if objectives is None or len(objectives) == 1 else "none"


@dataclass(frozen=True)
class TrainBestConfig:
    """What ``nasproxy train`` trains (:func:`nas_proxy.search.winner.train_best`) (table ``[train]`` of ``--config``)."""

    epochs: int = GroundTruthConfig().epochs  # on the whole training set: the ground truth's (benchmarks/RESULTS.md §5)
    protocol: str = DEFAULT_PROTOCOL  # how it is trained: a name of protocols.TRAINING_PROTOCOLS (the ground truth's: standard)
    rank: int = 1  # which architecture of best.json's list; 1: the search's pick
    seed: int = 0  # seeds the initialisation and the batch order, as every other stage
    device: str = "auto"  # CUDA when present
    data_root: str | None = None  # None: where the synthetic set's distillation found the data, else the dataset's default

    def validate(self) -> None:
        checks.epochs("--epochs", self.epochs)
        checks.text("--protocol", self.protocol, TRAINING_PROTOCOLS.names())
        checks.number("--rank", self.rank, 1, checks.INT_MAX, integer=True)
        checks.number("--seed", self.seed, 0, checks.SEED_MAX, integer=True)
        from nas_proxy.utils import resolve_device  # torch: not while the command line is parsed

        resolve_device(self.device)


@dataclass
class DashboardOptions:
    """Where optuna-dashboard listens (``nasproxy dashboard``, :func:`nas_proxy.search.dashboard.serve`)."""

    host: str = "127.0.0.1"  # this machine only; the dashboard has no authentication
    port: int = 8080  # optuna-dashboard's own default
