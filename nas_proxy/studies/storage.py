"""Where studies live: a journal file by default, any Optuna storage URL on request.

- no URL: ``studies/<study>/journal.log`` (JournalStorage; safe for several processes, on one host or
  sharing its file system, and optuna-dashboard reads it; its workers beat in a folder beside it:
  :mod:`nas_proxy.studies.journal_beat`);
- a path (``studies/demo/journal.log``), or ``journal:PATH`` (an alias kept for older commands): a
  journal file there. A journal storage is always given back, and printed, as the bare path:
  the form ``optuna studies --storage`` and ``optuna-dashboard`` accept;
- ``sqlite:///file.db``: one process at a time (parallel SQLite writers hit "database is locked");
- ``postgresql://...`` / ``mysql://...``: several machines. A PostgreSQL URL without a driver uses
  psycopg 3 (``pip install nasproxy[postgres]``), whatever SQLAlchemy's default.

Every database storage beats, SQLite's too (:mod:`nas_proxy.studies.heartbeat`): a trial whose worker
stopped beating is failed and re-queued (``RetryHeartbeatStaleTrialCallback``).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import parse_qsl

from nas_proxy import checks
from nas_proxy.errors import NasProxyError, shown
from nas_proxy.files import check_writable, make_dirs, shorten
from nas_proxy.studies.server import connection_failed, option_refused

if TYPE_CHECKING:  # Optuna is imported when a storage is opened: the command line reads the constants below without it
    import optuna
    from optuna.storages import BaseStorage

STUDIES_DIR = Path("studies")
HEARTBEAT_SECONDS = 60  # a running trial's worker writes a heartbeat this often (a database's; a journal's file, journal_beat)
GRACE_SECONDS = 180  # no heartbeat for this long: the trial is failed and retried
HEARTBEAT_MAX = 86_400  # the longest heartbeat interval taken, a day (a thread waits it: past ~292 years Python cannot)
GRACE_MAX = 365 * 86_400  # the longest grace period taken, a year (Optuna's stale-trial query overflowed past ~2.7 million years)
SQLITE_OPTIONS = ("timeout",)  # what a sqlite:/// URL may carry after "?": seconds a writer waits for another's lock
SQLITE_TIMEOUT_MAX = 2_147_483  # the longest ?timeout= (s): sqlite3 waits it in int milliseconds; past that, no wait at all
CONNECT_SECONDS = 5  # a database server that does not answer (a dropped or silent address) is an error after this long
# what a URL scheme without "+driver" is opened with: psycopg 3, SQLAlchemy 2.1's default for PostgreSQL
# (2.0 picks psycopg2, which `nasproxy[postgres]` does not install); "postgres://" is the Heroku/libpq spelling
DEFAULT_DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg"}
# pip packages that provide the database drivers SQLAlchemy imports (module name -> what to install)
DRIVER_PACKAGES = {
    "psycopg": "'nasproxy[postgres]' (psycopg 3)",
    "psycopg2": "psycopg2-binary",
    "pymysql": "pymysql",
    "MySQLdb": "mysqlclient",
}
DATABASE_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "oracle", "mssql")  # URL schemes of databases, optionally +driver
STORAGE_SCHEMES = ("journal", "file", *DATABASE_SCHEMES)  # what a storage string may begin with (file: refused; check_form)
EXTRAS_ATTR = "nasproxy_dashboard"  # study user attribute: where the dashboard's artifacts are (its note is the study's note)


class StorageError(NasProxyError):
    """A storage URL that cannot be opened."""


class Storage(NamedTuple):
    """An opened storage, made once by a command (:func:`open_storage`) and passed down to everything
    it runs; it unpacks as ``(backend, url)``. Worker processes are given ``url``: each opens its own."""

    backend: BaseStorage  # what optuna.create_study / load_study take
    url: str  # what it was opened from: a bare journal path or a database URL with its driver

    def artifacts(self, study: str) -> Path:
        """Where ``study``'s dashboard artifacts go (:func:`artifact_dir`)."""
        return artifact_dir(self.url, study)

    def workdir(self, study: str) -> Path:
        """Where ``study`` keeps what its proxy makes (a random subset): beside its journal, else ``studies/STUDY``."""
        return self.artifacts(study).parent


STUDY_WHAT = "study (and its folder under studies/)"  # what a study's name names, as its refusals say


def study_dir(study: str, root: Path = STUDIES_DIR) -> Path:
    """``studies/<study>/``: the default home of a study's journal, exports and artifacts."""
    checks.plain_name("study name", study, STUDY_WHAT, existing=lambda: (root / study).is_dir())
    return root / study


def artifact_dir(url: str, study: str) -> Path:
    """Where a study's dashboard artifacts go: beside a journal file, else in ``studies/<study>/artifacts``."""
    path = journal_path(url)
    if path is not None:
        return path.parent / "artifacts"
    return study_dir(study) / "artifacts"


def default_storage_url(study: str) -> str:
    """``studies/<study>/journal.log``: a bare journal path, as Optuna's own tools take it."""
    return str(study_dir(study) / "journal.log")


def journal_path(url: str) -> Path | None:
    """The journal file a storage string names (a bare path, or ``journal:PATH``); ``None`` for a
    database URL (``sqlite:///``, ``postgresql://``, ...) or another ``scheme://`` URL."""
    check_form(url)
    if database_url(url) is not None or "://" in url:
        return None
    return _as_written(url, url.removeprefix("journal:"))


def check_form(url: str) -> None:
    """Refuse a storage string that is almost surely a typo of a form it takes: a known scheme in another case
    (``Journal:x.log``, ``SQLite:///x.db``), ``journal:`` twice or before another URL, a ``file:`` URL, a SQLite URL
    without its three slashes (``sqlite:x.db``). Before probe44b, ``JOURNAL:x.log``, ``journal:journal:x.log``,
    ``Sqlite:x.db`` and ``file:x.log`` each made a journal of that literal name, exit 0. A journal of such a name
    that exists is taken (before fix45b, ``file:x.log`` in the working folder was refused however it was there);
    ``./file:x.log`` names one that does not exist yet, and the refusal says so (for ``journal:journal:x.log``,
    ``./journal:x.log``: the file it takes where that exists)."""
    if url == ":memory:" and not os.path.lexists(url):  # before probe46, a journal file named ':memory:' made, exit 0
        raise StorageError(
            "storage ':memory:' is SQLite's name for an in-memory database, which would lose the study when the command ends; "
            "give a file, such as sqlite:///studies.db (or ./:memory: for a journal file of that name)"
        )
    scheme, colon, rest = url.partition(":")
    kind = scheme.lower().split("+")[0]
    if not colon or kind not in STORAGE_SCHEMES:
        return  # ('./file:x.log', 'runs/Journal:x.log': a path, its first part no scheme)
    if database_url(url) is None and "://" not in url and os.path.lexists(url.removeprefix("journal:")):
        return  # the journal path it names is there: a file of that name, not a typo
    fixed, why = f"{scheme.lower()}:{rest}", "a scheme is written in lower case"
    if kind == "file":
        fixed, why = rest.removeprefix("//") or "journal.log", "a journal is given by its path, not a file: URL"
    elif kind == "journal" and rest.partition(":")[0].lower().split("+")[0] in STORAGE_SCHEMES:
        fixed, why = rest, "journal: names a journal file's path, not another storage"
    elif kind == "sqlite" and rest not in ("", "//") and not rest.startswith("///"):  # ('sqlite://' is refused as in-memory)
        fixed = f"{scheme.lower()}:///{rest.lstrip('/')}"
        why = "a SQLite URL is sqlite:/// and then its file's path (three slashes, four before an absolute path)"
    elif scheme == scheme.lower():
        return
    # the path the string names where it exists (journal:journal:x.log: journal:x.log); a URL is no file name
    literal = "" if "://" in url else f" (or ./{url.removeprefix('journal:')} for a journal file of that name)"
    raise StorageError(f"storage {hidden(url)!r}: {why}; give {hidden(fixed)}{literal}")


def storage_file(url: str) -> Path | None:
    """The file a storage string names: its journal, or a ``sqlite:///`` URL's database file; ``None``
    for a database server."""
    if url.startswith("sqlite:///"):
        path, _, query = url.removeprefix("sqlite:///").partition("?")
        options = parse_qsl(query, keep_blank_values=True)
        foreign = [key for key, _ in options if key not in SQLITE_OPTIONS]
        if foreign:  # before probe44, checked as the file 'x.db?mode=ro' while SQLAlchemy opened x.db, warning on stderr
            raise StorageError(
                f"storage {hidden(url)!r}: a SQLite storage takes no ?{foreign[0]}= (only ?timeout=SECONDS after its file, which "
                f"is what follows sqlite:///): give sqlite:///{path}"
            )
        for _, seconds in options:
            try:
                if not 0 <= checks.parse_float(seconds) <= SQLITE_TIMEOUT_MAX:  # before review44, 1e7 waited 0 s, not 116 days
                    raise ValueError(f"expected 0 to {SQLITE_TIMEOUT_MAX:,} seconds (about 24 days), got {seconds}")
            except ValueError as e:
                raise StorageError(f"storage {hidden(url)!r}: timeout: {e}") from None
        return _as_written(url, path)
    return journal_path(url)


def _as_written(url: str, path: str) -> Path:
    """The path of storage ``url``, refused when the system refuses it for its length (checks.not_too_long), or when
    it starts with a shell's '~' (checks.not_home_shorthand): a bare one
    is checked where it was typed, but before branch probe43b ``journal:~/j.log`` made a folder '~' here (exit 0) and
    ``sqlite:///~/s.db`` was "in folder ~, which does not exist"."""
    if not path:  # before probe46, 'journal:' was "storage . is a directory"
        raise StorageError(f"storage {hidden(url)!r} names no file after its scheme; give one, such as journal:journal.log")
    if path != url:
        checks.not_home_shorthand(f"storage {hidden(url)!r}: its path", path)
    if path != path.strip():  # before probe44b, 'journal: x.log' made a journal ' x.log' (exit 0)
        raise StorageError(f"storage {hidden(url)!r}: its path {path!r} starts or ends with a blank; give {path.strip()!r}")
    checks.not_too_long("storage", path)  # before probe44, a name of 256 bytes was an internal error (Path.exists raised)
    return Path(path)


def open_storage(url: str | None, study: str, heartbeat_interval: int = HEARTBEAT_SECONDS, grace_period: int = GRACE_SECONDS) -> Storage:
    """The storage ``url`` names (None: ``study``'s default journal), with the URL it was opened from; one-line :class:`StorageError` when it cannot be opened.

    ``heartbeat_interval`` and ``grace_period`` (seconds) apply to every storage: a journal's heartbeat files
    (:mod:`nas_proxy.studies.journal_beat`), a database's heartbeats (:mod:`nas_proxy.studies.heartbeat`; SQLite's too since
    fix52a: before, they were taken and did nothing there). A study name not written composed (Unicode NFC) opens a study
    of that name already there and makes none.
    """
    checks.plain_name("study name", study, STUDY_WHAT, existing=lambda: may_hold(url, study))
    opened = _opened(url or default_storage_url(study), heartbeat_interval, grace_period)
    if checks.decomposed(study) and not _holds(opened.backend, study):  # a decomposed name makes no new study (probe52)
        checks.composed_name("study name", study, STUDY_WHAT)
    return opened


def may_hold(url: str | None, study: str) -> bool:
    """Whether the storage ``url`` (None: ``study``'s default journal) may hold ``study`` already: its file is there (a
    server's database is asked once opened); where it is not, nothing is opened, so nothing is made for a name refused."""
    if url is None:
        return (STUDIES_DIR / study).is_dir()
    file = storage_file(url)
    return file is None or file.is_file()


def _holds(backend: BaseStorage, study: str) -> bool:
    """Whether the opened storage holds a study named ``study`` (read only)."""
    try:
        backend.get_study_id_from_name(study)
    except KeyError:
        return False
    return True


def _opened(url: str, heartbeat_interval: int, grace_period: int) -> Storage:
    """The storage ``url`` names, opened (see :func:`open_storage`)."""
    import optuna

    from nas_proxy.studies.journal import JournalFile
    from nas_proxy.studies.journal_beat import BeatingJournal
    from nas_proxy.studies.requeue import MAX_RETRY

    check_form(url)
    try:
        database = database_url(url)
        if database is not None:
            _check_address(url)  # as typed: the URL the user knows, before its driver is made explicit
            url = database
            _check_database(url)
            from nas_proxy.studies.heartbeat import BeatingStorage, RetryLapsedTrial

            heartbeat: dict[str, Any] = {
                "heartbeat_interval": heartbeat_interval,
                "grace_period": grace_period,
                "heartbeat_stale_trial_callback": RetryLapsedTrial(max_retry=MAX_RETRY),
            }
            return Storage(BeatingStorage(url, engine_kwargs=engine_kwargs(url), **heartbeat), url)
        if "://" in url:
            raise StorageError(
                f"unsupported storage URL {hidden(url)!r}: use a journal file path, sqlite:///FILE, postgresql://... or mysql://..."
            )
        path = Path(url.removeprefix("journal:"))
        journal_path(url)  # its '~' refused
        _check_journal_path(path)
        check_journal(path)
        make_dirs(path.parent)
        journal = JournalFile(path)
        beating = BeatingJournal(journal, journal.path, heartbeat_interval, grace_period)
        return Storage(beating, str(path))  # bare: the form optuna's CLI and optuna-dashboard accept
    except NasProxyError:  # StorageError, a damaged journal, a disk that refuses the write: their own one line
        raise
    except ImportError as e:
        cause = e.__cause__ if isinstance(e.__cause__, ImportError) else e  # Optuna re-raises SQLAlchemy's with a vaguer message
        module = (cause.name or "").split(".")[0]
        hint = f"pip install {DRIVER_PACKAGES.get(module, module)}" if module else "install the driver the URL names"
        raise StorageError(f"cannot open storage {hidden(url)!r}: its database driver {module} is not installed; {hint}") from None
    except AssertionError:  # Optuna's replay of a journal record whose operation it does not know ("Should not reach.")
        found = journal_path(url)
        line = None if found is None else _unknown_operation(found)
        if found is None or line is None:
            raise
        raise StorageError(
            f"journal {found}: line {line} is a record of an operation this Optuna ({optuna.__version__}) does not know: "
            "the journal was written by another tool or a newer Optuna; give a journal made by nasproxy, or a new file"
        ) from None
    except PermissionError as e:  # a journal this user may not read: the OS's words, not Python's "[Errno 13] ... 'X'"
        raise _unreadable(Path(e.filename or url)) from None
    except Exception as e:  # noqa: BLE001 - SQLAlchemy and the OS raise many types; the message matters
        raise StorageError(f"cannot open storage {hidden(url)!r}: {' '.join(str(e).split())[:300]}") from None


def _unknown_operation(path: Path) -> int | None:
    """The number of the first line of journal ``path`` whose record's ``op_code`` Optuna does not know (None: none,
    or an Optuna whose private list of operations moved: the caller's error is then Optuna's own)."""
    try:
        from optuna.storages.journal._storage import JournalOperation
    except ImportError:
        return None

    known = {op.value for op in JournalOperation}
    with path.open("rb") as f:
        for number, line in enumerate(f, start=1):
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
                continue  # a torn or damaged line has its own error
            if isinstance(record, dict) and record.get("op_code") not in known:
                return number
    return None


def _check_journal_path(path: Path) -> None:
    """A journal path is a regular file or nothing yet (a FIFO would block every read, a link loop never resolves)."""
    try:
        found = checks.status("storage", path)
    except NasProxyError as e:
        raise StorageError(str(e)) from None
    if found is not None and stat.S_ISDIR(found.st_mode):
        raise StorageError(f"storage {path} is a directory; give a journal file path such as {path / 'journal.log'}")
    if found is not None:
        checks.regular_file(
            found.st_mode, lambda what: f"storage {path} is {what}, not a regular file; give a journal file path", StorageError
        )


_OPTUNA_TABLES = {"studies", "trials", "version_info"}  # tables every Optuna RDB schema has
_checked: set[str] = set()  # server database URLs found to be Optuna's (or empty) in this process: checked once


def _check_address(url: str) -> None:
    """Refuse a database URL whose server address cannot be read (before: SQLAlchemy's words, such as
    "invalid literal for int() with base 10: ':1'" for ``postgresql://[::1``), saying what is wrong with it."""
    scheme, _, rest = url.partition("://")
    if scheme.startswith("sqlite"):  # a file, no server
        return
    login, _, address = rest.partition("/")[0].partition("?")[0].rpartition("@")  # USER:PASSWORD, HOST[:PORT]
    example = "e.g. postgresql://USER:PASSWORD@HOST:5432/DATABASE, an IPv6 host in brackets: [::1]:5432"
    if "@" in login:  # before branch probe43b: 'cannot connect to ss@HOST:PORT: failed to resolve host' (p@ss), a piece shown
        raise StorageError(
            f"storage URL {hidden(url)!r}: its user name or password holds an '@', which ends them in a URL (what follows "
            "would be read as the server's address); write each '@' in them as %40 (p@ss: p%40ss)"
        )
    if "," in address:  # libpq's HOST1:PORT1,HOST2:PORT2: before, "holds more than one ':'"
        raise StorageError(
            f"storage URL {hidden(url)!r}: its address {address!r} names several servers, which SQLAlchemy's URLs take as "
            "?host=HOST:PORT, once each: postgresql://USER:PASSWORD@/DATABASE?host=HOST1:PORT1&host=HOST2:PORT2"
        )
    if address.startswith("["):
        host, closed, port = address[1:].partition("]")
        if not closed:
            raise StorageError(f"storage URL {hidden(url)!r}: its IPv6 host opens '[' and never closes it with ']'; {example}")
        if port and not port.startswith(":"):
            raise StorageError(f"storage URL {hidden(url)!r}: {port!r} follows the IPv6 host [{host}]; only ':PORT' may; {example}")
        port = port[1:]
    elif address.count(":") > 1:
        raise StorageError(f"storage URL {hidden(url)!r}: its server address {address!r} holds more than one ':'; {example}")
    else:
        port = address.partition(":")[2]
    if ":" in address.rpartition("]")[2] and not (port.isascii() and port.isdecimal() and 1 <= int(port) <= 65535):
        raise StorageError(f"storage URL {hidden(url)!r}: its port must be a number from 1 to 65535, got {port!r}; {example}")


def hidden(url: str) -> str:
    """``url`` as an error line shows it: a password it holds replaced by ``***`` (before branch probe40
    'cannot open storage' printed it for every failed connection)."""
    return re.sub(r"(://[^/@?#:]*:)[^/?#]*@", r"\1***@", url, count=1)  # to the address's '@': all of a password holding one


def engine_kwargs(url: str) -> dict[str, Any]:
    """SQLAlchemy's engine options for a database ``url``: a server's connection gives up after
    :data:`CONNECT_SECONDS` unless the URL sets its own ``connect_timeout`` (before branch probe40 a
    server address that accepted the connection and never answered, or dropped it, hung the command),
    and a pooled connection is tested as it is taken and opened again when the server ended it (a
    backend killed by ``pg_terminate_backend`` or an idle timeout, a proxy or firewall that dropped it):
    before drill42 the next storage call of the trial raised StorageInternalError, and the trial failed
    with no reason and was never retried, its candidate lost."""
    scheme = url.partition("://")[0]
    if scheme.startswith("sqlite"):
        return {}
    if "connect_timeout=" in url.partition("?")[2]:
        return {"pool_pre_ping": True}
    return {"pool_pre_ping": True, "connect_args": {"connect_timeout": CONNECT_SECONDS}}


def _check_database(url: str) -> None:
    """Refuse an in-memory SQLite database (the study would vanish when the command ends) and a
    database that holds another application's tables and no Optuna schema (Optuna would add its
    tables beside them)."""
    scheme, _, rest = url.partition("://")
    if scheme.startswith("sqlite") and rest in ("", "/", "/:memory:"):
        raise StorageError(
            f"storage {hidden(url)!r} is an in-memory SQLite database: the study would be lost when the command ends; "
            "give a file, such as sqlite:///studies.db"
        )
    if scheme.startswith("sqlite"):  # SQLite's own error for these is "unable to open database file"
        path = _as_written(url, rest.removeprefix("/"))
        if path.is_dir():
            raise StorageError(f"storage {hidden(url)!r} is a directory; give a SQLite file, such as sqlite:///{path / 'studies.db'}")
        if (found := checks.status("storage", path)) is not None:  # before probe46, /dev/null was SQLAlchemy's "disk I/O error [SQL: ...]"
            checks.regular_file(
                found.st_mode,
                lambda what: f"storage {hidden(url)!r} is {what}, not a regular file; give a SQLite file, such as sqlite:///studies.db",
                StorageError,
            )
        if not path.parent.is_dir():
            raise StorageError(
                f"storage {hidden(url)!r} is in folder {path.parent}, which does not exist (SQLite makes no folders); "
                "create it, or give a file in an existing folder"
            )
    if url in _checked:
        return
    if scheme.startswith("sqlite") and not Path(rest.removeprefix("/")).is_file():
        return  # a new file: Optuna creates its schema in it
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, **engine_kwargs(url))
    try:
        tables = set(sqlalchemy.inspect(engine).get_table_names())
        if "alembic_version" in tables:
            _check_schema(engine, url)
    except sqlalchemy.exc.DatabaseError as e:
        if scheme.startswith("sqlite"):
            file = Path(rest.removeprefix("/"))
            journal = f"; it is an Optuna journal: give it as a path, --storage {file}" if _journal_first_line(file) else ""
            if not journal and _sqlite_header(file):  # a SQLite file, damaged: its trials may be recovered (fix61d)
                raise StorageError(
                    f"storage {hidden(url)!r} is a damaged SQLite database ({e.orig}); recover its trials into a new file first: "
                    f"sqlite3 {shlex.quote(str(file))} .recover | sqlite3 NEW.db, then --storage sqlite:///NEW.db (a new file starts over)"
                ) from None
            raise StorageError(
                f"storage {hidden(url)!r} is not a SQLite database ({e.orig}){journal or '; give a new file or a database made by nasproxy'}"
            ) from None
        if scheme.startswith("postgres") and (said := _from_environment(e.orig or e, url)) is not None:
            raise StorageError(f"storage URL {hidden(url)!r}: {said}") from None
        if scheme.startswith("postgres") and (refused := option_refused(e.orig or e)) is not None:
            raise StorageError(f"storage URL {hidden(url)!r}: {refused}") from None
        if scheme.startswith("postgres") and isinstance(e, sqlalchemy.exc.OperationalError):
            raise StorageError(f"storage {hidden(url)!r}: {connection_failed(url, e.orig or e)}") from None
        raise
    finally:
        engine.dispose()
    if tables and not tables & _OPTUNA_TABLES:
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise StorageError(
            f"storage {hidden(url)!r} holds another application's tables ({shown}) and no Optuna study; give a database of its own "
            "(a new sqlite:///FILE.db, or a new PostgreSQL database)"
        )
    if not scheme.startswith("sqlite"):  # a relative SQLite path names another file after a chdir
        _checked.add(url)


LIBPQ_VARIABLES = {"connect_timeout": "PGCONNECT_TIMEOUT", "application_name": "PGAPPNAME"}  # the rest: PG + NAME, no '_'


def _from_environment(error: BaseException, url: str) -> str | None:
    """The one line for libpq's refusal of a connection option's value (``error``) that an environment variable gave,
    the URL giving no such option (libpq reads ``PGSSLMODE`` for ``sslmode``, ``PGPORT`` for a URL without a port, and so
    on); None for another failure. Before branch probe61 ``PGSSLMODE=bogus`` was "its option sslmode=bogus is not a value
    libpq takes; correct it in the URL", of a URL that gives none, and ``PGPORT=abc`` "cannot connect to PostgreSQL at
    127.0.0.1:5432: ... invalid integer value "abc" for connection option "port"; is a PostgreSQL server listening there?"."""
    from sqlalchemy.engine import make_url

    found = re.search(r'invalid \w+ value "[^"]*" for connection option "(\w+)"', " ".join(str(error).split()))
    refused = option_refused(error) if found is None else None
    option = found[1] if found else (m[1] if refused and (m := re.match(r"its option (\w+)=", refused)) else None)
    if option is None:
        return None
    variable = LIBPQ_VARIABLES.get(option, "PG" + option.upper().replace("_", ""))
    in_url = option in dict(parse_qsl(url.partition("?")[2])) or (option == "port" and make_url(url).port is not None)
    if variable not in os.environ or in_url:
        return None
    return (
        f"the environment's {variable}={shown(os.environ[variable])} gives libpq's option {option} (the URL "
        "gives none), and it is not a value libpq takes; correct or unset it"
    )


def _check_schema(engine: Any, url: str) -> None:
    """Refuse a database of Optuna's tables in another schema version: Optuna would add the tables it misses
    to a SQLite file before its own check refuses it, changing a file the command then does not use; and
    its own words for a newer schema ("optuna storage upgrade") cannot help: an older Optuna reads it."""
    import optuna
    import sqlalchemy
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    with engine.connect() as connection:
        found = connection.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).scalar()
        try:
            made_by = connection.execute(sqlalchemy.text("SELECT library_version FROM version_info")).scalar()
        except sqlalchemy.exc.DatabaseError:  # no such table or column: a schema that does not say
            made_by = None
    config = Config()
    config.set_main_option("script_location", str(Path(optuna.storages.__file__).parent / "_rdb" / "alembic"))
    script = ScriptDirectory.from_config(config)
    head = script.get_current_head()
    if found == head:
        return
    ours = f"this nasproxy's Optuna ({optuna.__version__}) reads schema {head}"
    if found not in {r.revision for r in script.walk_revisions()}:  # a revision this Optuna does not know: a newer one's
        made = made_by.strip().removeprefix("v") if isinstance(made_by, str) else ""
        newer, needed = (f"Optuna {made}", f"'optuna>={made}'") if made else ("a newer Optuna", "optuna")
        raise StorageError(
            f"storage {hidden(url)!r} holds Optuna tables of schema {found}, made by {newer}; {ours} and cannot read them "
            f"(optuna storage upgrade cannot help: it upgrades old schemas): pip install -U {needed}, or give a new database"
        )
    raise StorageError(
        f"storage {hidden(url)!r} holds Optuna tables of schema {found}, {ours}; "
        f"give a new {'file' if url.startswith('sqlite') else 'database'}, or convert it first with: optuna storage upgrade --storage {hidden(url)}"
    )


def check_journal(path: Path) -> None:
    """Refuse a non-empty file whose first line is not an Optuna journal record (it would be
    appended to, or misread as a storage without studies)."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with path.open("rb") as f:
        first = f.readline(1 << 16)
    if not first.endswith(b"\n") and (first.startswith(RECORD_START) or RECORD_START.startswith(first)):
        return  # the first record is being written right now, or was cut short (a crash, a full disk): the journal sets it aside
    if not _journal_record(first):
        if first.startswith(SQLITE_HEADER):  # before stop 50 (probe50) the same words as for any foreign file
            raise StorageError(f"storage {path} is a SQLite database, not an Optuna journal; give it as a URL: --storage sqlite:///{path}")
        raise StorageError(
            f"storage {path} is not an Optuna journal (its first line is not a journal record); give a new file or a journal made by nasproxy"
        )


def _sqlite_header(path: Path) -> bool:
    """Whether ``path`` begins as every SQLite database file does (:data:`SQLITE_HEADER`)."""
    try:
        with path.open("rb") as f:
            return f.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


RECORD_START = b'{"op_code"'  # how every record Optuna's journal writes begins (its first key)
SQLITE_HEADER = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database file


def _journal_record(line: bytes) -> bool:
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):  # (nested too deeply: uncaught before fix62a)
        return False
    return isinstance(record, dict) and "op_code" in record


def _journal_first_line(path: Path) -> bool:
    """Whether ``path`` is a file whose first line is an Optuna journal record (a journal given as a SQLite URL)."""
    try:
        with path.open("rb") as f:
            return _journal_record(f.readline(1 << 16))
    except OSError:
        return False


def check_writable_storage(url: str | None, study: str) -> None:
    """Refuse in one line, before a command writes anything, a journal or SQLite file that cannot be
    written (nor its folder, where the journal's lock is made). Database servers are not checked."""
    url = url or default_storage_url(study)
    path = storage_file(url)
    if path is None:
        return
    if path.is_file():  # read before it is written: before fix43a, a journal this user may not read was "cannot write" it
        try:
            path.open("rb").close()
        except PermissionError:
            raise _unreadable(path) from None
    check_writable(path)
    if path.exists():
        check_writable(path.parent)  # a file there is judged as a journal when opened (a set's own: "not an Optuna journal")
    else:
        checks.not_a_synthetic_set("storage", path.parent, path)  # a new journal (and its lock) among a set's files


def _unreadable(path: Path) -> StorageError:
    return StorageError(f"cannot read storage {shorten(path)}: permission denied; change its permissions, or give a journal you may read")


def require_existing(url: str | None, study: str) -> None:
    """For commands that only read a study (worker, dashboard, correlate --study): refuse a journal
    or SQLite file that does not exist, instead of creating an empty one."""
    url = url or default_storage_url(study)
    path = storage_file(url)
    if path is None:
        return
    if not path.exists():
        raise StorageError(
            f"storage {path} does not exist, so it holds no study {study!r}; check --study and --storage (run 'nasproxy search' first)",
            missing=path,
        )
    if url.startswith("sqlite:///") and path.is_file() and path.stat().st_size == 0:  # opening it would write Optuna's tables
        raise StorageError(f"storage {path} is an empty file, so it holds no study {study!r}; check --study and --storage")


def database_url(url: str) -> str | None:
    """``url`` with its database driver made explicit (see :data:`DEFAULT_DRIVERS`); ``None`` when it
    does not name a database (a journal file path)."""
    scheme, colon, rest = url.partition(":")
    if not colon or scheme.split("+")[0] not in DATABASE_SCHEMES:
        return None
    return f"{DEFAULT_DRIVERS.get(scheme, scheme)}:{rest}"


def maximizing_study(backend: BaseStorage, name: str) -> optuna.Study:
    """The study ``name`` in ``backend``, created (direction maximize) when missing. A journal logs every
    ``create_study``, even one that finds the study, so it is loaded first: the same command run again
    after it finished adds nothing to the journal (it grew a line per call and study)."""
    import optuna

    try:
        return optuna.load_study(study_name=name, storage=backend)
    except KeyError:  # missing; create_study still loads it where another process made it meanwhile
        return optuna.create_study(study_name=name, storage=backend, direction="maximize", load_if_exists=True)


__all__ = [
    "EXTRAS_ATTR",
    "Storage",
    "StorageError",
    "artifact_dir",
    "check_form",
    "check_journal",
    "check_writable_storage",
    "database_url",
    "default_storage_url",
    "journal_path",
    "maximizing_study",
    "open_storage",
    "require_existing",
    "storage_file",
    "study_dir",
]
