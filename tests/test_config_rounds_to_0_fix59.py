"""fix59: a ``--config`` (or preset) float that rounds to 0 ('lambda_mmd = 1e-400', which TOML reads as 0.0) was refused
without its key, "--config c.toml: the number '1e-400' rounds to 0", since tomllib gives its float parser the text
alone. The message names the table and the key (an array's item by its index), the first such number in the file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nas_proxy.configs import read
from nas_proxy.errors import InvalidArgumentError

TINY = "the number '1e-400' rounds to 0: write 0, or a number of at least 2.2e-308 in magnitude"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("[distill]\nipc = 1\nlambda_mmd = 1e-400\n", "[distill]: lambda_mmd"),
        ("timeout = 1e-400\n", ": timeout"),  # a key outside every table
        ("[search.proxy]\nepochs = 1\nlr = 1e-400\n", "[search.proxy]: lr"),
        ("[search]\nlrs = [0.1, [0.2, 1e-400]]\n", "[search]: lrs[1][1]"),
        ("search = {proxy = {lr = 1e-400}}\n", "[search.proxy]: lr"),  # inline tables
        ("[search]\nx = [{lr = 0.1}, {proxy = {lr = 1e-400}}]\n", "[search]: x[1].proxy.lr"),  # tables inside an array
        ('[distill]\n"odd key" = 1e-400\n', "[distill]: 'odd key'"),  # a key that is no bare TOML key: quoted
        ("[a]\nx = 1e-400\n[b]\ny = -1e-400\n", "[a]: x"),  # the first in the file
    ],
)
def test_a_float_that_rounds_to_0_names_its_key(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidArgumentError, match="^" + re.escape(f"--config {path} {where}: {TINY}".replace(" :", ":")) + "$"):
        read(path)


def test_zero_and_small_numbers_are_read(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[distill]\nlambda_mmd = 0.0\nimage_lr = 1e-300\nlrs = [-0.0, 2.3e-308]\n", encoding="utf-8")
    assert read(path) == {"distill": {"lambda_mmd": 0.0, "image_lr": 1e-300, "lrs": [-0.0, 2.3e-308]}}
