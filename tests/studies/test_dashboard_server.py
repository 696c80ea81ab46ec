"""A real optuna-dashboard server on a search's storage: the search study, its promotion and
ground-truth studies and the correlation note answer every endpoint the UI polls without a server
error; the promotion study has parameters and a named objective; every trial's attributes are
scalars (a trained architecture's spec too); notes are escaped Markdown."""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from nas_proxy.correlate.archs import from_space
from nas_proxy.groundtruth import study as gt
from nas_proxy.report.render import attach_to_study, write_reports
from nas_proxy.search import search
from nas_proxy.search.dashboard import md_code, md_text, notes
from nas_proxy.search.promotion import candidates
from nas_proxy.search.study import spec_of, study_space
from nas_proxy.spaces import arch_id, get_space
from nas_proxy.studies.queue import results
from nas_proxy.studies.storage import open_storage
from tests import run_code
from tests.correlate.test_correlate_report import metrics, result
from tests.search.test_search import SMALL_SPACE, config, load


def optuna_dashboard() -> Any:
    """The package, imported by the tests that use it (each skips without it), not as the file is collected: every
    pytest-xdist worker collects every file, and the import (scikit-learn with it) took ~0.3 CPU-s in each (perf60a)."""
    return pytest.importorskip("optuna_dashboard")


# what the UI requests while a study page is open (optuna-dashboard 0.21's bundle.js polls the study
# and its importances; the plot endpoints serve the plotly.py rendering, asked only when
# /api/meta says plotly is installed)
PLOTS = ("slice", "parallel_coordinate", "rank", "edf", "timeline", "contour")
# the e-mail autolink of GitHub-flavoured Markdown (remark-gfm, the dashboard's renderer)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


class Served(NamedTuple):
    base: str  # the server's URL
    storage: Path
    promotion: str  # the promotion study's name
    truth: str  # the ground-truth study's name


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def served(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A 4-trial search promoting its best 2, the ground truth of 2 architectures in its storage
    (as ``correlate --study`` puts it there), a correlation note with a proxy named like an e-mail
    address, and the dashboard's WSGI app (what ``run_server`` serves) on a free port."""
    dashboard = optuna_dashboard()  # skips before the trainings without the package
    root = tmp_path_factory.mktemp("dash")
    storage = root / "journal.log"
    # promoted and ground-truth trainings on 200 of digits' training images: the pages serve any accuracy alike
    found = search(
        config(tiny_run), "s", 4, str(storage), out=root / "export", progress=False, promote=2, promote_epochs=1, promote_images=200
    )
    assert found.promotion is not None
    meta = json.loads((tiny_run / "meta.json").read_text())
    opened = open_storage(str(storage), "s")
    truth = gt.open_study(opened, gt.DataRef.of_synthetic(meta), gt.GroundTruthConfig(epochs=1, early=(0.5,), images=200))
    wanted = [(a.spec, 0) for a in from_space(get_space(SMALL_SPACE), 2, seed=0)]
    gt.enqueue(truth, wanted, SMALL_SPACE)
    gt.train(truth, opened, wanted, 1, "cpu", progress=False)
    report = result(root / "report", {"early@0.2ep": metrics(), "a_long_proxy_name*with|marks": metrics()}, 6)
    write_reports(report)
    for _ in range(2):  # a second correlate --study replaces its section of the note
        attach_to_study(load(storage, "s"), report, opened)
    app = dashboard.wsgi(opened.backend)
    server = make_server("127.0.0.1", 0, app, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{server.server_port}", storage, found.promotion["study"], truth.study_name)
    finally:
        server.shutdown()
        server.server_close()


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            body = r.read()
            return r.status, json.loads(body) if r.headers.get_content_type() == "application/json" else body
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def studies(base: str) -> dict[str, int]:
    status, body = get(f"{base}/api/studies")
    assert status == 200
    return {s["study_name"]: s["study_id"] for s in body["study_summaries"]}


def test_no_endpoint_the_ui_polls_answers_a_server_error(served: Served) -> None:
    base = served.base
    ids = studies(base)
    assert set(ids) == {"s", served.promotion, served.truth}
    status, meta = get(f"{base}/api/meta")
    assert status == 200
    plots = PLOTS if meta["plotlypy_is_available"] else ()
    for name, sid in ids.items():
        for path in ("", "?after=0", "/param_importances", *(f"/plot/{p}" for p in plots)):
            status, body = get(f"{base}/api/studies/{sid}{path}")
            assert status < 500, f"{name} {path}: {status} {str(body)[-300:]}"
        status, body = get(f"{base}/api/studies/{sid}/param_importances")
        assert status == 200 and body["param_importances"][0], name  # importances of real parameters


def test_the_promotion_study_has_its_parameters_and_objective_name(served: Served) -> None:
    base, storage, promotion, _ = served
    status, body = get(f"{base}/api/studies/{studies(base)[promotion]}")
    assert status == 200 and body["objective_names"] == ["val_accuracy"]
    search_trials = {t.user_attrs["arch_id"]: t.params for t in load(storage, "s").trials}
    trials = body["trials"]
    assert len(trials) == 2
    for t in trials:  # the promoted candidate's own choices, as the search sampled them
        arch = next(a["value"] for a in t["user_attrs"] if a["key"] == "arch_id")
        assert {p["name"]: json.loads(p["param_external_value"]) for p in t["params"]} == search_trials[arch]


@pytest.mark.parametrize("which", ["promotion", "truth"])
def test_training_attributes_are_scalars_and_read_back_whole(served: Served, which: str) -> None:
    """A trained architecture's spec is one scalar per leaf (``arch.depth``, ...), its early-stopping
    scores one per point: the dashboard prints any other value as JSON clipped at the card's edge.
    The code reads the spec back exactly, checked against the trial's ``arch_id``."""
    name = getattr(served, which)
    _, body = get(f"{served.base}/api/studies/{studies(served.base)[name]}")
    assert body["trials"]
    for t in body["trials"]:
        attrs = {a["key"]: a["value"] for a in t["user_attrs"]}
        blobs = {k: v for k, v in attrs.items() if v[:1] in "{["}
        assert not blobs, blobs
        assert attrs["arch.family"] == "convnet" and "arch.depth" in attrs and "arch_id" in attrs
        assert any(k.startswith("early.") for k in attrs) == (which == "truth")
    if which == "truth":
        trained = [a.spec for a in from_space(get_space(SMALL_SPACE), 2, seed=0)]
    else:
        search_study = load(served.storage, "s")
        trained = [spec for t in candidates(search_study, 2) if (spec := spec_of(t, study_space(search_study))) is not None]
    records = results(load(served.storage, name))
    assert sorted(records) == sorted((arch_id(s), 0) for s in trained)
    for (aid, _), record in records.items():
        assert record["spec"] == next(s for s in trained if arch_id(s) == aid)
        assert isinstance(record["val_accuracy"], float) and isinstance(record.get("early", {}), dict)


def test_search_trial_attributes_are_scalars(served: Served) -> None:
    """The dashboard lists scalar attributes and prints any other as JSON clipped at the card's edge:
    a search trial's spec is its parameters, its curve one attribute per point."""
    base = served.base
    _, body = get(f"{base}/api/studies/{studies(base)['s']}")
    for t in body["trials"]:
        attrs = {a["key"]: a["value"] for a in t["user_attrs"]}
        assert not {k for k, v in attrs.items() if v[:1] in "{["}, attrs
        assert "arch_id" in attrs and any(k.startswith("val_acc_epoch_") for k in attrs)


def test_notes_render_names_literally(served: Served) -> None:
    base = served.base
    _, body = get(f"{base}/api/studies/{studies(base)['s']}")
    note = body["note"]["body"]
    assert note.count("# Correlation report") == 1 and note.startswith("# s\n")  # the search's description, then one report
    assert md_code("early@0.2ep") in note
    outside_code = re.sub(r"(`+).*?\1", "", note)  # remark-gfm links e-mail-like words outside code only
    assert not EMAIL.search(outside_code), EMAIL.search(outside_code)
    assert md_text("a_long_proxy_name*with|marks") == r"a\_long\_proxy\_name\*with\|marks"


def test_notes_are_the_packages_own_without_importing_it() -> None:
    """The note functions come from optuna-dashboard's own file, loaded without the package (whose
    import pulls scikit-learn): a note written either way reads back the same either way, a long one
    (several attribute chunks) included, and writing one imports neither the package nor scikit-learn."""
    import optuna

    package = optuna_dashboard()
    ours = notes()
    assert ours is not package and ours.__name__ == "nas_proxy._optuna_dashboard_note"
    body = "# a note\n\n" + "long line of text " * 400  # > 2,045 characters: stored in several chunks
    for write, read in ((ours.save_note, package.get_note), (package.save_note, ours.get_note)):
        study = optuna.create_study()
        write(study, body)
        assert read(study) == body
        write(study, "shorter")  # a new version replaces the old chunks
        assert read(study) == "shorter"
    script = (
        "import sys, optuna\nfrom nas_proxy.search.dashboard import notes\n"
        "notes().save_note(optuna.create_study(), 'x')\nprint(sorted(m for m in ('optuna_dashboard', 'sklearn') if m in sys.modules))"
    )
    done = run_code.run(script, capture_output=True, timeout=120, check=True)  # fresh (forked warm: its preloads hold neither)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
