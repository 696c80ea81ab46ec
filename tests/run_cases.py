"""``python -m tests.run_cases [--uncapable] WORKSPACE ARGS...``: run each ``nasproxy ARGS`` in-process in WORKSPACE
as :mod:`tests.bad_input_runner` does, and print a JSON list of the outcomes and their problems.

For cases that need this process to differ from the test's (fewer capabilities, another user):
one child runs them all, paying the import once. ``--uncapable``: as root without capabilities
(:func:`tests.uncapable.drop_capabilities`, before any case), bound by file modes as any user. The
drop is made here, not by ``setpriv`` before the interpreter, so that the child is forked warm
(tests/warm.py: ``setpriv ... python`` started a cold interpreter, ~6 CPU-s more).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.bad_input_runner import Case, problems, run_case


def main(argv: list[str]) -> int:
    if argv[:1] == ["--uncapable"]:
        from tests.uncapable import drop_capabilities

        drop_capabilities()
        argv = argv[1:]
    workspace, *cases = argv
    results = []
    for args in cases:
        case = Case(args, "")  # the caller judges the message; here: one line, no traceback, nothing written
        outcome = run_case(case, Path(workspace))
        results.append({"code": outcome.code, "stderr": outcome.stderr, "changed": outcome.changed, "problems": problems(case, outcome)})
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
