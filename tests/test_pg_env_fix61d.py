"""fix61d: a PostgreSQL URL without a host (``postgresql:///db``) connects where libpq's environment points it
(PGHOST, PGPORT); before, every such failure was "cannot connect to the local socket", also with PGHOST=127.0.0.1
PGPORT=1 (a TCP port) or PGHOST=/nowhere (another socket folder)."""

from __future__ import annotations

import pytest

from nas_proxy.studies.storage import StorageError, open_storage


@pytest.fixture
def no_pg_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("PGHOST", "PGHOSTADDR", "PGPORT", "PGSERVICE", "PGCONNECT_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "5")
    return monkeypatch


def refused(url: str) -> str:
    with pytest.raises(StorageError) as told:
        open_storage(url, "pg")
    return str(told.value)


def test_a_tcp_host_and_port_from_the_environment_are_named_as_such(no_pg_env: pytest.MonkeyPatch) -> None:
    no_pg_env.setenv("PGHOST", "127.0.0.1")
    no_pg_env.setenv("PGPORT", "1")
    said = refused("postgresql:///db")
    assert "cannot connect to 127.0.0.1:1 (PGHOST=127.0.0.1, PGPORT=1): nothing accepts connections there" in said, said
    assert "local socket" not in said


def test_a_port_from_the_environment_is_named_beside_the_urls_host(no_pg_env: pytest.MonkeyPatch) -> None:
    no_pg_env.setenv("PGPORT", "1")
    said = refused("postgresql://u@127.0.0.1/db")
    assert "cannot connect to 127.0.0.1:1 (PGPORT=1): nothing accepts connections there" in said, said


def test_a_socket_folder_from_the_environment_is_named(no_pg_env: pytest.MonkeyPatch) -> None:
    no_pg_env.setenv("PGHOST", "/nowhere")
    said = refused("postgresql:///db")
    assert "the socket in /nowhere (PGHOST=/nowhere)" in said and "No such file or directory" in said, said
    assert "local socket" not in said


def test_the_default_socket_is_named_by_the_file_libpq_tried(no_pg_env: pytest.MonkeyPatch, tmp_path: object) -> None:
    no_pg_env.setenv("PGPORT", "7")
    said = refused("postgresql:///db")
    assert "the local socket" in said and ".s.PGSQL.7" in said and "(PGPORT=7)" in said, said
