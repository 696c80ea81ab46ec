"""Environment variables that the libraries behind the command line read and cannot use, refused before the command's
work starts, naming the variable (``OMP_NUM_THREADS``, which OpenMP reads as torch loads, is checked earlier still:
``nas_proxy.cli._threads_unread``).

Before branch probe61 each failed where its library first met it, as an internal error that named no variable:
``TQDM_NCOLS=abc`` as "ValueError: invalid literal for int() with base 10: 'abc'" at a search's first progress bar,
``TQDM_ASCII=x`` as "ZeroDivisionError" as that bar was drawn, ``TQDM_COLOUR=nonsense`` as two warnings of tqdm's amid
the bar, and ``MPLBACKEND=nonsense`` as matplotlib's "Key backend: 'nonsense' is not a valid value for backend; ..."
once correlate had trained its ground truth and came to draw the report; ``OMP_DYNAMIC=maybe`` (and libgomp's
other variables) ran, after libgomp's own line "libgomp: Invalid value for environment variable OMP_DYNAMIC".
"""

from __future__ import annotations

import os

from nas_proxy.errors import InvalidArgumentError, one_line, shown

DRAWING = frozenset({"correlate", "run"})  # the commands whose report matplotlib draws


def check_environment(command: str) -> None:
    """Refuse what the libraries of ``command`` would fail on: a ``TQDM_*`` variable that tqdm (the progress bars) cannot
    use, an ``MPLBACKEND`` that matplotlib does not know (the commands that draw a report)."""
    for problem in (_openmp_unread(), _progress_unread(), _backend_unread() if command in DRAWING else None):
        if problem is not None:
            raise InvalidArgumentError(problem)


def _openmp_unread() -> str | None:
    """Why the OpenMP that torch loads (GNU libgomp) cannot read an ``OMP_*`` or ``GOMP_*`` variable set, or None. libgomp
    reads them as it is loaded, says "libgomp: Invalid value for environment variable NAME" in a line of its own amid
    the command's, and runs with its default (OMP_DYNAMIC=maybe, OMP_PROC_BIND=bogus, OMP_STACKSIZE=abc, ...): it is
    asked here, loaded alone in a child process (0.02 CPU-s, only where such a variable is set). ``OMP_NUM_THREADS`` was
    checked before (``nas_proxy.cli._threads_unread``); a torch without its own libgomp (another OpenMP) is not asked."""
    if not any(name.startswith(("OMP_", "GOMP_")) and name != "OMP_NUM_THREADS" for name in os.environ):
        return None
    import importlib.util
    import re
    import subprocess
    import sys
    from pathlib import Path

    spec = importlib.util.find_spec("torch")
    library = Path(spec.origin).parent / "lib" / "libgomp.so.1" if spec is not None and spec.origin else None
    if library is None or not library.is_file():
        return None
    try:
        said = subprocess.run(
            [sys.executable, "-S", "-c", "import ctypes, sys; ctypes.CDLL(sys.argv[1])", str(library)],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=60,
            check=False,
        ).stderr
    except (OSError, subprocess.SubprocessError):
        return None
    named = sorted(set(re.findall(r"libgomp: Invalid value for environment variable (\w+)", said)))
    if not named:
        return None
    values = ", ".join(f"{name}={shown(os.environ.get(name, ''))}" for name in named)
    return (
        f"OpenMP (GNU libgomp, loaded with torch) cannot read the environment's {values}: it would say so in a line of its "
        f"own and run with its default; correct or unset {'it' if len(named) == 1 else 'them'}"
    )


def _progress_unread() -> str | None:
    """Why tqdm cannot draw a bar with the ``TQDM_*`` variables set (it reads them as its options' defaults), or None.
    tqdm itself is asked: a copy of its module made now, which reads them as it is made (the one imported reads them once,
    at its import), draws a bar into memory with warnings made errors."""
    named = sorted(name for name in os.environ if name.startswith("TQDM_"))
    if not named:
        return None
    import importlib.util
    import io
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # tqdm's own (an unknown colour), not a deprecation of the Python it runs on
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
            spec = importlib.util.find_spec("tqdm.std")  # imports tqdm, which reads the variables where not imported yet
            if spec is None or spec.loader is None:
                return None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            module.tqdm.monitor_interval = 0  # no monitor thread for a bar of a check
            with module.tqdm(total=2, desc="check", unit="arch", file=io.StringIO(), dynamic_ncols=True) as bar:
                bar.set_postfix_str("last=1.00")
                bar.update(1)
                bar.refresh()
    except Exception as e:  # noqa: BLE001 - whatever tqdm fails with, the variables are the cause: nothing else was given
        values = ", ".join(f"{name}={shown(os.environ[name])}" for name in named)
        return (
            f"tqdm, which draws the progress bars, cannot use the environment's {values} ({type(e).__name__}: "
            f"{one_line(str(e))[:200]}); correct or unset {'it' if len(named) == 1 else 'them'}"
        )
    return None


def _backend_unread() -> str | None:
    """Why matplotlib would refuse ``MPLBACKEND`` as it is imported (before it draws a report), or None. The reports are
    drawn with Agg whatever it names; matplotlib still reads it, and refuses a name it does not know."""
    value = os.environ.get("MPLBACKEND")
    if not value:  # unset or empty: matplotlib ignores it
        return None
    from nas_proxy.report.backend import matplotlib

    del os.environ["MPLBACKEND"]  # matplotlib imported without it, to ask it of the value
    try:
        mpl = matplotlib()
    finally:
        os.environ["MPLBACKEND"] = value
    try:
        mpl.rcsetup.validate_backend(value)
    except ValueError:
        return (
            f"MPLBACKEND is {shown(value)}, not a backend matplotlib knows, and matplotlib refuses to start with it (the "
            "report is drawn with its 'agg' backend whatever it names); correct or unset it"
        )
    return None
