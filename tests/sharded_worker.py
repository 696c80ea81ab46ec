"""torchrun entry point of tests/distill/test_sharded.py: ``nasproxy distill ... --distributed`` whose rank 1
dies (``os._exit``: no checkpoint, no clean-up) at the loss read-back of iteration ``DIE_AT``, or, given ``full:N``,
finds the disk full when it writes its checkpoint of iteration N (its peers' writes succeed).

Usage: ``torchrun ... -m tests.sharded_worker DIE_AT|full:N distill ARGS...`` (PYTHONPATH holding the checkout)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from nas_proxy import cli
from nas_proxy.distill import runner, sharded
from nas_proxy.files import DiskFullError


def main() -> int:
    when, argv = sys.argv[1], sys.argv[2:]
    if when.startswith("full:"):
        write, full_at = runner.write_checkpoint, int(when.removeprefix("full:"))

        def full(out: Path, config: Any, state: Any, path: Path | None = None) -> None:
            if state.done == full_at and os.environ["RANK"] == "1":
                raise DiskFullError(path or out / "checkpoint.safetensors", None, 0)
            write(out, config, state, path)

        runner.write_checkpoint = full
        return cli.main(argv)
    die_at, distill = int(when), sharded.distill

    def dying(*args: Any, **kwargs: Any) -> Any:
        def callback(done: int, losses: dict[str, float]) -> None:
            if done == die_at and os.environ["RANK"] == "1":
                os._exit(9)  # like SIGKILL: the last periodic checkpoint is all that remains

        return distill(*args, **{**kwargs, "callback": callback})

    sharded.distill = dying
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
