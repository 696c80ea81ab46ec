#!/usr/bin/env bash
# Proxy vs ground truth on Fashion-MNIST, convnet720 (benchmarks/RESULTS.md, issue 5).
#
#   bash benchmarks/correlate_fashion.sh            # CPU budget (defaults below)
#   N_ARCHS=100 MAX_MFLOPS=100000 FULL_IMAGES= FULL_EPOCHS=50 CEILING=100 DEVICE=cuda bash benchmarks/correlate_fashion.sh
#
# Needs the synthetic sets of benchmarks/fashion_accuracy.sh (datadam, dm and random at IPC 10).
# CPU budget: the architectures are drawn uniformly from those of convnet720 whose forward pass
# costs at most MAX_MFLOPS MFLOPs on a 28x28 image (495 of the 720 at 102), and the ground truth
# is FULL_EPOCHS epochs on FULL_IMAGES images of the training split. Everything is cached: run it
# again after an interruption and it continues.
set -euo pipefail
venv="${VENV:-.venv}"
syn="${SYN:-benchmarks/out/fashion}"
out="${OUT:-benchmarks/out/correlate/fashion}"
n_archs="${N_ARCHS:-20}"; max_mflops="${MAX_MFLOPS:-102}"; seed="${SEED:-0}"
full_images="${FULL_IMAGES-8000}"; full_epochs="${FULL_EPOCHS:-2}"; ceiling="${CEILING:-5}"; device="${DEVICE:-cpu}"
mkdir -p "$out"
"$venv/bin/python" - "$out/archs.json" "$n_archs" "$max_mflops" "$seed" <<'PY'
import json, sys
import torch
from nas_proxy.correlate import from_space
from nas_proxy.trainers.synthetic_set import count_flops
from nas_proxy.spaces import build_model, get_space

path, n, cap, seed = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]) * 1e6, int(sys.argv[4])
pool = from_space(get_space("convnet720"), 720, seed)  # every architecture, in a seeded random order
image = torch.zeros(1, 1, 28, 28)
chosen = [a.spec for a in pool if count_flops(build_model(a.spec, 1, 10, (28, 28)), image) <= cap][:n]
json.dump(chosen, open(path, "w"), indent=1)
print(f"{len(chosen)} architectures of convnet720 with <= {cap / 1e6:g} MFLOPs -> {path}")
PY
images_flag=(); [ -n "$full_images" ] && images_flag=(--full-images "$full_images")
"$venv/bin/nasproxy" correlate --archs "$out/archs.json" --space convnet720 \
  --synthetic "$syn/datadam-ipc10" "$syn/dm-ipc10" "$syn/random-ipc10" \
  --full-epochs "$full_epochs" "${images_flag[@]}" --ceiling "$ceiling" --seed "$seed" --device "$device" \
  --gt-storage "$out/groundtruth.log" --out "$out" "$@"
