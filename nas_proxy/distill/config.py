"""The resolved configuration of one distillation run, saved in every artifact."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from nas_proxy.errors import InvalidArgumentError
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
    net_width: int = 128
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
        checks = [
            (self.ipc >= 1, f"ipc must be at least 1, got {self.ipc}"),
            (self.iterations >= 0, f"iterations must be >= 0, got {self.iterations}"),
            (self.batch_real >= 1, f"batch_real must be >= 1, got {self.batch_real}"),
            (self.init in ("real", "noise"), f"init must be real or noise, got {self.init!r}"),
            (self.net_norm in NORMALIZATIONS, f"net_norm must be one of {', '.join(NORMALIZATIONS)}, got {self.net_norm!r}"),
            (self.attention_power > 0, f"attention_power must be > 0, got {self.attention_power}"),
            (self.image_lr is None or self.image_lr > 0, f"image_lr must be > 0, got {self.image_lr}"),
            (0 <= self.momentum < 1, f"momentum must be in [0, 1), got {self.momentum}"),
            (self.checkpoint_every >= 1 and self.log_every >= 1, "checkpoint_every and log_every must be >= 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise InvalidArgumentError(message)

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
