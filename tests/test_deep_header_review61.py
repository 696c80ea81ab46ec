"""review61: a safetensors file whose JSON header is nested deeper than Python's JSON reader recurses. ``safetensors_header``
promises a ValueError for any header that is not a safetensors one, which every caller turns into its one line ("is not
a readable safetensors file ... truncated or corrupt"); json.loads raised a RecursionError instead, which no caller
caught: a synthetic set's tensor file so made ended ``evaluate`` in "internal error: RecursionError"."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas_proxy.synthetic import safetensors_header


def test_a_header_nested_too_deep_is_a_value_error(tmp_path: Path) -> None:
    depth = 100_000  # far past any recursion limit
    header = ('{"a": ' + "[" * depth + "]" * depth + "}").encode()
    path = tmp_path / "synthetic.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header)
    with pytest.raises(ValueError, match="its header is not a JSON object"):
        safetensors_header(path)
