"""torchrun entry point of tests/distill/test_sharded.py: ``nasproxy distill ... --distributed`` whose rank 1
dies (``os._exit``: no checkpoint, no clean-up) at the loss read-back of iteration ``DIE_AT``.

Usage: ``torchrun ... -m tests.sharded_worker DIE_AT distill ARGS...`` (PYTHONPATH holding the checkout)
"""

from __future__ import annotations

import os
import sys
from typing import Any

from nas_proxy import cli
from nas_proxy.distill import sharded


def main() -> int:
    die_at, argv = int(sys.argv[1]), sys.argv[2:]
    distill = sharded.distill

    def dying(*args: Any, **kwargs: Any) -> Any:
        def callback(done: int, losses: dict[str, float]) -> None:
            if done == die_at and os.environ["RANK"] == "1":
                os._exit(9)  # like SIGKILL: the last periodic checkpoint is all that remains

        return distill(*args, **{**kwargs, "callback": callback})

    sharded.distill = dying
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
