"""``pip config list | python scripts/uv_args.py``: pip's configuration as uv's options, one per line.

uv reads no pip configuration (pip.conf, ``PIP_*`` variables), so ``scripts/venv.sh`` hands it the
indexes, find-links and constraints pip would use; pip's certificate bundle comes out as one line
``SSL_CERT_FILE=PATH``, the variable uv reads one from. Each option once, in the order pip lists them.
"""

from __future__ import annotations

import shlex
import sys

FLAGS = {"index-url": "--index-url", "extra-index-url": "--extra-index-url", "find-links": "--find-links", "constraint": "--constraint"}


def uv_args(pip_config: str) -> list[str]:
    out: list[tuple[str, ...]] = []
    for line in pip_config.splitlines():
        key, _, value = line.strip().partition("=")
        name = key.rpartition(".")[2]  # global.find-links, :env:.find-links, install.constraint ...
        for item in " ".join(shlex.split(value)).split():  # a quoted, space-separated list
            pair = ("SSL_CERT_FILE=" + item,) if name == "cert" else (FLAGS[name], item) if name in FLAGS else ()
            if pair and pair not in out:
                out.append(pair)
    return [arg for pair in out for arg in pair]


if __name__ == "__main__":
    print("\n".join(uv_args(sys.stdin.read())))
