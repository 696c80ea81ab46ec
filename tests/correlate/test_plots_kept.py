"""The report's two plots are drawn only when what they are drawn from changed (stop 56): the same ``run`` or
``correlate`` again after it finished drew both anew (~1.8 CPU-s of a cached re-run's ~2) to the same pixels. A plot
carries a digest of its inputs in a PNG text chunk; a plot without it (an older nasproxy, a file put there), a FIFO in
its place, a changed architecture or proxy, each is drawn again."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from nas_proxy.report import plots as plot_module
from nas_proxy.report.render import COST, SCATTER, write_reports
from tests.correlate.test_correlate_report import metrics, result


def drawn(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The figures drawn from now on, by name."""
    calls: list[str] = []

    def counted(name: str) -> Any:
        real = getattr(plot_module, name)

        def draw(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return real(*args, **kwargs)

        return draw

    for name in ("scatter_figure", "cost_figure"):
        monkeypatch.setattr(plot_module, name, counted(name))
    return calls


def test_the_same_report_again_leaves_its_plots_alone_and_a_changed_one_redraws_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = result(tmp_path, {"p": metrics()}, 6)
    write_reports(report)
    before = {n: os.stat(tmp_path / n) for n in (SCATTER, COST)}
    calls = drawn(monkeypatch)
    write_reports(report)  # the same command again
    assert calls == []
    assert all(os.stat(tmp_path / n).st_ino == before[n].st_ino for n in before)  # not written over either
    assert b"data:image/png;base64," in (tmp_path / "report.html").read_bytes()  # still inlined from the kept files
    report.rows[2]["p"] = 99.0  # an architecture's score changed: both drawn again
    write_reports(report)
    assert calls == ["scatter_figure", "cost_figure"]
    calls.clear()
    write_reports(result(tmp_path, {"p": metrics(), "q": metrics()}, 6))  # another proxy
    assert calls == ["scatter_figure", "cost_figure"]


def test_a_plot_without_the_digest_or_not_a_file_is_drawn_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = result(tmp_path, {"p": metrics()}, 6)
    write_reports(report)
    calls = drawn(monkeypatch)
    png = (tmp_path / SCATTER).read_bytes()
    (tmp_path / SCATTER).write_bytes(png.replace(b"nasproxy-drawn-from", b"nasproxy-drawn-frxm"))  # an older nasproxy's
    write_reports(report)
    assert calls == ["scatter_figure", "cost_figure"]
    calls.clear()
    (tmp_path / COST).unlink()
    os.mkfifo(tmp_path / COST)  # never opened: a read of a FIFO waits for a writer
    done = threading.Thread(target=write_reports, args=(report,), daemon=True)
    done.start()
    done.join(60)
    assert not done.is_alive(), "write_reports hung on a FIFO named fidelity_cost.png"
    assert calls == ["scatter_figure", "cost_figure"] and (tmp_path / COST).is_file()


def test_the_digest_is_the_same_whatever_order_a_set_of_failed_architectures_comes_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """review57: the failed architectures are a frozenset, written in its iteration order, which follows the process's
    string hash seed: every new process drew both plots again. Two sets equal but built in other orders (ints that
    share a slot of the table iterate in insertion order) stand for two processes' hash orders."""
    from nas_proxy.report import render
    from nas_proxy.report.notes import Failed

    report = result(Path("unused"), {"p": metrics()}, 6)
    digests = set()
    for order in ([1, 9], [9, 1]):
        assert list(frozenset(order)) == order  # the premise: equal sets, iterated in two orders
        monkeypatch.setattr(render, "failed_archs", lambda _r, ids=frozenset(order): Failed(ids, 20.0, 10.0, 10))
        digests.add(render.plot_inputs(report))
    assert len(digests) == 1


def test_a_changed_style_redraws_the_plots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """review57: a user's matplotlibrc or rc_context changes how the plots look, and kept plots of the old style."""
    from nas_proxy.report.backend import matplotlib

    report = result(tmp_path, {"p": metrics()}, 6)
    write_reports(report)
    calls = drawn(monkeypatch)
    with matplotlib().rc_context({"axes.facecolor": "red"}):
        write_reports(report)
    assert calls == ["scatter_figure", "cost_figure"]


def test_the_digest_leaves_out_the_backend_it_is_never_drawn_by(monkeypatch: pytest.MonkeyPatch) -> None:
    """perf58b: a fresh process's first digest read ``backend`` unresolved, which resolved it ("agg", importing pyplot:
    0.35 CPU-s of a report whose plots are kept), and pyplot() then set "Agg" and backend_fallback False: the same
    report again in that process had another digest and was drawn again. The plots are drawn by Agg whatever the backend is."""
    from nas_proxy.report import render
    from nas_proxy.report.backend import matplotlib

    report = result(Path("unused"), {"p": metrics()}, 6)
    digests = set()
    for name, fallback in (("agg", True), ("Agg", False)):  # a fresh process's, then after pyplot() chose Agg
        monkeypatch.setitem(matplotlib().rcParams, "backend", name)
        monkeypatch.setitem(matplotlib().rcParams, "backend_fallback", fallback)
        digests.add(render.plot_inputs(report))
    assert len(digests) == 1
