#!/usr/bin/env bash
# Fashion-MNIST for the demo: Debian's dataset-fashion-mnist puts the IDX files in
# /usr/share/datasets/fashion-mnist. Without it the demo falls back to scikit-learn's digits.
set -u
dir=/usr/share/datasets/fashion-mnist
if [ -f "$dir/train-images-idx3-ubyte.gz" ]; then
  echo "data: Fashion-MNIST found in $dir"
  exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo"; else sudo="no"; fi
  if [ "$sudo" != no ]; then
    echo "data: installing dataset-fashion-mnist with apt-get"
    $sudo apt-get update -qq >/dev/null 2>&1
    if $sudo apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 && [ -f "$dir/train-images-idx3-ubyte.gz" ]; then
      echo "data: Fashion-MNIST installed in $dir"
      exit 0
    fi
  fi
fi
echo "data: Fashion-MNIST is not installed and could not be installed here."
echo "      Get it with 'apt-get install dataset-fashion-mnist' (Debian/Ubuntu), or run"
echo "      'nasproxy distill --dataset fashion-mnist --data-root DIR --download ...' with internet."
echo "      The demo falls back to scikit-learn's digits."
exit 0
