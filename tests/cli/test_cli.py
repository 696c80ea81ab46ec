"""The command line end to end: results, one-line errors, exit codes, Ctrl-C and --resume."""

from __future__ import annotations

import io
import json
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from nas_proxy.cli import main
from tests import warm
from tests.gate import CHECKPOINT, Gate
from tests.interrupt import interruptible

TINY = ["--dataset", "digits", "--ipc", "1", "--batch-real", "8", "--device", "cpu", "--quiet"]


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_distill_then_evaluate_as_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "syn"
    code, stdout, _ = run_cli(["distill", *TINY, "--iterations", "4", "--out", str(out)], capsys)
    assert code == 0 and "wrote" in stdout and (out / "grid.png").is_file()
    code, stdout, _ = run_cli(
        ["evaluate", str(out), "--runs", "2", "--epochs", "3", "--model", "depth=2,width=16", "--device", "cpu", "--quiet", "--json"],
        capsys,
    )
    result = json.loads(stdout)
    assert code == 0 and result["runs"] == 2 and len(result["accuracies"]) == 2
    assert result["model"].startswith("depth=2,width=16") and 0 <= result["mean"] <= 100
    assert result["synthetic"]["method"] == "datadam" and result["train"]["epochs"] == 3


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (
            ["distill", "--dataset", "fashion-mnst", "--ipc", "1", "--out", "OUT"],
            ["unknown dataset 'fashion-mnst'", "known: cifar10", "Did you mean 'fashion-mnist'"],
        ),
        (["distill", "--dataset", "mnist", "--ipc", "1", "--out", "OUT"], ["mnist", "--data-root", "--download"]),
        (
            ["distill", "--dataset", "cifar10", "--data-root", "NOWHERE", "--ipc", "1", "--out", "OUT"],
            ["data root NOWHERE does not exist", "cifar10 files"],
        ),
        (["distill", *TINY[:2], "--ipc", "0", "--out", "OUT"], ["ipc must be at least 1, got 0"]),
        (["distill", *TINY[:2], "--ipc", "5000", "--out", "OUT"], ["ipc must be between 1 and", "smallest class of digits"]),
        (["distill", *TINY[:2], "--ipc", "1", "--method", "dc", "--out", "OUT"], ["invalid choice: 'dc'"]),
        (["distill", *TINY[:2], "--ipc", "1", "--device", "cuda:0", "--out", "OUT"], ["no CUDA GPU"]),
        (["evaluate", "NOWHERE"], ["NOWHERE does not exist"]),
        (["evaluate", "X", "--runs", "0"], ["runs must be at least 1, got 0"]),
        (["evaluate", "X", "--model", "depth=3,activation=gelu"], ["activation must be one of"]),
        (["evaluate"], ["the following arguments are required: DIR"]),
    ],
)
def test_bad_input_is_one_line_and_non_zero(
    args: list[str], needles: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "X").mkdir()
    (tmp_path / "X" / "meta.json").write_text("{}")
    try:
        code, _, err = run_cli(args, capsys)
    except SystemExit as e:  # argparse's own errors exit through SystemExit
        code, err = int(e.code or 0), capsys.readouterr().err
    assert_one_line_error(code, err, *needles)
    assert not (tmp_path / "OUT").exists()  # nothing written for a refused command


def test_output_conflict_then_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "syn")
    assert run_cli(["distill", *TINY, "--iterations", "2", "--out", out], capsys)[0] == 0
    before = {p.name: p.read_bytes() for p in Path(out).iterdir()}
    assert run_cli(["distill", *TINY, "--iterations", "2", "--out", out], capsys)[0] == 0  # the same command: the run as it is
    assert {p.name: p.read_bytes() for p in Path(out).iterdir()} == before
    code, _, err = run_cli(["distill", *TINY, "--iterations", "3", "--out", out], capsys)  # more iterations: asked for, not implied
    assert_one_line_error(code, err, "already holds a finished run of 2 iterations", "--resume to continue it to 3", "--force")
    code, _, err = run_cli(["distill", *TINY, "--iterations", "2", "--seed", "3", "--out", out, "--resume"], capsys)
    assert_one_line_error(code, err, "holds a different run", "seed: 0 there, 3 now")
    assert run_cli(["distill", *TINY, "--iterations", "2", "--seed", "3", "--out", out, "--force"], capsys)[0] == 0


def test_divergence_is_reported_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "syn"
    code, _, err = run_cli(["distill", *TINY, "--iterations", "20", "--image-lr", "1e38", "--out", str(out)], capsys)
    assert_one_line_error(code, err, "NaN or infinite", "Lower the image lr")
    assert code == 3 and (out / "checkpoint.safetensors").is_file() and not (out / "meta.json").exists()


def test_a_loss_that_overflows_before_any_update_does_not_blame_the_image_lr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """At iteration 0 the pixels are the initial images: the image lr has not acted, the loss's own settings overflow.
    (--lambda is refused above LAMBDA_MMD_MAX since fix47b, and 100 does not overflow on digits: the cap is lifted
    here to reach the message, which a dataset of larger features can still reach within it.)"""
    from nas_proxy.distill import config

    monkeypatch.setattr(config, "LAMBDA_MMD_MAX", float("inf"))
    code, _, err = run_cli(["distill", *TINY, "--iterations", "1", "--lambda", "1e308", "--out", str(tmp_path / "syn")], capsys)
    assert_one_line_error(code, err, "at iteration 0", "image lr is not the cause", "lambda_mmd 1e+308")
    assert code == 3 and "Lower the image lr" not in err


def _bad_input() -> None:
    from nas_proxy.errors import InvalidArgumentError

    raise InvalidArgumentError("--runs must be at least 1, got 0")


def _internal_error() -> None:
    raise RuntimeError("shape mismatch")


def _signal(signum: int) -> Callable[[], None]:
    def interrupted() -> None:
        signal.raise_signal(signum)  # main's handler raises KeyboardInterrupt here (raise_signal runs it before returning)
        raise AssertionError("the signal did not interrupt the command")

    return interrupted


EXIT_CLASSES = [
    (_bad_input, 2, "nasproxy evaluate: error: --runs must be at least 1, got 0"),
    (_internal_error, 1, "nasproxy evaluate: internal error: RuntimeError: shape mismatch"),
    (_signal(signal.SIGINT), 130, "nasproxy evaluate: interrupted; finished networks are kept"),
    (_signal(signal.SIGTERM), 143, "nasproxy evaluate: interrupted by SIGTERM; finished networks are kept"),
]


@pytest.mark.parametrize("debug", [[], ["--debug"]], ids=["plain", "debug"])
@pytest.mark.parametrize(("fail", "status", "line"), EXIT_CLASSES, ids=["bad-input", "internal", "sigint", "sigterm"])
def test_debug_adds_the_traceback_and_keeps_the_exit_status(
    fail: Callable[[], None],
    status: int,
    line: str,
    debug: list[str],
    tiny_run: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Stop 54 (probe53): ``--debug`` raised the error out of main, and the program exited 1 for every one, a refusal's 2
    included. Now it adds the traceback above the same one line, and the exit status is the one without it."""
    import importlib

    monkeypatch.setattr(importlib.import_module("nas_proxy.evaluate"), "evaluate", lambda *a, **k: fail())
    assert main(["evaluate", str(tiny_run), "--device", "cpu", "--quiet", *debug]) == status  # a set: read before evaluate
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith(line), err
    assert ("Traceback (most recent call last)" in err) == bool(debug), err
    assert len(err.strip().splitlines()) == 1 or debug, err


def test_debug_before_the_command_keeps_a_refusals_exit_status_2(tmp_path: Path) -> None:
    """The program itself, --debug before the command name: exit 2 with the traceback (before stop 54: 1)."""
    result = warm.run(_nasproxy("--debug", "evaluate", str(tmp_path / "NOWHERE")), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "Traceback (most recent call last)" in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("nasproxy evaluate: error: "), result.stderr


def _nasproxy(*args: str) -> list[str]:
    return [sys.executable, "-m", "nas_proxy", *args]


def test_ctrl_c_checkpoints_and_resume_finishes(tmp_path: Path) -> None:
    out = tmp_path / "syn"
    gate = Gate(tmp_path / "gate", at=CHECKPOINT, let_through=1)  # one checkpoint written, the next held: the loop is running
    cmd = _nasproxy("distill", *TINY, "--iterations", "50", "--checkpoint-every", "1", "--out", str(out))
    proc = interruptible(cmd, env=gate.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    gate.wait([proc], [proc.pid])
    proc.send_signal(signal.SIGINT)  # distill defers it to the end of the iteration (its handler only sets a flag) ...
    gate.open()  # ... so the held checkpoint is written, and the next iteration stops
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted at iteration" in err and "the same command continues it" in err and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("nasproxy distill: interrupted at iteration ")  # not "error:" (drill46)
    assert not (out / "meta.json").exists()
    done = int(err.split("interrupted at iteration ")[1].split("/")[0])
    finish = _nasproxy("distill", *TINY, "--iterations", str(done + 2), "--out", str(out), "--resume", "--json")
    result = warm.run(finish, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["iterations_done"] == done + 2


def test_internal_errors_are_one_line_without_debug(tmp_path: Path) -> None:
    # a synthetic set whose meta.json lacks required fields makes evaluate fail inside nasproxy
    (tmp_path / "meta.json").write_text(json.dumps({"format": "nasproxy.synthetic", "tensors": "t.safetensors"}))
    (tmp_path / "t.safetensors").write_bytes(b"")
    result = warm.run(_nasproxy("evaluate", str(tmp_path)), capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_an_option_typed_equal_to_its_default_is_known_as_typed() -> None:
    """`--epochs 50` and `--seed 0` are the defaults: typed, they are given all the same (what
    `correlate --study` and `--proxy-profile` read), and what was not typed is not."""
    from nas_proxy import configs
    from nas_proxy.cli import build_parser
    from nas_proxy.cli.proxy_options import proxy_given
    from nas_proxy.search import ProxyConfig

    assert ProxyConfig().epochs == 50
    args = build_parser().parse_args(["correlate", "--sample", "--space", "s", "--out", "o", "--epochs", "50", "--seed", "0", "--no-dsa"])
    assert {"epochs", "seed", "no_dsa"} <= configs.given(args) and "lr" not in configs.given(args)
    assert proxy_given(args) == {"epochs", "dsa"}
    untyped = build_parser().parse_args(["correlate", "--sample", "--space", "s", "--out", "o"])
    assert untyped.seed is None and not proxy_given(untyped)


def test_a_last_update_that_overflows_is_not_saved_as_a_synthetic_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The last iteration's loss is finite, its update is not: no set of NaN/infinite pixels is written."""
    out = tmp_path / "syn"
    code, _, err = run_cli(["distill", *TINY, "--iterations", "1", "--image-lr", "1e308", "--out", str(out)], capsys)
    assert_one_line_error(code, err, "pixels NaN, infinite or beyond +-1,000,000", "Lower the image lr")
    assert code == 3 and not (out / "meta.json").exists()


CPU_OOM = (
    "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you tried to allocate 77309411292 bytes."
)


@pytest.mark.parametrize(
    ("error", "asked"),
    [
        (RuntimeError(CPU_OOM), "(72.0 GiB asked)"),  # evaluate --model width=2147483647,depth=2 on this machine
        (RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 has a total capacity of 79.1 GiB"), "(20.00 GiB asked)"),
        (MemoryError(), "out of memory:"),
        (RuntimeError(CPU_OOM.replace("77309411292", "41716")), "(40.7 KiB asked)"),  # a checkpoint: not "(0.0 GiB asked)"
        # ulimit -v 3500000: search's trials done, then pandas' import (trials.csv) failed; before, an internal error
        (ImportError(f"{'/x/' * 2}pandas_parser.cpython-311-x86_64-linux-gnu.so: failed to map segment from shared object."), "ulimit -v"),
    ],
)
def test_an_allocation_the_machine_refuses_is_one_line_not_an_internal_error(
    error: Exception, asked: str, tiny_run: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib

    def refused(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(importlib.import_module("nas_proxy.evaluate"), "evaluate", refused)  # the module (the package exports the function)
    assert main(["evaluate", str(tiny_run), "--device", "cpu", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("nasproxy evaluate: error: out of memory") and asked in err and err.count("\n") == 1, err
    assert "internal error" not in err


def test_an_allocation_past_the_processs_own_memory_limit_names_that_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """``ulimit -v`` / ``prlimit --as`` reached mid-run (drill42): the line blamed this machine's memory and asked for a
    smaller model, batch or dataset, for a 41 KB checkpoint."""
    import resource

    from nas_proxy.errors import out_of_memory

    monkeypatch.setattr(resource, "getrlimit", lambda which: (3_400_000 * 1024, resource.RLIM_INFINITY))
    monkeypatch.setitem(sys.modules, "resource", None)  # past the limit a library no longer loads: read before it was reached
    line = out_of_memory(RuntimeError(CPU_OOM.replace("77309411292", "41716")))
    assert (
        line
        == "out of memory (40.7 KiB asked): this process's memory limit (ulimit -v: 3.2 GiB) was reached; raise it, then run the same command again"
    )
    assert "ulimit -v" in str(out_of_memory(MemoryError())) and "ulimit" not in str(out_of_memory(RuntimeError("CUDA out of memory.")))


def test_other_runtime_errors_stay_internal_errors(
    tiny_run: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(importlib.import_module("nas_proxy.evaluate"), "evaluate", broken)
    assert main(["evaluate", str(tiny_run), "--device", "cpu", "--quiet"]) == 1
    assert "internal error: RuntimeError: shape mismatch" in capsys.readouterr().err


class _FullDisk:
    """Standard output on a full disk (``> /dev/full``): every write fails."""

    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")

    def flush(self) -> None:
        pass


def test_standard_output_that_refuses_writes_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """``nasproxy spaces > /dev/full`` (branch probe36): before, an internal error; now the cause, in one line."""
    monkeypatch.setattr(sys, "stdout", _FullDisk())
    code = main(["spaces"])
    assert_one_line_error(code, capsys.readouterr().err, "nasproxy spaces: error: cannot write standard output: No space left on device")


@pytest.mark.parametrize(
    ("argv", "prog"), [(["--help"], "nasproxy"), (["--version"], "nasproxy"), (["search", "--help"], "nasproxy search")]
)
def test_help_and_version_on_a_full_disk_are_one_line(
    argv: list[str], prog: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``nasproxy --help > /dev/full`` (branch probe38): before, lost without a word, exit 0 (argparse
    ignores a failed write); the table's ``>&-`` cases hold the closed standard output."""
    monkeypatch.setattr(sys, "stdout", _FullDisk())
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert capsys.readouterr().err == f"{prog}: error: cannot write standard output: No space left on device\n"


@pytest.mark.parametrize(
    ("argv", "start"),
    [
        (["x" * 50_000], "nasproxy: error: argument COMMAND: invalid choice: 'xxx"),
        (["spaces", "--" + "x" * 50_000], "nasproxy spaces: error: unknown option --xxx"),
        (
            ["distill", "--dataset", "digits", "--ipc", "1", "--out", "o", "--method", "x" * 50_000],
            "nasproxy distill: error: argument --method",
        ),
    ],
)
def test_an_error_that_quotes_a_long_value_is_one_line_of_bounded_length(
    argv: list[str], start: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """argparse quotes a value whole (an argument of 50,000 characters: a line of 50,000): before branch
    probe39, so did every message listing what it refused; now the line keeps its start and its end (the
    fix), its middle cut (nas_proxy.errors.one_line)."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2 and err.count("\n") == 1 and len(err) < 1_200, len(err)
    assert err.startswith(start) and "characters cut)..." in err and err.endswith(" --help)\n")


def test_a_working_folder_deleted_under_the_shell_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """``mkdir d; cd d; rmdir ../d; nasproxy spaces``: before branch probe39, torch's start-up aborted the
    process ("Intel oneMKL FATAL ERROR: Cannot load .../libtorch_cpu.so", exit 2, in MKL's words); now
    one line of ours, before anything is imported or read (here: os.getcwd fails as it does there)."""

    def deleted() -> str:
        raise FileNotFoundError(2, "No such file or directory")

    monkeypatch.setattr(os, "getcwd", deleted)
    assert main(["spaces"]) == 2
    assert capsys.readouterr().err == (
        "nasproxy: error: the current folder no longer exists (it was deleted or moved after this shell entered it); "
        "cd to a folder that exists\n"
    )


def test_a_working_folder_deleted_while_a_command_runs_is_one_line_not_an_internal_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """drill43: ``rm -rf`` of a search's working folder mid-run: its next journal write (a relative path) failed
    inside Optuna's tell, whose own error handling then raised UnboundLocalError ('updated_state'), said as
    "internal error: ..." (exit 1); now the folder's line, exit 2."""
    from nas_proxy.cli import spaces

    def deleted() -> str:
        raise FileNotFoundError(2, "No such file or directory")

    def runs(args: object) -> int:  # the folder deleted meanwhile, then the command's next step fails somehow
        monkeypatch.setattr(os, "getcwd", deleted)
        raise UnboundLocalError("cannot access local variable 'updated_state' where it is not associated with a value")

    monkeypatch.setattr(spaces, "cmd_spaces", runs)
    assert main(["spaces"]) == 2
    assert capsys.readouterr().err == (
        "nasproxy spaces: error: the current folder no longer exists (it was deleted or moved while this command ran: "
        "its relative paths name nothing now); cd to a folder that exists\n"
    )


@pytest.mark.parametrize("step", ["read", "append"])
def test_a_journal_whose_folder_was_moved_mid_run_is_one_line_not_an_internal_error(
    step: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """drill43: ``mv s s2`` while a search wrote s/journal.log: Optuna's tell read the journal (then would append),
    met a bare FileNotFoundError, failed to read the trial back and raised UnboundLocalError ('updated_state')
    over both: "internal error: ...", exit 1. Now the journal says it is gone, and the CLI says the error of ours
    that Optuna raised over."""
    from nas_proxy.cli import spaces
    from nas_proxy.studies.journal import JournalFile

    (tmp_path / "s").mkdir()
    journal = JournalFile(tmp_path / "s" / "journal.log")
    (tmp_path / "s").rename(tmp_path / "s2")

    def runs(args: object) -> int:
        try:
            if step == "read":
                list(journal.read_logs(0))
            else:
                journal.append_logs([{"op_code": 0}])
        except Exception:  # noqa: BLE001 - as Optuna's tell: whatever the journal raised (before drill43 a bare FileNotFoundError)
            raise UnboundLocalError("cannot access local variable 'updated_state' where it is not associated with a value")  # noqa: B904
        return 0

    monkeypatch.setattr(spaces, "cmd_spaces", runs)
    assert main(["spaces"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nasproxy spaces: error: ") and err.count("\n") == 1
    assert err.endswith(
        "journal.log no longer exists: it or its folder was moved or deleted while this command ran; put it back, then run the same command again\n"
    )


class _ClosedPipe:
    """Standard output whose reader closed it early (``nasproxy spaces | head -1``): every write fails."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        pass


class _Buffered:
    """A block-buffered standard output (a pipe or a file, without PYTHONUNBUFFERED): writes succeed, the
    flush fails with ``error``."""

    def __init__(self, error: OSError) -> None:
        self.error = error

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        raise self.error


@pytest.mark.parametrize("argv", [["spaces"], ["spaces", "convnet-cpu"], ["--json", "spaces"], ["--help"], ["--version"]])
def test_a_reader_that_closes_standard_output_early_ends_the_command_quietly(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``nasproxy spaces | head -1``, the reader gone before the write: before, 'cannot write standard
    output: Broken pipe' and exit 2 (the user's error); now no line and exit 141, as ``seq 1 100000 | head -1``
    that SIGPIPE ends (128 + 13), for a command's output and for --help and --version alike."""
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    try:
        code = main(argv)
    except SystemExit as e:  # --help, --version: argparse exits
        code = e.code if isinstance(e.code, int) else 1
    assert (code, capsys.readouterr().err) == (141, "")


@pytest.mark.parametrize(
    ("error", "code", "err"),
    [
        (OSError(28, "No space left on device"), 2, "nasproxy spaces: error: cannot write standard output: No space left on device\n"),
        (BrokenPipeError(32, "Broken pipe"), 141, ""),
    ],
)
def test_a_buffered_standard_output_that_cannot_be_flushed_is_the_commands_outcome(
    error: OSError, code: int, err: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``nasproxy spaces > /dev/full`` without PYTHONUNBUFFERED: the lines sit in the buffer until the
    interpreter's last flush, whose failure it reported as 'Exception ignored ... OSError', exit 120 (and
    the command returned 0); now the command flushes its output and says so in one line (a closed pipe: quietly)."""
    monkeypatch.setattr(sys, "stdout", _Buffered(error))
    assert (main(["spaces"]), capsys.readouterr().err) == (code, err)


class _Full:
    """Standard error on a full disk (``2>/dev/full``): every write fails."""

    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")

    def flush(self) -> None:
        raise OSError(28, "No space left on device")


@pytest.mark.parametrize("stderr", [_Full(), None], ids=["full", "closed"])
@pytest.mark.parametrize(
    ("argv", "code"), [(["spaces", "convnet-cpu"], 0), (["distill", "--dataset", "digits", "--ipc", "0", "--out", "o"], 2)]
)
def test_a_standard_error_that_cannot_be_written_leaves_the_commands_exit_status(
    argv: list[str], code: int, stderr: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``2>/dev/full`` or ``2>&-`` (Python's sys.stderr is then None): before, a refused input's line failed
    inside its own error handling (exit 1), and with stderr closed it was printed on standard output; now the
    line is dropped, the exit status is the command's, and standard output holds the command's output only."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stderr", stderr)
    assert main(argv) == code
    out = capsys.readouterr().out
    assert "error" not in out and (code != 0 or "convnet-cpu" in out)


def test_an_ascii_standard_output_shows_a_unicode_name_escaped_not_an_internal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """PYTHONIOENCODING=ascii (or an ASCII terminal) and a name in Unicode: before branch probe41 the command did
    its work (a search's trials stored), then its summary line ended it with 'internal error: UnicodeEncodeError',
    exit 1; now the character is written as stderr writes one (backslashreplace) and the exit status is the command's."""
    space = tmp_path / "étude.toml"
    space.write_text('family = "convnet"\ndescription = "café"\n[params]\ndepth = [1, 2]\n', encoding="utf-8")
    raw = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, encoding="ascii"))
    assert main(["spaces", str(space)]) == 0
    sys.stdout.flush()
    assert "caf\\xe9" in raw.getvalue().decode("ascii") and "error" not in capsys.readouterr().err


@pytest.mark.parametrize("redirect", ["2>/dev/full", "2>&-"])
def test_a_usage_error_with_standard_error_broken_exits_2_and_writes_nothing_on_standard_output(redirect: str) -> None:
    """``nasproxy frobnicate 2>/dev/full`` in a shell without PYTHONUNBUFFERED: before, exit 120 (the
    interpreter's last flush of stderr failed); ``2>&-``: the usage error printed on standard output."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    shell = f"{shlex.quote(sys.executable)} -m nas_proxy frobnicate {redirect}"
    done = subprocess.run(["bash", "-c", shell], env=env, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (2, "")


@pytest.mark.parametrize(("flags", "kept"), [((), ""), (("--soft-labels", "2"), "; trained teachers are kept")])
def test_a_ctrl_c_outside_the_loop_says_teachers_are_kept_only_when_there_are_teachers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], flags: tuple[str, ...], kept: str
) -> None:
    """distill's line after a Ctrl-C outside its loop said "trained teachers are kept" of a run without any."""

    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt  # as the run starts, its options read

    monkeypatch.setattr("nas_proxy.cli.distill.output_lock", interrupted)
    assert main(["distill", "--dataset", "digits", "--ipc", "1", "--out", str(tmp_path / "o"), "--quiet", *flags]) == 130
    hint = f"; run the same command again to continue (from its last checkpoint{kept})"
    assert capsys.readouterr().err == f"nasproxy distill: interrupted{hint}\n"


def test_a_blank_omp_num_threads_is_taken_as_unset(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """fix42b: ``OMP_NUM_THREADS= nasproxy ...`` (a way to clear it) made OpenMP print "libgomp: Invalid value for
    environment variable OMP_NUM_THREADS" beside the command's lines. It is removed before torch is loaded (another
    value OpenMP cannot read is refused in one line: tests/bad_inputs.py FIX42B)."""
    from nas_proxy.cli import main

    monkeypatch.setenv("OMP_NUM_THREADS", " ")
    assert main(["spaces"]) == 0 and "OMP_NUM_THREADS" not in os.environ
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("text", ["plain", "two words", "it's", "a\nb", "tab\there", "-x", "--out", "back\\slash'\n", "ünï"])
def test_a_printed_command_word_is_read_back_by_a_shell_as_it_was(text: str) -> None:
    """The commands printed to copy ("next: nasproxy evaluate OUT", the dashboard's, the one a set records): a shell reads
    each word back as it was, on one line (a folder named with a newline broke the hint over two lines), and a path that
    starts with "-" as one no command reads as an option (``--out -x`` printed "next: nasproxy evaluate -x")."""
    from nas_proxy.cli.common import shell_word

    for path in (False, True):
        word = shell_word(text, path=path)
        assert "\n" not in word
        read = subprocess.run(["bash", "-c", f"printf %s {word}"], capture_output=True, text=True, check=True).stdout
        assert read == ("./" + text if path and text.startswith("-") else text)


@pytest.mark.parametrize("text", ["café", "it's ü", "a\nü", "-ü"])
def test_a_printed_command_word_runs_as_printed_where_the_terminal_cannot_show_its_characters(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fix53c: under PYTHONIOENCODING=ascii (or a C locale) 'next: nasproxy evaluate café' was printed by the stream's own
    escape as "nasproxy evaluate 'caf\\xe9'", which a shell reads as the file 'caf\\xe9', not café. Now such a
    character is written as its UTF-8 bytes in ANSI-C quoting ($'caf\\xc3\\xa9'): ASCII, and the shell reads the name."""
    from nas_proxy.cli.common import shell_word

    for name in ("stdout", "stderr"):
        monkeypatch.setattr(sys, name, io.TextIOWrapper(io.BytesIO(), encoding="ascii"))
    word = shell_word(text, path=True)
    assert word.isascii() and "\n" not in word
    read = subprocess.run(["bash", "-c", f"printf %s {word}"], capture_output=True, check=True).stdout.decode()
    assert read == ("./" + text if text.startswith("-") else text)


def test_ctrl_c_of_calibrate_ladders_says_it_kept_nothing(tmp_path: Path) -> None:
    """drill50: Ctrl-C of 'calibrate --ladders' said 'nasproxy calibrate: interrupted; finished proxy trainings and trials
    are stored; ...', the protocol study's line: --ladders trains nothing, has no trials, and keeps nothing before its
    profile is written. Held measuring (its lock held), interrupted: its own line, nothing written."""
    from nas_proxy.cli import LADDERS_HINT
    from tests.calibrate.test_ladders_rerun import CHOOSING, _argv
    from tests.gate import SAFETY_SECONDS

    out = tmp_path / "p.toml"
    gate = Gate(tmp_path / "gate", at=CHOOSING)
    run = interruptible(
        [sys.executable, "-m", "nas_proxy", *_argv(tmp_path, out)], env=gate.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    gate.wait([run], [run.pid])
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=SAFETY_SECONDS)
    assert run.returncode == 130, err
    assert err.splitlines() == [f"nasproxy calibrate: interrupted{LADDERS_HINT}"]
    assert not out.exists() and not out.with_name("p-ladders.csv").exists()
