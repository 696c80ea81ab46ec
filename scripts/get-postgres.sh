#!/usr/bin/env bash
# PostgreSQL server binaries for the tests that start a throwaway server (tests/pg.py): Debian's
# postgresql package, installed when possible. Never fails: without it those tests skip (CI fails them).
set -u
found() { command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; }
found && exit 0
echo "test: installing Debian's postgresql for the PostgreSQL tests"
if bash "$(dirname "$0")/apt-install.sh" postgresql && found; then
  exit 0
fi
echo "test: PostgreSQL could not be installed here (apt-get install postgresql); its tests will be skipped"
exit 0
