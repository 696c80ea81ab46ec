"""The warm server reaps the processes it forks, so no test process's RUSAGE_CHILDREN counts them: it sends each one's
CPU-s with its exit status, those of the processes it had forked in turn included, and ``warm.forked_cpu`` adds them up
(what a profile of the suite gives each test beside its own CPU and its cold children's)."""

from __future__ import annotations

import json
import os

import pytest

from tests import run_code, warm

# a forked process that starts another (as a search starts its workers: forked too, the server their parent), each
# burning CPU until its own clock says so (work, not a duration anything waits on) and printing what that clock counted
NESTED = """
import json, os, subprocess, sys, time
while time.process_time() < 0.05:
    pass
inner = subprocess.run([sys.executable, "-m", "tests.run_code", INNER], capture_output=True, text=True, check=True)
print(json.dumps([os.getpid(), time.process_time(), *json.loads(inner.stdout)]))
""".replace(
    "INNER", repr("import json, os, time\nwhile time.process_time() < 0.3: pass\nprint(json.dumps([os.getppid(), time.process_time()]))")
)


@pytest.mark.skipif(warm.COLD, reason="NASPROXY_TEST_COLD=1: every command runs cold")
def test_the_cpu_of_a_forked_process_and_of_those_it_forked_is_counted_where_it_was_waited_for() -> None:
    before = warm.forked_cpu
    done = run_code.run(NESTED, capture_output=True, check=True)
    assert not warm.refused, warm.refused
    outer_pid, outer, inner_parent, inner = json.loads(done.stdout)
    assert inner_parent != outer_pid  # forked by the server too, which reaps it: its CPU is in no rusage of outer's
    assert inner >= 0.3 and outer >= 0.05
    counted = warm.forked_cpu - before
    # a process's own clock is at most what wait4 says it used until it ended (sent with 6 decimals)
    assert counted >= outer + inner - 1e-5, (counted, outer, inner)


def test_a_process_started_cold_is_left_to_the_rusage_of_the_process_that_waits_for_it() -> None:
    before = warm.forked_cpu
    env = {**os.environ, "PYTHONHASHSEED": "1"}  # read at start-up: the command runs cold, this process its parent
    done = run_code.run("import os; print(os.getppid())", capture_output=True, check=True, env=env)
    assert int(done.stdout) == os.getpid() and warm.forked_cpu == before
