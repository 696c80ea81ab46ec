"""What optuna-dashboard shows for a nasproxy study, and launching it.

The study page gets a note (dataset, synthetic set, space, proxy protocol) and the synthetic set's
image grid as an artifact; single-objective trials report their validation curve, the last epoch
included, as intermediate values (the dashboard plots them), multi-objective trials get it as a note.
Trial costs are also stored as scalar user attributes, the only kind the dashboard tabulates.
"""

from __future__ import annotations

import errno
import json
import socket
from collections.abc import Callable

import optuna
from optuna.artifacts import FileSystemArtifactStore, upload_artifact

from nas_proxy import checks
from nas_proxy.errors import InvalidArgumentError
from nas_proxy.files import make_dirs, writing
from nas_proxy.search.config import SearchConfig
from nas_proxy.search.proxy import ProxyContext, ProxyResult
from nas_proxy.studies.storage import EXTRAS_ATTR, artifact_dir, open_storage, require_existing
from nas_proxy.synthetic import GRID


def attach_study_extras(study: optuna.Study, ctx: ProxyContext, config: SearchConfig, url: str) -> None:
    """Once per study: the description note and the synthetic set's grid image."""
    from optuna_dashboard import save_note

    if study.user_attrs.get(EXTRAS_ATTR):
        return
    meta = ctx.synthetic.meta
    lines = [
        f"# {study.study_name}",
        f"Candidates from space **{config.space}** trained on the synthetic set `{config.synthetic}` "
        f"({meta['method']}, {meta['ipc']} images per class of **{meta['dataset']['name']}**, "
        f"{meta.get('iterations_done', 0)} iterations), scored on the real validation split "
        f"({meta['split']['val_size']} images, split seed {meta['split']['seed']}); never on the test set.",
        "",
        f"Objectives: {', '.join(config.objectives)}. Sampler {config.sampler}, pruner {config.pruner}, seed {config.seed}.",
        "",
        "Proxy training: `" + json.dumps(config.proxy.to_dict()) + "`",
        "",
        "The synthetic images are in this study's artifacts (grid.png).",
    ]
    note = "\n".join(lines)
    save_note(study, note)
    grid = ctx.synthetic.path / GRID
    if grid.is_file():
        store_dir = make_dirs(artifact_dir(url, study.study_name))
        with writing(store_dir, grid.stat().st_size):
            upload_artifact(
                artifact_store=FileSystemArtifactStore(str(store_dir)), file_path=str(grid), study_or_trial=study, mimetype="image/png"
            )
    study.set_user_attr(EXTRAS_ATTR, {"artifact_dir": str(artifact_dir(url, study.study_name)), "note": note})


def scalar_attrs(result: ProxyResult) -> dict[str, float]:
    """The proxy's costs as flat numbers (``seconds_train``...): the dashboard lists, sorts and plots
    scalar user attributes only, not the nested ``seconds`` dict kept for exports."""
    return {f"seconds_{k}": v for k, v in result.seconds.items() if k != "total"}  # the total is proxy_seconds


def save_curve_note(trial: optuna.Trial, result: ProxyResult) -> None:
    from optuna_dashboard import save_note

    rows = "\n".join(f"| {epoch} | {acc:.2f} |" for epoch, acc in result.curve)
    save_note(trial, f"Validation accuracy while training on the synthetic set\n\n| epoch | accuracy (%) |\n|---|---|\n{rows}\n")


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
    study: str, storage_url: str | None, host: str = "127.0.0.1", port: int = 8080, on_ready: Callable[[str], None] | None = None
) -> str:
    """Run optuna-dashboard on the study's storage (blocks until Ctrl-C). ``on_ready`` is called
    with the URL once the study is found, before the server starts. Returns the URL served."""
    from optuna_dashboard import run_server

    from nas_proxy.search.study import load_config

    checks.number("port", port, 1, 65535, integer=True)
    require_existing(storage_url, study)  # never create an empty storage only to show nothing
    storage, url = open_storage(storage_url, study)
    load_config(storage, study)  # a clear error when the study is not there
    check_address(host, port)
    store = FileSystemArtifactStore(str(artifact_dir(url, study)))
    address = f"http://{host}:{port}/"
    if on_ready is not None:
        on_ready(address)
    run_server(storage, host=host, port=port, artifact_store=store)
    return address
