"""``python -u -m tests.xdist_worker``: a pytest-xdist worker forked from the warm server (tests/warm.py,
``workers_forked``), as execnet starts one (``python -u -c "import sys;exec(eval(sys.stdin.readline()))"``): it reads
its code from stdin and serves the controller. ``sys.path[0]`` and ``sys.argv`` as ``python -c`` makes them.

All of it under ``__name__ == "__main__"``: a test's ``multiprocessing`` child started by spawn (or forkserver) imports
the parent's main module again, by name, as ``__mp_main__`` (a ``-c`` main has none to import); without the guard
that child read stdin as execnet's code and died on a SyntaxError (the GPU horizon pool's drill, stop 59)."""

import sys

if __name__ == "__main__":
    sys.path[0] = ""
    sys.argv[:] = ["-c"]
    exec(eval(sys.stdin.readline()))  # execnet's bootstrap: the code its controller sends
