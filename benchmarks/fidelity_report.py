"""fidelity.py's outputs: the Markdown of a result, and OUT/STEM.json and OUT/STEM.md written whole (the other
benchmark scripts write theirs the same way), with the checks of an --out before any work; and the option every
script with intervals shares, ``--bootstrap`` (:func:`add_bootstrap`)."""

from __future__ import annotations

import argparse
import json
import math
import stat
import sys
from pathlib import Path
from typing import Any

from nas_proxy import checks, configs
from nas_proxy.cli.types import integer
from nas_proxy.correlate.config import N_BOOT_MAX, N_BOOT_MIN, CorrelateConfig
from nas_proxy.errors import InvalidArgumentError


def _f(v: Any, digits: int = 3) -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{digits}f}"


def _ci(v: float, ci: list[float]) -> str:
    return f"{_f(v)} [{_f(ci[0], 2)}, {_f(ci[1], 2)}]"


def markdown(result: dict[str, Any]) -> str:
    """The proxies' table and the paired differences, in Markdown."""
    # here, not at the top: fidelity_stats imports SciPy's statistics (0.8 CPU-s), which the timing scripts that import
    # this module for its argument checks (distill_speed.py, search_speed.py, sampler_overhead.py) never use (perf58a)
    from fidelity_stats import K_VALUES, PROMOTE

    head = ["proxy", "n", "Spearman ρ", "Kendall τ-b", "weighted τ", "ρ top 20%", "τ-b top 20%"]
    head += [f"P@{k}" for k in K_VALUES] + ["regret (pts)", "regret, top K promoted", "s / arch", "one-off s", "speed-up"]
    head += ["s, proxy + K", "full ÷ (proxy + K)"]
    k = result.get("promote_k", PROMOTE)
    promotion = (
        f"Promotion: each proxy's top {k} trained on full data, the pick by validation accuracy (never test); its seconds "
        "are the proxy on every architecture, its one-off cost and those trainings, against training every architecture."
        if k
        else f"Promotion: none (its default top {PROMOTE} is not fewer than the {result['n_archs']} architectures: it would train them all)."
    )
    lines = [
        f"Ground truth: seed {result['truth_seed']} of {result['n_archs']} architectures. {promotion}",
        "",
        "| " + " | ".join(head) + " |",
    ]
    lines.append("|" + "---|" * len(head))
    for name, r in result["proxies"].items():
        cells = [name, str(r["n_scored"]), _ci(r["spearman"], r["spearman_ci"]), _ci(r["kendall"], r["kendall_ci"]), _f(r["weighted_tau"])]
        cells += [_ci(r["top_spearman"], r["top_spearman_ci"]), _ci(r["top_kendall"], r["top_kendall_ci"])]
        cells += [_f(r[f"precision@{k}"]) for k in K_VALUES]
        cells += [_f(r["regret"], 2), _f(r.get("promote_regret"), 2), _f(r["seconds_per_arch"], 2), _f(r["one_off_seconds"], 0)]
        cells += [_f(r["speedup"], 1), _f(r.get("cost_promoted_seconds"), 0), _f(r.get("promote_saving"), 1)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Paired bootstrap differences (a - b, 95% interval, share of resamples where a wins):", ""]
    lines += ["| a | b | metric | n | a - b [95% CI] | P(a better) |", "|---|---|---|---|---|---|"]
    for d in result["paired"]:
        lines.append(f"| {d['a']} | {d['b']} | {d['metric']} | {d['n']} | {_ci(d['diff'], d['ci'])} | {_f(d['p_better'], 2)} |")
    from nas_proxy.report.render import dimension_lines

    dims = dimension_lines({name: r.get("per_dimension") or {} for name, r in result["proxies"].items()})
    lines += ["", *dims] if dims else []
    return "\n".join(lines) + "\n"


def write_outputs(out: Path, stem: str, result: dict[str, Any], text: str, command: str | None = None) -> None:
    """``OUT/STEM.json`` (every number, and the command that made it: ``command``, else this process's)
    and ``OUT/STEM.md``; prints the Markdown."""
    from nas_proxy.correlate.metrics import to_jsonable
    from nas_proxy.files import write_text

    result["command"] = command or " ".join([sys.executable, *sys.argv])
    check_out(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / f"{stem}.json", json.dumps(to_jsonable(result), indent=1) + "\n")  # whole or not at all
    write_text(out / f"{stem}.md", text)
    print(text)


def check_out(out: Path) -> None:
    """Refuse an --out that exists and is no folder, before anything is scored (before stop 46: FileExistsError after),
    or that is a synthetic set's folder or inside one (before stop 46 the results and the score cache went among its files)."""
    checks.not_a_synthetic_set("--out", out)
    st = checks.status("--out", out)
    if st is not None and not stat.S_ISDIR(st.st_mode):
        what = "a file" if stat.S_ISREG(st.st_mode) else checks.kind(st.st_mode)
        raise InvalidArgumentError(f"--out {out} is {what}, not a folder: give the folder the results are written into")


def check_out_file(option: str, path: Path, makes_folder: bool = False) -> None:
    """Refuse a file to write that is a folder, or (unless the writer ``makes_folder``) whose folder does not exist, before any work."""
    st = checks.status(option, path)
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise InvalidArgumentError(f"{option} {path} is a folder; give the file to write")
    if not makes_folder and not path.parent.is_dir():
        raise InvalidArgumentError(f"{option} {path}: its folder {path.parent} does not exist")


def add_bootstrap(p: argparse.ArgumentParser) -> None:
    """``--bootstrap N``, the resamples of a script's intervals: correlate's default (``CorrelateConfig.n_boot``)
    and one help for the six scripts that each spelled it (a script checks it with ``correlate.config.check_n_boot``)."""
    p.add_argument(
        "--bootstrap",
        type=integer,
        default=configs.default_of(CorrelateConfig, "n_boot"),
        help=f"bootstrap resamples of the architectures, {N_BOOT_MIN} to {N_BOOT_MAX} (default %(default)s)",
    )
