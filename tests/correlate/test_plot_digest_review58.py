"""review58: the plots' digest (``render.plot_inputs``) holds matplotlib's style (stop 57), but not what a process's
history sets in ``rcParams`` without changing a pixel of a saved PNG: the backend (``pyplot`` resolves it, and
``report.backend.pyplot`` sets it to Agg, so a process that had drawn before said 'Agg', a fresh one 'agg') and whether
pyplot falls back or runs interactive (``plt.ion()``, IPython). Before, the digest read ``rcParams.items()``: the same
report drawn again in a process that had imported pyplot (a notebook, a second report of one ``run``) drew both plots
anew, and reading the items resolved the backend, which imports pyplot (the cost the digest avoids)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas_proxy.report import render
from nas_proxy.report.backend import matplotlib
from tests.correlate.test_correlate_report import metrics, result


@pytest.mark.parametrize(("key", "value"), [("backend", "pdf"), ("backend_fallback", None), ("interactive", None)])
def test_the_digest_leaves_out_what_no_pixel_shows(key: str, value: object) -> None:
    report = result(Path("unused"), {"p": metrics()}, 6)
    params = matplotlib().rcParams
    before = render.plot_inputs(report)
    # dict's own item: RcParams' __setitem__ validates, and a backend set through it would be switched to
    old = dict.__getitem__(params, key)
    try:
        dict.__setitem__(params, key, (not old) if value is None else value)
        after = render.plot_inputs(report)
    finally:
        dict.__setitem__(params, key, old)
    assert after == before, f"rcParams[{key!r}] changed the plots' digest: the same plots drawn again"


def test_a_changed_style_still_changes_the_digest() -> None:
    report = result(Path("unused"), {"p": metrics()}, 6)
    before = render.plot_inputs(report)
    with matplotlib().rc_context({"lines.linewidth": 7.5}):
        assert render.plot_inputs(report) != before


def test_the_digest_resolves_no_backend() -> None:
    """Reading the style leaves matplotlib's automatic backend unresolved: its resolution imports pyplot and picks a
    backend, ~0.9 CPU-s of the cached path in a fresh process (rcParams.items(), stop 57; measured with getrusage).
    (The warm server the tests fork from has pyplot imported: the sentinel set here stands for a fresh process's.)"""
    from matplotlib import rcsetup

    report = result(Path("unused"), {"p": metrics()}, 6)
    params = matplotlib().rcParams
    old = dict.__getitem__(params, "backend")
    try:
        dict.__setitem__(params, "backend", rcsetup._auto_backend_sentinel)
        render.plot_inputs(report)
        assert dict.__getitem__(params, "backend") is rcsetup._auto_backend_sentinel, "the digest resolved the backend"
    finally:
        dict.__setitem__(params, "backend", old)
