#!/usr/bin/env bash
# apt-install.sh PACKAGE...: install Debian packages quietly where this user may (root, or sudo
# without a password) and apt-get exists. Exits 0 when apt-get installed them, 1 otherwise.
set -u
command -v apt-get >/dev/null 2>&1 || exit 1
if [ "$(id -u)" = 0 ]; then
  sudo=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo="sudo -n"
else
  exit 1
fi
$sudo apt-get update -qq >/dev/null 2>&1
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1
