"""The correlation reports: results.csv, results.json, report.md, a self-contained report.html, plots."""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import math
import os
import stat
from pathlib import Path
from typing import Any, TypeGuard

from nas_proxy.correlate.metrics import to_jsonable
from nas_proxy.correlate.result import TRUTH_SEED2, CorrelateResult
from nas_proxy.files import make_dirs, write_bytes, write_json, write_text, writing
from nas_proxy.groundtruth.tables import DATASET
from nas_proxy.report.notes import Failed, ceiling_size, dash_notes, failed_archs, failed_lines
from nas_proxy.report.verdict import verdict
from nas_proxy.studies.storage import Storage
from nas_proxy.version import __version__

SCATTER, COST = "scatter.png", "fidelity_cost.png"
COLUMNS = [  # (key in the proxy's metrics, header)
    ("n_scored", "n"),
    ("spearman", "Spearman ρ"),
    ("kendall", "Kendall τ-b"),
    ("weighted_tau", "weighted τ"),
    ("top_kendall", "τ-b top 20%"),
    ("precision@1", "P@1"),
    ("precision@3", "P@3"),
    ("precision@5", "P@5"),
    ("kendall_gap", "τ-b gap to best"),
    ("regret", "regret (pts)"),
    ("promote_regret", "regret, top K promoted"),
    ("promote_saving", "full ÷ promoted compute"),
    ("seconds_per_arch", "s / arch"),
    ("speedup", "speed-up"),
]


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return f"{v:.{digits}f}" if abs(v) < 1000 else f"{v:,.0f}" if abs(v) < 1e7 else f"{v:.3g}"
    return str(v)


def _finite(v: Any) -> TypeGuard[float]:
    """A real number that can be drawn or formatted (not None, NaN or +-inf)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _cell(m: dict[str, Any], key: str) -> str:
    value = _fmt(m.get(key), 1 if key in ("speedup", "promote_saving") else 3)
    ci = m.get(f"{key}_ci")
    if ci and len(ci) == 2 and all(_finite(c) for c in ci):
        value += f" [{ci[0]:.2f}, {ci[1]:.2f}]"
    return value


def table_rows(result: CorrelateResult) -> list[list[str]]:
    """One row per proxy (and the ceiling, its size in its name): the name, then the COLUMNS' cells."""
    return [[_row_name(name, m), *(_cell(m, k) for k, _ in COLUMNS)] for name, m in result.proxies.items()]


def _row_name(name: str, m: dict[str, Any]) -> str:
    return f"{name} ({m['archs']} archs)" if name == TRUTH_SEED2 and m.get("archs") else name


def _title(f: dict[str, Any], literal: Any = str) -> str:
    """The report's title; ``literal``: how a name read from the user's paths is written (report.md's: as literal
    Markdown, so that a space file '*x*.toml' is no emphasis; probe58)."""
    return f"Proxy vs ground truth: {literal(f['data']['dataset'])}, space {literal(f['space'])}"


def markdown(result: CorrelateResult, failed: Failed | None = None) -> str:
    """``report.md``; ``failed``: the architectures that did not learn, where the caller has them (computed once for
    the verdict, the paragraph below the table and the plots: fix59)."""
    from nas_proxy.search.dashboard import md_text

    f = result.facts
    g = f["ground_truth"]
    failed = failed_archs(result) if failed is None else failed
    lines = [
        f"# {_title(f, md_text)}",
        "",
        *(f"- {sentence}" for sentence in verdict(result, failed)),
        "",
        "## Protocol",
        "",
        f"{f['archs_scored']} architectures (of {f['archs']} asked). Ground truth: test accuracy after {g['epochs']} epochs on "
        f"{'the whole training split' if g['images'] is None else str(g['images']) + ' images of the training split'} "
        f"(lr {g['lr']}, batch {g.get('batch_used', g['batch_size'])}, augmentation {'DSA' if g['augment'] else 'none'}), seed {g['seeds'][0]}; "
        f"{_fmt(g['seconds_per_arch'], 1)} s per architecture on {f['device']}. Proxies are scored on the validation split, never the test set.",
        "",
        *_protocol(f),
        *_each_proxy(f),
        *_promotion_protocol(f),
        "## Results",
        "",
    ]
    lines += [f"> **Warning:** {w}" for w in result.warnings] + ([""] if result.warnings else [])
    lines += [
        "| proxy | " + " | ".join(h for _, h in COLUMNS) + " |",
        "|---|" + "---|" * len(COLUMNS),
    ]
    table = table_rows(result)
    lines += ["| " + " | ".join(r) + " |" for r in table]
    lines += dash_notes(result, COLUMNS, table)
    lines += [
        "",
        "Brackets: 95% percentile-bootstrap intervals over architectures. τ-b gap to best: the τ-b of the best proxy "
        "(gap 0) minus this proxy's, with a *paired* bootstrap interval (both judged on the same resamples); an interval "
        "that contains 0 means these architectures cannot tell the two proxies apart. Regret: ground-truth accuracy of the best "
        "architecture minus that of the proxy's pick. Speed-up: mean ground-truth training seconds per architecture over "
        "the proxy's mean seconds per architecture (the one-off cost of a synthetic set is separate, below). "
        "Every proxy ranks higher scores higher: for `params` and `flops` that means *the larger network is predicted "
        "better*, so their P@k and regret judge picking the biggest model. `n`: architectures the proxy could score "
        "(early stopping has none for accuracies given in a file; NASWOT none for networks without ReLU).",
    ]
    if TRUTH_SEED2 in result.proxies:
        lines += ["", _ceiling(result.proxies[TRUTH_SEED2], g, f["archs_scored"])]
    elif g.get("given"):
        lines += [
            "",
            "No *ground truth, 2nd seed* row: the accuracies were given in the --archs file, and this tool's own training "
            "with another seed would rank a different protocol against them, which is not a second seed of the same one.",
        ]
    one_off = {n: m["one_off_seconds"] for n, m in result.proxies.items() if m.get("one_off_seconds")}
    if one_off:
        lines += ["", "One-off cost of the synthetic sets (distillation): " + ", ".join(f"{n} {s:.0f} s" for n, s in one_off.items()) + "."]
    lines += ["", *failed_lines(result, failed)]
    dims = dimension_lines({n: m.get("per_dimension") or {} for n, m in result.proxies.items()})
    lines += ["", "## Per dimension", "", *dims] if dims else []
    lines += ["", f"![proxy vs ground truth]({SCATTER})", "", f"![fidelity vs cost]({COST})", ""]
    lines += ["Files: `results.csv` (one row per architecture), `results.json` (every number of this report)."]
    return "\n".join(lines) + "\n"


def dimension_lines(per_proxy: dict[str, dict[str, dict[str, dict[str, Any]]]]) -> list[str]:
    """The per-dimension diagnostic (``metrics.per_dimension`` of every proxy) as one Markdown table:
    a row per value of every dimension, a column per proxy with Spearman among that value's members,
    its bootstrap interval, and the mean rank shift in parentheses. Empty when no proxy has one."""
    per_proxy = {n: d for n, d in per_proxy.items() if d}
    if not per_proxy:
        return []
    first = next(iter(per_proxy.values()))
    names = list(per_proxy)
    lines = [
        "Where each proxy fails, per dimension: Spearman ρ among the architectures with that value [95% bootstrap interval], "
        "and in parentheses their mean rank shift (proxy rank minus ground-truth rank among all architectures, 1 = best: "
        "positive = ranked lower than they are). `n`: members scored; a proxy that scored fewer says its own n.",
        "",
        "| dimension | value | n | " + " | ".join(names) + " |",
        "|---|---|---|" + "---|" * len(names),
    ]
    for dim, values in first.items():
        for value, m in values.items():
            cells = []
            for name in names:
                got = per_proxy[name].get(dim, {}).get(value)
                if got is None:
                    cells.append("–")
                    continue
                cell = _cell(got, "spearman") + (f" ({got['rank_shift']:+.1f})" if _finite(got.get("rank_shift")) else "")
                cells.append(cell + (f" n={got['n']}" if got["n"] != m["n"] else ""))
            lines.append(f"| {dim} | {value} | {m['n']} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _ceiling(row: dict[str, Any], g: dict[str, Any], n: int) -> str:
    """The ceiling row's sentence, saying which architectures it covers."""
    text = (
        f"The row *{TRUTH_SEED2}* is the ceiling: the same training with seed {g['seeds'][1]} ranked against the first, "
        f"on {g['ceiling_archs']} of the {n} architectures the proxies are judged on"
    )
    if g["ceiling_archs"] >= n:
        return text + " (all of them); no proxy can be expected to beat it." + ceiling_size(row)
    text += " (a seeded random subset, --ceiling)"
    if row.get("best_proxy") is not None:
        text += f"; on those same architectures the best proxy, {row['best_proxy']}, ranks at τ-b {_fmt(row.get('best_proxy_kendall'))}"
    return text + "." + ceiling_size(row)


def _each_proxy(f: dict[str, Any]) -> list[str]:
    """How every proxy of the run scores an architecture, one line each (each proxy says it)."""
    described = {n: d for n, d in (f.get("proxy_protocol") or {}).items() if d}
    if not described:
        return []
    return ["How each proxy scores an architecture:", "", *(f"- **{n}**: {d}." for n, d in described.items()), ""]


def _promotion_protocol(f: dict[str, Any]) -> list[str]:
    k = f.get("promote")
    if k is None:
        return []
    return [
        f"Promotion: *regret, top K promoted* is the regret of training the proxy's top {k} on the full data and keeping "
        f"the one with the best validation accuracy of that training (the test accuracy never picks); its compute is the "
        f"proxy on every candidate, its one-off cost and the {k} full trainings, against training every candidate.",
        "",
    ]


def _protocol(f: dict[str, Any]) -> list[str]:
    """How the synthetic-set proxies were trained (the study's protocol when taken from a study)."""
    p, sets = f.get("proxy_training"), f.get("synthetic") or {}
    if not p or not sets:
        return []
    sha = f.get("synthetic_sha256") or {}
    used = {n: (f.get("synthetic_batch") or {}).get(n, p["batch_size"]) for n in sets}  # capped to each set (fix62b)
    one = len(set(used.values())) == 1
    batch = f"batch {next(iter(used.values()))}" if one else f"batch {p['batch_size']} capped to each set's images"
    each = {n: "" if one else f", batch {used[n]}" for n in sets}
    listed = ", ".join(f"{n} (`{path}`{each[n]}" + (f", tensors sha256 {sha[n][:12]})" if n in sha else ")") for n, path in sets.items())
    return [
        f"Synthetic-set proxies: each architecture trained {p['epochs']} epochs on the synthetic set (lr {p['lr']}, "
        f"{batch}, DSA {'on' if p['dsa'] else 'off'}), seed {p.get('seed', f.get('seed'))}; sets: {listed}.",
        "",
    ]


# the PNG text chunk that names what a plot was drawn from (:func:`plot_inputs`)
DRAWN_FROM = "nasproxy-drawn-from"
IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # a PNG's last chunk: no data, its type, its CRC
# rcParams that no pixel of a saved plot shows and a process's history sets (pyplot resolves the backend, backend.pyplot
# sets Agg, plt.ion() or IPython interactive): in the digest, a process that had drawn before drew the same plots anew
NOT_STYLE = frozenset({"backend", "backend_fallback", "interactive"})


def plot_inputs(result: CorrelateResult, failed: Failed | None = None) -> str:
    """A digest of everything the two plots are drawn from: the proxies' metrics, the architectures' rows, the failed
    architectures named in the scatter's title, the code that draws them (:mod:`nas_proxy.report.plots`' source, the
    version of matplotlib) and the style it draws in (matplotlib's ``rcParams``: a user's matplotlibrc, an
    ``rc_context``). review57: the failed architectures are a frozenset, which JSON wrote in the process's hash order, so
    every new process drew both plots again; a changed style or plotting code kept plots of the old one. ``failed``: those
    architectures where the caller has them (:func:`plots`: computed once, fix58)."""
    from nas_proxy.report.backend import matplotlib

    mpl = matplotlib()
    failed = failed_archs(result) if failed is None else failed
    drawn = {
        "proxies": result.proxies,
        "rows": result.rows,
        "failed": [sorted(failed.ids), failed.threshold, failed.chance, failed.classes],
    }
    # by key: rcParams.items() resolves the backend, which imports pyplot (review58)
    style = [(key, repr(mpl.rcParams[key])) for key in mpl.rcParams if key not in NOT_STYLE]
    digest = hashlib.sha256(json.dumps(to_jsonable(drawn), sort_keys=True, default=str).encode())
    for part in (repr(style), mpl.__version__, __version__, _source("plots.py")):
        digest.update(b"|" + part.encode())
    return digest.hexdigest()


def _source(name: str) -> str:
    """The source of this package's module ``name`` (none where it was installed without it)."""
    try:
        return (Path(__file__).parent / name).read_text(encoding="utf-8")
    except (OSError, ValueError):
        return ""


def plots(result: CorrelateResult, failed: Failed | None = None) -> None:
    """``scatter.png`` and ``fidelity_cost.png`` (:mod:`nas_proxy.report.plots`), each left alone where it was drawn
    from the same inputs (:func:`plot_inputs`, in its text chunk :data:`DRAWN_FROM`): the same ``run`` or ``correlate``
    again drew both anew (~1.8 CPU-s of its ~2 on a cached re-run, stop 56) to the same pixels. ``failed``: as
    :func:`markdown`'s."""
    failed = failed_archs(result) if failed is None else failed
    digest = plot_inputs(result, failed)
    if all(_drawn_from(result.out / name, digest) for name in (SCATTER, COST)):
        return
    from nas_proxy.report.backend import pyplot
    from nas_proxy.report.plots import cost_figure, scatter_figure

    plt = pyplot()

    for name, fig in ((SCATTER, scatter_figure(result, failed)), (COST, cost_figure(result))):
        _save(fig, result.out / name, digest)
        plt.close(fig)


def _drawn_from(path: Path, digest: str) -> bool:
    """Whether ``path`` is a regular file (a FIFO is never opened) holding the text chunk of a plot drawn from
    ``digest``'s inputs."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        data = path.read_bytes()
    except OSError:
        return False
    # whole: PNG's IEND chunk last (drill57: the text chunk comes before the pixels, so a PNG cut short by a lost disk
    # write still held the digest and was kept, torn, and inlined into report.html)
    return data.startswith(b"\x89PNG") and data.endswith(IEND) and f"{DRAWN_FROM}\0{digest}".encode() in data


def _save(fig: Any, path: Path, digest: str) -> None:
    png = io.BytesIO()
    # at the figure's own dpi (plots.DPI), the one it was laid out at: savefig's default is matplotlibrc's savefig.dpi
    fig.savefig(png, dpi=fig.dpi, format="png", metadata={DRAWN_FROM: digest})
    write_bytes(path, png.getvalue())


def html_report(result: CorrelateResult, md: str) -> str:
    """``md`` rendered as one self-contained page (the plots inlined as data URLs)."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(md)
    for name in (SCATTER, COST):  # inlined after rendering: markdown-it walks a link's every character in Python
        data = base64.b64encode((result.out / name).read_bytes()).decode()
        body = body.replace(f'src="{name}"', f'src="data:image/png;base64,{data}"')
    title = html.escape(_title(result.facts))
    style = (
        "body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;font-size:13px;display:block;overflow-x:auto}"
        "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}td{white-space:nowrap}"
        "td:first-child,th:first-child{text-align:left}img{max-width:100%}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>{style}</style></head><body>{body}</body></html>\n"
    )


def write_reports(result: CorrelateResult) -> None:
    """Every file of a correlation run, each written atomically; results.json last, so a directory
    whose results.json is current has current reports too."""
    import pandas as pd

    out = result.out
    make_dirs(out)
    # every row names its data (the ground-truth tables' column, nas_proxy.groundtruth.tables): a copied CSV keeps it;
    # before fix52d only results.json's facts named it
    dataset = {DATASET: result.facts["data"]["dataset"]}
    frame = pd.DataFrame([{"arch_id": r["arch_id"], **dataset, **r, "spec": json.dumps(r["spec"], sort_keys=True)} for r in result.rows])
    write_text(out / "results.csv", frame.to_csv(index=False))
    failed = failed_archs(result)
    plots(result, failed)
    md = markdown(result, failed)
    write_text(out / "report.md", md)
    write_text(out / "report.html", html_report(result, md))
    write_json(out / "results.json", to_jsonable(result.to_dict()))


def attach_to_study(study: Any, result: CorrelateResult, storage: Storage) -> None:
    """Show the summary and the fidelity plot on the search study's dashboard page (``storage``: the study's)."""
    from optuna.artifacts import FileSystemArtifactStore, upload_artifact

    from nas_proxy.search.dashboard import SEPARATOR, description, md_code, md_text, notes

    best = max(
        ((n, m) for n, m in result.proxies.items() if n != TRUTH_SEED2),
        key=lambda nm: -math.inf if nm[1].get("kendall") is None or not math.isfinite(nm[1]["kendall"]) else nm[1]["kendall"],
        default=None,
    )
    lines = [
        f"# Correlation report ({result.facts['archs_scored']} architectures)",
        f"Full report: {md_code(result.out / 'report.html')}",
        "",
        "| proxy | Kendall τ-b | Spearman ρ | regret | s / arch |",
        "|---|---|---|---|---|",
    ]
    for name, m in result.proxies.items():
        lines.append(
            f"| {md_code(name, cell=True)} | {_cell(m, 'kendall')} | {_cell(m, 'spearman')} | {_fmt(m.get('regret'))} | {_fmt(m.get('seconds_per_arch'))} |"
        )
    if best is not None:
        lines += ["", f"Highest Kendall τ-b: {md_code(best[0])}."]
    lines += ["", *failed_lines(result, failed_archs(result))]
    lines += [f"> {md_text(w)}" for w in result.warnings]
    first = description(study)
    note = (first + SEPARATOR if first else "") + "\n".join(lines)
    if notes().get_note(study) != note:  # the same report again adds nothing to the journal
        notes().save_note(study, note)
    store_dir = make_dirs(storage.artifacts(study.study_name))
    store = FileSystemArtifactStore(str(store_dir))
    for name in (COST, SCATTER):
        if not _shown(study, store, result.out / name):
            with writing(store_dir, (result.out / name).stat().st_size):
                upload_artifact(artifact_store=store, file_path=str(result.out / name), study_or_trial=study, mimetype="image/png")


def _shown(study: Any, store: Any, path: Path) -> bool:
    """Whether the study's artifacts already hold this very plot (its file name and bytes): the same
    command run again (``run``, ``correlate --study``) uploads nothing, where each call added another
    copy of both plots to the study's artifacts and the dashboard listed one per call."""
    from optuna.artifacts import get_all_artifact_meta
    from optuna.artifacts.exceptions import ArtifactNotFound

    data = path.read_bytes()
    for held in get_all_artifact_meta(study):
        if held.filename == path.name:
            try:
                with store.open_reader(held.artifact_id) as f:
                    if f.read() == data:
                        return True
            except ArtifactNotFound:  # its file removed by hand: upload it again
                continue
    return False


def summary_lines(result: CorrelateResult) -> list[str]:
    width = max([len(n) for n in result.proxies] + [5])
    out = [f"{'proxy':<{width}}  {'kendall':>7}  {'spearman':>8}  {'regret':>6}  {'s/arch':>8}"]
    for name, m in result.proxies.items():
        out.append(
            f"{name:<{width}}  {_fmt(m.get('kendall'), 3):>7}  {_fmt(m.get('spearman'), 3):>8}  "
            f"{_fmt(m.get('regret'), 2):>6}  {_fmt(m.get('seconds_per_arch'), 2):>8}"
        )
    return out
