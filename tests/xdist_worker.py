"""``python -u -m tests.xdist_worker``: a pytest-xdist worker forked from the warm server (tests/warm.py,
``workers_forked``), as execnet starts one (``python -u -c "import sys;exec(eval(sys.stdin.readline()))"``): it reads
its code from stdin and serves the controller. ``sys.path[0]`` and ``sys.argv`` as ``python -c`` makes them."""

import sys

sys.path[0] = ""
sys.argv[:] = ["-c"]
exec(eval(sys.stdin.readline()))  # execnet's bootstrap: the code its controller sends
