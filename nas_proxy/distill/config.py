"""The resolved configuration of one distillation run, saved in every artifact."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from nas_proxy import checks
from nas_proxy.models.convnet import NORMALIZATIONS


@dataclass
class DistillConfig:
    """Defaults follow the DataDAM paper; where its official code differs the comment says so."""

    dataset: str = "fashion-mnist"  # a registered name, or imagefolder:PATH
    data_root: str | None = None  # where the dataset files are (None: the dataset's default)
    image_size: int = 32  # image folders only: side after resize + centre crop
    ipc: int = 10  # synthetic images per class
    method: str = "datadam"  # datadam | dm | random
    iterations: int = 8000  # paper 8000; official code 20000; DM 20000
    batch_real: int = 64  # real images per class per iteration (official DataDAM; DM uses 256)
    image_lr: float | None = None  # SGD lr on pixels; None: 1.0 for ipc <= 50, else 10.0 (paper)
    momentum: float = 0.5  # SGD momentum on pixels (paper and code)
    lambda_mmd: float | None = None  # weight of MMD; None: 0.01 up to 32 px, 0.02 above (paper)
    attention_power: float = 4.0  # p in sum_c |f_c|^p: paper 4, official code 1
    net_norm: str = "instancenorm"  # distillation ConvNet norm: paper instancenorm, official batchnorm
    net_depth: int = 3  # distillation ConvNet depth (width 128, ReLU, avg pooling as in DC)
    net_width: int = 128  # distillation ConvNet width, as in DC/DM/DataDAM
    init: str = "real"  # real: random real images of each class; noise: N(0, 1) pixels
    seed: int = 0  # drives the init, every network, every real batch and every augmentation
    split_seed: int = 0  # the validation split held out from train (never seen here)
    val_fraction: float = 0.1  # fraction of each class held out as validation
    device: str = "auto"  # auto = CUDA when present
    amp: bool = True  # bf16 autocast for the network forwards on CUDA (no effect on CPU)
    checkpoint_every: int = 200  # iterations between checkpoints (also on Ctrl-C)
    log_every: int = 10  # iterations between loss read-backs (the only host syncs)

    def resolved_image_lr(self) -> float:
        return self.image_lr if self.image_lr is not None else (1.0 if self.ipc <= 50 else 10.0)

    def resolved_lambda(self, image_size: tuple[int, int]) -> float:
        return self.lambda_mmd if self.lambda_mmd is not None else (0.01 if max(image_size) <= 32 else 0.02)

    def validate(self) -> None:
        """Refuse every value that cannot give a meaningful run, before anything is read or written."""
        from nas_proxy.data import DATASETS
        from nas_proxy.distill.methods import METHODS

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
