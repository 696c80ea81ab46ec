"""The configuration of one distillation run, and its hyper-parameters resolved once for the loop
and for ``meta.json``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

from nas_proxy import checks
from nas_proxy.distill.methods import METHODS, DistillMethod
from nas_proxy.models.convnet_spec import NORMALIZATIONS, ConvNetSpec

if TYPE_CHECKING:  # the command line reads DistillConfig's defaults without importing torch
    import torch

    from nas_proxy.augment import DSA


@dataclass
class DistillConfig:
    """Defaults follow the DataDAM paper; where its official code differs the comment says so."""

    dataset: str = "fashion-mnist"  # a registered name, or imagefolder:PATH
    data_root: str | None = None  # where the dataset files are (None: the dataset's default)
    image_size: int = 32  # image folders only: side after resize + centre crop
    ipc: int = 10  # synthetic images per class
    method: str = "datadam"  # a registered method: datadam | dm | random
    iterations: int = 8000  # paper 8000; official code 20000; DM 20000
    batch_real: int = 64  # real images per class per iteration (official DataDAM; DM uses 256)
    image_lr: float | None = None  # SGD lr on pixels; None: 1.0 for ipc <= 50, else 10.0 (paper)
    momentum: float = 0.5  # SGD momentum on pixels (paper and code)
    lambda_mmd: float | None = None  # datadam: weight of MMD; None: 0.01 up to 32 px, 0.02 above (paper)
    attention_power: float = 4.0  # datadam: p in sum_c |f_c|^p: paper 4, official code 1
    net_norm: str = "instancenorm"  # distillation ConvNet norm: paper instancenorm, official batchnorm
    net_depth: int = 3  # distillation ConvNet depth (width 128, ReLU, avg pooling as in DC)
    net_width: int = 128  # distillation ConvNet width, as in DC/DM/DataDAM
    init: str = "real"  # real: random real images of each class; noise: N(0, 1) pixels
    seed: int = 0  # drives the init, every network, every real batch and every augmentation
    split_seed: int = 0  # the validation split held out from train (never seen here)
    val_fraction: float = 0.1  # fraction of each class held out as validation
    device: str = "auto"  # auto = CUDA when present
    amp: bool = True  # bf16 autocast for the network forwards on CUDA (no effect on CPU; meta.json records what ran)
    checkpoint_every: int = 200  # iterations between checkpoints (also on Ctrl-C)
    log_every: int = 10  # iterations between loss read-backs (the only host syncs)

    def validate(self) -> None:
        """Refuse every value that cannot give a meaningful run, before anything is read or written."""
        from nas_proxy.data import DATASETS

        checks.text("dataset", self.dataset)
        DATASETS.get(self.dataset.partition(":")[0])
        checks.text("method", self.method)
        METHODS.get(self.method)
        checks.number("image_size", self.image_size, 4, integer=True)
        checks.positive("ipc", self.ipc)
        checks.number("iterations", self.iterations, 0, integer=True)
        checks.positive("batch_real", self.batch_real)
        checks.number("image_lr", self.image_lr, 0, low_open=True, optional=True)
        checks.number("momentum", self.momentum, 0, 1, high_open=True)
        checks.number("lambda_mmd", self.lambda_mmd, 0, optional=True)  # 0: attention matching alone
        checks.number("attention_power", self.attention_power, 0, low_open=True)
        checks.text("net_norm", self.net_norm, NORMALIZATIONS)
        checks.positive("net_depth", self.net_depth)
        checks.positive("net_width", self.net_width)
        checks.text("init", self.init, ("real", "noise"))
        checks.number("seed", self.seed, 0, checks.SEED_MAX, integer=True)
        checks.number("split_seed", self.split_seed, 0, checks.SEED_MAX, integer=True)
        # 0 would leave the search nothing to score candidates on
        checks.number("val_fraction", self.val_fraction, 0, 1, low_open=True, high_open=True)
        checks.text("device", self.device)
        checks.positive("checkpoint_every", self.checkpoint_every)
        checks.positive("log_every", self.log_every)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def identity(self) -> dict[str, Any]:
        """The fields that define the result; a run may resume only with the same identity.

        ``iterations`` may grow on resume (continue a finished run), and where the run
        executes (device, checkpoint cadence) does not change what it computes on one device.
        """
        d = self.to_dict()
        for k in ("iterations", "device", "checkpoint_every", "log_every", "data_root"):
            d.pop(k)
        return d


@dataclass(frozen=True)
class Resolved:
    """The hyper-parameters as the loop runs them, resolved once per run by :func:`resolve`."""

    method: DistillMethod  # the method with its own options resolved
    image_lr: float  # SGD lr on the pixels
    batch_real: int  # real images per class per iteration, at most the smallest class
    net: ConvNetSpec  # the distillation ConvNet
    dsa: DSA  # the augmentation (no flip for digit datasets)
    amp: bool  # bf16 autocast: asked for and on CUDA

    def to_dict(self) -> dict[str, Any]:
        """What ``meta.json`` records under ``config.resolved`` (``amp`` replaces the asked-for value)."""
        return {
            "image_lr": self.image_lr,
            "batch_real": self.batch_real,
            "distillation_net": str(self.net),
            "dsa_ops": list(self.dsa.ops),
            "method": self.method.options(),
        }


def resolve(config: DistillConfig, image_size: tuple[int, int], flip: bool, smallest_class: int, device: torch.device) -> Resolved:
    """Fill in every default that depends on the data or the machine."""
    from nas_proxy.augment import DSA

    return Resolved(
        method=_method(config, image_size),
        image_lr=config.image_lr if config.image_lr is not None else (1.0 if config.ipc <= 50 else 10.0),  # paper
        batch_real=min(config.batch_real, smallest_class),
        net=ConvNetSpec(config.net_depth, config.net_width, "relu", config.net_norm, "avgpooling"),
        dsa=DSA(flip),
        amp=config.amp and device.type == "cuda",
    )


def _method(config: DistillConfig, image_size: tuple[int, int]) -> DistillMethod:
    """The configured method, each option from the config field of its name (else its default)."""
    cls = METHODS.get(config.method)
    options = {f.name: getattr(config, f.name) for f in fields(cls) if hasattr(config, f.name)}
    return cls(**options).for_images(image_size)
