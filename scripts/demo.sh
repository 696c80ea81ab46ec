#!/usr/bin/env bash
# `make demo`: the pipeline on a CPU budget of a few minutes, from the preset presets/demo.toml: its
# proxy is a random real subset, so `run` skips the distillation (search -> correlate). Run it again
# after an interruption: every stage resumes.
set -euo pipefail
nasproxy="${VENV:-.venv}/bin/nasproxy"
if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  dataset=()
else
  echo "== Fashion-MNIST is not installed (make data, or apt-get install dataset-fashion-mnist): using scikit-learn's digits"
  dataset=(--dataset digits)
fi
"$nasproxy" run presets/demo.toml "${dataset[@]}"
echo "== everything is under runs/ (search exports, correlation report) and studies/ (the Optuna storages, the random subset)"
