#!/usr/bin/env bash
# Fashion-MNIST evaluate accuracy of random / dm / datadam at IPC 1 and 10 (benchmarks/RESULTS.md).
#
#   ITERATIONS=200 BATCH_REAL=32 EPOCHS=300 RUNS=3 DEVICE=cpu bash benchmarks/fashion_accuracy.sh
#
# The defaults are a CPU budget (about an hour on 2 cores). The published protocol is
# ITERATIONS=8000 BATCH_REAL=64 EPOCHS=1000 RUNS=5 DEVICE=cuda (a GPU hour or so).
# Every run resumes where it stopped, so the script can be interrupted and started again.
set -euo pipefail
nasproxy="${VENV:-.venv}/bin/nasproxy"
out="${OUT:-benchmarks/out/fashion}"
iterations="${ITERATIONS:-200}"; batch_real="${BATCH_REAL:-32}"; epochs="${EPOCHS:-300}"
runs="${RUNS:-3}"; device="${DEVICE:-cpu}"; seed="${SEED:-0}"
mkdir -p "$out"
for ipc in 1 10; do
  for method in random dm datadam; do
    dir="$out/$method-ipc$ipc"
    flag=; [ -f "$dir/checkpoint.safetensors" ] && flag=--resume
    "$nasproxy" distill --dataset fashion-mnist --ipc "$ipc" --method "$method" --iterations "$iterations" \
      --batch-real "$batch_real" --seed "$seed" --device "$device" --out "$dir" --quiet $flag
    if [ ! -f "$dir/evaluate.json" ]; then
      "$nasproxy" evaluate "$dir" --runs "$runs" --epochs "$epochs" --device "$device" --seed "$seed" --quiet --json \
        > "$dir/evaluate.json.tmp"
      mv "$dir/evaluate.json.tmp" "$dir/evaluate.json"
    fi
    python3 - "$dir/evaluate.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s = r["synthetic"]
print(f"{s['method']:>8} ipc={s['ipc']:>2}: {r['mean']:.2f} +- {r['std']:.2f} %  runs={r['runs']} epochs={r['train']['epochs']} {r['device']} {r['seconds']:.0f} s")
PY
  done
done
