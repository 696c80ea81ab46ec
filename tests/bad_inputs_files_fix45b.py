"""The bad input files of branch fix45b's cases (``tests/bad_inputs.py``, ``FIX45B``), written into the same
workspace: folders holding a model that ``nasproxy train`` did not write (another project's safetensors
weights; a TorchScript file alone), which ``train --out`` replaced before."""

from __future__ import annotations

from pathlib import Path


def build_fix45b(root: Path) -> None:
    """Add fix45b's inputs to the workspace ``root``."""
    import torch
    from safetensors.torch import save

    (root / "foreign-model").mkdir()
    (root / "foreign-model" / "model.safetensors").write_bytes(save({"encoder.weight": torch.zeros(4, 4)}))
    (root / "foreign-pt").mkdir()
    (root / "foreign-pt" / "model.pt").write_bytes(b"PK\x03\x04 another project's TorchScript")
