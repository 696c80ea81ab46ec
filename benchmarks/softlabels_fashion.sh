#!/usr/bin/env bash
# Soft labels on Fashion-MNIST: what N teachers cost, and a first paired fidelity check of a random real
# subset with and without their labels (benchmarks/RESULTS.md section 10). Resumable: run it again after a kill.
# The same command runs on a GPU: DEVICE=cuda TEACHER_IMAGES=0 MAX_MFLOPS=1000 N_ARCHS=100 bash benchmarks/softlabels_fashion.sh
#
# Architectures: the first N_ARCHS seed-0 rows of TABLE (default the seeded order of RESULTS.md section 7) at or
# below MAX_MFLOPS per image, with their second-seed rows (the ceiling). Sets: random-ipc10 (seed 0) and the same
# images labelled by TEACHERS teachers drawn stratified from TEACHER_SPACE (nasproxy soft-labels --out: a copy).
set -euo pipefail
DEVICE=${DEVICE:-cpu}
OUT=${OUT:-benchmarks/out/softlabels}
PY=${PY:-python}
TABLE=${TABLE:-benchmarks/groundtruth/fidelity-2026-11-26/capped-48.csv}  # on a GPU: the whole table
MAX_MFLOPS=${MAX_MFLOPS:-25}
N_ARCHS=${N_ARCHS:-24}
TEACHERS=${TEACHERS:-4}
TEACHER_SPACE=${TEACHER_SPACE:-convnet720}
TEACHER_EPOCHS=${TEACHER_EPOCHS:-2}
TEACHER_IMAGES=${TEACHER_IMAGES:-12000}  # 0: the whole training split
TEMPERATURE=${TEMPERATURE:-1}
SOFT=$OUT/random-ipc10-soft$TEACHERS-e$TEACHER_EPOCHS-m$TEACHER_IMAGES-t$TEMPERATURE
images=()
[ "$TEACHER_IMAGES" = 0 ] || images=(--teacher-images "$TEACHER_IMAGES")
mkdir -p "$OUT"
[ -f "$OUT/random-ipc10/meta.json" ] || $PY -m nas_proxy distill --dataset fashion-mnist --ipc 10 --method random \
    --seed 0 --device "$DEVICE" --quiet --out "$OUT/random-ipc10"
# teachers are cached in $OUT/teachers (shared by every labelled copy): a kill retrains only the one in progress
/usr/bin/time -v $PY -m nas_proxy soft-labels "$OUT/random-ipc10" --out "$SOFT" --soft-labels "$TEACHERS" \
    --teacher-space "$TEACHER_SPACE" --teacher-epochs "$TEACHER_EPOCHS" "${images[@]}" --temperature "$TEMPERATURE" \
    --teacher-dir "$OUT/teachers" --device "$DEVICE" --quiet 2> "$SOFT.time" | tee "$SOFT.txt"
grep -E "Elapsed|Maximum resident" "$SOFT.time"
$PY - "$TABLE" "$OUT/table.csv" "$MAX_MFLOPS" "$N_ARCHS" <<'PY'
import csv, sys
src, dst, cap, n = sys.argv[1], sys.argv[2], float(sys.argv[3]) * 1e6, int(sys.argv[4])
rows = list(csv.DictReader(open(src, newline="")))
first = [r for r in rows if r["seed"] == "0" and int(r["flops"]) <= cap][:n]  # the table's own (seeded) order
keep = {r["arch_id"] for r in first}
with open(dst, "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(first + [r for r in rows if r["seed"] != "0" and r["arch_id"] in keep])
print(len(first), "architectures ->", dst)
PY
$PY benchmarks/fidelity.py --table "$OUT/table.csv" --proxy "synthetic:$OUT/random-ipc10" --proxy "synthetic:$SOFT" \
    --seed 0 --device "$DEVICE" --out "$OUT/fidelity-$(basename "$SOFT")"
