"""What optuna-dashboard shows for a nasproxy study, and launching it.

The study page gets a note (dataset, the proxy and its protocol, space) and, for a proxy that trains
on a synthetic set, the set's image grid as an artifact; single-objective trials report their validation curve, the last epoch
included, as intermediate values (the dashboard plots them), multi-objective trials get it as a note.
Trial costs are also stored as scalar user attributes, the only kind the dashboard tabulates.
"""

from __future__ import annotations

import errno
import functools
import importlib.util
import json
import re
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

import optuna
from optuna.artifacts import FileSystemArtifactStore, upload_artifact

from nas_proxy import checks
from nas_proxy.errors import InvalidArgumentError
from nas_proxy.files import make_dirs, writing
from nas_proxy.search.config import DashboardOptions, SearchConfig
from nas_proxy.search.target import SearchProxy
from nas_proxy.studies.storage import EXTRAS_ATTR, Storage, open_storage, require_existing
from nas_proxy.synthetic import GRID, read_meta

# what GitHub-flavoured Markdown (the dashboard's renderer) turns into a link without brackets:
# an e-mail-like word (``early@0.2ep`` -> mailto:), a URL or www. address
_AUTOLINK = re.compile(r"[\w.+-]*@[\w.-]+|(?:https?://|www\.)\S+")
SEPARATOR = "\n\n---\n\n"  # between the study's description note and what a later stage adds to it
_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


@functools.cache
def notes() -> ModuleType:
    """optuna-dashboard's note functions (``save_note``, ``get_note``: the package's own), loaded from
    its ``_note.py`` without running the package's ``__init__``, which imports the web app and, through
    optuna.importance, scikit-learn: 1.3 CPU-s in every process that writes a study's note (measured
    with ``-X importtime``), while ``_note.py`` imports only optuna. Where that file has moved or
    changed, the package itself (tests/studies/test_dashboard_server.py reads these notes through a
    real dashboard server)."""
    found = importlib.util.find_spec("optuna_dashboard")
    where = list(found.submodule_search_locations or []) if found is not None else []
    spec = importlib.util.spec_from_file_location("nas_proxy._optuna_dashboard_note", Path(where[0]) / "_note.py") if where else None
    if spec is not None and spec.loader is not None and Path(str(spec.origin)).is_file():
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
            loaded = callable(getattr(module, "save_note", None)) and callable(getattr(module, "get_note", None))
        except Exception:  # noqa: BLE001 - any failure of a private file: the public package below
            loaded = False
        if loaded:
            return module
    import optuna_dashboard

    return optuna_dashboard


def md_text(text: object) -> str:
    """``text`` as literal Markdown: no emphasis, link, table cell break or heading made of its
    characters; an e-mail-like or URL-like word becomes a code span (a backslash would not stop
    the dashboard's GFM autolinking: it links the text after escapes are resolved)."""
    out, last = [], 0
    s = str(text)
    for m in _AUTOLINK.finditer(s):
        out += [_SPECIAL.sub(r"\\\1", s[last : m.start()]), md_code(m.group())]
        last = m.end()
    out.append(_SPECIAL.sub(r"\\\1", s[last:]))
    return "".join(out)


def md_code(text: object, cell: bool = False) -> str:
    """``text`` as a Markdown code span, fenced with more backticks than it holds in a row;
    ``cell``: for a table cell, where a ``|`` ends the cell even inside a code span unless escaped."""
    s = str(text).replace("\n", " ")
    fence = "`" * (max((len(r) for r in re.findall("`+", s)), default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    span = f"{fence}{pad}{s}{pad}{fence}"
    return span.replace("|", "\\|") if cell else span


def attach_study_extras(study: optuna.Study, target: SearchProxy, config: SearchConfig, storage: Storage) -> None:
    """Once per study: the description note and, when the proxy trains on a set, the set's grid image."""
    if study.user_attrs.get(EXTRAS_ATTR):
        return
    path = target.synthetic
    lines = [f"# {md_text(study.study_name)}", _proxy_line(target, config, path), ""]
    lines += [
        f"Objectives: {md_text(', '.join(config.objectives))}. Sampler {md_code(config.sampler)}, "
        f"pruner {md_code(config.pruner)}, seed {config.seed}.",
        "",
    ]
    if path is not None:
        lines += [
            "Proxy training: " + md_code(json.dumps(config.proxy.to_dict())),
            "",
            "The synthetic images are in this study's artifacts (grid.png).",
        ]
    else:
        lines += [f"Proxy {md_code(target.name)}: {md_text(target.proxy.describe())}."]
    if config.ladder:
        lines += ["", _ladder_line(config.ladder)]
    note = "\n".join(lines)
    notes().save_note(study, note)
    grid = None if path is None else Path(path) / GRID  # the set was read and checked as its proxy was made
    if grid is not None and grid.is_file():
        store_dir = make_dirs(storage.artifacts(study.study_name))
        with writing(store_dir, grid.stat().st_size):
            upload_artifact(
                artifact_store=FileSystemArtifactStore(str(store_dir)), file_path=str(grid), study_or_trial=study, mimetype="image/png"
            )
    study.set_user_attr(EXTRAS_ATTR, str(storage.artifacts(study.study_name)))  # a scalar: the dashboard prints it as it is


def _ladder_line(spec: str) -> str:
    """The study note's line on its fidelity ladder, every proxy in a code span."""
    from nas_proxy.ladders import parse_ladder

    rungs = parse_ladder(spec)
    steps = [f"{md_code(r.proxy)} ({'every candidate' if i == 0 else r.keep})" for i, r in enumerate(rungs)]
    return (
        f"Fidelity ladder {md_code(spec)}, climbed in this study: {', then '.join(steps)}; a rung starts when the rung below has "
        "finished, and the pick is the top rung's best by validation accuracy (user attributes rung, rungK_score, rungK_seconds)."
    )


def description(study: optuna.Study) -> str:
    """The study note :func:`attach_study_extras` wrote, without what was appended after it
    (:data:`SEPARATOR`); empty when there is none."""
    return notes().get_note(study).split(SEPARATOR)[0] if study.user_attrs.get(EXTRAS_ATTR) else ""


def _proxy_line(target: SearchProxy, config: SearchConfig, path: str | None) -> str:
    """How the candidates are scored, in one sentence (names in code spans: the dashboard renders the note as Markdown)."""
    if path is None:
        return (
            f"Candidates from space {md_code(config.space)} scored by proxy {md_code(target.name)} on {md_code(target.setup.data.dataset)} "
            f"(split seed {target.setup.data.split_seed}); never on the test set."
        )
    meta = read_meta(Path(path))  # its meta.json alone (before fix55a the whole set was read again for this line)
    return (
        f"Candidates from space {md_code(config.space)} trained on the synthetic set {md_code(str(path))} (proxy {md_code(target.name)}: "
        f"{md_text(meta['method'])}, {meta['ipc']} images per class of {md_code(meta['dataset']['name'])}, "
        f"{meta.get('iterations_done', 0)} iterations), scored on the real validation split "
        f"({meta['split']['val_size']} images, split seed {meta['split']['seed']}); never on the test set."
    )


def save_curve_note(trial: optuna.Trial, curve: Sequence[tuple[int, float]]) -> None:
    """The proxy's intermediate values as a table (multi-objective trials have no intermediate values)."""
    rows = "\n".join(f"| {epoch} | {acc:.2f} |" for epoch, acc in curve)
    notes().save_note(trial, f"Validation accuracy while training on the synthetic set\n\n| epoch | accuracy (%) |\n|---|---|\n{rows}\n")


def check_address(host: str, port: int) -> None:
    """Refuse, before anything is printed or served, an empty host (it would listen on every
    interface), a host that does not resolve, and a port this machine cannot listen on (in use,
    or privileged)."""
    checks.text("--host", host)
    if not host.strip():
        raise InvalidArgumentError(
            f"--host {host!r} would serve the dashboard, which has no authentication, on every interface; "
            "give 127.0.0.1 (this machine), or 0.0.0.0 if every interface is really meant"
        )
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as e:
        raise InvalidArgumentError(f"cannot resolve --host {host!r} ({e}); give an address of this machine such as 127.0.0.1") from None
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does: a port in TIME_WAIT is free
        try:
            s.bind(address)
        except OSError as e:
            why = "is in use (another dashboard?)" if e.errno == errno.EADDRINUSE else f"cannot be listened on ({e.strerror})"
            raise InvalidArgumentError(f"port {port} on {host} {why}; pick another with --port") from None


def serve(
    study: str,
    storage_url: str | None,
    host: str = DashboardOptions.host,
    port: int = DashboardOptions.port,
    on_ready: Callable[[str], None] | None = None,
) -> str:
    """Run optuna-dashboard on the study's storage (blocks until Ctrl-C). ``on_ready`` is called
    with the URL once the study is found, before the server starts. Returns the URL served."""
    from optuna_dashboard import run_server

    from nas_proxy.search.study import load_config

    checks.number("port", port, 1, 65535, integer=True)
    require_existing(storage_url, study)  # never create an empty storage only to show nothing
    opened = open_storage(storage_url, study)
    load_config(opened.backend, study)  # a clear error when the study is not there
    check_address(host, port)
    store = FileSystemArtifactStore(str(opened.artifacts(study)))
    address = f"http://{host}:{port}/"
    if on_ready is not None:
        on_ready(address)
    try:
        run_server(opened.backend, host=host, port=port, artifact_store=store)
    except OSError as e:  # taken by another process between check_address's bind and the server's (before stop 50: a traceback)
        if e.errno != errno.EADDRINUSE:
            raise
        raise InvalidArgumentError(
            f"port {port} on {host} was taken by another process as the dashboard started; pick another with --port"
        ) from None
    return address
