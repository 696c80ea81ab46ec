#!/usr/bin/env bash
# The demo pipeline on a small CPU budget: distill (DataDAM and the random baseline) -> evaluate.
# Later stages (search, correlate) are added here as they land.
set -euo pipefail
nasproxy="${VENV:-.venv}/bin/nasproxy"
out=runs/demo
if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  dataset=fashion-mnist; iterations=60; epochs=60
else
  dataset=digits; iterations=200; epochs=150
fi
echo "== demo on $dataset (small budget: $iterations distillation iterations, $epochs evaluation epochs)"
for method in datadam random; do
  # --resume makes a second `make demo` reuse what the first one finished
  flag=--resume; [ -f "$out/$method-ipc10/checkpoint.safetensors" ] || flag=
  "$nasproxy" distill --dataset "$dataset" --ipc 10 --method "$method" --iterations "$iterations" \
    --batch-real 32 --seed 0 --out "$out/$method-ipc10" $flag
done
for method in datadam random; do
  "$nasproxy" evaluate "$out/$method-ipc10" --runs 2 --epochs "$epochs" --json > "$out/$method-ipc10/evaluate.json"
  "${VENV:-.venv}/bin/python" -c 'import json, sys; r = json.load(open(sys.argv[1])); s = r["synthetic"]
print(f"{s[\"method\"]:>8} ipc={s[\"ipc\"]}: test accuracy {r[\"mean\"]:.2f} +- {r[\"std\"]:.2f} % ({r[\"runs\"]} networks)")' "$out/$method-ipc10/evaluate.json"
done
echo "== results in $out/: each directory has synthetic.safetensors, meta.json, grid.png (the images) and evaluate.json"
