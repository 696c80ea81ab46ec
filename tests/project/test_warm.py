"""The tests' warm start (tests/warm.py): a ``python -m nas_proxy`` forked from a process that imported
torch behaves as the same command started cold, in what the drills read (output, exit status, pid,
directory, environment, signals); what it cannot fork runs cold."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from nas_proxy.studies.processes import alive  # a zombie counts as gone
from tests import warm
from tests.gate import CHECKPOINT, Gate

NASPROXY = [sys.executable, "-m", "nas_proxy"]
TINY = ["distill", "--dataset", "digits", "--ipc", "1", "--batch-real", "8", "--device", "cpu", "--quiet"]


@pytest.mark.skipif(warm.COLD, reason="NASPROXY_TEST_COLD=1: every command runs cold")
@pytest.mark.parametrize("args", [["evaluate", "/no/such/set"], ["search", "--n-trials", "0"], ["--version"]])
def test_a_warm_command_prints_and_exits_as_a_cold_one(args: list[str], tmp_path: Path) -> None:
    cold = subprocess.run([*NASPROXY, *args], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    forked = warm.Popen([*NASPROXY, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    out, err = forked.communicate(timeout=300)
    assert forked._warm is not None, warm.refused  # it was forked
    assert (forked.returncode, out, err) == (cold.returncode, cold.stdout, cold.stderr)


@pytest.mark.skipif(warm.COLD, reason="NASPROXY_TEST_COLD=1: every command runs cold")
def test_a_warm_process_runs_its_own_exit_finalizers_not_the_servers(tmp_path: Path) -> None:
    """tests/warm.py turns off, in a forked process, the exit-time finalizers it inherits (torch's): those the
    command registers itself still run at its exit, as in a cold interpreter (a TemporaryDirectory kept to the end)."""
    from tests import run_code

    code = "import builtins, tempfile; builtins.kept = tempfile.TemporaryDirectory(dir=KEEP)"
    done = run_code.run(code.replace("KEEP", repr(str(tmp_path))), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.iterdir()) == []  # removed at exit by its finalizer


@pytest.mark.skipif(warm.COLD, reason="NASPROXY_TEST_COLD=1: every command runs cold")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_a_warm_process_is_its_own_with_its_directory_environment_and_signals(sig: signal.Signals, tmp_path: Path) -> None:
    gate = Gate(tmp_path / "gate", at=CHECKPOINT, let_through=1)  # held in its loop, at its second checkpoint
    env = {**gate.env(), "NASPROXY_TEST_MARK": "warm"}
    cmd = [*NASPROXY, *TINY, "--iterations", "50", "--checkpoint-every", "1", "--out", str(tmp_path / "syn")]
    proc = warm.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, sigint_default=True)
    assert proc._warm is not None, warm.refused
    gate.wait([proc], [proc.pid])  # the pid it reports is the process that reached the gate
    assert os.readlink(f"/proc/{proc.pid}/cwd") == str(tmp_path)
    # its environment is the command's (/proc/PID/environ shows the server's start-up one, tests/warm.py)
    assert (tmp_path / "gate" / f"waiting.{proc.pid}.2").exists()  # NASPROXY_TEST_GATE* came from env
    assert proc.poll() is None
    proc.send_signal(sig)
    gate.open()
    _, err = proc.communicate(timeout=120)
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL and err == ""
    else:  # distill's own handling of Ctrl-C, as in tests/cli/test_cli.py
        assert proc.returncode == 130 and "interrupted at iteration" in err and "Traceback" not in err, err


def test_what_the_server_cannot_start_as_the_command_would_runs_cold(tmp_path: Path) -> None:
    here = dict(os.environ)
    assert warm._warm_request([*NASPROXY, "--help"], None, {**here, "OMP_NUM_THREADS": "7"}, {}, False) is None  # read at import
    assert warm._warm_request([*NASPROXY, "--help"], None, {**here, "PYTHONWARNINGS": "error"}, {}, False) is None
    # an inductor variable is read at run time (the server has not imported torch._inductor): forked with it
    other_cache = {**here, "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor")}
    assert warm.COLD or warm._warm_request([*NASPROXY, "--help"], None, other_cache, {}, False) is not None
    assert warm._warm_request([sys.executable, "-c", "pass"], None, None, {}, False) is None  # not a nasproxy command
    assert warm._warm_request([*NASPROXY, "--help"], None, None, {"preexec_fn": print}, False) is None
    assert warm._warm_request([*NASPROXY, "--help"], tmp_path / "missing", None, {}, False) is None  # subprocess's error, here
    rank = {**here, "TORCHELASTIC_RUN_ID": "r", "TORCH_NCCL_ASYNC_ERROR_HANDLING": "1"}  # what torchrun adds, read at run time
    assert warm.COLD or warm._warm_request([sys.executable, "-u", "-m", "nas_proxy", "--help"], None, rank, {}, False) is not None
    request = warm._warm_request([*NASPROXY, "--help"], tmp_path, {**here, "PYTHONPATH": "/y"}, {}, False)  # PYTHONPATH is applied
    assert warm.COLD or (request is not None and request["cwd"] == str(tmp_path) and request["args"] == ["--help"])


def test_a_server_that_imported_torch_inductor_forks_only_its_own_inductor_variables() -> None:
    """TORCHINDUCTOR_ variables are compared only where the server imported torch._inductor, which read them (a
    PRELOAD of it): a command with other values then runs cold; with none imported, any value is the command's own."""
    request = {"env": {"TORCHINDUCTOR_CACHE_DIR": "/a", "PATH": "/bin"}}
    assert warm._inductor_read(request, ["torch", "numpy"], {"TORCHINDUCTOR_CACHE_DIR": "/b"}) == ""
    assert warm._inductor_read(request, ["torch._inductor.config"], {"TORCHINDUCTOR_CACHE_DIR": "/a"}) == ""
    assert "TORCHINDUCTOR_" in warm._inductor_read(request, ["torch._inductor"], {"TORCHINDUCTOR_CACHE_DIR": "/b"})
    assert "TORCHINDUCTOR_" in warm._inductor_read(request, ["torch._inductor.config"], {})


@pytest.mark.skipif(warm.COLD, reason="NASPROXY_TEST_COLD=1: every command runs cold")
def _torch_cache_dir() -> Callable[[], str]:
    """torch's own ``cache_dir`` (torch/_inductor/runtime/cache_dir_utils.py, a file "without torch dependencies"), loaded
    from its file: imported as torch._inductor's module it imports torch._inductor and torch._dynamo first, 1.4 of this
    test's 1.9 CPU-s (stop 62, perf62a), in a test process whose other tests import neither."""
    import importlib.util

    import torch

    path = Path(torch.__file__).parent / "_inductor" / "runtime" / "cache_dir_utils.py"
    spec = importlib.util.spec_from_file_location("torch_cache_dir_utils_alone", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cache_dir: Callable[[], str] = module.cache_dir
    return cache_dir


def test_commands_started_after_a_training_in_this_process_are_still_warm(monkeypatch: pytest.MonkeyPatch) -> None:
    """Torch writes TORCHINDUCTOR_CACHE_DIR (its default) into os.environ at its first compile-related call
    (a search's FlopCounterMode): every command a test started after its own process had trained ran cold."""
    from types import SimpleNamespace

    cache_dir = _torch_cache_dir()
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    monkeypatch.setattr(warm, "_server", SimpleNamespace(env=dict(os.environ)))  # a server started before it was set
    cache_dir()  # what the first FlopCounterMode of this process does
    assert "TORCHINDUCTOR_CACHE_DIR" in os.environ
    assert warm._warm_request([*NASPROXY, "--help"], None, None, {}, False) is not None


PROBE = [sys.executable, "-m", "tests.warm_probe"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def probe_is_warm(monkeypatch: pytest.MonkeyPatch) -> None:
    if warm.COLD:
        pytest.skip("NASPROXY_TEST_COLD=1: every command runs cold")
    monkeypatch.setattr(warm, "WARM_MODULES", (*warm.WARM_MODULES, "tests.warm_probe"))


@pytest.mark.usefixtures("probe_is_warm")
@pytest.mark.parametrize("mode", ["exec-interrupt", "uncaught", "exit-text", "streams"])
def test_a_warm_process_ends_as_the_interpreter_ends_a_cold_one(mode: str) -> None:
    def run(popen: type[subprocess.Popen[str]]) -> tuple[int | None, str, str]:
        pipes = dict(stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc = popen([*PROBE, mode], cwd=ROOT, text=True, errors="surrogateescape", **pipes)  # type: ignore[call-overload]
        out, err = proc.communicate("a\r\nb", timeout=300)
        return proc.returncode, out, err.strip().splitlines()[-1] if err.strip() else ""  # the traceback's frames differ (runpy's)

    assert run(warm.Popen) == run(subprocess.Popen)


@pytest.mark.usefixtures("probe_is_warm")
@pytest.mark.parametrize(("flags", "unbuffered"), [([], None), ([], "1"), (["-u"], None)], ids=["buffered", "PYTHONUNBUFFERED", "-u"])
def test_a_warm_process_buffers_its_streams_as_a_cold_one(flags: list[str], unbuffered: str | None) -> None:
    # `python -u -m MODULE` is how torchrun starts its ranks (forked warm as well, tests/warm.py)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"} | ({"PYTHONUNBUFFERED": unbuffered} if unbuffered else {})

    def run(popen: type[subprocess.Popen[str]]) -> tuple[int | None, str, str]:
        proc = popen(
            [sys.executable, *flags, *PROBE[1:], "streams"],
            cwd=ROOT,
            env=env,
            text=True,
            errors="surrogateescape",
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = proc.communicate("", timeout=300)
        assert popen is subprocess.Popen or proc._warm is not None, warm.refused  # type: ignore[attr-defined]
        return proc.returncode, out, err

    forked = run(warm.Popen)
    assert forked == run(subprocess.Popen)
    assert ("FileIO FileIO True" in forked[1]) == bool(flags or unbuffered), forked


@pytest.mark.usefixtures("probe_is_warm")
def test_a_warm_process_inherits_pass_fds_as_a_cold_one() -> None:
    # a search's worker processes hand their error line to the command through a pipe (nas_proxy.studies.workers)
    def run(popen: type[subprocess.Popen[bytes]]) -> list[str]:
        pipes = [os.pipe() for _ in range(2)]
        try:
            for _, w in pipes:
                os.dup2(w, w + 20)  # numbers the server may hold itself, in an order unlike the received one
            targets = sorted((w + 20 for _, w in pipes), reverse=True)
            proc = popen([*PROBE, "fds", *map(str, targets)], cwd=ROOT, pass_fds=targets)
            assert popen is subprocess.Popen or proc._warm is not None, warm.refused  # type: ignore[attr-defined]
            assert proc.wait(timeout=300) == 0
        finally:
            for _, w in pipes:
                os.close(w)
                with contextlib.suppress(OSError):
                    os.close(w + 20)
        got = []
        for r, w in pipes:  # what arrived in each pipe, its number made the same in both runs
            got.append(os.read(r, 1024).decode().replace(str(w + 20), "N"))
            os.close(r)
        return got

    forked = run(warm.Popen)
    assert forked == run(subprocess.Popen) == ["fd N open\n"] * 2, forked


@pytest.mark.usefixtures("probe_is_warm")
def test_a_warm_process_starts_with_its_starters_signal_mask_as_a_cold_one() -> None:
    """A search starts its worker processes with SIGINT, SIGTERM and SIGHUP blocked until their handlers are installed
    (nas_proxy.studies.workers.start_held: exec keeps the mask); forked, a worker started with none blocked (the
    server's fork cleared the mask), so a Ctrl-C as it started would have met Python's handler, not nasproxy's."""
    from nas_proxy import interrupts

    def run(popen: type[subprocess.Popen[str]]) -> str:
        held = signal.pthread_sigmask(signal.SIG_BLOCK, interrupts.SIGNALS)
        try:
            proc = popen([*PROBE, "mask"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        assert popen is subprocess.Popen or proc._warm is not None, warm.refused  # type: ignore[attr-defined]
        return proc.communicate(timeout=300)[0]

    forked = run(warm.Popen)
    assert forked == run(subprocess.Popen), forked
    assert set(map(int, forked.split())) >= set(interrupts.SIGNALS), forked


# a forked command's own `python -m tests.run_code`: whether its parent is that command (started cold) or not (forked
# from the server), and whether it is in that command's process group
STARTS_ITS_OWN = """
import os, subprocess, sys
code = "import os; print(os.getppid(), os.getpgrp())"
parent, group = subprocess.run([sys.executable, "-m", "tests.run_code", code], capture_output=True, text=True, check=True).stdout.split()
print(int(parent) == os.getpid(), int(group) == os.getpgrp())
"""


@pytest.mark.skipif(warm.COLD, reason="NASPROXY_TEST_COLD=1: every command runs cold")
@pytest.mark.parametrize(("new_session", "said"), [(False, "False True"), (True, "True True")])
def test_a_warm_process_forks_what_it_starts_in_its_process_group(new_session: bool, said: str) -> None:
    """A forked command's own commands (a search's worker processes) are forked too, in its process group (which a
    Ctrl-C reaches); a command in a group of its own (its own session) starts them cold, in that group. Before
    stop 54 a forked search started each worker cold (~4-6 CPU-s each)."""
    from tests import run_code

    done = run_code.run(STARTS_ITS_OWN, capture_output=True, timeout=300, start_new_session=new_session)
    assert (done.returncode, done.stdout.strip()) == (0, said), done.stderr


@pytest.mark.usefixtures("probe_is_warm")
def test_warm_processes_draw_their_own_seeds() -> None:
    seeds = [warm.run([*PROBE, "seeds"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=True).stdout for _ in range(2)]
    assert len(set(seeds[0].split()) & set(seeds[1].split())) == 0, seeds  # python's, numpy's and torch's


@pytest.mark.usefixtures("probe_is_warm")
def test_a_warm_process_takes_its_temporary_folder_from_its_own_tmpdir(tmp_path: Path) -> None:
    """The server's tempfile had found its folder once, and every forked command used it whatever its TMPDIR (the
    torchelastic_* folders of tests/distill/test_sharded.py's launches went to /tmp, not the test's TMPDIR)."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    said = [
        run([*PROBE, "tempdir"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=True).stdout
        for run in (warm.run, subprocess.run)
    ]
    assert said == [f"{tmp_path}\n"] * 2, said


@pytest.mark.usefixtures("probe_is_warm")
def test_a_bad_request_harms_no_other_warm_process(tmp_path: Path) -> None:
    sibling = warm.Popen([*PROBE, "sleep", "600"], cwd=ROOT)
    try:
        assert sibling._warm is not None, warm.refused
        with pytest.raises(FileNotFoundError):  # as subprocess raises it, in this process
            warm.Popen([*PROBE, "sleep", "0"], cwd=tmp_path / "missing")
        assert warm._server is not None
        warm._server.connect().close()  # a client that leaves before it asks
        again = warm.run([*PROBE, "sleep", "0"], cwd=ROOT, timeout=300)
        assert again.returncode == 0 and sibling.poll() is None
    finally:
        sibling.kill()
    assert sibling.wait(timeout=60) == -signal.SIGKILL


@pytest.mark.usefixtures("probe_is_warm")
def test_a_server_killed_9_takes_its_processes_with_it_and_their_clients_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    # a server of this test's own, that imports torch alone (what its forked processes import first: they reach
    # PR_SET_PDEATHSIG as fast as the PRELOAD server's do): the probe needs nothing else, and the other PRELOAD
    # imports cost 6 CPU-s (checked: without the prctl, 3 of 3 runs failed "outlived its server")
    server = warm._Server(preload=("torch",))
    monkeypatch.setattr(warm, "_server", server)
    sleeper = warm.Popen([*PROBE, "sleep", "600"], cwd=ROOT)
    assert warm._server is server and sleeper._warm is not None, warm.refused
    try:
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(timeout=60)
        with pytest.raises(RuntimeError, match="the warm server ended before process"):
            sleeper.wait(timeout=60)
        deadline = time.monotonic() + 60
        while alive(sleeper.pid):  # reparented, then killed by its parent-death signal
            assert time.monotonic() < deadline, f"process {sleeper.pid} outlived its server"
            time.sleep(0.05)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(sleeper.pid, signal.SIGKILL)
        server.close()


def test_a_run_started_without_omp_num_threads_still_forks_its_commands(tmp_path: Path) -> None:
    """A bare ``pytest`` (no OMP_NUM_THREADS, as ``make test`` sets it): the warm server had imported NumPy with
    OpenBLAS's second thread, refused every fork ("the server has 2 threads"), and every command ran cold (stop 50:
    test_warm.py's 11 tests of warm processes failed). tests/conftest.py runs the suite on one thread."""
    (tmp_path / "test_bare.py").write_text(
        "import sys\nfrom tests import warm\n\n\n"
        "def test_forked(monkeypatch):\n"
        "    monkeypatch.setattr(warm, '_server', warm._Server(preload=('numpy',)))  # what starts OpenBLAS's threads\n"
        "    monkeypatch.setattr(warm, 'WARM_MODULES', (*warm.WARM_MODULES, 'tests.warm_probe'))\n"
        "    done = warm.run([sys.executable, '-m', 'tests.warm_probe', 'sleep', '0'], timeout=300)\n"
        "    assert done.returncode == 0 and warm.refused == '', warm.refused\n"
    )
    # as a user's shell starts it: nor TORCHINDUCTOR_CACHE_DIR, which torch writes into this process's environment once a
    # test here trained (until stop 58 the bare run's warm module then imported torch to compare it with torch's default)
    bare = ("PYTEST_", "OMP_", warm.SHARED, warm.FRESH, "TORCHINDUCTOR_CACHE_DIR")
    env = {k: v for k, v in os.environ.items() if not k.startswith(bare)}
    env["PYTHONPATH"] = str(ROOT)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest", "--basetemp", str(tmp_path / "base")]
    done = subprocess.run([*cmd, "test_bare.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
