"""What a proxy trial spends on validation: CPU-s of :meth:`ProxyContext.score` by phase, on a random synthetic set.

    OMP_NUM_THREADS=1 python benchmarks/proxy_validate_cost.py --dataset digits --epochs 10
    OMP_NUM_THREADS=1 python benchmarks/proxy_validate_cost.py --dataset fashion-mnist --epochs 10 --archs 3

Draws a random subset (``--ipc`` images per class, seed 0) of ``--dataset``, then scores ``--archs`` ConvNets of the
convnet space (widths 32, 64, ...; depth 3, instance norm) with the proxy protocol at ``--epochs``, each ``--repeats``
times, ``time.process_time`` around every score; prints one JSON object with the CPU-s of each score and of its phases
(train, validate: the final score on the whole validation split and the curve's last point on the report images),
and the scores, so that two trees (``PYTHONPATH=OTHER/``) can be compared number for number.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from nas_proxy.cli.common import ScriptParser
from nas_proxy.distill import DistillConfig, distill
from nas_proxy.protocols import ProxyConfig
from nas_proxy.spaces import get_space
from nas_proxy.trainers.synthetic_set import ProxyContext


def main() -> None:
    p = ScriptParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="digits")
    p.add_argument("--ipc", type=int, default=10)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--archs", type=int, default=2)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    space = get_space("convnet720")
    config = ProxyConfig(epochs=args.epochs)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "syn"
        distill(DistillConfig(dataset=args.dataset, ipc=args.ipc, method="random", seed=args.seed, device="cpu"), out)
        ctx = ProxyContext.load(out, device="cpu", config=config)
        for i in range(args.archs):
            spec = {
                "family": "convnet",
                "depth": 3,
                "width": 32 * 2**i,
                "normalization": "instancenorm",
                "activation": "relu",
                "pooling": "avgpooling",
            }
            for _ in range(args.repeats):
                t0 = time.process_time()
                got = ctx.score(space, spec, seed=args.seed)
                cpu = time.process_time() - t0
                rows.append({"spec": spec, "cpu_s": round(cpu, 3), "seconds": got.seconds, "accuracy": got.accuracy, "curve": got.curve})
        val, rep = int(ctx.val_x.shape[0]), int(ctx.report_x.shape[0])
    total = sum(r["cpu_s"] for r in rows)
    validate = sum(r["seconds"]["validate"] for r in rows)
    print(
        json.dumps(
            {
                "dataset": args.dataset,
                "epochs": args.epochs,
                "validation_images": val,
                "report_images": rep,
                "cpu_s_total": round(total, 3),
                "validate_s_total": round(validate, 3),
                "rows": rows,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
