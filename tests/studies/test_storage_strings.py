"""Storage strings as Optuna's own tools take them: a bare journal path (``studies/demo/journal.log``)
wherever ``--storage`` is, ``journal:PATH`` as an alias, and every printed storage string accepted
by the installed ``optuna`` CLI."""

from __future__ import annotations

import json
import re
import shlex
import socket
import subprocess
from pathlib import Path

import optuna
import pytest

from nas_proxy.cli import main
from nas_proxy.studies.storage import StorageError, artifact_dir, default_storage_url, journal_path, open_storage
from tests import run_code

FAST_ARGS = ["--epochs", "2", "--report-every", "1", "--report-images", "100", "--device", "cpu", "--quiet", "--pruner", "none"]
OPTUNA_CLI = "import sys; from optuna.cli import main; sys.argv[0] = 'optuna'; sys.exit(main())"


def optuna_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed ``optuna`` command line, run as a user would run it."""
    return run_code.run(OPTUNA_CLI, *args, capture_output=True, cwd=cwd, timeout=240)  # python -c, forked warm


def test_a_bare_journal_path_and_its_journal_alias_open_the_same_storage(tmp_path: Path) -> None:
    path = tmp_path / "studies" / "demo" / "journal.log"
    storage, url = open_storage(str(path), "demo")
    optuna.create_study(study_name="demo", storage=storage)
    alias, alias_url = open_storage(f"journal:{path}", "demo")
    assert url == alias_url == str(path)  # given back bare, whichever way it was written
    assert [s.study_name for s in optuna.get_all_study_summaries(alias)] == ["demo"]
    assert journal_path(url) == journal_path(f"journal:{path}") == path
    assert artifact_dir(url, "demo") == artifact_dir(f"journal:{path}", "demo") == path.parent / "artifacts"


@pytest.mark.parametrize("url", ["sqlite:///x.db", "postgresql://u@h/db", "postgresql+psycopg://u@h/db", "mysql://u@h/db"])
def test_database_urls_are_not_journal_paths(url: str) -> None:
    assert journal_path(url) is None
    assert artifact_dir(url, "s") == Path("studies") / "s" / "artifacts"


def test_a_journal_named_like_a_mistyped_scheme_is_taken_where_it_exists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A journal literally named file:x.log or Journal:x.log in the working folder: before fix45b, refused as a typo
    of a scheme however it was there. It is taken where it exists, and named with ./ where it does not yet."""
    monkeypatch.chdir(tmp_path)
    for name in ("file:x.log", "Journal:x.log"):
        with pytest.raises(StorageError, match=re.escape(f"(or ./{name} for a journal file of that name)")):
            journal_path(name)
        assert journal_path(f"./{name}") == Path(name)
        Path(name).touch()
        assert journal_path(name) == Path(name)
    with pytest.raises(StorageError, match=re.escape("give journal:x.log (or ./journal:x.log for a journal file of that name)")):
        journal_path("journal:journal:x.log")  # the file it takes once there (review45: ./journal:journal:x.log, another)
    (tmp_path / "journal:x.log").touch()  # journal: then a path of that name: its alias, as journal:studies/x.log
    assert journal_path("journal:journal:x.log") == Path("journal:x.log")
    (tmp_path / "sqlite:x.db").touch()  # a database URL's form stays one: not a journal, whatever is there
    with pytest.raises(StorageError, match=re.escape("give sqlite:///x.db (or ./sqlite:x.db for a journal file")):
        journal_path("sqlite:x.db")
    with pytest.raises(StorageError, match=r"a scheme is written in lower case; give postgresql://u:\*\*\*@h/db$"):
        journal_path("PostgreSQL://u:pw@h/db")  # a URL: no ./ offered (nor its password shown)


def test_the_default_storage_is_a_bare_path() -> None:
    assert default_storage_url("demo") == str(Path("studies") / "demo" / "journal.log")


def test_the_storage_search_prints_is_what_optuna_studies_accepts(
    tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A search on the default storage prints ``--storage studies/s/journal.log``; ``optuna studies``
    and ``optuna best-trial`` read that string as it is; the old ``journal:`` form still works in
    nasproxy (and is the form optuna refuses, which is why it is no longer printed)."""
    monkeypatch.chdir(tmp_path)
    args = ["search", "--synthetic", str(tiny_run), "--space", "convnet-small", "--study", "s", "--n-trials", "1", *FAST_ARGS]
    assert main(args) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("dashboard:"))
    printed = shlex.split(line)[shlex.split(line).index("--storage") + 1]
    assert printed == str(Path("studies") / "s" / "journal.log"), line
    listed = optuna_cli("studies", "--storage", printed, "-f", "json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert [s["name"] for s in json.loads(listed.stdout)] == ["s"]
    best = optuna_cli("best-trial", "--study-name", "s", "--storage", printed, "-f", "json", cwd=tmp_path)
    assert best.returncode == 0 and json.loads(best.stdout)["number"] == 0, best.stderr
    refused = optuna_cli("studies", "--storage", f"journal:{printed}", cwd=tmp_path)
    assert refused.returncode != 0  # optuna cannot guess the class of the old form
    # both forms resume the same study in nasproxy
    for storage in (printed, f"journal:{printed}"):
        assert main([*args[: -len(FAST_ARGS)], "--storage", storage, *FAST_ARGS]) == 0, capsys.readouterr().err
    capsys.readouterr()
    study = optuna.load_study(study_name="s", storage=open_storage(printed, "s")[0])
    assert len(study.trials) == 1  # the budget of 1 was met: the same study, not a second one


def test_a_database_server_that_never_answers_is_one_line_after_the_connect_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server address that accepts the connection and never speaks (or drops it): before, the command hung
    (killed after 40 s in probe40); now StorageError after CONNECT_SECONDS, the password not in its line."""
    import socket
    import time

    from nas_proxy.studies import storage
    from nas_proxy.studies.storage import StorageError

    monkeypatch.setattr(storage, "CONNECT_SECONDS", 2)  # psycopg's least
    silent = socket.create_server(("127.0.0.1", 0))  # the kernel accepts connections into its backlog; nothing answers
    port = silent.getsockname()[1]
    started = time.monotonic()
    try:
        with pytest.raises(StorageError) as e:
            open_storage(f"postgresql://user:s3cret@127.0.0.1:{port}/db?sslmode=disable", "pg")  # one try, not two
    finally:
        silent.close()
    assert time.monotonic() - started < 30 and "timeout" in str(e.value)
    assert "s3cret" not in str(e.value) and "user:***@127.0.0.1" in str(e.value)


def test_a_port_that_is_not_postgresql_is_named_and_said_so() -> None:
    """An HTTP server's port (fix43a): before, "(psycopg.errors.ConnectionTimeout) connection timeout expired" and
    SQLAlchemy's link; now the address, that the server there is not PostgreSQL, and what it answered. A port that
    reads and closes (a port forward with nothing behind it yet) is not called "not PostgreSQL" (the review of stop
    43). The line is made once the driver has failed (test_a_port_nothing_listens_on_is_named: through open_storage)."""
    import http.server
    import threading

    from nas_proxy.studies.server import connection_failed

    class Quiet(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=web.serve_forever, daemon=True)
    thread.start()
    port = web.server_address[1]
    timeout = Exception("connection timeout expired")  # psycopg's, after its connect timeout
    try:
        said = connection_failed(f"postgresql://user@127.0.0.1:{port}/db", timeout)
    finally:
        web.shutdown()
        web.server_close()
    assert f"cannot connect to 127.0.0.1:{port}: the server there is not PostgreSQL" in said and "a web server's answer" in said
    assert "is a PostgreSQL server listening there?" in said
    with socket.socket() as closing:  # reads the client's first message, then closes without a word
        closing.bind(("127.0.0.1", 0))
        closing.listen()
        port = closing.getsockname()[1]

        def read_and_close() -> None:
            conn, _ = closing.accept()
            with conn:
                conn.recv(8)

        reader = threading.Thread(target=read_and_close, daemon=True)
        reader.start()
        said = connection_failed(f"postgresql://user@127.0.0.1:{port}/db", timeout)
        reader.join(timeout=60)
    assert said.startswith(f"cannot connect to 127.0.0.1:{port}: it closed the connection without answering"), said


@pytest.mark.parametrize(
    ("url", "where"),
    [
        ("postgresql://u@[::1]:5999/d", "[::1]:5999"),
        ("postgresql://u@/d?host=db.example.com", "db.example.com:5432"),
        ("postgresql://u@/d?host=/run/postgresql", "the socket in /run/postgresql"),
        ("postgresql://u@/d?host=h1:5432&host=h2:5433", "h1:5432 or h2:5433"),
        ("postgresql://u@/d", "the local socket"),
    ],
)
def test_where_a_connection_failed_is_named_as_the_url_gives_it(url: str, where: str) -> None:
    """The review of stop 43: a TCP host given as ?host= was "the socket in db.example.com", several hosts "the local
    socket", an IPv6 address "::1:5999"."""
    from nas_proxy.studies.server import connection_failed

    assert connection_failed(url, Exception("connection refused")) == (
        f"cannot connect to {where}: nothing accepts connections there (connection refused); is a PostgreSQL server listening there?"
    )


def test_a_port_nothing_listens_on_is_named() -> None:
    from nas_proxy.studies.storage import StorageError

    with socket.socket() as s:  # a port just free: nothing listens on it
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(
        StorageError, match=rf"cannot connect to 127.0.0.1:{port}: nothing accepts connections there \(connection refused\); "
    ):
        open_storage(f"postgresql://user@127.0.0.1:{port}/db?sslmode=disable", "pg")


def test_a_journal_path_that_is_a_socket_is_called_one(tmp_path: Path) -> None:
    """probe42: a socket was called "not a regular file (a FIFO or a device)"."""
    from nas_proxy.errors import NasProxyError

    path = tmp_path / "j.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        with pytest.raises(NasProxyError, match="is a socket, not a regular file; give a journal file path"):
            open_storage(str(path), "s1")


def test_a_password_holding_an_at_sign_is_hidden_whole() -> None:
    """probe43b: 'postgresql://u:p@ss@HOST' showed 'u:***@ss@HOST', the password's tail, in every line naming it."""
    from nas_proxy.studies.storage import hidden

    assert hidden("postgresql://u:p@ss@127.0.0.1:1/db") == "postgresql://u:***@127.0.0.1:1/db"
    assert hidden("postgresql://u@[::1]:5432/db?application_name=a@b") == "postgresql://u@[::1]:5432/db?application_name=a@b"


def test_a_database_given_as_a_journal_and_a_journal_given_as_a_database_are_named_with_the_right_spelling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """probe50: --storage q.db (a SQLite database a search made) said 'is not an Optuna journal ...; give a new file or
    a journal made by nasproxy', and --storage sqlite:///j.log (a journal) 'is not a SQLite database', with no word of
    what each file is. Now each names the spelling that opens it, which does."""
    monkeypatch.chdir(tmp_path)
    optuna.create_study(storage="sqlite:///q.db", study_name="s")
    with pytest.raises(StorageError) as as_journal:
        open_storage("q.db", "s")
    assert str(as_journal.value) == "storage q.db is a SQLite database, not an Optuna journal; give it as a URL: --storage sqlite:///q.db"
    assert "s" in [x.study_name for x in optuna.get_all_study_summaries("sqlite:///q.db")]  # which opens it
    optuna.create_study(storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend("j.log")), study_name="s")
    with pytest.raises(StorageError) as as_database:
        open_storage("sqlite:///j.log", "s")
    assert str(as_database.value).endswith("; it is an Optuna journal: give it as a path, --storage j.log"), as_database.value


def test_a_study_made_under_a_decomposed_name_is_opened_and_no_new_one_is_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fix53c: probe52's refusal of a study name not written composed (NFC) refused opening a study made under such a name
    before stop 52 too ('study name 'café' is 'cafe\\u0301', not in Unicode's composed form...'): it could no longer be
    opened by its name. Now a study there is opened; a name that would make a new study (or its folder) is refused as
    before, nothing made."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from nas_proxy.errors import InvalidArgumentError
    from nas_proxy.studies.storage import study_dir

    monkeypatch.chdir(tmp_path)
    nfd = "cafe\u0301"
    (tmp_path / "studies" / nfd).mkdir(parents=True)
    for journal in (tmp_path / "studies" / nfd / "journal.log", tmp_path / "held.log"):  # as search made them before stop 52
        optuna.create_study(study_name=nfd, storage=JournalStorage(JournalFileBackend(str(journal))))
    for url in (None, "held.log"):
        opened = open_storage(url, nfd)
        assert optuna.load_study(study_name=nfd, storage=opened.backend).study_name == nfd
    assert study_dir(nfd) == Path("studies") / nfd
    held = (tmp_path / "held.log").read_bytes()
    for url, name in ((None, "the\u0301"), ("held.log", "the\u0301"), ("new.log", nfd)):
        with pytest.raises(InvalidArgumentError, match="not in Unicode's composed form"):
            open_storage(url, name)
    with pytest.raises(InvalidArgumentError, match="not in Unicode's composed form"):
        study_dir("the\u0301")
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(["studies", nfd, "journal.log", "held.log"])
    assert (tmp_path / "held.log").read_bytes() == held
