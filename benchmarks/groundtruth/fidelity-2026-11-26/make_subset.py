"""Seeded order of the table's seed-0 architectures under a FLOPs cap (proxy scoring on CPU).

python make_subset.py TABLE.csv OUT.csv [N]: the first N of the order, plus their seed-1 rows
(RESULTS.md section 7 used N = 48).
"""

import csv
import sys

import numpy as np

CAP = 102e6  # FLOPs per image, the cap of RESULTS.md section 4
src, dst = sys.argv[1], sys.argv[2]
with open(src, newline="") as f:
    rows = list(csv.DictReader(f))
s0 = [r for r in rows if r["seed"] == "0" and int(r["flops"]) <= CAP]
order = [s0[i] for i in np.random.default_rng(0).permutation(len(s0))]
n = int(sys.argv[3]) if len(sys.argv) > 3 else len(order)
keep = {r["arch_id"] for r in order[:n]}
s1 = [r for r in rows if r["seed"] != "0" and r["arch_id"] in keep]
with open(dst, "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(order[:n] + s1)
print(len(order[:n]), "archs,", len(s1), "second-seed rows ->", dst)
