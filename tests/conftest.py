"""Shared fixtures: small, fast distillation settings on scikit-learn's digits (always present)."""

from __future__ import annotations

import json
import os
import signal
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests import children
from tests.pg import PostgresServer, throwaway_server

if TYPE_CHECKING:
    from nas_proxy.distill import DistillConfig

# every process of the run on one thread (torch's OpenMP, NumPy's OpenBLAS), as `make test` runs it: a bare `pytest`
# without OMP_NUM_THREADS started the warm server (tests/warm.py) with OpenBLAS's second thread, and the server, that
# forks only while it has one, refused every command: all ran cold, and test_warm.py's 11 tests of warm processes failed
os.environ.setdefault("OMP_NUM_THREADS", "1")

# torch and nasproxy are imported where a fixture uses them, not here: pytest-xdist's controller loads this
# file before it starts the workers and runs no test itself (importing them cost it 1.2 CPU-s, in series)


def tiny_config(**overrides: object) -> DistillConfig:
    """A distillation that takes about a second on 2 CPU cores."""
    from nas_proxy.distill import DistillConfig

    base: dict[str, object] = dict(
        dataset="digits", ipc=2, iterations=6, batch_real=8, net_width=32, device="cpu", log_every=2, checkpoint_every=1000
    )
    base.update(overrides)
    return DistillConfig(**base)  # type: ignore[arg-type]


ROOT = Path(__file__).resolve().parents[1]
DURATIONS = json.loads((Path(__file__).parent / "durations.json").read_text())["seconds"]


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto`` (``make test``): one worker more than the cores this process may run on. The suite is
    CPU-bound, and beside other busy processes a machine shares its cores among whatever is runnable, so
    one more worker takes a larger share. Measured on 2 cores (docs/testing.md), pytest's seconds with 2
    workers against 3: quiet 174 / 171; beside 1 CPU-burning process 243 / 235; beside 2, 333 / 289.
    ``PYTEST_XDIST_AUTO_NUM_WORKERS`` still decides where it is set."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # pytest-xdist's own hook reads it
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return cores + 1


def pytest_configure(config: pytest.Config) -> None:
    """In pytest-xdist's controller (``make test``), before it starts its workers: the warm server they share
    (tests/warm.py; ~5 CPU-s to start, once instead of once a worker). A run without workers starts its own at its
    first command."""
    distributed = config.getoption("numprocesses", None) and config.getoption("dist", "no") != "no"
    if distributed and not hasattr(config, "workerinput") and not config.getoption("collectonly"):
        from tests import warm

        warm.start_shared()
        warm.workers_forked()  # forked from that server, which has imported torch and the rest (~4.5 CPU-s a worker)
        from tests.rewrite_cache import write_rewritten

        write_rewritten(config, Path(__file__).parent)  # once here, as the server starts, not once in each worker
    elif hasattr(config, "workerinput"):
        from tests import warm

        warm.shared_listening()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Test files in order of their measured seconds, longest first (tests/durations.json), each
    file's tests together in their own order: ``make test`` hands pytest-xdist whole files
    (``--dist loadfile``, so a module's fixtures are built once), and the longest go out first, so
    no core is left alone with a long file at the end of the run."""
    items.sort(key=lambda item: -DURATIONS.get(item.nodeid.split("::")[0], 0.0))


@pytest.fixture(scope="session", autouse=True)
def outside_the_checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every test runs in a scratch directory, as a user runs nasproxy in their own: what a command
    writes to its defaults (``studies/NAME/``, ``runs/``) must not land in the checkout, and the
    session fails if a test (or a subprocess it starts with ``cwd=ROOT``) left a study folder there."""
    before = set((ROOT / "studies").iterdir())
    cwd = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))
    yield
    os.chdir(cwd)
    left = sorted(p.name for p in set((ROOT / "studies").iterdir()) - before)
    assert not left, f"tests left {left} in {ROOT / 'studies'}: run their commands in tmp_path"


@pytest.fixture(scope="session", autouse=True)
def ctrl_c_as_in_a_terminal() -> None:
    """SIGINT raises KeyboardInterrupt in the test processes even where the suite was started with it
    ignored (a script's ``make test &``): the in-process interrupt tests need it, and nasproxy, rightly,
    leaves an inherited ignored SIGINT ignored (nas_proxy/interrupts.py). A command started as a
    subprocess then inherits the default too."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _journal_heartbeats_ended() -> Iterator[None]:
    """A search run in this process beats on its journal until the process ends (nas_proxy.studies.journal_beat):
    ended after each test, as the command's process would end, its heartbeat file removed."""
    yield
    beats = sys.modules.get("nas_proxy.studies.journal_beat")
    if beats is not None:
        beats.end_all()


@pytest.fixture(autouse=True)
def _no_process_left(request: pytest.FixtureRequest) -> Iterator[None]:
    """What a test started ends with it (tests/children.py): a drill that failed before it opened its gate or killed
    its commands had left them waiting at the gate after the run (stop 50). The run's warnings name what was killed."""
    with children.noted() as started:
        yield
    if left := [children.end(proc) for proc in started if children.running(proc)]:
        warnings.warn(f"{request.node.nodeid} left processes running, killed: {'; '.join(left)}", pytest.PytestWarning, stacklevel=1)


@pytest.fixture
def beat_clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The monotonic clock a journal's heartbeat judge reads (nas_proxy.studies.journal_beat), moved by hand
    (``beat_clock[0] += 3``): a worker is found dead only once seen unchanged over time, which a test then need not wait."""
    from types import SimpleNamespace

    from nas_proxy.studies import journal_beat

    clock = [1000.0]
    monkeypatch.setattr(journal_beat, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    return clock


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Torch on one intra-op thread, as a subprocess started with OMP_NUM_THREADS=1 runs: a kill drill
    compares its resumed subprocess with the same run in this process bit for bit, and a float sum
    split over another number of threads may round differently."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny DataDAM run on digits, shared read-only by tests."""
    from nas_proxy.distill import distill

    out = tmp_path_factory.mktemp("runs") / "tiny"
    distill(tiny_config(), out, progress=False)
    return out


def copy_of(run: Path, where: Path) -> Path:
    """A copy of the set at ``run`` (without its kept evaluations) at ``where``: what a test that writes into a
    set (evaluate's and score's kept results) works on, the shared ``tiny_run`` staying read-only."""
    import shutil

    from nas_proxy.synthetic import EVALUATIONS

    return Path(shutil.copytree(run, where, ignore=shutil.ignore_patterns(EVALUATIONS)))


def _listing(folder: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(folder)), p.stat().st_mtime_ns) for p in folder.rglob("*"))


@pytest.fixture(autouse=True)
def _tiny_run_stays_read_only(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test given the shared ``tiny_run`` leaves it as it was (before branch left38, ``score`` tests kept
    their results in its ``evaluations/``, so what a later test saw in it depended on the order)."""
    if "tiny_run" not in request.fixturenames:
        yield
        return
    run: Path = request.getfixturevalue("tiny_run")
    before = _listing(run)
    yield
    assert _listing(run) == before, f"{request.node.nodeid} wrote into the shared tiny_run: work on copy_of(tiny_run, tmp_path / NAME)"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server for the whole session (tests/pg.py); its tests skip without the
    server binaries, and fail instead under CI=true."""
    with throwaway_server() as server:
        yield server
