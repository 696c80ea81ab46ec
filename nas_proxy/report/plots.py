"""The report's two plots, laid out so that no text overlaps another or leaves the figure.

``scatter.png``: every proxy's score against the ground truth, one panel each; architectures at
chance level (:mod:`nas_proxy.report.notes`) are drawn as marks on the bottom edge
instead of stretching the accuracy axis. ``fidelity_cost.png``: each proxy's Kendall tau-b
against its seconds per architecture, each point named beside it where a free place is found
(tried nearest first, never over another name, a point or the axes' edge), in a legend otherwise.
Tick labels that would touch are thinned. :func:`overlaps` is the check the tests run. Every measure lays the figure
out without drawing its pixels (``draw_without_rendering``): only saving draws them.
"""

from __future__ import annotations

import math
import textwrap
from typing import Any, TypeGuard

from nas_proxy.correlate.result import TRUTH_SEED2, CorrelateResult
from nas_proxy.report.notes import Failed

FAILED_COLOUR = "#c0392b"
DPI = 110  # of the saved PNGs, and of every measure taken before (a text's box is measured as it will be drawn)
LOG_SCALED = ("params", "flops", "synflow")  # scores that span decades
# where a point's name is tried, nearest first: (dx, dy) in points from the point
_RINGS = (6, 14, 26, 42, 64)
_DIRECTIONS = ((1, 0.4), (1, -1), (-1, 0.4), (-1, -1), (0, 1), (0, -1.6), (1, 1), (-1, 1.6))
_WRAP = 22  # characters per line of a name in the legend
_MARKERS = "osD^v"  # of the points of the fidelity-vs-cost plot, ten by ten
_SUPTITLE_CHARS_PER_INCH = 11  # of the scatter's 9-point line over its panels (~13 fit an inch), kept within the figure


def _finite(v: Any) -> TypeGuard[float]:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _fmt(v: Any) -> str:
    return f"{v:.2f}" if _finite(v) else "–"


def _short(v: float, _pos: Any = None) -> str:
    """A tick value in few characters: 0.05, 3, 120, 12k, 3.4M, 2G."""
    a = abs(v)
    if a >= 1e12:
        return f"{v:.2g}"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= scale:
            return f"{v / scale:.3g}{suffix}"
    return f"{v:.3g}"


def overlaps(fig: Any) -> list[tuple[str, str]]:
    """Pairs of drawn texts of ``fig`` whose boxes overlap, and texts that leave the figure (paired
    with "figure edge"). Empty for a readable figure."""
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    frame = fig.bbox
    boxes = [(t.get_text(), _box(t, renderer)) for t in _drawn(fig, renderer)]
    bad = [(text, "figure edge") for text, b in boxes if not _inside(b, frame)]
    for i, (a, ba) in enumerate(boxes):
        bad += [(a, b) for b, bb in boxes[i + 1 :] if ba.overlaps(bb)]
    return bad


def _drawn(fig: Any, renderer: Any) -> list[Any]:
    """Every text ``fig`` draws, tick labels included (only those of ticks inside the view)."""
    from matplotlib.text import Text

    out = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]:
                if tick.label1.get_visible() and tick.label1.get_text().strip() and lo <= tick.get_loc() <= hi:
                    out.append(tick.label1)
    ticks = {
        id(t)
        for ax in fig.axes
        for axis in (ax.xaxis, ax.yaxis)
        for tk in [*axis.get_major_ticks(), *axis.get_minor_ticks()]
        for t in (tk.label1, tk.label2)
    }
    out += [t for t in fig.findobj(Text) if id(t) not in ticks and t.get_visible() and t.get_text().strip()]
    return out


def _box(t: Any, renderer: Any) -> Any:
    """The box of a text's characters (an annotation's leader line left out)."""
    from matplotlib.text import Annotation, Text

    if isinstance(t, Annotation):
        t.update_positions(renderer)  # where its offset puts it now
    return Text.get_window_extent(t, renderer)


def _inside(b: Any, frame: Any) -> bool:
    return bool(b.x0 >= frame.x0 - 0.5 and b.y0 >= frame.y0 - 0.5 and b.x1 <= frame.x1 + 0.5 and b.y1 <= frame.y1 + 0.5)


def _thin_ticks(fig: Any) -> None:
    """Hide every other tick label (then two in three...) of an axis whose labels touch. Only the ticks are laid out
    again (``get_majorticklabels`` places every tick, minor ones too, and sets its label), not the whole figure (~20 %
    of a crowded scatter's CPU before stop 58, its panels' titles, points and spines laid out for nothing).

    Total (fix60): a figure without a canvas that renders (``matplotlib.figure.Figure()``), an axis with no label or one,
    and an axis whose ticks cannot be placed or measured (a locator over the whole float range, a label's mathtext that
    does not parse) are left as they are; the figure's drawing says what it cannot draw."""
    get_renderer = getattr(fig.canvas, "get_renderer", None)
    if get_renderer is None:
        return
    renderer = get_renderer()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            try:
                _thin_axis(axis, renderer)
            except (ValueError, OverflowError, RuntimeError):  # matplotlib's errors of a placement or a measure
                continue


def _thin_axis(axis: Any, renderer: Any) -> None:
    """:func:`_thin_ticks` on one axis."""
    axis.get_majorticklabels()  # the ticks and their labels where the figure's layout puts them now
    lo, hi = sorted(axis.get_view_interval())
    labels = [
        tk.label1
        for tk in sorted(axis.get_major_ticks() + axis.get_minor_ticks(), key=lambda tk: tk.get_loc())
        if tk.label1.get_visible() and tk.label1.get_text().strip() and lo <= tk.get_loc() <= hi
    ]
    for step in range(2, len(labels) + 1):
        boxes = [t.get_window_extent(renderer).expanded(1.15, 1.0) for t in labels if t.get_visible()]
        if not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :]):
            break
        for i, t in enumerate(labels):
            t.set_visible(i % step == 0)


def scatter_figure(result: CorrelateResult, failed: Failed) -> Any:
    """One panel per proxy (and the ceiling): its score (x) against the ground truth (y)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    names = [n for n in result.proxies if n in result.rows[0] or n == TRUTH_SEED2] if result.rows else []
    cols = min(4, max(1, len(names)))  # no empty columns beside one or two panels (each cost its layout and pixels)
    rows = max(1, math.ceil(len(names) / cols))
    fig = plt.figure(figsize=(4 * cols, 3.4 * rows + 0.5), dpi=DPI, layout="none")
    grid = fig.add_gridspec(rows, cols)
    # the panels only: a grid's empty cells were axes turned off (each made, laid out and measured for no pixel)
    axes = [fig.add_subplot(grid[i // cols, i % cols]) for i in range(max(1, len(names)))]
    learned = [r["truth"] for r in result.rows if r["arch_id"] not in failed.ids and _finite(r["truth"])]
    ylim = _padded(learned) if learned and failed.ids else None
    for ax, name in zip(axes, names, strict=False):
        key = "truth_seed2" if name == TRUTH_SEED2 else name
        pts = [(r[key], r["truth"], r["arch_id"] in failed.ids) for r in result.rows if _finite(r.get(key)) and _finite(r["truth"])]
        ok, bad = [(x, y) for x, y, f in pts if not f], [(x, y) for x, y, f in pts if f]
        if ok:
            ax.scatter([p[0] for p in ok], [p[1] for p in ok], s=14, alpha=0.8)
        if name in LOG_SCALED and pts and min(p[0] for p in pts) > 0:
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))  # labels within a decade too
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.xaxis.set_major_formatter(FuncFormatter(_short))
        if ylim is not None:
            ax.set_ylim(*ylim)
            if ok:  # the learned architectures' scores set the x scale too
                ax.set_xlim(*_padded([p[0] for p in ok], log=ax.get_xscale() == "log"))
            if bad:  # on the bottom edge (at the side when their score is off the scale too)
                lo, hi = ax.get_xlim()
                xs = [min(max(p[0], lo), hi) for p in bad]
                ax.scatter(xs, [ylim[0]] * len(bad), marker="v", s=30, color=FAILED_COLOUR, clip_on=False, zorder=3)
        m = result.proxies[name]
        title = textwrap.shorten(name, 38, placeholder="…")
        ax.set_title(f"{title}\nτ={_fmt(m.get('kendall'))}  ρ={_fmt(m.get('spearman'))}", fontsize=9)
        ax.set_xlabel("proxy score" if name != TRUTH_SEED2 else "test accuracy, 2nd seed (%)", fontsize=8)
        ax.set_ylabel("ground truth (%)", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[len(names) :]:  # no proxy at all: one empty panel, as before
        ax.axis("off")
    if failed.ids and ylim is not None:
        line = (
            f"▼ on the bottom edge: {len(failed.ids)} architecture(s) at chance level (≤ {failed.threshold:.1f} %), off the accuracy scale"
        )
        fig.suptitle(
            textwrap.fill(line, _SUPTITLE_CHARS_PER_INCH * 4 * cols),  # wrapped where a figure of one or two panels is narrower
            fontsize=9,
            color=FAILED_COLOUR,
        )
    _tight_layout(fig)
    _thin_ticks(fig)
    return fig


def _tight_layout(fig: Any) -> None:
    """``fig.tight_layout()``, leaving no layout engine on ``fig``: ``tight_layout`` leaves a placeholder one, and
    ``savefig`` lays out a figure that has any engine once more before it draws it (a whole layout pass, ~15 % of a
    crowded scatter's CPU before stop 58, that moves nothing)."""
    from matplotlib.layout_engine import TightLayoutEngine

    # rect None as tight_layout() passes it (its stubs say a tuple): the default (0, 0, 1, 1) lays the figure out twice
    TightLayoutEngine(rect=None).execute(fig)  # type: ignore[arg-type]


def _padded(values: list[float], log: bool = False) -> tuple[float, float]:
    """Limits around ``values`` with a margin (multiplicative on a log scale)."""
    lo, hi = min(values), max(values)
    if log:
        span = max(hi / lo, 1.5)
        return lo / span**0.06, hi * span**0.06
    pad = (hi - lo) * 0.06 or max(abs(hi) * 0.05, 0.5)
    return lo - pad, hi + pad


def cost_figure(result: CorrelateResult) -> Any:
    """Kendall tau-b (with its interval) against seconds per architecture, every point named."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fig, ax = plt.subplots(figsize=(6.5, 4.2), dpi=DPI, layout="none")
    points: list[tuple[float, float, str, Any]] = []
    for name, m in result.proxies.items():
        tau, cost = m.get("kendall"), m.get("seconds_per_arch")
        if not (_finite(tau) and _finite(cost) and cost > 0):
            continue
        # the default cycle's 10 dark colours (legible as text), then again with another marker
        (dot,) = ax.plot([cost], [tau], _MARKERS[len(points) // 10 % len(_MARKERS)], zorder=3)
        ci = m.get("kendall_ci") or []
        if len(ci) == 2 and all(_finite(c) for c in ci):
            # a line from low to high, not errorbar's offsets: a percentile interval need not contain
            # its point estimate (a perfect ranking gives tau 0.9999999 and the interval (1, 1))
            ax.vlines(cost, min(ci), max(ci), colors=dot.get_color(), lw=1)
        points.append((cost, tau, name, dot))
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(_short))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.margins(x=0.12, y=0.1)
    ax.set_xlabel("seconds per architecture (log)")
    ax.set_ylabel("Kendall τ-b with ground truth")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_title("fidelity vs cost", fontsize=10)
    fig.subplots_adjust(left=0.11, right=0.97, bottom=0.13, top=0.92)
    unplaced = _name_points(fig, ax, points)
    if unplaced:  # the axes narrower, the names placed again, the rest in a legend on the right
        fig.subplots_adjust(right=0.66)
        for _ in range(3):  # a legend taller than the figure: a taller figure, everything placed again
            for t in ax.texts[:]:
                t.remove()
            unplaced = _name_points(fig, ax, points)
            labels = [textwrap.fill(p[2], _WRAP) for p in unplaced]
            legend = fig.legend([p[3] for p in unplaced], labels, loc="upper left", bbox_to_anchor=(0.68, 0.92), fontsize=8, frameon=False)
            fig.draw_without_rendering()
            need = legend.get_window_extent().height / fig.dpi / 0.85  # inches, with the margins
            if need <= fig.get_figheight():
                break
            legend.remove()
            fig.set_figheight(need * 1.05)
    _thin_ticks(fig)
    return fig


def _name_points(fig: Any, ax: Any, points: list[tuple[float, float, str, Any]]) -> list[tuple[float, float, str, Any]]:
    """Name every point at the nearest free place (inside the axes, clear of every other name and
    point); the points left without one. Only the data limits are settled (the margins and log scale autoscaled, as a
    draw settles them): every box measured here (the axes, the markers, the names) follows from them and the subplot
    parameters, not from a layout of the whole figure (its ticks, their labels and the title), which saving does anyway:
    before stop 60 a figure was laid out once more here, 8-16 % of a figure's CPU, made and saved, for the same pixels."""
    ax.get_xlim(), ax.get_ylim()  # viewLim unstaled: autoscale_view with the margins, as draw() would first do
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    taken = [d.get_window_extent(renderer).expanded(1.3, 1.3) for *_, d in points]  # the markers
    unplaced = []
    for x, y, name, dot in sorted(points, key=lambda p: (p[0], -p[1])):
        place = _free_place(ax, renderer, frame, taken, x, y, name)
        if place is None:
            unplaced.append((x, y, name, dot))
            continue
        dist, dx, dy, box = place
        ax.annotate(
            name,
            (x, y),
            textcoords="offset points",
            xytext=(dx * dist, dy * dist * 0.6),
            fontsize=8,
            ha=_ha(dx),
            va=_va(dy),
            color=dot.get_color(),  # the name in its point's colour: which point is meant, even in a crowd
            bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.85},  # legible over interval lines
            arrowprops={"arrowstyle": "-", "color": dot.get_color(), "lw": 0.6, "shrinkA": 1} if dist > _RINGS[0] else None,
        )
        taken.append(box)
    return unplaced


def _ha(dx: float) -> str:
    return "left" if dx > 0 else "right" if dx < 0 else "center"


def _va(dy: float) -> str:
    return "bottom" if dy > 0 else "top"


def _free_place(
    ax: Any, renderer: Any, frame: Any, taken: list[Any], x: float, y: float, name: str
) -> tuple[int, float, float, Any] | None:
    """(ring, dx, dy, the name's box) of the nearest place for ``name`` beside the point (x, y) inside ``frame`` and
    clear of every box ``taken``; None where there is none. Measured with one bare annotation moved from place to
    place: its text's box is the named one's (a text's box leaves out its bbox patch and its leader line), and each
    candidate made and removed as a whole annotation cost a crowded figure ~3 CPU-s (30 names on one spot)."""
    import numpy as np

    # the taken boxes' extents, each ordered low to high, as Bbox.overlaps compares them (its <= on the same floats)
    lo_x, lo_y, hi_x, hi_y = np.array([_ordered(t.extents) for t in taken]).reshape(-1, 4).T
    probe = ax.annotate(name, (x, y), textcoords="offset points", xytext=(0, 0), fontsize=8)
    try:
        for dist in _RINGS:
            for dx, dy in _DIRECTIONS:
                probe.xyann = (dx * dist, dy * dist * 0.6)
                probe.set_horizontalalignment(_ha(dx))
                probe.set_verticalalignment(_va(dy))
                box = _box(probe, renderer)
                if not _inside(box, frame):
                    continue
                x0, y0, x1, y1 = _ordered(box.extents)
                if not np.any((x0 <= hi_x) & (lo_x <= x1) & (y0 <= hi_y) & (lo_y <= y1)):
                    return dist, dx, dy, box
        return None
    finally:
        probe.remove()


def _ordered(extents: Any) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = (float(v) for v in extents)
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)
