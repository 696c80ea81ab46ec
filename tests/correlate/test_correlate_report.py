"""The report writer on its own: every file is written whatever the numbers (a perfect proxy, NaN,
intervals that miss their point estimate, one architecture, no architecture at all); a crowded
report (a long proxy name, close points, an architecture at chance) stays readable: no text of a
plot overlaps another or leaves the figure, the failed architecture is named, every "–" is
explained, the ceiling's size is said."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nas_proxy.correlate.archs import Arch
from nas_proxy.correlate.measure import ceiling_row, proxy_metrics
from nas_proxy.correlate.metrics import summarise
from nas_proxy.correlate.result import TRUTH_SEED2, CorrelateResult
from nas_proxy.correlate.truth import Truth
from nas_proxy.proxies import Scored
from nas_proxy.report.render import write_reports
from nas_proxy.search import ProxyConfig
from tests import uncapable

FILES = ("results.csv", "results.json", "report.md", "report.html", "scatter.png", "fidelity_cost.png")


def facts(n: int) -> dict[str, Any]:
    """What ``correlate`` records, for ``n`` architectures."""
    return {
        "data": {"dataset": "digits", "split_seed": 0, "val_fraction": 0.1},
        "archs": n,
        "archs_scored": n,
        "space": "convnet-small",
        "ground_truth": {
            "epochs": 2,
            "lr": 0.01,
            "batch_size": 256,
            "augment": False,
            "images": None,
            "early": [1.0],
            "seconds_per_arch": 1.5,
            "seeds": [0, 1],
            "ceiling_archs": n,
        },
        "proxy_training": ProxyConfig(epochs=10).to_dict(),
        "synthetic": {"datadam-ipc2": "runs/tiny"},
        "seed": 0,
        "device": "cpu",
    }


def result(out: Path, proxies: dict[str, dict[str, Any]], n: int) -> CorrelateResult:
    rows = [
        {
            "arch_id": f"a{i}",
            "spec": {"family": "convnet", "depth": i},
            "truth": 50.0 + i,
            "truth_seed2": 50.0 + i,
            **{p: float(i) for p in proxies},
        }
        for i in range(n)
    ]
    return CorrelateResult(out, rows, proxies, ["a warning"], facts(n))


def metrics(**overrides: Any) -> dict[str, Any]:
    base = summarise(np.arange(6.0), np.arange(6.0) + 50, n_boot=50)
    return base | {"seconds_per_arch": 0.5, "one_off_seconds": 3.0, "speedup": 3.0} | overrides


CASES = {
    # the run that crashed: tau a hair below 1 with the bootstrap interval (1, 1) above it
    "perfect": {"datadam-ipc2": metrics(kendall=0.9999999, kendall_ci=[1.0, 1.0]), TRUTH_SEED2: metrics(archs=6)},
    "interval misses the point": {"p": metrics(kendall=0.2, kendall_ci=[0.4, 0.9]), "q": metrics(kendall=0.5, kendall_ci=[-0.9, 0.1])},
    "NaN everywhere": {
        "p": metrics(kendall=math.nan, spearman=math.nan, kendall_ci=[math.nan, math.nan], seconds_per_arch=math.nan, speedup=math.nan),
        "q": metrics(kendall=None, kendall_ci=None, seconds_per_arch=None),
    },
    "infinite and zero costs": {"p": metrics(seconds_per_arch=math.inf), "q": metrics(seconds_per_arch=0.0, kendall=-1.0)},
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("n", [6, 1, 0])
def test_every_report_file_is_written_whatever_the_numbers(case: str, n: int, tmp_path: Path) -> None:
    write_reports(result(tmp_path, CASES[case], n))
    for name in FILES:
        assert (tmp_path / name).is_file() and (tmp_path / name).stat().st_size > 0, name
    written = json.loads((tmp_path / "results.json").read_text())  # strict JSON: NaN became null
    assert set(written["proxies"]) == set(CASES[case]) and len(written["archs"]) == n
    md = (tmp_path / "report.md").read_text()
    assert all(f"| {name} " in md for name in CASES[case])


def test_no_proxy_at_all_still_writes_every_file(tmp_path: Path) -> None:
    write_reports(result(tmp_path, {}, 3))
    assert all((tmp_path / name).is_file() for name in FILES)


LONG = "datadam-ipc50-soft-labels-from-four-space-sampled-teachers"
CLOSE = ("random-ipc10", "datadam-ipc10", "early@0.2ep", LONG)  # nearly the same cost and tau-b


def crowded(out: Path, promote: int = 3) -> CorrelateResult:
    """A report as a real run can make it hard to read: 10 architectures, one at chance (10 %) that
    is the largest network (so params and flops pick it), four proxies at nearly one point of the
    fidelity-vs-cost plot, one with a long name, parameter counts over three decades, and the
    ceiling on 4 architectures; the metrics as ``correlate`` computes them."""
    rng = np.random.default_rng(0)
    ids = [f"arch{i:02d}" for i in range(10)]
    test = np.array([10.0, 71.0, 74.5, 76.0, 78.2, 80.1, 82.0, 84.4, 86.0, 88.3])  # arch00 never learned
    params = np.array([3.2e6, 1.1e4, 2.4e4, 5.0e4, 9.1e4, 1.5e5, 2.9e5, 4.4e5, 8.0e5, 1.6e6])
    values = {
        **{n: test + rng.normal(0, 4 + i, 10) for i, n in enumerate(CLOSE)},
        "early@1ep": test + rng.normal(0, 3, 10),
        "params": params,
        "flops": params * 310.0,
        "synflow": np.exp(rng.normal(30, 3, 10)),
        "naswot": rng.normal(1500, 30, 10),
    }
    values["datadam-ipc10"] = values["random-ipc10"] + rng.normal(0, 0.3, 10)  # two points nearly on top of each other
    cost = {"random-ipc10": 0.50, "datadam-ipc10": 0.52, "early@0.2ep": 0.55, LONG: 0.53, "early@1ep": 2.4}
    scores = {n: {a: Scored(float(v), cost.get(n, 0.004)) for a, v in zip(ids, x, strict=True)} for n, x in values.items()}
    ceiling = [1, 4, 6, 9]
    results = {
        (a, 0): {"test_accuracy": t, "val_accuracy": t + rng.normal(0, 1), "train_seconds": 12.0} for a, t in zip(ids, test, strict=True)
    }
    results |= {(ids[i], 1): {"test_accuracy": test[i] + rng.normal(0, 0.5), "train_seconds": 12.0} for i in ceiling}
    truth = Truth(dict(zip(ids, test.tolist(), strict=True)), results, [], [Arch({}, ids[i]) for i in ceiling], "study", "storage")
    proxies = proxy_metrics(scores, {"datadam-ipc10": 40.0}, truth, ids, n_boot=50, seed=0, k=promote)
    proxies[TRUTH_SEED2] = ceiling_row(proxies, scores, truth, n_boot=50, seed=0) or {}
    rows = [
        {
            "arch_id": a,
            "spec": {"family": "convnet", "depth": i},
            "truth": float(test[i]),
            "truth_seed2": results[(a, 1)]["test_accuracy"] if (a, 1) in results else None,
            **{n: float(x[i]) for n, x in values.items()},
        }
        for i, a in enumerate(ids)
    ]
    f = facts(10) | {"classes": 10, "promote": promote}
    f["ground_truth"] |= {"ceiling_archs": len(ceiling), "given": 0}
    return CorrelateResult(out, rows, proxies, [], f)


@pytest.fixture(scope="module")
def crowded_figures(
    crowded_written: tuple[CorrelateResult, list[str]], crowded_made: tuple[list[Any], list[str]]
) -> Iterator[tuple[list[Any], list[list[tuple[str, str]]], list[str]]]:
    """The crowded report's scatter and fidelity-vs-cost figures (those its write made and saved), and thirty proxies on
    one spot of the latter (some names cannot sit beside it and go to a legend, wrapped, the figure taller), checked by
    overlaps() once for the tests below. With what overlaps() found in each, and every text drawn (its pixels) while
    they were made and measured (saving draws them, and is not counted)."""
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg

    from nas_proxy.report.plots import cost_figure, overlaps

    made, drawn = crowded_made
    for fig in made:  # closed by the write (pyplot's close leaves a figure a bare canvas): an Agg one to measure on again
        FigureCanvasAgg(fig)
    real = RendererAgg.draw_text

    def draw_text(self: RendererAgg, gc: Any, x: float, y: float, s: str, *args: Any, **kwargs: Any) -> None:
        drawn.append(s)
        real(self, gc, x, y, s, *args, **kwargs)

    piled = {f"{LONG}-{i}" if i % 3 == 0 else f"proxy-{i}": metrics(kendall=0.5, seconds_per_arch=1.0) for i in range(30)}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RendererAgg, "draw_text", draw_text)
        figures = [*made, cost_figure(CorrelateResult(crowded_written[0].out, [], piled, [], facts(6)))]
        found = [overlaps(fig) for fig in figures]
    yield figures, found, list(drawn)
    for fig in figures:
        plt.close(fig)


def test_no_text_of_a_crowded_report_overlaps_another_or_leaves_its_figure(
    crowded_figures: tuple[list[Any], list[list[tuple[str, str]]], list[str]],
) -> None:
    (_, cost, crowd), found, _ = crowded_figures
    named = (
        {t.get_text() for t in cost.axes[0].texts} | {t.get_text().replace("\n", "") for t in cost.legends[0].texts}
        if cost.legends
        else {t.get_text() for t in cost.axes[0].texts}
    )
    assert set(CLOSE) <= named  # every point is named, beside it or in the legend
    in_legend = {t.get_text().replace("\n", "") for t in crowd.legends[0].texts}
    piled = {t.get_text() for t in crowd.axes[0].texts} | in_legend
    assert in_legend and piled == {f"{LONG}-{i}" if i % 3 == 0 else f"proxy-{i}" for i in range(30)}
    assert found == [[], [], []]


def test_overlaps_sees_two_names_on_one_spot(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nas_proxy.report.plots import overlaps

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.annotate(LONG, (0.5, 0.5))
    ax.annotate("early@0.2ep", (0.5, 0.5))
    bad = overlaps(fig)
    assert (LONG, "early@0.2ep") in bad and (LONG, "figure edge") in bad
    plt.close(fig)


@pytest.fixture(scope="module")
def crowded_made() -> tuple[list[Any], list[str]]:
    """What crowded_written's plots made: the scatter and fidelity-vs-cost figures (closed once saved, still measurable),
    and every text drawn (its pixels) while they were made; filled as the report is written."""
    return [], []


@pytest.fixture(scope="module")
def crowded_written(
    tmp_path_factory: pytest.TempPathFactory, crowded_made: tuple[list[Any], list[str]]
) -> tuple[CorrelateResult, list[str]]:
    """The crowded report written once (its two plots are most of a write's CPU), read by the tests below; with every
    text markdown-it was given to render while it was written. Its two figures are kept (crowded_made) for
    crowded_figures' checks: until stop 59 that fixture made them again (1 of the file's 15 CPU-s)."""
    import matplotlib

    matplotlib.use("Agg")
    from markdown_it import MarkdownIt
    from matplotlib.backends.backend_agg import RendererAgg

    from nas_proxy.report import plots

    seen: list[str] = []
    real = MarkdownIt.render
    figures, drawn = crowded_made
    making: list[bool] = []
    real_draw = RendererAgg.draw_text

    def render(self: MarkdownIt, src: str, env: Any = None) -> str:
        seen.append(src)
        return real(self, src, env)

    def draw_text(self: RendererAgg, gc: Any, x: float, y: float, s: str, *args: Any, **kwargs: Any) -> None:
        if making:
            drawn.append(s)
        real_draw(self, gc, x, y, s, *args, **kwargs)

    def kept(make: Any) -> Any:
        def made(*args: Any) -> Any:
            making.append(True)
            try:
                figures.append(make(*args))
            finally:
                making.pop()
            return figures[-1]

        return made

    result = crowded(tmp_path_factory.mktemp("crowded"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(MarkdownIt, "render", render)
        patch.setattr(RendererAgg, "draw_text", draw_text)
        patch.setattr(plots, "scatter_figure", kept(plots.scatter_figure))
        patch.setattr(plots, "cost_figure", kept(plots.cost_figure))
        write_reports(result)
    assert len(figures) == 2  # the scatter, then the fidelity-vs-cost plot
    return result, seen


def test_a_crowded_report_names_the_failed_explains_every_dash_and_sizes_the_ceiling(
    crowded_written: tuple[CorrelateResult, list[str]],
) -> None:
    md = (crowded_written[0].out / "report.md").read_text()
    verdict_lines = md.split("## Protocol")[0].splitlines()[2:]
    assert sum(line.startswith("- ") for line in verdict_lines) >= 3  # a list, not a paragraph
    assert "1 of 10 architectures did not learn" in md and "`arch00` (10.0 %)" in md and "14.5 %" in md
    assert "flops 78.30 with them, 0.00 among the architectures that learned" in md  # its pick is the failed one
    table = [line for line in md.splitlines() if line.startswith("| ") and not line.startswith("| proxy")]
    assert any("–" in line for line in table)
    assert "- – in *τ-b top 20%*: every proxy: the top 20% by ground truth holds 2 architecture(s)" in md
    assert all(f"- – in *{header}*" in md for header in _dashed_headers(table))
    assert "ground truth, 2nd seed (4 archs)" in md and "only 4 architectures" in md and "1/24" in md


def _dashed_headers(table: list[str]) -> list[str]:
    from nas_proxy.report.render import COLUMNS

    cells = [[c.strip() for c in line.strip("|").split("|")][1:] for line in table]
    return [h for j, (_, h) in enumerate(COLUMNS) if any(row[j].startswith("–") for row in cells)]


def test_the_same_report_attached_again_adds_nothing_to_the_study(tmp_path: Path) -> None:
    """``run`` or ``correlate --study`` again after it finished: the study's note and plots are already
    there, so its journal and artifacts stay as they are (each call uploaded both plots again: the
    dashboard listed a copy per call). A report that changed is attached."""
    import optuna
    from optuna.artifacts import get_all_artifact_meta

    from nas_proxy.report.render import attach_to_study
    from nas_proxy.studies.storage import open_storage

    storage = open_storage(str(tmp_path / "journal.log"), "s")
    study = optuna.create_study(study_name="s", storage=storage.backend)
    report = result(tmp_path / "report", {"p": metrics()}, 6)
    write_reports(report)
    attach_to_study(study, report, storage)
    journal = (tmp_path / "journal.log").read_bytes()
    attach_to_study(study, report, storage)  # the same command again
    assert (tmp_path / "journal.log").read_bytes() == journal
    assert sorted(a.filename for a in get_all_artifact_meta(study)) == ["fidelity_cost.png", "scatter.png"]
    other = result(tmp_path / "report", {"p": metrics(), "q": metrics()}, 6)  # another report: its plots are shown
    write_reports(other)
    attach_to_study(study, other, storage)
    assert len(get_all_artifact_meta(study)) == 4


def test_a_read_only_home_leaves_the_output_to_nasproxy(tmp_path: Path) -> None:
    """HOME read-only (555, root without capabilities) and no MPLCONFIGDIR: matplotlib cannot make its config and cache
    folders there. Before stop 49 it made a temporary one itself and printed two lines of its own amid the report's
    ('mkdir -p failed for path HOME/.config/matplotlib: ...', 'Matplotlib created a temporary cache directory at ...').
    Now the reports give it a folder of this user's in the temporary folder: stderr holds nasproxy's lines only. Run
    cold: the warm server has imported matplotlib already, its folders chosen."""
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    home.chmod(0o555)
    specs = [{"family": "convnet", "depth": d, "width": w, "activation": "relu", "normalization": "none", "pooling": "avgpooling"}
             for d in (1, 2, 3) for w in (16, 32)]  # fmt: skip
    given = tmp_path / "given.json"
    given.write_text(json.dumps([{"spec": s, "accuracy": 80.0 + i} for i, s in enumerate(specs)]))  # nothing trained
    command = ["correlate", "--archs", str(given), "--space", "convnet-cpu", "--dataset", "digits", "--proxies", "params"]
    command += ["--no-random-subset", "--bootstrap", "100", "--device", "cpu", "--out", str(tmp_path / "out"), "--quiet"]
    env = {k: v for k, v in os.environ.items() if k not in ("MPLCONFIGDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")}
    done = uncapable.run(command, env={**env, "HOME": str(home), "TMPDIR": str(tmp)}, cold=True)
    assert done.returncode == 0, done.stderr
    assert all(line.startswith("warning: ") for line in done.stderr.splitlines()), done.stderr  # only 6 architectures: said
    assert {"scatter.png", "fidelity_cost.png", "report.html"} <= {p.name for p in (tmp_path / "out").iterdir()}
    assert [p.name for p in tmp.iterdir()] == [f"nasproxy-matplotlib-{os.getuid()}"] and not list(home.iterdir())


def test_the_figures_are_measured_without_drawing_their_pixels(
    crowded_figures: tuple[list[Any], list[list[tuple[str, str]]], list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Placing names, thinning ticks and checking overlaps lay a figure out; its pixels are drawn once, when it is saved.
    Before stop 53 every measure drew the whole figure (scatter: 2 draws for 1 saved; fidelity-vs-cost: 3 or more)."""
    from matplotlib.backends.backend_agg import RendererAgg

    figures, found, drawn_while_measured = crowded_figures  # the legend of the third: its figure measured again
    assert found == [[], [], []] and drawn_while_measured == []
    drawn: list[str] = []
    real = RendererAgg.draw_text

    def draw_text(self: RendererAgg, gc: Any, x: float, y: float, s: str, *args: Any, **kwargs: Any) -> None:
        drawn.append(s)
        real(self, gc, x, y, s, *args, **kwargs)

    monkeypatch.setattr(RendererAgg, "draw_text", draw_text)
    from matplotlib.figure import Figure

    laid_out: list[object] = []
    real_draw = Figure.draw

    def draw(self: Figure, renderer: Any) -> None:
        laid_out.append(renderer)
        real_draw(self, renderer)

    monkeypatch.setattr(Figure, "draw", draw)
    figures[1].savefig(tmp_path / "cost.png")  # drawn when saved
    assert "fidelity vs cost" in drawn
    # and laid out only then, once: a figure with a layout engine is laid out once more by savefig before it is drawn,
    # and before stop 58 the scatter's tight_layout() left one on it (a placeholder that moves nothing)
    assert len(laid_out) == 1 and [f.get_layout_engine() for f in figures] == [None, None, None]


def test_the_plots_are_inlined_into_the_html_after_markdown_it_renders_it(crowded_written: tuple[CorrelateResult, list[str]]) -> None:
    """report.html holds both PNGs as data URLs, byte for byte. Before stop 53 they were put into the Markdown first, and
    markdown-it walked and percent-encoded each ~100 kB link one character at a time in Python (0.05 CPU-s of 0.06)."""
    import base64
    import re

    result, seen = crowded_written
    assert len(seen) == 1 and "data:image" not in seen[0]
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)" alt="([^"]+)"', (result.out / "report.html").read_text())
    inlined = {alt: base64.b64decode(data) for data, alt in images}
    assert inlined == {
        "proxy vs ground truth": (result.out / "scatter.png").read_bytes(),
        "fidelity vs cost": (result.out / "fidelity_cost.png").read_bytes(),
    }


def test_the_figures_are_measured_at_the_size_they_are_saved(
    crowded_written: tuple[CorrelateResult, list[str]], crowded_figures: tuple[list[Any], list[list[tuple[str, str]]], list[str]]
) -> None:
    """Names placed, ticks thinned and overlaps() checked on the very pixels of the PNG. Before stop 53 a figure was laid
    out and checked at 100 dpi and saved at 110: the text measured was not the text drawn (hinting does not scale), and
    the save laid everything out again with a cold text-size cache."""
    from PIL import Image

    result, _ = crowded_written
    scatter, cost, _ = crowded_figures[0]  # the figures this very write made, laid out and saved
    for name, fig in (("scatter.png", scatter), ("fidelity_cost.png", cost)):
        with Image.open(result.out / name) as png:
            assert png.size == tuple(round(v) for v in fig.bbox.size), name  # fig.bbox: the figure in the pixels it is measured in


def test_the_figures_are_saved_at_their_own_dpi_whatever_matplotlibrc_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """review54: since stop 53 a figure was saved at matplotlib's ``savefig.dpi``, which a user's matplotlibrc sets (300
    is common), not at the dpi it was laid out and checked at (plots.DPI): its PNG was 300 dpi, 2.7 times as wide and
    ~7 times the bytes inlined into report.html, drawn at another size than measured. Saved at the figure's own dpi."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    from nas_proxy.report.plots import DPI, cost_figure

    monkeypatch.setitem(matplotlib.rcParams, "savefig.dpi", 300)  # as `savefig.dpi: 300` in a matplotlibrc sets it
    report = result(tmp_path, CASES["interval misses the point"], 6)  # two proxies: the crowded report costs 5 times the CPU
    write_reports(report)
    fig = cost_figure(report)
    with Image.open(tmp_path / "fidelity_cost.png") as png:
        assert png.size == tuple(round(v) for v in fig.bbox.size)
    assert fig.dpi == DPI
    plt.close(fig)


@pytest.mark.parametrize("kept", [("params",), ("params", "naswot")])
def test_a_scatter_of_few_proxies_is_as_wide_as_its_panels_and_still_fits_its_failed_line(kept: tuple[str, ...], tmp_path: Path) -> None:
    """One or two proxies: one panel a column, not four columns of which the rest stand empty (stop 55 measured 0.11
    CPU-s a report for them); the line naming the architectures at chance, wider than one panel, wraps inside the figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nas_proxy.report.notes import failed_archs
    from nas_proxy.report.plots import overlaps, scatter_figure

    full = crowded(tmp_path)
    few = CorrelateResult(full.out, full.rows, {n: full.proxies[n] for n in kept}, [], full.facts)
    failed = failed_archs(few)
    assert failed.ids  # arch00, at chance: the line is drawn
    fig = scatter_figure(few, failed)
    try:
        assert len(fig.axes) == len(kept) and fig.get_figwidth() == 4 * len(kept)
        assert fig._suptitle is not None and "at chance level" in fig._suptitle.get_text().replace("\n", " ")
        assert overlaps(fig) == []
    finally:
        plt.close(fig)
