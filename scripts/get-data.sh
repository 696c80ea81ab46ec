#!/usr/bin/env bash
# Fashion-MNIST for the demo: Debian's dataset-fashion-mnist puts the IDX files in
# /usr/share/datasets/fashion-mnist. Without it the demo falls back to scikit-learn's digits.
set -u
dir=/usr/share/datasets/fashion-mnist
if [ -f "$dir/train-images-idx3-ubyte.gz" ]; then
  echo "data: Fashion-MNIST found in $dir"
  exit 0
fi
echo "data: Fashion-MNIST not found; trying apt-get install dataset-fashion-mnist"
if bash "$(dirname "$0")/apt-install.sh" dataset-fashion-mnist && [ -f "$dir/train-images-idx3-ubyte.gz" ]; then
  echo "data: Fashion-MNIST installed in $dir"
  exit 0
fi
echo "data: Fashion-MNIST is not installed and could not be installed here."
echo "      Get it with 'apt-get install dataset-fashion-mnist' (Debian/Ubuntu), or run"
echo "      'nasproxy distill --dataset fashion-mnist --data-root DIR --download ...' with internet."
echo "      The demo falls back to scikit-learn's digits."
exit 0
