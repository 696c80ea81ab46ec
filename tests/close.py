"""``assert_close`` for plain CPU/GPU tensors, without torch.testing's import of torch.distributed.tensor.

torch.testing.assert_close imports torch.distributed.tensor on its first call (to unwrap a DTensor), which
costs ~1.2 CPU-s on a quiet core (2.6 on a busy one) in every process that calls it; the tests here compare
plain tensors. The same checks: shape, dtype and device equal, and |actual - expected| <= atol + rtol *
|expected| elementwise (NaNs unequal), with torch's defaults for the tolerances by dtype; numpy's
assert_allclose, which computes that very bound, reports the mismatch.
"""

from __future__ import annotations

import numpy as np
import torch

# torch.testing's defaults (rtol, atol) for the float dtypes the tests compare
_DEFAULTS = {torch.float16: (1e-3, 1e-5), torch.bfloat16: (1.6e-2, 1e-5), torch.float32: (1.3e-6, 1e-5), torch.float64: (1e-7, 1e-7)}


def assert_close(
    actual: torch.Tensor, expected: torch.Tensor, *, rtol: float | None = None, atol: float | None = None, msg: str = ""
) -> None:
    """Raise AssertionError unless ``actual`` and ``expected`` have one shape, dtype and device and are close
    elementwise (both tolerances or neither: torch's defaults for the dtype, 0 for integers and booleans)."""
    if (rtol is None) != (atol is None):
        raise ValueError("give both rtol and atol, or neither")
    prefix = f"{msg}: " if msg else ""
    assert actual.shape == expected.shape, f"{prefix}shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    assert actual.dtype == expected.dtype, f"{prefix}dtype {actual.dtype} != {expected.dtype}"
    assert actual.device == expected.device, f"{prefix}device {actual.device} != {expected.device}"
    if rtol is None or atol is None:
        rtol, atol = _DEFAULTS.get(actual.dtype, (0.0, 0.0))
    a, e = (t.detach().cpu() for t in (actual, expected))
    if a.dtype in (torch.float16, torch.bfloat16):  # numpy has no bfloat16: compared in float32, which holds both exactly
        a, e = a.float(), e.float()
    np.testing.assert_allclose(a.numpy(), e.numpy(), rtol=rtol, atol=atol, equal_nan=False, err_msg=msg)
