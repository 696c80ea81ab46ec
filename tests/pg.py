"""A throwaway PostgreSQL server for the tests: ``initdb`` and ``pg_ctl`` in a temporary directory,
listening on a free port of 127.0.0.1, one server per test session and one database per test.

The server binaries come from Debian's ``postgresql`` package (``make test`` installs it where it
can) or from ``PATH``. Without them the tests that need a server skip with the reason; under CI
(``CI=true``) they fail instead, so that CI never passes without having run them.

PostgreSQL refuses to run as root; as root (CI), the server runs as the ``postgres`` system user,
or ``nobody`` where there is none.

Why not pytest-postgresql: its ``postgresql_proc`` runs ``pg_ctl`` as the current user and has no
option to run it as another one (its issues #341 and #455 were closed without one), so it cannot
start a server as root.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import pytest

START_SECONDS = 120  # pg_ctl waits this long for the server to accept connections (2 busy cores)
PORT_TRIES = 3  # a free port can be taken by another process between choosing it and binding it
SUPERUSER = "postgres"  # the cluster's superuser; authentication is "trust" on 127.0.0.1
# a throwaway cluster needs no durability: these make database creation and commits fast
SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off", "listen_addresses": "'127.0.0.1'"}


def unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it under CI (where every test must run)."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"PostgreSQL tests cannot run: {reason} (CI=true: they must not be skipped)", pytrace=False)
    pytest.skip(f"PostgreSQL tests skipped: {reason}")


def find_bindir() -> Path | None:
    """The directory of ``initdb``/``pg_ctl``: on PATH, else the newest Debian/Ubuntu install."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not found:
        return None
    newest = max(found, key=lambda p: tuple(int(x) for x in Path(p).parent.parent.name.split(".") if x.isdigit()))
    return Path(newest).parent


def server_account() -> pwd.struct_passwd | None:
    """The unprivileged account the server runs as when we are root; ``None``: run as ourselves."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    unavailable("running as root and there is no 'postgres' or 'nobody' account to run the server as")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """A running throwaway cluster; :meth:`new_database` gives each test its own database."""

    def __init__(self, bindir: Path, root: Path, account: pwd.struct_passwd | None) -> None:
        self.bindir, self.root, self.account = bindir, root, account
        self.data, self.log = root / "data", root / "server.log"
        self.port = 0

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        as_user: dict[str, Any] = {}
        if self.account is not None:
            as_user = {"user": self.account.pw_uid, "group": self.account.pw_gid, "extra_groups": []}
        return subprocess.run(
            [str(self.bindir / args[0]), *args[1:]], cwd=self.root, capture_output=True, text=True, timeout=START_SECONDS + 60, **as_user
        )

    def start(self) -> None:
        made = self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync")
        if made.returncode:
            unavailable(f"initdb failed: {' '.join(made.stderr.split())[:400]}")
        for _ in range(PORT_TRIES):
            self.port = free_port()
            settings = {**SETTINGS, "port": str(self.port), "unix_socket_directories": f"'{self.root}'"}
            # written into the cluster's own file: pg_ctl's -o passes options through a shell
            (self.data / "postgresql.auto.conf").write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
            started = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", str(START_SECONDS), "start")
            if started.returncode == 0:
                return
        log = self.log.read_text(errors="replace")[-400:] if self.log.exists() else ""
        unavailable(f"pg_ctl start failed: {' '.join((started.stderr + log).split())[:600]}")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def url(self, database: str) -> str:
        """The URL as a user writes it: no driver named."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """The URL of a new, empty database."""
        import psycopg

        name = f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextmanager
def throwaway_server() -> Iterator[PostgresServer]:
    """Start a server in a new temporary directory; stop it and delete the directory afterwards."""
    try:
        import psycopg  # noqa: F401 - the driver nasproxy[postgres] installs; without it no test can connect
    except ImportError:
        unavailable("the psycopg driver is not installed (pip install -e '.[dev]')")
    bindir = find_bindir()
    if bindir is None:
        unavailable("no PostgreSQL server binaries (initdb) on PATH or in /usr/lib/postgresql (apt-get install postgresql)")
    account = server_account()
    # under /tmp, not pytest's tmp_path: that is private to root, and the server account must reach it
    root = Path(tempfile.mkdtemp(prefix="nasproxy-pg-"))
    if account is not None:
        os.chown(root, account.pw_uid, account.pw_gid)
    server = PostgresServer(bindir, root, account)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
