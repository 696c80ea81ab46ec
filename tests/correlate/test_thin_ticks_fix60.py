"""fix60: ``report.plots._thin_ticks`` is total: a figure with no axes, one without a drawing canvas, an axis with no
tick labels or one, and ticks that cannot be placed or measured (a locator over the whole float range, labels whose
mathtext does not parse) leave the figure as it is instead of raising (the figure's drawing says what it cannot draw).
Labels that touch are still thinned."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from nas_proxy.report.plots import _short, _thin_ticks


def _no_axes() -> Any:
    return plt.figure()


def _no_canvas() -> Any:
    fig = Figure()  # a figure made without pyplot: no canvas that renders
    fig.add_subplot().plot([0, 1], [0, 1])
    return fig


def _no_labels() -> Any:
    fig, ax = plt.subplots()
    ax.set_xticks([])
    ax.set_yticks([])
    return fig


def _one_label() -> Any:
    fig, ax = plt.subplots()
    ax.set_xticks([0.5])
    ax.set_yticks([0.5])
    return fig


def _whole_float_range() -> Any:
    fig, ax = plt.subplots()
    ax.scatter([-1.7e308, 1.7e308], [0, 1])  # scores at the float's ends: the locator cannot place ticks
    ax.xaxis.set_major_formatter(FuncFormatter(_short))
    return fig


def _bad_mathtext() -> Any:
    fig, ax = plt.subplots()
    ax.set_xticks(range(50))
    ax.set_xticklabels(["$\\frac{$"] * 50)  # touching labels whose text cannot be measured
    return fig


@pytest.mark.parametrize("make", [_no_axes, _no_canvas, _no_labels, _one_label, _whole_float_range, _bad_mathtext])
def test_thin_ticks_leaves_what_it_cannot_thin(make: Callable[[], Any]) -> None:
    fig = make()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # matplotlib's own about the view limits
            _thin_ticks(fig)
    finally:
        plt.close(fig)


def test_labels_that_touch_are_thinned() -> None:
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.set_xticks(range(40))
    _thin_ticks(fig)
    shown = [t for t in ax.xaxis.get_ticklabels() if t.get_visible()]
    canvas: Any = fig.canvas  # pyplot's: Agg, which renders
    renderer = canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in shown]
    assert 1 < len(shown) < 40 and not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    plt.close(fig)
