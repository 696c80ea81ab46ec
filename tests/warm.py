"""``python -m nas_proxy ...`` for the tests, forked from a process that has already imported torch.

Starting a Python process that imports torch costs this machine about 2 CPU-seconds, and the drills
start about a hundred of them: as much CPU as the rest of their work. ``warm.Popen`` and ``warm.run``
take the arguments of :mod:`subprocess`'s; a command ``[sys.executable, "-m", "nas_proxy", ...]`` (or
one of the ``WARM_MODULES``) is forked from a server (in a pytest-xdist run, one that pytest-xdist's controller
starts as its workers start, shared by them all (tests/conftest.py); otherwise one per test process, started at its
first such command; in the test run's process group) that imported torch, NumPy, Optuna and the other ``PRELOAD`` libraries and nothing of nasproxy, and
anything else runs as a plain subprocess. The forked process is a real process with its own pid,
working directory, environment, stdin, stdout and stderr (made as CPython makes them), signal
dispositions (ignored ones inherited) and seeds, and it ends as the interpreter ends: threads joined,
atexit run, streams flushed, the exit status of ``SystemExit``, 1 and the traceback for an uncaught
exception, death by SIGINT after an uncaught KeyboardInterrupt (or one that passed through ``exec()``).
kill -9, SIGINT, SIGTERM and ``os.kill`` reach it as they reach a subprocess.
``tests/project/test_warm.py`` compares warm and cold processes.

What differs, and nothing of nasproxy or of the tests reads: ``/proc/PID/cmdline``, ``/proc/PID/environ``
and ``sys.orig_argv`` are the server's; str hashes are the server's (``PYTHONHASHSEED`` is drawn at
start-up); the interpreter is not finalised (``os._exit`` after the above), and the server reaps a
process as soon as it ends, so ``os.kill(pid, 0)`` fails before ``wait()``, where a zombie would answer; the
objects of the ``PRELOAD`` libraries are frozen (:func:`gc.freeze`: never collected, as they live to the end anyway),
and their exit-time finalizers (torch's, that unregister its operators) do not run in a forked process.
A forked command's own ``subprocess.Popen`` of such a command is forked too (a search's worker processes, ``-m
nas_proxy.cli.worker_process``: a worker's parent is the server, and it watches its search by the pid on its command
line), with the signal mask its requester had (``workers.start_held`` blocks the signals a worker handles until its
handlers are installed, as exec keeps them), in the requester's process group: a requester in another group than the
server's (its own session) starts its commands cold.
torchrun's launcher (``-m torch.distributed.run``) is forked, and so are its ranks (``python -u -m MODULE``,
each in its own session, as torch's launcher starts them): a rank's parent is the server, not the launcher
(its ``os.getppid()``), and the launcher watches and stops it through its Popen (poll, wait, ``killpg``).
Only the interpreter's start-up is skipped, so the tests of start-up itself (``tests/cli/test_startup.py``:
Ctrl-C at each moment of it, the imports of ``--help``) start their processes cold, as does any command
whose environment differs from the server's in a variable read at import (``OMP_*``, ``TORCH*``,
``PYTHON*`` but ``PYTHONPATH`` and ``PYTHONUNBUFFERED``, ...) and one asked to start in a directory that does not exist (so that
``Popen`` raises here, as subprocess does).

``NASPROXY_TEST_COLD=1`` runs every command as a plain subprocess (the same tests, cold).

The server forks only while it has one thread (checked before each fork: a fork of a process with
other threads may inherit a held lock); SIGINT and SIGTERM are blocked across the fork, and whatever a
child raises before it runs the command ends that child alone. A server killed -9 takes its forked
processes with it (nobody could wait for them any more), and their clients fail with that reason.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import io
import json
import os
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# what nasproxy commands import, nothing of nasproxy itself: torch, NumPy and Optuna (every command);
# scipy.stats (the metrics, ~0.8 s), pandas (Optuna's trials table) and matplotlib's pyplot (the reports):
# forked, a distill or search command takes ~1 s here instead of ~4-5 s (load 3, 2 cores). Not torch._dynamo (preloaded
# until stop 55): torch imports it at a first torch.optim step or FlopCounterMode, and no forked command makes either since
# stop 54 (training.SGD; the project's networks' FLOPs counted from their layers); it cost every server 5.2 CPU-s at
# load 16 (importing PRELOAD: 14.3 CPU-s with it, 9.1 without). Its import also brings torch._inductor, which writes TORCHINDUCTOR_CACHE_DIR into os.environ:
# preloaded, the server refuses every request (_inductor_read) and the whole run starts cold (stop 62, RESULTS §27a). Not torchvision: only a dataset download imports it (a set's grid.png is drawn with Pillow)
PRELOAD = ("torch", "numpy", "optuna", "scipy.stats", "pandas", "matplotlib.pyplot")
# `python -m MODULE` commands that are forked (tests/run_code.py: `python -c CODE` of a test that needs no cold start;
# torch.distributed.run: torchrun's launcher, whose ranks, `python -u -m MODULE` each in its own session, the server
# forks too; tests.sharded_worker: a rank that dies mid-run, tests/distill/test_sharded.py; tests.uncapable: nasproxy as
# root without capabilities, bound by file modes as any user)
WARM_MODULES = (
    "nas_proxy",
    "nas_proxy.cli.worker_process",
    "tests.sigint_at",
    "tests.run_cases",
    "tests.run_code",
    "tests.sharded_worker",
    "tests.uncapable",
    "tests.xdist_worker",
    "torch.distributed.run",
)
# a pytest-xdist worker (execnet's ``python -u -c BOOTSTRAP``), forked as `python -u -m tests.xdist_worker` (workers_forked)
XDIST_WORKER = "tests.xdist_worker"
IMPORT_TIME_VARIABLES = ("OMP_", "MKL_", "OPENBLAS_", "TORCH", "PYTORCH", "CUDA", "NVIDIA", "KMP_", "GOMP_", "LD_", "PYTHON")
# not compared with the server's: what torchrun's launcher adds to its ranks' environment, read by torch.distributed
# at run time only (in functions: the rendezvous, the process group, the elastic error file), never at import; and
# PYTHONUNBUFFERED, which the forked process applies to its standard streams as start-up does (_std_streams)
# TORCHINDUCTOR_*: read by torch._inductor's modules, which the server does not import (PRELOAD: a forked command that
# compiles imports them itself, with its own environment; a server that had imported them refuses a request whose
# TORCHINDUCTOR_ variables differ from its own, _inductor_read). Torch writes TORCHINDUCTOR_CACHE_DIR into os.environ
# at a process's first compile-related call (a search's FlopCounterMode, a first optimizer): compared as read at import,
# every command of a test process that had trained ran cold (4-5 CPU-s each instead of 0.3); compared with torch's
# default (stop 38), every rank of a torchrun launch whose TMPDIR differs did (stop 58: ~6 CPU-s a launch)
RUN_TIME_VARIABLES = ("TORCHELASTIC_", "TORCH_NCCL_ASYNC_ERROR_HANDLING", "PYTHONUNBUFFERED", "TORCHINDUCTOR_")
INDUCTOR = "TORCHINDUCTOR_"
SERVER_START_S = 600  # fails a test whose server never listens (it imports torch first; never a duration anything must outlast)
CLOSE_S = 60  # the server ends on SIGTERM at the session's end (its forked commands with it); one that has not by then is killed
INHERITED = (signal.SIGHUP, signal.SIGQUIT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM)  # SIG_IGN or SIG_DFL
COLD = os.environ.get("NASPROXY_TEST_COLD", "") not in ("", "0")
_MESSAGE = 1 << 20
SHARED = "NASPROXY_TEST_WARM_SERVER"  # ADDRESS PID IMPORT_TIME_ENV_JSON of the server a pytest-xdist run's workers share
FRESH = "NASPROXY_TEST_WARM_FRESH"  # set beside SHARED where torch's bytecode was not yet written when the server started
# a file the server appends each forked process's end to (CLOCK_MONOTONIC seconds, its CPU-s: user + system), where
# set: a profile of the suite gives each test the CPU of its warm commands, which the server, not the test, reaps
CPU_LOG = os.environ.get("NASPROXY_TEST_WARM_CPU_LOG", "")
PASS_FDS_MAX = 8  # descriptors a forked command may inherit beside its standard streams (Popen's pass_fds)
PARENT_POLL_S = 0.5  # how often the server looks whether its test process still runs (a child's end wakes it at once)


def _import_time_env(env: dict[str, str]) -> dict[str, str]:
    return {
        k: v
        for k, v in env.items()
        if k.startswith(IMPORT_TIME_VARIABLES)
        and k != "PYTHONPATH"
        and not k.startswith(RUN_TIME_VARIABLES)
        and not _librarys_default(k, v)
    }


# what scikit-learn's import writes into os.environ (setdefault), for Intel's OpenMP runtime, which reads them when
# it loads: none is installed here (torch, NumPy and scikit-learn bring GNU's libgomp, which reads no KMP_ variable).
# A pytest-xdist worker imports scikit-learn as it collects (tests/bad_inputs_files.py): its commands differed from
# the shared server's environment (started before that) in these two, and all of them ran cold
SKLEARN_DEFAULTS = {"KMP_DUPLICATE_LIB_OK": "True", "KMP_INIT_AT_FORK": "FALSE"}


def _librarys_default(key: str, value: str) -> bool:
    """Whether ``key=value`` is what a library itself writes into ``os.environ``, that reads the same set or unset:
    scikit-learn's :data:`SKLEARN_DEFAULTS`."""
    return key in SKLEARN_DEFAULTS and SKLEARN_DEFAULTS[key] == value


# ---------------------------------------------------------------------------------------------- client


class _Server:
    """This process's server: started at first use, ended with this process."""

    def __init__(self, preload: Sequence[str] = PRELOAD) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="nasproxy-warm-"))
        self.address = str(self.folder / "socket")
        self.env = dict(os.environ)
        self.pid: int | None = None  # a server another process started, whose end connect() watches
        log = open(self.folder / "server.log", "wb")  # noqa: SIM115 (the server's own output, read when it fails)
        self.proc = subprocess.Popen(
            [sys.executable, __file__, self.address, str(os.getpid()), *preload],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # in this process's group and session, as its forked commands are; it ignores SIGINT itself
            env=self.env,
        )
        log.close()
        from tests import children  # here, not at the top: the server runs this file as a script, without tests/ importable

        children.outlives_its_test(self.proc)  # it serves the tests after the one whose command started it
        atexit.register(self.close)

    @classmethod
    def forked_from(cls, address: str, env: dict[str, str], pid: int | None = None) -> _Server:
        """In a process the server forked (torchrun's launcher), or in a pytest-xdist worker (``pid``: the server
        its controller started, :func:`start_shared`): the same server, for the processes it starts."""
        server = cls.__new__(cls)
        server.folder, server.address, server.env, server.pid = Path(address).parent, address, env, pid
        server.proc = None  # type: ignore[assignment]  # not this process's child: nothing to end
        return server

    @classmethod
    def shared(cls) -> _Server | None:
        """The server of this pytest-xdist run (:data:`SHARED`, set by :func:`start_shared` in its controller), if any."""
        value = os.environ.get(SHARED)
        if not value:
            return None
        address, pid, env = value.split(" ", 2)
        return cls.forked_from(address, json.loads(env), int(pid))  # compared by its import-time variables only

    def connect(self) -> socket.socket:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                sock.connect(self.address)
                return sock
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                if (self.proc is not None and self.proc.poll() is not None) or (self.pid is not None and not _running(self.pid)):
                    log = self.folder / "server.log"
                    raise RuntimeError(f"the warm server ended: {log.read_text()[-3000:] if log.exists() else ''}") from None
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the warm server (pid {getattr(self.proc, 'pid', '?')}) does not listen at {self.address}"
                    ) from None
                time.sleep(0.01)

    def listening(self) -> None:
        """Returns once the server listens (it has imported what it preloads), or has ended: then the first command
        that asks it says why (:meth:`connect`)."""
        deadline = time.monotonic() + SERVER_START_S
        while not os.path.exists(self.address) and self.pid is not None and _running(self.pid) and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(CLOSE_S)
            except subprocess.TimeoutExpired:  # kept: a server started with SIGTERM blocked did so (fixed in serve, fix61b)
                print(f"tests/warm.py: the warm server (pid {self.proc.pid}) outlived SIGTERM for {CLOSE_S} s: killed", file=sys.stderr)
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


_server: _Server | None = None
refused = ""  # why the server refused to fork the last command made here ("" where it forked it or none asked it)
# the CPU-s (user + system) of the forked processes this process waited for, and of those they had forked in turn (a
# search's workers, torchrun's ranks): the server reaps them, so no test process's RUSAGE_CHILDREN counts them; a
# profile of the suite adds what this grew by during each test (docs/testing.md)
forked_cpu = 0.0


def start_shared() -> None:
    """In pytest-xdist's controller, before it starts its workers: one server for them all (they inherit
    :data:`SHARED`), instead of one each that imports torch and the rest again (~5 CPU-s a worker). It is the
    controller's child, ended with it; its commands are in the run's process group, as each worker's were."""
    global _server
    if COLD or os.environ.get(SHARED):
        return
    fresh = _bytecode_unwritten()  # before the server starts writing it
    _server = _Server()
    os.environ[SHARED] = f"{_server.address} {_server.proc.pid} {json.dumps(_import_time_env(_server.env))}"
    if fresh:
        os.environ[FRESH] = "1"


def workers_forked() -> None:
    """In pytest-xdist's controller, after :func:`start_shared`: its workers (execnet's ``python -u -c BOOTSTRAP``, which
    then reads its code from stdin) forked from the server as ``python -u -m tests.xdist_worker``, instead of cold
    interpreters that each import torch, NumPy, Optuna, SciPy, pandas and pyplot again as they collect (~4.5 CPU-s a
    worker, stop 59). Only where the controller runs in the checkout (``make test``), whose ``tests`` the forked worker
    imports; the worker runs the tests as a cold one does: its own commands go through this module or not, as each
    test chooses (not :func:`_forks_its_own`)."""
    if _server is None or os.getcwd() != str(Path(__file__).resolve().parents[1]):
        return
    from execnet import gateway_io

    cold_init = gateway_io.Popen2IOMaster.__init__

    def init(self: Any, args: list[str], execmodel: Any) -> None:
        if list(args) != [sys.executable, "-u", "-c", gateway_io.popen_bootstrapline]:
            return cold_init(self, args, execmodel)
        self.popen = p = Popen([sys.executable, "-u", "-m", XDIST_WORKER], stdout=subprocess.PIPE, stdin=subprocess.PIPE)
        gateway_io.Popen2IO.__init__(self, p.stdin, p.stdout, execmodel=execmodel)  # as Popen2IOMaster does
        return None

    gateway_io.Popen2IOMaster.__init__ = init  # type: ignore[method-assign]


def shared_listening() -> None:
    """In a pytest-xdist worker, before it collects (its test modules import torch): in the first run of a fresh
    environment, where torch's bytecode is not yet written (uv and pip install without it; ``make test`` writes it),
    it waits until the shared server has imported the ``PRELOAD`` libraries. Beside it, each worker compiled the
    same modules again at once (~8 CPU-s each)."""
    server = _Server.shared()
    if server is not None and os.environ.get(FRESH):
        server.listening()


def _bytecode_unwritten() -> bool:
    """Whether torch's bytecode is still to be written (the first run of a fresh environment)."""
    import importlib.util

    spec = importlib.util.find_spec("torch")  # finds the file without importing torch
    origin = spec.origin if spec is not None else None
    return not sys.dont_write_bytecode and origin is not None and not Path(importlib.util.cache_from_source(origin)).exists()


def _running(pid: int) -> bool:
    """Whether process ``pid`` runs (not yet reaped, a zombie has ended: another process's child is reaped by it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


_server_lock = threading.Lock()
_serving: tuple[str, dict[str, str]] | None = None  # in the server: its address and environment


def _sigint_default() -> None:
    # A shell starts background jobs (`cmd &`, nohup, some CI runners) with SIGINT ignored, and an
    # ignored signal stays ignored across exec: Python would then never raise KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _warm_request(args: Sequence[Any], cwd: Any, env: dict[str, str] | None, kwargs: dict[str, Any], sigint: bool) -> dict[str, Any] | None:
    """The request that forks ``args``, or None when it must run cold."""
    argv = [os.fspath(a) for a in args] if not isinstance(args, (str, bytes)) else []
    unbuffered = argv[1:2] == ["-u"]  # torchrun's ranks: `python -u -m MODULE ...`
    if unbuffered:
        argv = [argv[0], *argv[2:]]
    if COLD or not argv or len(argv) < 3 or argv[0] != sys.executable or argv[1] != "-m" or argv[2] not in WARM_MODULES:
        return None
    if any(kwargs.get(k) for k in ("preexec_fn", "user", "group", "extra_groups", "shell", "executable")):
        return None
    if kwargs.get("umask", -1) != -1 or kwargs.get("process_group") is not None:
        return None
    if len(kwargs.get("pass_fds") or ()) > PASS_FDS_MAX:
        return None
    env = dict(os.environ if env is None else env)
    cwd = os.path.abspath(os.fspath(cwd)) if cwd is not None else os.getcwd()
    if not os.path.isdir(cwd):  # subprocess raises in this process: so does a cold start
        return None
    global _server
    with _server_lock:  # the server is started only for a command it can fork
        server = _server or _Server.shared()
        if _import_time_env(env) != _import_time_env(dict(os.environ) if server is None else server.env):
            return None
        _server = server or _Server()  # with this process's environment, as compared above
    return {
        "module": argv[2],
        "args": argv[3:],
        "cwd": cwd,
        "env": {os.fsdecode(k): os.fsdecode(v) for k, v in env.items()},
        "new_session": bool(kwargs.get("start_new_session")),
        "pass_fds": sorted(int(fd) for fd in kwargs.get("pass_fds") or ()),  # sent after the 3 standard streams
        "unbuffered": unbuffered,
        "sigint": "default" if sigint or signal.getsignal(signal.SIGINT) is not signal.SIG_IGN else "ignored",  # as inherited
        "ignored": [int(n) for n in INHERITED if signal.getsignal(n) is signal.SIG_IGN],  # exec keeps an ignored signal ignored
        "mask": sorted(int(n) for n in signal.pthread_sigmask(signal.SIG_BLOCK, ())),  # and the signal mask (workers.start_held's)
        "group": os.getpgrp(),  # a process started without a session of its own is in its starter's process group
        "requester": os.getpid(),  # a forked command's own forked processes' CPU is added to its own (forked_cpu)
    }


class Popen(subprocess.Popen[Any]):
    """:class:`subprocess.Popen`, its process forked from the warm server when the command allows.
    ``sigint_default``: the child reacts to SIGINT as in a terminal even where this process ignores
    it; ``cold``: a plain subprocess whatever the command (a test of the interpreter's start-up)."""

    _warm: socket.socket | None = None

    def __init__(self, args: Any, *, sigint_default: bool = False, cold: bool = False, **kwargs: Any) -> None:
        global refused
        refused = ""  # this command's, not an earlier one's: a test that says it names the refusal of the command it checks
        self._request = None if cold else _warm_request(args, kwargs.get("cwd"), kwargs.get("env"), kwargs, sigint_default)
        if sigint_default and self._request is None:
            kwargs["preexec_fn"] = _sigint_default
        super().__init__(args, **kwargs)

    def _execute_child(
        self, args: Any, executable: Any, preexec_fn: Any, close_fds: Any, pass_fds: Any, cwd: Any, env: Any, *rest: Any
    ) -> None:
        if self._request is None:
            return super()._execute_child(args, executable, preexec_fn, close_fds, pass_fds, cwd, env, *rest)  # type: ignore[misc]
        (_startupinfo, _creationflags, _shell, p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite, *_) = rest
        fds = [p2cread if p2cread != -1 else 0, c2pwrite if c2pwrite != -1 else 1, errwrite if errwrite != -1 else 2]
        fds += self._request["pass_fds"]  # each to the same number in the child, as exec keeps them
        assert _server is not None
        message = json.dumps(self._request).encode()
        sock = _server.connect()
        try:
            socket.send_fds(sock, [message], fds)
            reply = sock.recv(_MESSAGE).decode()
        except BaseException:
            sock.close()
            raise
        if not reply.startswith("pid "):  # the server cannot fork safely (it says why): this one runs cold
            global refused
            refused = reply
            sock.close()
            return super()._execute_child(args, executable, preexec_fn, close_fds, pass_fds, cwd, env, *rest)  # type: ignore[misc]
        self._close_pipe_fds(p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite)  # type: ignore[attr-defined]
        self.pid, self._child_created, self._warm = int(reply.split()[1]), True, sock

    def _try_wait(self, wait_flags: int) -> tuple[int, int]:
        if self._warm is None:
            return super()._try_wait(wait_flags)  # type: ignore[misc]
        if wait_flags & os.WNOHANG and not _readable(self._warm):
            return 0, 0
        status = self._warm.recv(_MESSAGE).decode()
        if not status.startswith("status "):
            raise RuntimeError(f"the warm server ended before process {self.pid} did ({status!r})")
        self._warm.close()
        global forked_cpu
        code, *cpu = status.split()[1:]
        forked_cpu += sum(map(float, cpu))
        return self.pid, int(code)

    def _internal_poll(self, _deadstate: Any = None, **_: Any) -> int | None:
        if self._warm is None:
            return super()._internal_poll(_deadstate)  # type: ignore[misc]
        if self.returncode is None and self._waitpid_lock.acquire(False):  # type: ignore[attr-defined]
            try:
                if self.returncode is None:
                    pid, sts = self._try_wait(os.WNOHANG)
                    if pid == self.pid:
                        self._handle_exitstatus(sts)  # type: ignore[attr-defined]
            except (OSError, RuntimeError):
                if _deadstate is None:
                    raise
                self.returncode = _deadstate
            finally:
                self._waitpid_lock.release()  # type: ignore[attr-defined]
        return self.returncode


def _readable(sock: socket.socket) -> bool:
    poller = select.poll()  # not select.select: it refuses descriptors above 1023
    poller.register(sock, select.POLLIN | select.POLLHUP)
    return bool(poller.poll(0))


def run(
    args: Any, *, input: Any = None, capture_output: bool = False, timeout: float | None = None, check: bool = False, **kwargs: Any
) -> subprocess.CompletedProcess[Any]:
    """:func:`subprocess.run` through :class:`Popen`."""
    if capture_output:
        if kwargs.get("stdout") is not None or kwargs.get("stderr") is not None:
            raise ValueError("stdout and stderr arguments may not be used with capture_output.")
        kwargs["stdout"] = kwargs["stderr"] = subprocess.PIPE
    if input is not None:
        if kwargs.get("stdin") is not None:
            raise ValueError("stdin and input arguments may not both be used.")
        kwargs["stdin"] = subprocess.PIPE
    with Popen(args, **kwargs) as process:
        try:
            stdout, stderr = process.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            process.kill()
            exc.stdout, exc.stderr = process.communicate()
            raise
        except BaseException:
            process.kill()
            raise
    done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    if check:
        done.check_returncode()
    return done


# ---------------------------------------------------------------------------------------------- server


def _threads() -> int:
    return len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else 1


def _child(request: dict[str, Any], fds: list[int], server: int) -> None:
    """In the forked process: become ``python -m MODULE ARGS`` as started with the request's
    environment, directory and standard streams, run it, and exit as the interpreter would. SIGINT
    and SIGTERM are blocked until its handlers are the command's (the server blocks them to fork)."""
    import ctypes
    import random
    import runpy

    import torch

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: a server killed -9 takes its
    if os.getppid() != server:  # processes with it, as nobody could wait for them any more
        os._exit(1)
    if request["new_session"]:
        os.setsid()
    # the standard streams to 0-2, then pass_fds to their numbers: moved above them all first, so that
    # no received descriptor is closed or overwritten by another's target
    import fcntl

    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 3 + max([2, *fds, *request["pass_fds"]])) for fd in fds]
    for fd in fds:
        os.close(fd)
    for target, fd in zip([0, 1, 2, *request["pass_fds"]], high, strict=True):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    tempfile.tempdir = None  # found again from TMPDIR at its first use, as in a fresh interpreter (not the server's)
    for sig in (*INHERITED, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_IGN if sig in request["ignored"] else signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler if request["sigint"] == "default" else signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_SETMASK, request["mask"])  # its requester's, as exec keeps it
    # a fresh interpreter's seeds come from the OS: forked ones would share the server's (str hashes do: PYTHONHASHSEED is set at start-up)
    random.seed()
    sys.modules["numpy"].random.seed()
    torch.seed()
    # the preloaded libraries' exit-time finalizers are the server's (all 187 torch's: one per operator library, that
    # unregisters its thousands of operators): run in each forked command at its exit, they cost it ~0.04 CPU-s and
    # print, write and return nothing. The command's own finalizers (weakref.finalize, TemporaryDirectory) still run
    for finalizer in list(weakref.finalize._registry):  # type: ignore[attr-defined]
        finalizer.atexit = False
    _std_streams(request["unbuffered"] or bool(os.environ.get("PYTHONUNBUFFERED")))
    added = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and os.path.abspath(p) not in sys.path]
    sys.path[0:1] = [os.getcwd(), *(os.path.abspath(p) for p in added)]  # as `python -m` builds it
    sys.argv = ["-m", *request["args"]]
    if request["module"] != XDIST_WORKER:  # a pytest-xdist worker's tests start their processes as they choose
        _forks_its_own()
    if request["module"] == "torch.distributed.run":
        _ranks_forked_warm()
    unhandled_interrupt = ctypes.c_int.in_dll(ctypes.pythonapi, "_Py_UnhandledKeyboardInterrupt")
    unhandled_interrupt.value = 0
    code, interrupted = 0, False
    try:
        for folder in added:  # what `site` does with a sitecustomize on PYTHONPATH
            if os.path.exists(site := os.path.join(folder, "sitecustomize.py")) and "sitecustomize" not in sys.modules:
                try:
                    sys.modules["sitecustomize"] = type(sys)("sitecustomize")
                    sys.modules["sitecustomize"].__dict__.update(runpy.run_path(site, run_name="sitecustomize"))
                except Exception as exc:  # noqa: BLE001 (site prints it and goes on)
                    print(f"Error in sitecustomize; set PYTHONVERBOSE for traceback:\n{type(exc).__name__}: {exc}", file=sys.stderr)
        runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException as exc:  # noqa: BLE001 (the interpreter prints any uncaught exception and exits 1)
        sys.excepthook(type(exc), exc, exc.__traceback__.tb_next if exc.__traceback__ else None)  # without this function's frame
        interrupted, code = isinstance(exc, KeyboardInterrupt), 1
    try:  # the interpreter's exit: other threads joined, atexit run, streams flushed
        threading._shutdown()  # type: ignore[attr-defined]
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
    except BaseException:  # noqa: BLE001 (the interpreter ignores errors while it exits)
        pass
    if interrupted or unhandled_interrupt.value:  # CPython leaves by its own SIGINT after an uncaught KeyboardInterrupt,
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # also one that passed through exec() before it was caught
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(code)


def _forks_its_own() -> None:
    """In a forked command: the commands it starts itself through :class:`subprocess.Popen` (a search's worker
    processes, ``python -m nas_proxy.cli.worker_process``, nas_proxy.studies.workers) are forked from this server
    too where they can be, compared with its environment as any command is; anything else runs as before. Each
    search worker started cold cost ~4-6 CPU-s (torch, NumPy and Optuna imported again)."""
    global _server
    assert _serving is not None
    _server = _Server.forked_from(*_serving)
    subprocess.Popen = Popen  # type: ignore[misc,assignment]


def _ranks_forked_warm() -> None:
    """In torchrun's launcher: its ranks (torch's SubprocessHandler starts each in its own session, stops it with
    killpg and watches it with poll and wait) forked from this server too, compared with its environment as
    any command is, instead of cold interpreters that each import torch again (~3 CPU-s a rank)."""
    from torch.distributed.elastic.multiprocessing.subprocess_handler import subprocess_handler

    subprocess_handler.Popen = Popen  # type: ignore[assignment,misc]


def _std_streams(unbuffered: bool) -> None:
    """sys.stdin, stdout and stderr on descriptors 0, 1 and 2 as CPython makes them at start-up (``-u``, or
    PYTHONUNBUFFERED set: stdout and stderr unbuffered)."""
    for fd, name in enumerate(("stdin", "stdout", "stderr")):
        old = getattr(sys, name)
        raw = io.FileIO(fd, "rb" if fd == 0 else "wb", closefd=False)
        buffered = fd == 0 or not unbuffered
        stream: Any = (io.BufferedReader(raw) if fd == 0 else io.BufferedWriter(raw)) if buffered else raw
        line_buffering = buffered and (raw.isatty() or fd == 2)
        text = io.TextIOWrapper(stream, old.encoding, old.errors, newline="\n", line_buffering=line_buffering, write_through=not buffered)
        setattr(sys, name, text)
        setattr(sys, f"__{name}__", text)


def _inductor_read(request: dict[str, Any], modules: Any = sys.modules, env: Mapping[str, str] = os.environ) -> str:
    """Why the server cannot fork ``request`` where it has imported torch._inductor (``modules``), which read the
    TORCHINDUCTOR_ variables of the server's environment (``env``, os.environ): they differ from the command's. ""
    where it can (the usual case: no preloaded library imports torch._inductor)."""
    if not any(name == "torch._inductor" or name.startswith("torch._inductor.") for name in list(modules)):
        return ""
    mine = {k: v for k, v in env.items() if k.startswith(INDUCTOR)}
    if {k: v for k, v in request["env"].items() if k.startswith(INDUCTOR)} == mine:
        return ""
    return "its TORCHINDUCTOR_ variables differ from those the server's torch._inductor read"


def _not_in_my_group(request: dict[str, Any]) -> str:
    """Why the server cannot fork ``request`` as its requester would start it: a process started without a session
    of its own is in its starter's process group (which a Ctrl-C, or a signal sent to the group, reaches), and one
    forked here is in the server's; a requester in another group (another session: a command started with
    ``start_new_session``) has it run cold. "" where it can."""
    if request["new_session"] or request["group"] == os.getpgrp():
        return ""
    return f"its requester's process group {request['group']} is not the server's"


def serve(address: str, parent: int, preload: Sequence[str]) -> None:
    global _serving
    # no signal blocked here, whatever its starter had blocked (a mask is inherited through exec): the server is started
    # at a test's first command, and where that is a search's worker (workers.start_held blocks SIGINT, SIGTERM and
    # SIGHUP around its Popen) it kept SIGTERM blocked for good and outlived the session's terminate() (review60's hang
    # at the end of test_unmet_workers_review60.py -n 0, fix61b). Each forked command gets its requester's mask (_child)
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
    _serving = (address, dict(os.environ))  # the environment the client compares a command's with (_Server.env)
    for module in preload:
        __import__(module)
    # the preloaded libraries' ~400,000 objects into the permanent generation, which the collector never walks: a
    # forked command's first full collection walked them all, and wrote to each object's header, so that the kernel
    # copied nearly every page of the server's heap into the child (copy-on-write): ~0.25 of the ~0.3 CPU-s a
    # trivial forked command cost (`--version`: 0.30 -> 0.05 CPU-s). What a command allocates is collected as ever
    gc.collect()
    gc.freeze()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(address + ".tmp")
    listener.listen(64)
    os.rename(address + ".tmp", address)  # clients connect only once it listens
    if CPU_LOG:
        with open(CPU_LOG, "a") as log:
            usage = resource.getrusage(resource.RUSAGE_SELF)
            log.write(f"{time.monotonic():.3f}\t{usage.ru_utime + usage.ru_stime:.3f}\tserver {os.getpid()} preloaded\n")
    children: dict[int, socket.socket] = {}
    requested_by: dict[int, int] = {}  # a forked process's pid -> the forked process that asked for it
    nested_cpu: dict[int, float] = {}  # a forked process's pid -> the CPU-s of the forked processes it asked for, ended
    server = os.getpid()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C of the test run reaches its commands, not the server
    # a child's end wakes the loop at once (SIGCHLD writes a byte into `woken`), so that it need not look every 10 ms:
    # that polling cost the server ~0.4 % of a core for as long as the suite ran
    woken, wake = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake, warn_on_full_buffer=False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    try:
        while os.getppid() == parent:
            ready = select.select([listener.fileno(), woken], [], [], PARENT_POLL_S)[0]
            if woken in ready:
                with contextlib.suppress(BlockingIOError):
                    while os.read(woken, 4096):
                        pass
            if listener.fileno() in ready:
                conn, _ = listener.accept()
                message, fds, _flags, _addr = socket.recv_fds(conn, _MESSAGE, 3 + PASS_FDS_MAX)
                threads = _threads()
                refused = "" if message and len(fds) == 3 + len(json.loads(message)["pass_fds"]) else "an incomplete request"
                refused = refused or (f"the server has {threads} threads" if threads != 1 else "")
                refused = refused or _not_in_my_group(json.loads(message)) or _inductor_read(json.loads(message))
                if refused:
                    with contextlib.suppress(OSError):
                        conn.send(f"refused: {refused}".encode())
                    conn.close()
                    for fd in fds:
                        os.close(fd)
                    continue
                request = json.loads(message)
                # blocked across the fork: SIGINT and SIGTERM until the child's handlers are the command's, and what its
                # requester had blocked (the child's mask from then on, as exec keeps it), so that none lands between
                held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM, *request["mask"]})
                pid = os.fork()
                if pid == 0:
                    try:  # nothing of the server's survives in the child: whatever happens, it leaves here
                        signal.set_wakeup_fd(-1)
                        os.close(woken)
                        os.close(wake)
                        listener.close()
                        conn.close()
                        for other in children.values():
                            other.close()
                        _child(request, list(fds), server)
                    finally:
                        os._exit(1)
                children[pid] = conn
                if request["requester"] in children:
                    requested_by[pid] = request["requester"]
                signal.pthread_sigmask(signal.SIG_SETMASK, held)
                for fd in fds:
                    os.close(fd)
                try:
                    conn.send(f"pid {pid}".encode())
                except OSError:  # its client is gone: nobody would wait for it
                    os.kill(pid, signal.SIGKILL)
            while children:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
                if pid == 0:
                    break
                if CPU_LOG:  # measuring only: what each forked process cost, which no test process reaps
                    with open(CPU_LOG, "a") as log:
                        log.write(f"{time.monotonic():.3f}\t{usage.ru_utime + usage.ru_stime:.3f}\n")
                cpu = usage.ru_utime + usage.ru_stime + nested_cpu.pop(pid, 0.0)
                requester = requested_by.pop(pid, None)
                if requester is not None and requester in children:  # still running: its own is added as it ends
                    nested_cpu[requester] = nested_cpu.get(requester, 0.0) + cpu
                conn = children.pop(pid)
                with contextlib.suppress(OSError):  # its client may be gone
                    conn.send(f"status {status} {cpu:.6f}".encode())
                conn.close()
    finally:
        if CPU_LOG:  # measuring only: the server's own CPU (its imports, accepting, forking), which nobody reaps either
            with open(CPU_LOG, "a") as log:
                usage = resource.getrusage(resource.RUSAGE_SELF)
                log.write(f"{time.monotonic():.3f}\t{usage.ru_utime + usage.ru_stime:.3f}\tserver {os.getpid()} ended\n")
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(os.path.dirname(address), ignore_errors=True)  # also when its test process was killed


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), sys.argv[3:])
