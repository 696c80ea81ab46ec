"""Start-up: the CLI and its ``--help`` import no torch, Optuna or scipy; the lazy public API; and
Ctrl-C at any moment of a real command's start-up exits 130 with one line (issue 16, item 3).

What CPython does before any code of ours runs (docs/interrupts.md, measured there): a SIGINT that
lands before the interpreter has installed its own handler kills the process by the signal with
nothing printed (the shell's 130); one that lands after it, while ``site`` runs the venv's ``.pth``
files or while ``nas_proxy`` itself is being imported (a library installs no handler on import),
is CPython's default: a traceback. The drill accepts those two, and only those, by what the process
left (a traceback through no code that runs after :func:`nas_proxy.cli.main` starts), and counts them.
"""

from __future__ import annotations

import ast
import importlib
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from nas_proxy.cli import RESUME_HINTS
from nas_proxy.studies.storage import open_storage
from tests import run_code, warm
from tests.gate import Gate
from tests.interrupt import interruptible
from tests.search.test_search import FAST_ARGS, SMALL_SPACE

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "optuna", "scipy", "numpy", "pandas", "sklearn", "matplotlib")
LAZY_PACKAGES = ["nas_proxy", "nas_proxy.calibrate", "nas_proxy.correlate", "nas_proxy.distill", "nas_proxy.models", "nas_proxy.search"]
LAZY_PACKAGES += ["nas_proxy.studies"]
# seconds after the process started: n moments from 0 to 3 s; make test drills 2 (0 s: before Python's handler; 3 s:
# nasproxy's, which main() installs before any heavy import), the drill tier all 20, those between (CI runs both;
# perf57a: 6 moments in make test, 0.6 s apart, cost 8-10 CPU-s, fresh interpreters each; perf60c: 3 until stop 60, the
# one at 1.5 s ~1.3 CPU-s of a cold interpreter)
MOMENTS = [pytest.param(20, marks=pytest.mark.drill, id="20-moments"), pytest.param(2, id="2-moments")]
ONE_LINE = {"nasproxy: interrupted", "nasproxy search: interrupted" + RESUME_HINTS["search"]}
# the code that runs before main(): the package's own import (no handler may be installed there) and the entry point
BEFORE_MAIN = re.compile(
    r"nas_proxy/(__init__|lazy|version|__main__)\.py\", line \d+, in |nas_proxy/cli/__init__\.py\", line \d+, in <module>"
)


# what each probe runs, in this order, in one fresh interpreter: a probe after which no heavy library is imported leaves
# none for the next to find, so each is still judged on its own imports (perf56c: one interpreter, not five)
COMMANDS = [
    ["spaces"],  # every registered space described: imported torch (the networks' modules) and Optuna before fix51c
    ["spaces", "nb201", "--json"],
    ["search", "--space", "convnet-small", "--study", "s"],  # refused before its work: --synthetic and --n-trials missing
]
PROBES = {
    "import": "import nas_proxy.cli",
    # what `nasproxy --help`, `--version` and `nasproxy COMMAND --help` run (--help only formats)
    "help": (
        "from nas_proxy.cli import build_parser\n"
        "parser = build_parser()\n"
        "parser.format_help()\n"
        "for command in parser._subparsers._group_actions[0].choices.values(): command.format_help()"
    ),
    # as `nasproxy ARGV` runs: main() sets the libraries' output (quiet_libraries) and runs the command
    **{
        " ".join(argv): f"from nas_proxy.cli import main\nwith contextlib.redirect_stdout(io.StringIO()):\n    main({argv!r})"
        for argv in COMMANDS
    },
}


@pytest.fixture(scope="module")
def imported_after() -> dict[str, set[str]]:
    """The heavy libraries that a fresh interpreter has imported after each of ``PROBES``."""
    heavy = f"print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r})))"
    probe = "import contextlib, io, sys\n" + "\n".join(f"{code}\n{heavy}" for code in PROBES.values())
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    lines = done.stdout.split("\n")[: len(PROBES)]
    assert len(lines) == len(PROBES), done.stdout
    return {name: set(line.split()) for name, line in zip(PROBES, lines, strict=True)}


def test_importing_the_cli_imports_no_heavy_library(imported_after: dict[str, set[str]]) -> None:
    assert imported_after["import"] == set()


def test_every_help_imports_no_heavy_library(imported_after: dict[str, set[str]]) -> None:
    assert imported_after["help"] == set()


@pytest.mark.parametrize("argv", COMMANDS, ids=["spaces", "spaces-one", "refusal"])
def test_a_command_that_needs_neither_torch_nor_optuna_imports_neither(argv: list[str], imported_after: dict[str, set[str]]) -> None:
    assert imported_after[" ".join(argv)] == set()


def test_optuna_imported_after_main_started_is_quieted_as_before() -> None:
    """quiet_libraries() quiets Optuna as it is imported (no earlier): its experimental warnings and its INFO lines
    ("A new study created") stay unsaid in a command that imports it late, as in one that imported it first."""
    code = (
        "import contextlib, io, sys\n"
        "from nas_proxy.cli import main\n"
        "with contextlib.redirect_stderr(io.StringIO()):\n"
        "    main(['search', '--space', 'convnet-small', '--study', 's'])\n"  # refused (arguments missing) after quiet_libraries()
        "assert 'optuna' not in sys.modules\n"
        "import optuna\n"
        "optuna.create_study(sampler=optuna.samplers.TPESampler(multivariate=True, group=True, seed=0))\n"  # experimental, logged
        "print(optuna.logging.get_verbosity() == optuna.logging.ERROR, optuna.__loader__.__class__.__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.splitlines()[-1] == "True SourceFileLoader"  # the module keeps its own loader
    assert done.stderr == ""


@pytest.mark.parametrize("name", LAZY_PACKAGES)
def test_a_lazy_package_gives_what_it_declares(name: str) -> None:
    package = importlib.import_module(name)
    source = Path(package.__file__ or "").read_text()
    declared = {}  # name -> module, from the `if TYPE_CHECKING:` imports that type checkers read
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            declared.update({alias.name: imp.module for imp in node.body if isinstance(imp, ast.ImportFrom) for alias in imp.names})
    assert declared == package._lazy  # the table the package resolves from
    assert set(package.__all__) - {"__version__"} == set(declared)
    for attr, module in declared.items():
        assert module is not None  # None only for "from . import x"; the packages import by absolute name
        assert getattr(package, attr) is getattr(importlib.import_module(module), attr)
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        package.nope  # noqa: B018


def test_public_functions_named_like_their_subpackages_stay_the_functions() -> None:
    code = (
        "import nas_proxy as nx, nas_proxy.distill.config, nas_proxy.search.config, nas_proxy.evaluate\n"
        "print(nx.distill.__module__, nx.search.__module__, nx.evaluate.__module__, nx.SearchConfig.__module__)\n"
    )
    done = run_code.run(code, capture_output=True, timeout=120, check=True)  # fresh: no nasproxy imported (forked warm)
    assert done.stdout.split() == ["nas_proxy.distill.runner", "nas_proxy.search.runner", "nas_proxy.evaluate", "nas_proxy.search.config"]


def _where_it_landed(code: int, out: str, err: str) -> str:
    """Which moment the SIGINT hit, from what the process left; an AssertionError for any other ending."""
    if code == 130:
        assert out == "" and err.strip() in ONE_LINE and len(err.splitlines()) == 1, err
        return "handled by nasproxy"
    assert out == "", out
    if code == -signal.SIGINT and err == "":
        return "before Python's handler (killed by SIGINT, silent)"
    # Python's own ending: a traceback, then exit 1 (inside `site`) or death by SIGINT (CPython re-raises
    # the signal after an unhandled KeyboardInterrupt); it may pass through no code that runs after main() starts
    ours = re.findall(r'nas_proxy/[^"]*", line \d+, in \S+', err)
    assert "KeyboardInterrupt" in err and all(BEFORE_MAIN.search(f) for f in ours), err
    return "before main() (Python's traceback)"


GRACE_S = 10.0  # how long a process seen at the gate after its SIGINT may take to stop before the signal counts as lost


def _still_at_gate(process: subprocess.Popen[str], gate: Gate, seconds: float) -> bool:
    """Whether ``process`` is still waiting at the gate after ``seconds`` (it did not stop meanwhile)."""
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return process.pid in gate.waiting()
    return False


@pytest.mark.parametrize("moments", MOMENTS)
def test_ctrl_c_at_any_moment_of_start_up_exits_130_with_one_line(moments: int, tiny_run: Path, tmp_path: Path) -> None:
    delays = [3.0 * i / (moments - 1) for i in range(moments)]
    storage = tmp_path / "journal.log"
    command = [sys.executable, "-m", "nas_proxy", "search", "--synthetic", str(tiny_run), "--space", SMALL_SPACE, "--study", "s"]
    command += ["--storage", str(storage), "--out", str(tmp_path / "out"), "--n-trials", "1", "--pruner", "none", *FAST_ARGS]
    gate = Gate(tmp_path / "gate")  # the first training waits there: no run can end before its signal, however fast the machine

    def interrupt_at(delay: float) -> tuple[float, str]:
        logs = tmp_path / f"{delay:.3f}"
        with open(f"{logs}.out", "w") as out, open(f"{logs}.err", "w") as err:
            process = interruptible(
                command, cold=True, cwd=ROOT, env=gate.env(), stdout=out, stderr=err
            )  # start-up itself: a real interpreter
            started = time.monotonic()  # Popen returns once the child has exec'd the interpreter
            time.sleep(max(0.0, started + delay - time.monotonic()))  # the moment of start-up under test, not a wait for an event
            process.send_signal(signal.SIGINT)
            while process.poll() is None:
                # Python's `site` catches what a .pth line raises and goes on: the interrupt is lost
                # and the command runs to the gate, where it is stopped
                swallowed = "Remainder of file ignored" in Path(f"{logs}.err").read_text()
                at_gate = process.pid in gate.waiting()
                if at_gate and not swallowed:  # a re-delivered SIGINT (nas_proxy/interrupts.py) may still be on its way
                    at_gate = _still_at_gate(process, gate, GRACE_S)
                if at_gate:  # it trains although interrupted: the SIGINT was lost
                    process.kill()
                    process.wait()
                    return delay, "before main() (swallowed by site)" if swallowed else "LOST: " + Path(f"{logs}.err").read_text()
                time.sleep(0.05)
        return delay, _where_it_landed(process.returncode, Path(f"{logs}.out").read_text(), Path(f"{logs}.err").read_text())

    with ThreadPoolExecutor(max_workers=2) as pool:  # two at a time: about one core each, so d seconds is ~d seconds of start-up
        landed = dict(pool.map(interrupt_at, delays))
    print({d: landed[d] for d in delays})  # pytest -s: where each signal landed
    assert not [w for w in landed.values() if w.startswith("LOST")], landed  # a Ctrl-C after start-up is never lost
    assert sum(where == "handled by nasproxy" for where in landed.values()) >= moments // 2

    again = warm.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=600
    )  # the same command, ungated (its start-up is not under test)
    assert again.returncode == 0, again.stderr
    study = optuna.load_study(study_name="s", storage=open_storage(str(storage), "s")[0])
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 1 and not study.get_trials(states=(TrialState.RUNNING,))


def test_after_import_runs_its_action_once_the_module_is_imported_also_after_a_failed_first_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nas_proxy import lazy

    (tmp_path / "fix51c_flaky.py").write_text("import os\nif not os.environ.get('FIX51C_OK'):\n    raise KeyboardInterrupt\nX = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "fix51c_flaky", raising=False)
    seen: list[int] = []
    lazy.after_import("fix51c_flaky", lambda module: seen.append(module.X))
    with pytest.raises(KeyboardInterrupt):  # a Ctrl-C while the library is imported: nothing set, nothing lost
        importlib.import_module("fix51c_flaky")
    assert seen == []
    monkeypatch.setenv("FIX51C_OK", "1")
    module = importlib.import_module("fix51c_flaky")
    assert seen == [1] and type(module.__loader__).__name__ == "SourceFileLoader"  # set once, the module's own loader kept
    lazy.after_import("fix51c_flaky", lambda module: seen.append(2))  # already imported: at once
    assert seen == [1, 2]
    monkeypatch.delitem(sys.modules, "fix51c_flaky")


def test_after_import_leaves_the_import_system_once_its_actions_have_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fix52e: its finder stayed first of sys.meta_path for the life of the process, asked about every later import."""
    from nas_proxy import lazy

    def ours() -> list[object]:
        return [f for f in sys.meta_path if isinstance(f, lazy._AfterImport)]

    monkeypatch.setattr(sys, "meta_path", [f for f in sys.meta_path if not isinstance(f, lazy._AfterImport)])
    for name in ("fix52e_one", "fix52e_two"):
        (tmp_path / f"{name}.py").write_text("X = 1\n")
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    seen: list[str] = []
    lazy.after_import("fix52e_one", lambda module: seen.append(module.__name__))
    lazy.after_import("fix52e_two", lambda module: seen.append(module.__name__))
    assert len(ours()) == 1
    importlib.import_module("fix52e_one")
    assert seen == ["fix52e_one"] and len(ours()) == 1  # one still waits
    importlib.import_module("fix52e_two")
    assert seen == ["fix52e_one", "fix52e_two"] and ours() == []
    lazy.after_import("fix52e_three", lambda module: None)  # asked again later: there again, until it has run
    assert len(ours()) == 1
    for name in ("fix52e_one", "fix52e_two"):
        monkeypatch.delitem(sys.modules, name)


def test_an_after_import_action_that_raises_is_said_once_and_the_import_still_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fix53a: the action's error became the import's, so a failing setting of Optuna made the library's first import fail."""
    from nas_proxy import lazy
    from nas_proxy.errors import NasProxyWarning

    def refuses(module: object) -> None:
        raise ValueError("no such setting")

    (tmp_path / "fix53a_lib.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "fix53a_lib", raising=False)
    seen: list[int] = []
    lazy.after_import("fix53a_lib", refuses)
    lazy.after_import("fix53a_lib", lambda module: seen.append(module.X))  # the next action still runs
    with pytest.warns(NasProxyWarning) as said:
        module = importlib.import_module("fix53a_lib")
    assert module.X == 1 and seen == [1] and "fix53a_lib" in sys.modules
    assert [str(w.message) for w in said] == [
        "fix53a_lib is imported, but test_an_after_import_action_that_raises_is_said_once_and_the_import_still_succeeds."
        "<locals>.refuses could not be run after it (the setting it makes is not made): ValueError: no such setting"
    ]
    with pytest.warns(NasProxyWarning, match="ValueError: no such setting"):  # already imported: at once, said the same way
        lazy.after_import("fix53a_lib", refuses)
    importlib.reload(module)  # imported again: the action ran once, it does not wait any more
    assert seen == [1]
    monkeypatch.delitem(sys.modules, "fix53a_lib")
