"""How long after ``exec`` a Ctrl-C can only be handled by CPython: the times from ``execve`` to
CPython's own SIGINT handler and to nasproxy's (the first line of ``main()``), by strace.

    python benchmarks/sigint_window.py 20                       # python -m nas_proxy --version
    python benchmarks/sigint_window.py 20 -c "import signal; signal.signal(2, signal.default_int_handler)"

Needs strace (Debian: apt-get install strace). The arguments after the count replace
``-m nas_proxy --version``; results in benchmarks/RESULTS.md §13 (docs/interrupts.md explains them).
"""

from __future__ import annotations

import statistics
import subprocess
import sys


def windows(args: list[str]) -> tuple[float, float]:
    """(ms to CPython's SIGINT handler, ms to the next process-wide SIGINT handler) after execve."""
    trace = ["strace", "--seccomp-bpf", "-ttt", "-e", "trace=execve,rt_sigaction", sys.executable, *args]
    lines = subprocess.run(trace, capture_output=True, text=True, check=True).stderr.splitlines()
    # execve, then CPython installs its handler, then ours; rt_sigaction(SIGINT, NULL, ...) only reads
    stamps = [float(line.split()[0]) for line in lines if "execve(" in line or "rt_sigaction(SIGINT, {" in line]
    return (stamps[1] - stamps[0]) * 1000, (stamps[2] - stamps[0]) * 1000


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    args = sys.argv[2:] or ["-m", "nas_proxy", "--version"]
    python, ours = zip(*(windows(args) for _ in range(runs)), strict=True)
    for label, ms in (("exec -> CPython's SIGINT handler", python), ("exec -> the program's", ours)):
        print(f"{label}: median {statistics.median(ms):.1f} ms [{min(ms):.1f}, {max(ms):.1f}] over {runs} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
