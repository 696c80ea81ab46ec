"""Small helpers shared by the stages: devices, seeds (files: :mod:`nas_proxy.files`; a file's sha256: :mod:`nas_proxy.digests`)."""

from __future__ import annotations

import hashlib

import torch

from nas_proxy.errors import InvalidArgumentError, shown
from nas_proxy.files import atomic_path, write_json  # noqa: F401 - their home was here; nas_proxy.files now

_MASK_63 = (1 << 63) - 1


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; ``cuda`` without a GPU is an error. Only CPU and
    CUDA are taken: torch names more devices (``mps``, ``xla``, ``meta``) that nasproxy's training
    does not run on, or that this torch was not built for; they would fail at the first tensor."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:  # the name first: 'cuda:', 'cuda:-1' are misspelt wherever they run
        resolved = torch.device(device)
    except RuntimeError:
        raise InvalidArgumentError(f"unknown device {shown(device)}; use auto, cpu or cuda[:N]") from None
    if resolved.type not in ("cpu", "cuda"):
        raise InvalidArgumentError(f"device {shown(device)} is not one nasproxy runs on; use auto, cpu or cuda[:N]")
    if resolved.type == "cuda":
        visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if visible == 0:
            raise InvalidArgumentError(f"device {shown(device)} was asked for but no CUDA GPU is visible; use --device cpu or auto")
        if resolved.index is not None and resolved.index >= visible:  # torch would fail at the first tensor ("invalid device ordinal")
            raise InvalidArgumentError(
                f"device {shown(device)} was asked for but {visible} CUDA GPU{'s are' if visible > 1 else ' is'} visible "
                f"(cuda:0{f' to cuda:{visible - 1}' if visible > 1 else ''}); use one of them, cuda or auto"
            )
    return resolved


def derive_seed(*parts: int | str) -> int:
    """A 63-bit seed that depends only on ``parts`` (stable across runs and machines).

    Used to give every iteration its own random stream, so that a resumed run draws exactly
    what an uninterrupted one would have drawn without saving generator states.
    """
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & _MASK_63


def generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(seed)
    return g


def package_version() -> str:
    from nas_proxy.version import __version__

    return __version__
