"""A PostgreSQL server that could not be reached, said in our words: where (``HOST:PORT``), what happened, and
whether a PostgreSQL server answers there at all (before branch fix43a: the driver's words, such as "connection
timeout expired" for the port of an HTTP server, with SQLAlchemy's link to its own documentation)."""

from __future__ import annotations

import os
import re
import socket
import struct

LISTENING = "is a PostgreSQL server listening there?"
DEFAULT_PORT = 5432  # libpq's
PROBE_SECONDS = 2.0  # how long the probe waits for an answer to its first message (a PostgreSQL server's is at once)
SSL_REQUEST = struct.pack("!ii", 8, 80877103)  # the 8 bytes a PostgreSQL client may send first: "may I use SSL?"


def connection_failed(url: str, error: BaseException) -> str:
    """The one line for a connection to the PostgreSQL server of database ``url`` that failed with the driver's
    ``error`` (psycopg's OperationalError); ``url`` is shown with its password hidden by the caller's rule."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    env_host, env_port = os.environ.get("PGHOST", "").strip(), os.environ.get("PGPORT", "").strip()
    query_host = parsed.query.get("host")
    from_env = []  # what libpq took from its environment where the URL says nothing (fix61d)
    host = parsed.host
    if not host and not query_host and env_host:
        query_host, from_env = tuple(env_host.split(",")), [f"PGHOST={env_host}"]
        host = env_host if "," not in env_host and not env_host.startswith("/") else None  # one TCP host: probed below
    port = parsed.port or DEFAULT_PORT
    if parsed.port is None and env_port:
        port = int(env_port) if env_port.isdigit() else port
        from_env.append(f"PGPORT={env_port}")
    where = _where(parsed.host, port, query_host, _socket_tried(error))
    if from_env:
        where = f"{where} ({', '.join(from_env)})"
    reason = _reason(error)
    if reason.startswith("FATAL:"):  # the server answered and refused: its own words are ours (database, role, password)
        return f"the PostgreSQL server at {where} refused the connection: {reason.removeprefix('FATAL:').strip()}"
    if "connection refused" in reason.lower():
        return f"cannot connect to {where}: nothing accepts connections there (connection refused); {LISTENING}"
    answer = _first_answer(host, port) if host else None
    if answer is not None and answer[:1] in (b"S", b"N", b"E"):  # PostgreSQL answers its SSL request with S, N or E
        return f"cannot connect to the PostgreSQL server at {where}: {reason}"  # it listens: the cause is the driver's
    if answer == b"":  # read, then closed: a proxy or port forward with nothing behind it yet, a server starting up
        return (
            f"cannot connect to {where}: it closed the connection without answering PostgreSQL's first message (a proxy "
            f"or port forward with no server behind it, or a server still starting); {LISTENING}"
        )
    if answer is not None:
        web = " (a web server's answer)" if answer.startswith((b"HTTP/", b"<")) else ""
        return (
            f"cannot connect to {where}: the server there is not PostgreSQL (it answered PostgreSQL's first message with "
            f"{_shown(answer)}{web}); {LISTENING} give its port (PostgreSQL's is {DEFAULT_PORT} unless set otherwise)"
        )
    return f"cannot connect to PostgreSQL at {where}: {reason}; {LISTENING}"


def option_refused(error: BaseException) -> str | None:
    """The URL's own connection option that libpq refused before it connected (one it does not know, a value it does
    not take), said as such; None for another failure. Before branch probe43b: ``?foo=bar`` and ``?connect_timeout=abc``
    were SQLAlchemy's words with its link, ``?sslmode=bogus`` asked whether a PostgreSQL server listens there."""
    text = " ".join(str(error).split())
    if unknown := re.search(r'invalid connection option "([^"]*)"', text):
        return f"libpq knows no connection option {unknown[1]!r} (in the URL's ?...); correct its name, or drop it"
    if bad := re.search(r'invalid (\w+) value: "([^"]*)"', text) or re.search(r"bad value for (\w+): '([^']*)'", text):
        return f"its option {bad[1]}={bad[2]} is not a value libpq takes; correct it in the URL"
    return None


def _where(host: str | None, port: int, query_host: object, socket_file: str | None = None) -> str:
    """Where the driver connected: ``HOST:PORT`` (``[::1]:PORT`` for IPv6), or the hosts and sockets of the URL's
    ``?host=`` (or of PGHOST: a UNIX socket's folder starts with /; given twice or more: a list, tried in turn), else the
    local socket (``socket_file``: the one libpq says it tried)."""
    if host:
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    hosts = [query_host] if isinstance(query_host, str) else list(query_host) if isinstance(query_host, tuple) else []
    if not hosts:
        return f"the local socket {socket_file}" if socket_file else "the local socket"
    return " or ".join(f"the socket in {h}" if h.startswith("/") else h if ":" in h else f"{h}:{port}" for h in hosts)


def _socket_tried(error: BaseException) -> str | None:
    """The socket file libpq says it tried (``connection to server on socket "/var/run/postgresql/.s.PGSQL.5432"``)."""
    found = re.search(r'on socket "([^"]+)"', str(error))
    return found[1] if found else None


def _reason(error: BaseException) -> str:
    """The driver's reason on one line, without its "connection to server at ..., port ... failed:" preamble."""
    text = " ".join(str(error).split())
    reason = re.split(r"connection to server (?:at|on) .*? failed: ", text)[-1].removeprefix("connection failed: ")
    return re.sub(r"\s*Is the server running .*$", "", reason)  # libpq's question, which ours asks


def _first_answer(host: str, port: int) -> bytes | None:
    """What the server at ``host:port`` answers a PostgreSQL client's first message with (its first bytes; b"" when
    it closed the connection without a word), or None when it answered nothing in time or cannot be reached."""
    try:
        with socket.create_connection((host, port), timeout=PROBE_SECONDS) as s:
            s.sendall(SSL_REQUEST)
            s.shutdown(socket.SHUT_WR)  # a server that reads lines (HTTP) answers what it has once the client is done
            return s.recv(64)
    except OSError:
        return None


def _shown(answer: bytes) -> str:
    first = answer.split(b"\n")[0].strip()
    text = first.decode("ascii", "replace") if first.isascii() and first.decode("ascii").isprintable() else first.hex(" ")
    return repr(text[:40])
