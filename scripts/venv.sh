#!/usr/bin/env bash
# The project's environment: `python -m venv --without-pip VENV`, then nasproxy and pip in it (nasproxy editable, with EXTRAS).
# Usage: scripts/venv.sh VENV PYTHON EXTRAS
#
# uv installs it where uv can be had (pip install uv): on this project's 2-core machine a fresh
# environment takes 17-24 s with uv against 50-52 s with pip (docs/testing.md), mostly torch's CUDA
# wheels unpacked in parallel. --no-cache: uv would otherwise keep a 5.7 GB unpacked copy of them in
# ~/.cache/uv; its temporary copy is hard-linked into .venv (uv's default on Linux; 35 s copied).
# uv reads no pip configuration, so the indexes, find-links and constraints pip is configured with
# (pip.conf, PIP_* variables: `pip config list`) are handed to it (scripts/uv_args.py), and it may
# take a package from any of them, as pip does. Where uv cannot be installed or fails, pip installs
# the same thing as before.
#
# The environment is created without pip (`venv --without-pip`): ensurepip's copy of pip took 9-10 s of a
# fresh clone's set-up on a busy 2-core machine (3.3 CPU-s), and uv installs pip into it at the end, with
# the rest. Until then the pip that installs uv and lists pip's configuration is this Python's own, run
# for the environment (`pip --python VENV/bin/python`, pip >= 22.3: the environment's interpreter runs it,
# so it reads the configuration the environment's pip reads); where this Python has no such pip,
# ensurepip puts one into the environment, as before.
set -euo pipefail
venv=$1 python=$2 extras=$3
[ -x "$venv/bin/python" ] || "$python" -m venv --without-pip "$venv"
py="$venv/bin/python"

here=$(cd "$(dirname "$0")" && pwd)

if "$py" -m pip --version >/dev/null 2>&1; then pip=("$py" -m pip)
elif "$python" -m pip --python "$py" --version >/dev/null 2>&1; then pip=("$python" -m pip --python "$py")
else "$py" -m ensurepip >/dev/null; pip=("$py" -m pip)
fi

with_uv() {  # fails, leaving the work to pip, wherever any step fails: without pip's indexes uv would take the newest torch
  "${pip[@]}" install -q --disable-pip-version-check uv >/dev/null 2>&1 || return 1
  local config lines arg cert=${SSL_CERT_FILE:-} args=()
  config=$("${pip[@]}" config list 2>/dev/null) || return 1
  lines=$(printf '%s\n' "$config" | "$py" "$here/uv_args.py") || return 1
  while IFS= read -r arg; do
    case $arg in SSL_CERT_FILE=*) cert=${cert:-${arg#SSL_CERT_FILE=}} ;; ?*) args+=("$arg") ;; esac
  done <<< "$lines"
  env ${cert:+SSL_CERT_FILE="$cert"} "$venv/bin/uv" pip install -q --python "$py" --index-strategy unsafe-best-match \
    --no-cache "${args[@]}" -e ".[$extras]" pip || { echo "venv: uv could not install the environment; pip installs it"; return 1; }
}

with_uv || "${pip[@]}" install -q --no-compile -e ".[$extras]" pip
