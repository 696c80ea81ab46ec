"""Write a seeded ground-truth table of N rows (N/2 architectures x seeds 0 and 1) and a scores file for it.

For measuring what the commands that read a ground-truth table (``calibrate --ladders --truth``, ``calibrate --truth``,
``correlate --truth``) cost on a table as large as NAS-Bench-101's (~1.27M rows): RESULTS.md §31. Nothing is trained;
the numbers are drawn (seeded), so the table is not committed, only this script:

    .venv/bin/python benchmarks/big_truth.py --rows 1000000 --out /tmp/big  # writes truth.csv and scores.csv

Columns as ``benchmarks/groundtruth/build.py`` writes the ones the readers use: arch_id, seed, epochs, test_accuracy,
val_accuracy, val_accuracy_1ep, seconds, spec (a JSON object per architecture, distinct: ``{"i": N}``, kept short so that 10**6 rows stay under the 64 MiB
that a text file is read up to); scores.csv: one proxy
(``zc``) scoring every architecture, ``proxy,arch_id,score,seconds``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nas_proxy.cli.common import ScriptParser


def write(rows: int, out: Path, seed: int = 0) -> tuple[Path, Path]:
    """``out/truth.csv`` of ``rows`` rows (``rows // 2`` architectures, two seeds) and ``out/scores.csv``."""
    rng = np.random.default_rng(seed)
    n = rows // 2
    quality = rng.uniform(60.0, 95.0, n)
    out.mkdir(parents=True, exist_ok=True)
    truth, scores = out / "truth.csv", out / "scores.csv"
    ids = [f"a{i}" for i in range(n)]
    with open(truth, "w", newline="") as f:
        f.write("arch_id,seed,epochs,test_accuracy,val_accuracy,val_accuracy_1ep,seconds,spec\n")
        for s in (0, 1):
            test = np.clip(quality + rng.normal(0, 1.0, n), 0, 100)
            val = np.clip(quality + rng.normal(0, 1.0, n), 0, 100)
            early = np.clip(quality - 10 + rng.normal(0, 3.0, n), 0, 100)
            secs = rng.uniform(10.0, 60.0, n)
            f.writelines(
                f'{a},{s},3,{t:.2f},{v:.2f},{e:.2f},{c:.1f},"{{""i"": {i}}}"\n'
                for i, (a, t, v, e, c) in enumerate(zip(ids, test, val, early, secs, strict=True))
            )
    with open(scores, "w", newline="") as f:
        f.write("proxy,arch_id,score,seconds\n")
        zc = quality + rng.normal(0, 5.0, n)
        f.writelines(f"zc,{a},{z:.4f},0.01\n" for a, z in zip(ids, zc, strict=True))
    return truth, scores


def main() -> None:
    p = ScriptParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    if a.rows < 2:
        p.error(f"--rows must be at least 2 (one architecture at two seeds), got {a.rows}")
    for path in write(a.rows, a.out, a.seed):
        print(path)


if __name__ == "__main__":
    main()
