"""The configuration of one distillation run, and its hyper-parameters resolved once for the loop
and for ``meta.json``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from nas_proxy import checks
from nas_proxy.distill.methods import METHODS, DistillMethod
from nas_proxy.errors import InvalidArgumentError
from nas_proxy.models.convnet_spec import NORMALIZATIONS, ConvNetSpec
from nas_proxy.protocols import IMAGE_SIZE_MAX, DataRef, reads_no_root

if TYPE_CHECKING:  # the command line reads DistillConfig's defaults without importing torch
    import torch

    from nas_proxy.augment import DSA
    from nas_proxy.spaces import DeclaredSpace

# the soft labels' temperature: below 0.01 they are one-hot to float32's precision where two logits differ by 1
# (e^-100 ~ 4e-44; logits / 1e-38 overflow, and the labels are NaN); above 100, logits 10 apart give
# probabilities within 10 % of each other: labels near uniform, whatever the teachers learnt
TEMPERATURE_RANGE = (0.01, 100.0)
# largest DataDAM MMD weight, 10,000 times the paper's 0.01: at 1 the MMD term already outweighs attention matching about
# 1,000 to 1 (digits: loss 4.8e4 against 30 at 0), so far above it attention matching no longer steers (--method dm is
# MMD alone) and the loss overflows (1e308: inf at iteration 0, a checkpointed run to --force: stop 47)
LAMBDA_MMD_MAX = 100.0
ATTENTION_POWER_MAX = 8.0  # largest p of DataDAM's attention maps |f|^p (twice the paper's 4): see DistillConfig.validate
# DistillConfig.batchnorm_stats: the statistics that normalise the synthetic batch (distill/batchnorm.py)
BATCHNORM_RULES = ("real", "own")
DEFAULT_TEACHER_SPACE = "convnet720"  # soft labels: teachers' space when the set names no distillation space
# SoftLabelConfig's teacher options and their flags (nas_proxy/cli/soft_labels.py), for its one-line errors
TEACHER_FLAGS = {
    "space": "--teacher-space",
    "epochs": "--teacher-epochs",
    "images": "--teacher-images",
    "temperature": "--temperature",
    "cache": "--teacher-dir",
}
# DistillConfig fields that act only on a method that optimises (a random subset is drawn, not learned)
OPTIMISATION = (
    "iterations",
    "batch_real",
    "image_lr",
    "momentum",
    "net_norm",
    "net_depth",
    "net_width",
    "nets",
    "batchnorm_stats",
    "real_per_class",
)


@dataclass
class SoftLabelConfig:
    """Soft labels from an ensemble of teachers (table ``[distill.soft_labels]``); ``teachers = 0``: none.

    How they are made: :mod:`nas_proxy.distill.soft_labels` (here so that the command line reads the
    defaults without importing torch)."""

    teachers: int = 0  # N teacher networks (0: hard labels only); Qin et al.: ensembles label best
    space: str | None = None  # where teachers are drawn; None: the set's distillation space ("nets"), else convnet720
    epochs: int = 2  # each teacher's epochs on its real images (SGD lr 0.01, momentum 0.9, batch 256, no augmentation)
    images: int | None = None  # real training images per teacher (stratified, seeded); None: the whole training split
    temperature: float = 1.0  # labels are softmax(logits / temperature), averaged over teachers; 1: the teachers' own
    cache: str | None = None  # directory of trained teachers (shareable between sets); None: SET/teachers

    def validate(self) -> None:
        checks.number("soft-label teachers", self.teachers, 0, integer=True)
        checks.epochs("teacher epochs", self.epochs)
        checks.number("teacher images", self.images, 1, integer=True, optional=True)
        checks.number("temperature", self.temperature, *TEMPERATURE_RANGE)
        if self.space is not None and self.teachers > 0:  # before a long distillation, not after it
            from nas_proxy.spaces import get_space

            checks.text("teacher space", self.space)
            get_space(self.space)
        if self.cache is not None:
            checks.text("teacher cache", self.cache)
            if checks.status("--teacher-dir", self.cache) is not None:  # a file in the way: refused before any training
                checks.existing_dir("--teacher-dir", self.cache)
                checks.not_a_synthetic_set(
                    "--teacher-dir", self.cache, inside=False
                )  # teachers among a set's files (its teachers/ may hold them)

    def idle_options(self) -> dict[str, str]:
        """Without teachers, the teachers' options change nothing (``configs.build`` refuses them)."""
        if self.teachers != 0:  # a negative count is refused by validate, naming it (not its idle options)
            return {}
        return {
            name: f"{flag} ({name}) changes nothing without teachers (--soft-labels N): drop it" for name, flag in TEACHER_FLAGS.items()
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def identity(self) -> dict[str, Any]:
        """The fields that decide the labels (not where the teachers are cached)."""
        d = self.to_dict()
        del d["cache"]
        return d


@dataclass
class DistillConfig:
    """Defaults follow the official DataDAM code, the best recipe measured (RESULTS.md §19: Spearman
    0.871 against the paper's 0.735 on 70 held-out architectures); the comments name the paper's values."""

    dataset: str = "fashion-mnist"  # a registered name, or imagefolder:PATH
    data_root: str | None = None  # where the dataset files are (None: the dataset's default)
    image_size: int = DataRef.image_size  # image folders only: side after resize + centre crop
    ipc: int = 10  # synthetic images per class
    method: str = "datadam"  # a registered method: datadam | dm | random
    iterations: int = 20000  # the official DataDAM and DM code's count (the paper's is 8,000)
    batch_real: int = 64  # real images per class per iteration (official DataDAM; DM uses 256)
    # SGD lr on pixels; None: 1.0 for ipc <= 50, else 10.0 (paper); with nets, 100x that, as each
    # iteration then descends log(loss) (see Resolved.image_lr)
    image_lr: float | None = None
    momentum: float = 0.5  # SGD momentum on pixels (paper and code)
    lambda_mmd: float | None = None  # datadam: weight of MMD; None: 0.01 up to 32 px, 0.02 above (paper)
    # datadam: p in sum_c |f_c|^p: the official code's 1, measured best (RESULTS.md §19); the paper's 4 still available
    attention_power: float = 1.0
    # distillation ConvNet norm; None: the method's own (DistillMethod.net_norm: DataDAM batchnorm, the
    # official code's, measured best in RESULTS.md §19, the paper's instancenorm; DM instancenorm, its paper's and code's)
    net_norm: str | None = None
    net_depth: int = 3  # distillation ConvNet depth (width 128, ReLU, avg pooling as in DC)
    net_width: int = 128  # distillation ConvNet width, as in DC/DM/DataDAM
    # a search space (registered name or file) whose members are drawn as the distillation network,
    # one per iteration, stratified (distill/nets.py); None: the one ConvNet of net_norm/net_depth/net_width
    nets: str | None = None
    # batch-norm networks: "real" normalises the synthetic batch with the real batch's statistics (DC's
    # rule), "own" each batch with its own (the official DataDAM/DM code); why: distill/batchnorm.py.
    # None: "own" with the one ConvNet (the official code's rule, as measured in RESULTS.md §19), "real"
    # with nets (the space-aware rule as measured)
    batchnorm_stats: str | None = None
    real_per_class: int = 0  # hybrid: of the ipc images per class, this many stay real (the random subset's), never optimised
    # selection by ranking: calibration architectures with ground truth (a ground-truth table CSV, or an
    # architectures file whose entries carry "accuracy"); the set kept is the scored one that ranks them
    # best (Spearman of proxy scores on the validation split vs their accuracy). None: keep the last.
    select_by: str | None = None
    select_every: int = 500  # iterations between selection scores (iteration 0 and the last are scored too)
    select_space: str = "convnet720"  # the space the select_by architectures belong to
    select_epochs: int | None = None  # proxy epochs of each calibration training; None: the proxy's own default (50)
    select_archs: int | None = None  # score a seeded subset of this many calibration architectures (>= 3); None: all
    select_max_mflops: float | None = None  # leave out calibration architectures above this many forward MFLOPs per image; None: none
    init: str = "real"  # real: random real images of each class; noise: N(0, 1) pixels
    seed: int = 0  # drives the init, every network, every real batch and every augmentation
    split_seed: int = DataRef.split_seed  # the validation split held out from train (never seen here)
    val_fraction: float = DataRef.val_fraction  # fraction of each class held out as validation
    device: str = "auto"  # auto = CUDA when present
    amp: bool = True  # bf16 autocast for the network forwards on CUDA (no effect on CPU; meta.json records what ran)
    checkpoint_every: int = 200  # iterations between checkpoints (also on Ctrl-C)
    log_every: int = 10  # iterations between loss read-backs (the only host syncs)
    soft_labels: SoftLabelConfig = field(default_factory=SoftLabelConfig)  # teachers' labels, after the loop (none by default)

    def validate(self) -> None:
        """Refuse every value that cannot give a meaningful run, before anything is read or written."""
        from nas_proxy.data import dataset_kind
        from nas_proxy.spaces import get_space

        checks.text("dataset", self.dataset)
        dataset_kind(self.dataset)
        checks.text("method", self.method)
        METHODS.get(self.method)
        checks.number("image_size", self.image_size, 4, IMAGE_SIZE_MAX, integer=True)
        checks.positive("ipc", self.ipc)
        checks.count("iterations", self.iterations, checks.ITERATIONS_MAX, checks.ITERATIONS_WHY, low=0)
        checks.positive("batch_real", self.batch_real)
        checks.number("image_lr", self.image_lr, 0, low_open=True, optional=True)
        checks.number("momentum", self.momentum, 0, 1, high_open=True)
        checks.number("lambda_mmd", self.lambda_mmd, 0, LAMBDA_MMD_MAX, optional=True)  # 0: attention matching alone
        # p of |f|^p: the paper's 4 and the code's 1 are the values used; far above, the maps overflow float32 (inf, then NaN)
        checks.number("attention_power", self.attention_power, 0, ATTENTION_POWER_MAX, low_open=True)
        if self.net_norm is not None:
            checks.text("net_norm", self.net_norm, NORMALIZATIONS)
        checks.positive("net_depth", self.net_depth)
        checks.positive("net_width", self.net_width)
        checks.text("init", self.init, ("real", "noise"))
        if self.nets is not None:
            checks.text("nets", self.nets)
            get_space(self.nets)  # an unknown name or a broken file, before anything runs
        if self.batchnorm_stats is not None:
            checks.text("batchnorm_stats", self.batchnorm_stats, BATCHNORM_RULES)
        checks.number("real_per_class", self.real_per_class, 0, self.ipc, integer=True)
        if self.select_by is not None:
            checks.existing_file("select_by", self.select_by)
            if not METHODS.get(self.method).optimises:
                raise InvalidArgumentError(f"select_by keeps the best-ranking iteration; method {self.method!r} has none: drop select_by")
        checks.positive("select_every", self.select_every)
        checks.text("select_space", self.select_space)
        checks.epochs("select_epochs", self.select_epochs, optional=True)
        checks.number("select_archs", self.select_archs, 3, integer=True, optional=True)  # a rank correlation needs 3
        checks.number("select_max_mflops", self.select_max_mflops, 0, low_open=True, optional=True)
        checks.number("seed", self.seed, 0, checks.SEED_MAX, integer=True)
        checks.number("split_seed", self.split_seed, 0, checks.SEED_MAX, integer=True)
        # 0 would leave the search nothing to score candidates on
        checks.number("val_fraction", self.val_fraction, 0, 1, low_open=True, high_open=True)
        checks.text("device", self.device)
        checks.positive("checkpoint_every", self.checkpoint_every)
        checks.positive("log_every", self.log_every)
        self.soft_labels.validate()

    def idle_options(self) -> dict[str, str]:
        """The fields that change nothing in this configuration, each with its one-line error
        (``configs.build`` refuses them when asked for: an option silently ignored is a run the user
        did not ask for)."""
        if self.method not in METHODS.names():
            return {}  # validate() names the unknown method
        method = METHODS.get(self.method)
        why: dict[str, str] = {}
        own = {f.name for f in fields(method)}
        for name in METHODS.names():  # a method's options are the fields of its class (distill/methods.py)
            for f in fields(METHODS.get(name)):
                if f.name not in own:
                    why.setdefault(f.name, f"with method {self.method} (it is an option of method {name})")
        if not method.optimises:
            why.update(dict.fromkeys(OPTIMISATION, f"with method {self.method}, which optimises nothing"))
        if self.select_by is None:  # every select_* option is select_by's
            for name in (f.name for f in fields(self) if f.name.startswith("select_") and f.name != "select_by"):
                why.setdefault(name, "without select_by (--select-by FILE)")
        if self.nets is not None:
            for name in ("net_norm", "net_depth", "net_width"):
                why.setdefault(name, "with nets (each iteration's network is drawn from the space)")
        elif self.distill_norm() != "batchnorm":
            why.setdefault("batchnorm_stats", "without a batch-norm network (net_norm batchnorm, or nets)")
        if isinstance(self.dataset, str) and self.dataset.partition(":")[0] != "imagefolder":  # the others keep their size
            why.setdefault("image_size", f"with dataset {self.dataset} (it resizes image folders only, imagefolder:DIR)")
        if isinstance(self.dataset, str) and (where := reads_no_root(self.dataset)) is not None:
            why.setdefault("data_root", f"with dataset {self.dataset} ({where})")
        return {name: f"{name} changes nothing {reason}: drop it" for name, reason in why.items()}

    def distill_norm(self) -> str:
        """``net_norm`` resolved: None is the norm of the method's own distillation network
        (``DistillMethod.net_norm``). The one place this default is decided."""
        if self.net_norm is not None:
            return self.net_norm
        return METHODS.get(self.method).net_norm if self.method in METHODS.names() else DistillMethod.net_norm

    def batchnorm_rule(self) -> str:
        """``batchnorm_stats`` resolved: None is "real" with ``nets`` (the space-aware rule as measured,
        why: distill/batchnorm.py) and "own" with the one ConvNet (the official code's). The one place
        this default is decided; it acts only on batch-norm networks."""
        if self.batchnorm_stats is not None:
            return self.batchnorm_stats
        return "real" if self.nets is not None else "own"

    def resolved(self) -> DistillConfig:
        """This config with ``net_norm`` and ``batchnorm_stats`` resolved (what ``meta.json`` records);
        either stays None where it is idle (:meth:`idle_options`): an instance-norm run has no batch-norm
        rule, a run through ``nets`` no one norm."""
        idle = self.idle_options()
        return replace(
            self,
            net_norm=None if "net_norm" in idle else self.distill_norm(),
            batchnorm_stats=None if "batchnorm_stats" in idle else self.batchnorm_rule(),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def identity(self) -> dict[str, Any]:
        """The fields that define the result, resolved (:meth:`resolved`: a value given equal to its
        default is the same run); a run may resume only with the same identity.

        ``iterations`` may grow on resume (continue a finished run), and where the run
        executes (device, checkpoint cadence) does not change what it computes on one device.
        Soft labels are made after the loop from the finished images: resuming may add or change them.
        The fields idle in this configuration (:meth:`idle_options`) change nothing and are left out.
        """
        d = self.resolved().to_dict()
        for k in ("iterations", "device", "checkpoint_every", "log_every", "data_root", "soft_labels", *self.idle_options()):
            d.pop(k, None)
        return d

    def differences(self, recorded: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
        """The fields of ``recorded`` (a checkpoint's :meth:`identity`) that this config sets otherwise, each as
        (there, now): what the user changed. Left out: the fields idle now (a checkpoint of an older version
        stored every field), and a default left unset that only follows another field that differs
        (``batchnorm_stats`` follows ``nets``, ``net_norm`` follows ``method``): put that field back as it was
        there, and the default is what was recorded. Empty only when the run may resume."""
        now, idle = self.identity(), self.idle_options()
        differ = {k: (v, now.get(k)) for k, v in recorded.items() if k not in idle and now.get(k) != v}
        names = {f.name for f in fields(self)}
        follows = set()
        for key in differ:
            if key not in names or getattr(self, key) is not None:  # given now: the user's own change
                continue
            causes = {k: there for k, (there, _) in differ.items() if k != key and k in names}
            if causes and replace(self, **causes).identity().get(key) == differ[key][0]:
                follows.add(key)
        # never all of them: two unset fields that would each follow the other are both the user's
        return {k: v for k, v in differ.items() if k not in follows} or differ


@dataclass(frozen=True)
class Resolved:
    """The hyper-parameters as the loop runs them, resolved once per run by :func:`resolve`."""

    method: DistillMethod  # the method with its own options resolved
    # SGD lr on the pixels. With a space (``nets``) each iteration's gradient is that of loss / loss.detach()
    # (of log loss): members' losses differ by 10^4 (no pooling: an embedding 16-64x larger; sigmoid:
    # 100x smaller), so a raw sum would let a few members take every step. The default is then 100x
    # the paper's, the paper's first step on ConvNet-3 (loss ~100-170 at iteration 0 on Fashion-MNIST);
    # untuned beyond that.
    image_lr: float
    batch_real: int  # real images per class per iteration, at most the smallest class
    net: ConvNetSpec  # the distillation ConvNet
    dsa: DSA  # the augmentation (no flip for digit datasets)
    amp: bool  # bf16 autocast: asked for and on CUDA
    space: DeclaredSpace | None = None  # the space each iteration's network is drawn from (None: ``net`` always)

    def to_dict(self) -> dict[str, Any]:
        """What ``meta.json`` records under ``config.resolved`` (``amp`` replaces the asked-for value)."""
        resolved: dict[str, Any] = {
            "image_lr": self.image_lr,
            "batch_real": self.batch_real,
            "distillation_net": str(self.net) if self.space is None else f"drawn from space {self.space.name}",
            "dsa_ops": list(self.dsa.ops),
            "method": self.method.options(),
        }
        if self.space is not None:
            from nas_proxy.distill.nets import SAMPLING

            resolved["nets"] = {"space": self.space.describe(), "sampling": SAMPLING}
        return resolved


def check_ipc(ipc: int, smallest: int, dataset: str) -> None:
    """Refuse ``ipc`` images per class that a distillation split whose smallest class holds ``smallest`` images cannot
    give: distill's own check, and a random subset's before anything is drawn (a search ladder checks every rung's
    before its first draws)."""
    if ipc > smallest:
        raise InvalidArgumentError(
            f"ipc must be between 1 and {smallest} (the smallest class of {dataset}'s distillation split), got {ipc}"
        )


def check_batch_real(batch_real: int, smallest: int, dataset: str) -> None:
    """Say that a ``batch_real`` the user set above the ``smallest`` class of the distillation split is capped to it: each
    iteration draws at most that many real images of a class (before probe58, ``--batch-real 1000000000`` ran with 104,
    saying nothing). The rule of every batch (:func:`nas_proxy.checks.batch`); ``meta.json`` records the batch used
    (``config.resolved.batch_real``)."""
    checks.batch(
        "batch_real",
        batch_real,
        smallest,
        f"images of the smallest class of {dataset}'s distillation split",
        DistillConfig.batch_real,
        f"each iteration draws at most {smallest} real images of a class",
    )


def resolve(
    config: DistillConfig,
    image_size: tuple[int, int],
    flip: bool,
    smallest_class: int,
    device: torch.device,
    space: DeclaredSpace | None = None,
) -> Resolved:
    """Fill in every default that depends on the data or the machine; ``space``: ``config.nets``
    opened and checked for this data (:func:`nas_proxy.distill.nets.open_space`)."""
    from nas_proxy.augment import DSA

    return Resolved(
        method=_method(config, image_size),
        image_lr=config.image_lr if config.image_lr is not None else (1.0 if config.ipc <= 50 else 10.0) * (1 if space is None else 100),
        batch_real=min(config.batch_real, smallest_class),
        net=ConvNetSpec(config.net_depth, config.net_width, "relu", config.distill_norm(), "avgpooling"),
        dsa=DSA(flip),
        amp=config.amp and device.type == "cuda",
        space=space,
    )


def _method(config: DistillConfig, image_size: tuple[int, int]) -> DistillMethod:
    """The configured method, each option from the config field of its name (else its default)."""
    cls = METHODS.get(config.method)
    options = {f.name: getattr(config, f.name) for f in fields(cls) if hasattr(config, f.name)}
    return cls(**options).for_images(image_size)
