"""Which synthetic set ranks architectures (issue 18): every distillation variant on held-out architectures.

    OMP_NUM_THREADS=1 nice -n 15 python benchmarks/distill_ablation.py --device cpu \\
        --max-mflops 60 --n-archs 36 --iterations 400 --official-iterations 1000 --distill-args "--batch-real 32" \\
        --work benchmarks/out/ablation-cpu --out benchmarks/ablation/cpu --deadline-seconds 10800

A variant is a name and the flags of one ``nasproxy distill`` run (``VARIANTS`` below; ``--variant
NAME=FLAGS`` adds one). For each, in the table's order or ``--variants``'s (the priority under a deadline): distil the set
(or reuse it), score every chosen evaluation architecture with the default proxy protocol (the
proxy-training flags of ``nasproxy search`` change it), and report against the ground-truth table's
seed 0: Spearman, Kendall, Spearman on the best 20 %, the paired difference to the random real subset
of the same IPC (bootstrap, the same resamples), regret alone and with the top ``--promote`` promoted
(picked by the validation accuracy of the table's seed ``--promote-seed``, an independent training),
distillation seconds, and the per-dimension diagnostic (``nas_proxy.correlate.metrics.per_dimension``).

Architectures: the evaluation half of ``groundtruth/split.csv`` (never the calibration half), those
under ``--max-mflops`` per image, then a seeded pick of ``--n-archs`` of them (``--subset-seed``).
Placeholders in a variant's flags: ``{iterations}`` (the paper's 8,000 by default), ``{official_iterations}``
(the official code's 20,000), ``{calibration}`` (a JSON list of the 30 calibration architectures with
their table *validation* accuracy, for ``--select-by``). A variant whose flags ``nasproxy distill
--help`` does not list is skipped with the reason. ``--distill-args`` go to every distillation that
optimises (not to the random subsets).

Resumable: sets live in ``--work/sets/`` (an interrupted distillation is resumed from its checkpoint),
every architecture's score in ``--work/cache/`` (fidelity.py's cache); a rerun does only what is
missing. ``--resume-from DIR`` (a committed ``--out`` of an earlier run, e.g. ``benchmarks/ablation/cpu``;
repeatable, the later folder winning) takes every variant that run finished, under the same protocol and flags, from its ``ablation.json`` and
``scores.csv`` instead of distilling and scoring it again: a run continues on another machine, where
the work folder is gone. ``--deadline-seconds`` stops starting work after that many seconds (a distillation running
then is stopped after its iteration, with a checkpoint). Distillations run in this process
(``nasproxy distill``'s own code, ``run_distill``), so a set costs no start-up. Writes ``ablation.json``, ``ablation.md`` and
``scores.csv`` into ``--out`` after every variant that adds a row (once more at the end).
``--report-only`` rebuilds them from ``--work`` alone: it distils and trains nothing and needs no
device (a GPU run's returned state, read on a laptop).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import io
import json
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

BENCHMARKS = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCHMARKS.parent), str(BENCHMARKS), str(BENCHMARKS / "groundtruth")]

from fidelity_proxies import _synthetic  # noqa: E402
from fidelity_report import _ci, _f, add_bootstrap, write_outputs  # noqa: E402
from fidelity_stats import CEILING, PAIRED, fidelity  # noqa: E402
from fidelity_table import Table, check_dataset, read_table, subset  # noqa: E402
from gpu_common import set_finished  # noqa: E402
from split import SPLIT, read_split  # noqa: E402

from nas_proxy.cli.common import ScriptParser  # noqa: E402
from nas_proxy.correlate.config import check_n_boot  # noqa: E402
from nas_proxy.correlate.metrics import paired_difference  # noqa: E402
from nas_proxy.errors import InvalidArgumentError, NasProxyError  # noqa: E402
from nas_proxy.groundtruth.tables import COLUMNS, row_columns  # noqa: E402
from nas_proxy.report.render import dimension_lines  # noqa: E402

TABLE = BENCHMARKS / "groundtruth" / "fashion-mnist-convnet720.csv"
DEFAULT = "datadam"  # the paper's recipe (distill's default before RESULTS.md §19): every optimised variant is compared with it
PROMOTE = 3  # "proxy + promote 3": issue 18's target
PROMOTE_SEED = 1  # promotion picks by this seed's validation accuracy (another training than the ground truth's)


@dataclass(frozen=True)
class Variant:
    """One synthetic set: ``nasproxy distill`` flags (with placeholders) and what it is."""

    name: str
    flags: str
    note: str = ""


# Every variant's flags pin what was measured, whatever distill's defaults become (they changed in RESULTS.md §19).
# The paper's DataDAM recipe: ConvNet-3 with instance norm, attention power 4 (distill's default until §19)
DAM = "--method datadam --net-norm instancenorm --attention-power 4 --iterations {iterations}"
# the same with the network drawn from a space: --net-norm is idle there (refused); batch-norm members use the real batch's statistics
DAM_NETS = "--method datadam --attention-power 4 --batchnorm-stats real --iterations {iterations}"
# the official DataDAM code's recipe at IPC 10: batch norm with each batch's own statistics (its rule), power 1
OFFICIAL = "--method datadam --ipc 10 --net-norm batchnorm --batchnorm-stats own --attention-power 1"
# the same at any IPC (official-ipc10 keeps the string above: its set's folder is named by its flags)
OFFICIAL_ANY = "--method datadam --net-norm batchnorm --batchnorm-stats own --attention-power 1"
VARIANTS: tuple[Variant, ...] = (  # priority order: under a deadline the last ones wait for the next run
    Variant("random-ipc10", "--method random --ipc 10", "a random real subset (the baseline at IPC 10)"),
    Variant("datadam-ipc10", f"{DAM} --ipc 10", "the paper's recipe (the default until RESULTS.md §19): instance norm, attention power 4"),
    Variant("dm-ipc10", "--method dm --net-norm instancenorm --ipc 10 --iterations {iterations}", "distribution matching (MMD only)"),
    Variant(
        "official-ipc10",
        f"{OFFICIAL} --iterations {{official_iterations}}",
        "the official code's recipe: distill's default since RESULTS.md §19 (batch norm with each batch's own statistics, "
        "power 1, its longer schedule)",
    ),
    Variant("spaceaware-ipc10", f"{DAM_NETS} --ipc 10 --nets convnet720", "the distillation network drawn from the space"),
    Variant(
        "selected-ipc10",
        f"{DAM_NETS} --ipc 10 --nets convnet720 --select-by {{calibration}}",
        "space-aware, checkpoint picked by its ranking of the calibration architectures",
    ),
    Variant(
        "official8k-ipc10",
        f"{OFFICIAL} --iterations {{iterations}}",
        "the official recipe at the paper's 8,000 iterations: separates the recipe from the longer schedule",
    ),
    # soft labels, hybrid and IPC 50 on the best recipe measured (the default since §19) ...
    Variant(
        "official-softlabels-ipc10",
        f"{OFFICIAL} --iterations {{official_iterations}} --soft-labels 4",
        "the official recipe with soft labels from 4 space-sampled teachers",
    ),
    Variant("random-softlabels-ipc10", "--method random --ipc 10 --soft-labels 4", "random real subset with the same soft labels"),
    Variant(
        "official-hybrid-ipc10",
        f"{OFFICIAL} --iterations {{official_iterations}} --real-per-class 5",
        "the official recipe, 5 real + 5 synthetic images per class",
    ),
    Variant("random-ipc50", "--method random --ipc 50", "a random real subset (the baseline at IPC 50)"),
    Variant("official-ipc50", f"{OFFICIAL_ANY} --ipc 50 --iterations {{official_iterations}}", "the official recipe at IPC 50"),
    # ... a second seed of the set (its draw, its distillation, its teachers) for the random subset and the official
    # recipe with and without soft labels, as measured at seed 0 (RESULTS.md §20a: the intervals above cover the
    # architectures, not the draw of the set); a "-seedN" variant is compared with the random subset of its seed
    Variant("random-ipc10-seed1", "--method random --ipc 10 --seed 1", "random-ipc10, seed 1: how much the draw moves it"),
    Variant("official-ipc10-seed1", f"{OFFICIAL} --iterations {{official_iterations}} --seed 1", "official-ipc10, seed 1"),
    Variant(
        "official-softlabels-ipc10-seed1",
        f"{OFFICIAL} --iterations {{official_iterations}} --soft-labels 4 --seed 1",
        "official-softlabels-ipc10, seed 1",
    ),
    Variant("random-softlabels-ipc10-seed1", "--method random --ipc 10 --soft-labels 4 --seed 1", "random-softlabels-ipc10, seed 1"),
    # ... which half of the official recipe carries its gain over the paper's at 8,000 iterations (RESULTS.md §20a:
    # batch norm with each batch's own statistics, or attention power 1), and the space-aware draw of networks on
    # the official recipe's loss (§19a measured it on the paper's only)
    Variant(
        "official-power4-ipc10",
        "--method datadam --ipc 10 --net-norm batchnorm --batchnorm-stats own --attention-power 4 --iterations {iterations}",
        "the official recipe's network (batch norm, own statistics) with the paper's attention power 4, 8,000 iterations",
    ),
    Variant(
        "instnorm-power1-ipc10",
        "--method datadam --ipc 10 --net-norm instancenorm --attention-power 1 --iterations {iterations}",
        "the paper's network (instance norm) with the official attention power 1, 8,000 iterations",
    ),
    Variant(
        "spaceaware-official-ipc10",
        f"{OFFICIAL_ANY.replace('--net-norm batchnorm ', '')} --ipc 10 --nets convnet720 --iterations {{iterations}}",
        "networks drawn from the space, each batch-norm member with its own statistics, power 1, 8,000 iterations",
    ),
    # ... and on the paper's, as the CPU ablation measured them (RESULTS.md §14)
    Variant("softlabels-ipc10", f"{DAM} --ipc 10 --soft-labels 4", "the paper's DataDAM with soft labels from 4 space-sampled teachers"),
    Variant("hybrid-ipc10", f"{DAM} --ipc 10 --real-per-class 5", "the paper's DataDAM, 5 real + 5 synthetic images per class"),
    Variant("datadam-ipc50", f"{DAM} --ipc 50", "the paper's DataDAM recipe at IPC 50"),
)


def parse_variant(text: str) -> Variant:
    """``NAME=FLAGS`` (``--variant``)."""
    name, sep, flags = text.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z0-9._-]+", name) or "--ipc" not in flags:
        raise InvalidArgumentError(f"--variant {text!r}: write NAME=FLAGS (letters, digits, '.', '_', '-'; the flags name --ipc)")
    return Variant(name, flags.strip(), "given with --variant")


def accepted_flags() -> set[str]:
    """The flags this tree's ``nasproxy distill`` takes (its --help, in this process)."""
    from nas_proxy.cli import build_parser

    text = io.StringIO()
    with contextlib.redirect_stdout(text), contextlib.suppress(SystemExit):
        build_parser().parse_args(["distill", "--help"])
    return set(re.findall(r"--[a-z][a-z0-9-]*", text.getvalue()))


@contextlib.contextmanager
def stopped_at(deadline: float) -> Iterator[list[bool]]:
    """SIGTERM this process at ``deadline``, once a distillation loop runs: the loop then finishes
    the iteration, checkpoints and stops (``nasproxy distill`` exits 143). Until the loop runs, the
    SIGTERM waits here (data loading is not interrupted: a SIGTERM there would stop the command
    before its first checkpoint). Yields a list that holds True once this deadline sent it."""
    sent: list[bool] = []
    if not math.isfinite(deadline):
        yield sent
        return

    from nas_proxy import interrupts

    previous = signal.getsignal(signal.SIGTERM)
    done = threading.Event()

    def watch() -> None:
        if done.wait(max(deadline - time.time(), 0.0)):
            return
        while not done.is_set():
            if interrupts.stoppable():  # the loop reads its stop flag: SIGTERM only asks it to stop
                sent.append(True)
                os.kill(os.getpid(), signal.SIGTERM)
                return
            done.wait(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield sent
    finally:
        done.set()
        watcher.join()
        signal.signal(signal.SIGTERM, previous)


def run_distill(flags: list[str], deadline: float = math.inf) -> tuple[int, float, float]:
    """``nasproxy distill FLAGS`` in this process (no start-up cost per set), stopped at ``deadline``
    with a checkpoint; (exit status, wall seconds, CPU seconds). A Ctrl-C or SIGTERM from outside (a
    user, gpu_check at the section's limit) is taken by the command's own handler (it checkpoints) and
    then stops this whole run with SystemExit, not just this set."""
    from nas_proxy.cli import main as nasproxy

    saved, sys.argv = sys.argv, ["nasproxy", "distill", *flags]  # meta.json records sys.argv as the command
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        with stopped_at(deadline) as sent:
            code = nasproxy(sys.argv[1:])
    finally:
        sys.argv = saved
    if code in (130, 143) and not sent:
        raise SystemExit(code)
    return code, time.perf_counter() - wall, time.process_time() - cpu


def resolve(v: Variant, fill: dict[str, str], accepted: set[str]) -> list[str] | str:
    """The variant's flags with the placeholders filled in, or why it cannot run in this tree."""
    flags = shlex.split(v.flags.format(**fill))
    missing = [f for f in flags if f.startswith("--") and f not in accepted]
    if missing:
        return f"nasproxy distill does not accept {', '.join(missing)} in this tree"
    return flags


def flag_value(flags: list[str], flag: str) -> str | None:
    return flags[flags.index(flag) + 1] if flag in flags and flags.index(flag) + 1 < len(flags) else None


def evaluation_archs(table: Table, split: Path, max_mflops: float | None, n: int | None, seed: int) -> list[str]:
    """The evaluation half, under the FLOPs cap, then a seeded pick of ``n`` (in table order)."""
    rows = read_split(split)
    ids = [a for a in table.ids if rows[a]["role"] == "evaluation"]
    if max_mflops is not None:
        ids = [a for a in ids if float(rows[a]["flops"]) <= max_mflops * 1e6]
    if n is not None and n < len(ids):
        pick = np.random.default_rng(seed).choice(len(ids), size=n, replace=False)
        ids = [ids[i] for i in sorted(pick)]
    if len(ids) < 3:
        raise InvalidArgumentError(f"only {len(ids)} evaluation architectures under the cap: raise --max-mflops or --n-archs")
    return ids


def calibration_file(table: Table, split: Path, work: Path, source: Path = TABLE) -> Path:
    """The calibration architectures with the *validation* accuracy of seed 0 of the table (read from ``source``, its
    file; nothing picks on test data). Before fix52d it was read from the default table whatever --table was given."""
    rows = read_split(split)
    path = work / "calibration.json"
    with source.open(newline="") as f:
        val = {r["arch_id"]: float(r["val_accuracy"]) for r in csv.DictReader(f) if r["seed"] == "0"}
    archs = [{"spec": table.specs[a], "accuracy": val[a]} for a in table.ids if rows[a]["role"] == "calibration"]
    work.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(archs, indent=1) + "\n")
    return path


def distill(flags: list[str], folder: Path, args: argparse.Namespace, deadline: float) -> dict[str, Any]:
    """Distil (or resume, or reuse) one set; what happened."""
    meta = folder / "meta.json"
    cmd = ["--dataset", args.dataset, "--device", args.device, "--seed", str(args.seed)]
    cmd += ["--data-root", args.data_root] if args.data_root else []
    cmd += [*flags, "--quiet", "--out", str(folder)]
    cmd += ["--resume"] if (folder / "checkpoint.safetensors").is_file() else ["--force"]
    wanted = flag_value(flags, "--iterations")
    if set_finished(folder, None if wanted is None else int(wanted)):
        return {"status": "reused", "command": shlex.join(["nasproxy", "distill", *cmd])}
    if deadline - time.time() < 10:
        return {"status": "pending", "reason": "not finished (--report-only)" if args.report_only else "deadline"}
    code, wall, cpu = run_distill(cmd, deadline)
    out = {
        "command": shlex.join(["nasproxy", "distill", *cmd]),
        "cpu_seconds_this_run": round(cpu, 1),
        "wall_seconds_this_run": round(wall, 1),
    }
    if code == 0 and meta.is_file():
        return out | {"status": "distilled"}
    if code in (130, 143):  # Ctrl-C, or the deadline's SIGTERM
        return out | {"status": "pending", "reason": "stopped at the deadline (checkpointed; the same command resumes it)"}
    return out | {"status": "failed", "reason": f"nasproxy distill exit {code} (its line above says why)"}


def set_folder(work: Path, name: str, flags: list[str], args: argparse.Namespace) -> Path:
    """Where a variant's set lives: named by what determines it, so a changed recipe never reuses an old set.
    The calibration file is named by its place in ``work``, not by where ``work`` is: a state unpacked
    elsewhere (another checkout, a test's folder) finds its selected sets."""
    calibration = str(work / "calibration.json")
    portable = ["{work}/calibration.json" if f == calibration else f for f in flags]
    key = json.dumps([portable, args.dataset, args.device, args.seed], sort_keys=True)
    return work / "sets" / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def vs_random(table: Table, variant: dict[str, float], random: dict[str, float], n_boot: int, seed: int) -> dict[str, Any]:
    """Variant minus random subset on every metric of fidelity.py's pairs, with a paired bootstrap
    interval (the same resamples as every other interval of the run) and the share of resamples
    where the variant is strictly better."""
    y = np.array([table.truth[table.seeds[0]][a] for a in table.ids])
    x, r = (np.array([d.get(a, math.nan) for a in table.ids], dtype=float) for d in (variant, random))
    return {m: paired_difference(fn, x, r, y, n=n_boot, seed=seed) for m, fn in PAIRED.items()}


def summarise(table: Table, variants: dict[str, dict[str, Any]], args: argparse.Namespace) -> dict[str, Any] | None:
    """fidelity() over the variants scored on every chosen architecture, with the paired differences to the random subsets."""
    done = {n: v for n, v in variants.items() if v.get("status") == "done"}
    if not done:
        return None
    proxies = {
        n: {"scores": v["scores"], "seconds": v["seconds"], "one_off_seconds": v.get("one_off_seconds") or 0.0, "source": v["set"]}
        for n, v in done.items()
    }
    result = fidelity(table, proxies, args.bootstrap, args.seed, args.promote)
    for n in done:
        seed = m.group(0) if (m := re.search(r"-seed\d+$", n)) else ""  # a second seed's set: against the random subset of that seed
        ipc = variants[n]["ipc"]
        for key, baseline in (("vs_random", f"random-ipc{ipc}{seed}"), ("vs_default", f"{DEFAULT}-ipc{ipc}")):
            if baseline in done and baseline != n and not (key == "vs_default" and n.startswith("random")):
                result["proxies"][n][key] = vs_random(table, done[n]["scores"], done[baseline]["scores"], args.bootstrap, args.seed)
    return result


def default_lines(res: dict[str, Any]) -> list[str]:
    """Each optimised variant against the paper's recipe (DataDAM through ConvNet-3 with instance norm, the
    default before RESULTS.md §19) of its IPC, paired."""
    rows = [(n, r["vs_default"]) for n, r in res["proxies"].items() if "vs_default" in r]
    if not rows:
        return []
    lines = [
        f"Against the paper's recipe of the same IPC (`{DEFAULT}-ipcN`, the default before RESULTS.md §19), paired on the same "
        "resamples: the variant minus it "
        "[95 % interval], and the share of resamples where the variant is better.",
        "",
        "| variant | Δρ | Δτ-b | Δρ top 20% | P(better), ρ |",
        "|---|---|---|---|---|",
    ]
    for n, d in rows:
        cells = [_ci(d[m]["diff"], d[m]["ci"]) for m in ("spearman", "kendall", "top_spearman")]
        lines.append(f"| {n} | {' | '.join(cells)} | {d['spearman']['p_better']:.2f} |")
    return [*lines, ""]


def markdown(report: dict[str, Any]) -> str:
    p, res = report["protocol"], report.get("fidelity")
    lines = [
        f"Evaluation architectures: {p['n_archs']} of the split's 70 (cap {p['max_mflops']} MFLOPs per image, seeded pick "
        f"{p['n_archs_asked']} with seed {p['subset_seed']}); ground truth: the table's seed 0. Proxy: {p['proxy']}. "
        f"Promotion: the top {p['promote']} by proxy, picked by the table's seed-{p['promote_seed']} validation accuracy. "
        f"Iterations: {p['iterations']} (paper 8,000) and {p['official_iterations']} for the official recipe (20,000); "
        f"distill flags for every optimised set: `{p['distill_args'] or '-'}`; device {p['device']}.",
        "",
    ]
    if res:
        head = [
            "variant",
            "IPC",
            "iter.",
            "distill s",
            "n",
            "Spearman ρ",
            "Kendall τ-b",
            "ρ top 20%",
            "Δρ vs random",
            "Δρ top 20% vs random",
        ]
        head += ["regret", f"regret, promote {p['promote']}", "s / arch"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for name, r in res["proxies"].items():
            v = report["variants"].get(name, {})
            d = r.get("vs_random", {})
            delta = [_ci(d[m]["diff"], d[m]["ci"]) if m in d else "–" for m in ("spearman", "top_spearman")]
            cells = [name, str(v.get("ipc", "–")), str(v.get("iterations_done", "–")), _f(v.get("distill_seconds"), 0), str(r["n_scored"])]
            cells += [
                _ci(r["spearman"], r["spearman_ci"]),
                _ci(r["kendall"], r["kendall_ci"]),
                _ci(r["top_spearman"], r["top_spearman_ci"]),
            ]
            cells += [*delta, _f(r["regret"], 2), _f(r.get("promote_regret"), 2), _f(r["seconds_per_arch"], 2)]
            lines.append("| " + " | ".join(cells) + " |")
        lines += [
            "",
            f"Brackets: 95 % percentile bootstrap over the architectures ({res['proxies'][next(iter(res['proxies']))]['bootstrap']['resamples']} "
            "resamples, the same for every row); Δ: the variant minus the random subset of its IPC (and of its seed, for a -seedN variant) on the same resamples "
            f"(an interval containing 0: not told apart). `{CEILING}`: the table's seed 1 against its seed 0, the ceiling. "
            "`distill s`: the set's one-off seconds (its distillation, and its soft labels' teachers).",
            "",
            *default_lines(res),
            *dimension_lines({n: r.get("per_dimension") or {} for n, r in res["proxies"].items()}),
        ]
    other = [(n, v) for n, v in report["variants"].items() if not res or n not in res["proxies"]]
    if other:
        lines += ["Not in the table:", ""]
        lines += [
            f"- **{n}** ({v['status']}{', ' + str(v['scored']) + ' architectures scored' if v.get('scored') else ''}): {v.get('reason', '')}"
            for n, v in other
        ]
        lines.append("")
    lines.append(f"Continue with: `{report['command']}`")
    return "\n".join(lines) + "\n"


def write_scores(path: Path, variants: dict[str, dict[str, Any]], dataset: str) -> None:
    """Every architecture a variant has tried (``nan``: its proxy training diverged), each row naming the data its set
    was made from (``dataset`` and ``data_sha256``, a ground-truth table's columns: fidelity.py, power.py and
    rank_average.py check them; before fix53b only the ablation.json beside it named the data, lost with a copy)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["variant", "arch_id", "score", "seconds", *COLUMNS])
        for name, v in variants.items():
            seconds = v.get("seconds") or {}
            data = list(row_columns(dataset, v.get("data_sha256")).values())
            w.writerows([name, a, s, seconds[a], *data] for a, s in (v.get("scores") or {}).items() if math.isfinite(seconds[a]))  # tried
    tmp.replace(path)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from nas_proxy.cli import _add_proxy_options

    p = ScriptParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("benchmarks/out/ablation"), help="ablation.json/.md, scores.csv (default %(default)s)")
    p.add_argument("--work", type=Path, default=Path("benchmarks/out/ablation-work"), help="sets and score caches (default %(default)s)")
    p.add_argument("--variants", help="comma-separated names to run, in this order (default: every variant of the table)")
    p.add_argument("--variant", action="append", default=[], metavar="NAME=FLAGS", help="one more variant (repeatable)")
    p.add_argument("--iterations", type=int, default=8000, help="{iterations} (default %(default)s, the paper's)")
    p.add_argument("--official-iterations", type=int, default=20000, help="{official_iterations} (default %(default)s)")
    p.add_argument("--distill-args", default="", help="more nasproxy distill flags for every optimised set, e.g. '--batch-real 32'")
    p.add_argument("--table", type=Path, default=TABLE)
    p.add_argument("--split", type=Path, default=SPLIT)
    p.add_argument("--max-mflops", type=float, help="only evaluation architectures under this many MFLOPs per image")
    p.add_argument("--n-archs", type=int, help="a seeded pick of this many of them (default all)")
    p.add_argument("--subset-seed", type=int, default=0, help="seed of that pick (default %(default)s)")
    p.add_argument("--promote", type=int, default=PROMOTE, help="'proxy + promote K' (default %(default)s)")
    p.add_argument("--promote-seed", type=int, default=PROMOTE_SEED, help="the table's seed promotion picks by (default %(default)s)")
    add_bootstrap(p)
    p.add_argument("--seed", type=int, default=0, help="distillation, proxy training and bootstrap seed (default %(default)s)")
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--data-root")
    p.add_argument("--space", default="convnet720")
    p.add_argument("--device", default="auto")
    p.add_argument("--deadline-seconds", type=float, help="start no work after this many seconds; a distillation is checkpointed")
    p.add_argument(
        "--report-only",
        action="store_true",
        help="the report from --work's sets and cached scores alone: distil and train nothing (--device names the sets' device)",
    )
    p.add_argument(
        "--resume-from",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="an earlier run's --out: take the variants it finished under this protocol from it (repeatable)",
    )
    _add_proxy_options(p)
    args = p.parse_args(argv)
    args.argv = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--report-only"]  # the command to continue with
    if args.report_only and args.device == "auto":
        p.error("--report-only: name the device the sets were made on (--device cuda or cpu): it is part of each set's folder name")
    return args


def score(entry: dict[str, Any], folder: Path, table: Table, args: argparse.Namespace, deadline: float) -> None:
    """The set's meta into ``entry``, then its score of every architecture (cached; stops at the deadline)."""
    meta = json.loads((folder / "meta.json").read_text())
    from nas_proxy.synthetic import one_off_seconds

    cost = one_off_seconds(meta, args.hard_labels)  # distillation, and its soft labels' teachers
    entry |= {"distill_seconds": cost, "iterations_done": meta["iterations_done"], "tensors_sha256": meta["tensors_sha256"]}
    entry["data_sha256"] = meta["dataset"].get("content_sha256")  # the data the set was made from: scores.csv names it
    _, scores, seconds, one_off = _synthetic(str(folder), table, args, args.work, deadline)  # past it: the cached ones
    tried = sum(math.isfinite(s) for s in seconds.values())  # a diverged training has seconds, no score
    failed = tried - sum(math.isfinite(s) for s in scores.values())
    entry |= {"scores": scores, "seconds": seconds, "scored": tried - failed, "failed": failed, "one_off_seconds": one_off}
    if tried < len(table.ids):
        entry |= {"status": "pending", "reason": f"deadline: {tried} of {len(table.ids)} architectures scored"}
    else:
        entry |= {"status": "done", "reason": f"{failed} proxy trainings diverged (left out)" if failed else ""}


PROTOCOL_KEYS = ("iterations", "official_iterations", "distill_args", "device", "proxy", "promote", "promote_seed", "seed")


def finished(folder: Path, protocol: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The variants an earlier run (its ``--out`` folder) finished under ``protocol``, each with its
    scores on ``protocol['archs']`` read back from ``scores.csv``; nothing when the protocols differ.
    A run before the protocol recorded its seed ran with the default, 0."""
    try:
        old = json.loads((folder / "ablation.json").read_text())
        with (folder / "scores.csv").open(newline="") as f:
            rows = list(csv.DictReader(f))
        before, variants = old["protocol"], old["variants"]
        got = {(r["variant"], r["arch_id"]): (float(r["score"]), float(r["seconds"])) for r in rows}
    except (OSError, ValueError, KeyError, TypeError) as e:  # ValueError: JSON and number syntax
        raise InvalidArgumentError(f"--resume-from {folder}: not an ablation output folder ({e})") from None
    differ = [k for k in PROTOCOL_KEYS if before.get(k, 0 if k == "seed" else None) != protocol[k]]
    missing = set(protocol["archs"]) - set(before.get("archs", []))
    if differ or missing:
        why = f"its {', '.join(differ)} differ" if differ else f"{len(missing)} of this run's architectures are not in it"
        raise InvalidArgumentError(f"--resume-from {folder}: another protocol ({why}); give this run's --out of a run with the same flags")
    out = {}
    for name, v in variants.items():
        if v.get("status") != "done" or not all((name, a) in got for a in protocol["archs"]):
            continue
        scores = {a: got[name, a][0] for a in protocol["archs"]}
        seconds = {a: got[name, a][1] for a in protocol["archs"]}
        failed = sum(not math.isfinite(x) for x in scores.values())
        out[name] = v | {
            "scores": scores,
            "seconds": seconds,
            "scored": len(scores) - failed,
            "failed": failed,
            "resumed_from": str(folder),
        }
    return out


def save(report: dict[str, Any], args: argparse.Namespace, load_start: tuple[float, float, float]) -> None:
    """ablation.json (without the per-architecture scores: scores.csv has them), ablation.md, scores.csv."""
    variants = {n: {k: x for k, x in v.items() if k not in ("scores", "seconds")} for n, v in report["variants"].items()}
    write_scores(args.out / "scores.csv", report["variants"], report["protocol"]["dataset"])
    full = report | {"variants": variants, "machine": machine(args, load_start)}
    write_outputs(args.out, "ablation", full, markdown(report), report["command"])


def run(args: argparse.Namespace, started: float, load_start: tuple[float, float, float]) -> dict[str, Any]:
    from nas_proxy.cli import _proxy_config

    # before the first set (stop 47: --bootstrap 1 printed intervals one resample wide, exit 0; 0 was refused by the first
    # summary, after a whole distillation)
    check_n_boot(args.bootstrap, "--bootstrap")
    deadline = -math.inf if args.report_only else started + args.deadline_seconds if args.deadline_seconds else math.inf
    full = read_table(args.table, "test_accuracy", args.promote_seed)
    # before any set is distilled; its data's digest too, where there is data to distil (--report-only reads none)
    check_dataset(full.data, args.dataset, "the sets distilled (--dataset)", read=not args.report_only, root=args.data_root)
    ids = evaluation_archs(full, args.split, args.max_mflops, args.n_archs, args.subset_seed)
    table = subset(full, ids)
    known = {v.name: v for v in (*VARIANTS, *(parse_variant(t) for t in args.variant))}
    names = [n.strip() for n in args.variants.split(",")] if args.variants else list(known)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InvalidArgumentError(f"--variants: unknown {', '.join(unknown)}; known: {', '.join(known)}")
    fill = {
        "iterations": str(args.iterations),
        "official_iterations": str(args.official_iterations),
        "calibration": str(calibration_file(full, args.split, args.work, args.table)),
    }
    accepted = accepted_flags()
    variants: dict[str, dict[str, Any]] = {}
    report: dict[str, Any] = {
        "protocol": {
            "n_archs": len(ids),
            "n_archs_asked": args.n_archs or "all",
            "max_mflops": args.max_mflops,
            "subset_seed": args.subset_seed,
            "archs": ids,
            "iterations": args.iterations,
            "official_iterations": args.official_iterations,
            "distill_args": args.distill_args,
            "device": args.device,
            "proxy": ", ".join(f"{k} {v}" for k, v in _proxy_config(args).to_dict().items()),
            "promote": args.promote,
            "promote_seed": args.promote_seed,
            "seed": args.seed,
            "table": str(args.table),
            "dataset": args.dataset,  # the sets' data: power.py checks its table against it (fix52d)
            "split": str(args.split),
        },
        "variants": variants,
        "command": shlex.join([sys.executable, os.path.relpath(__file__), *args.argv]),
    }
    earlier = {n: v for folder in args.resume_from for n, v in finished(folder, report["protocol"]).items()}
    for name in names:
        v = known[name]
        entry: dict[str, Any] = {"flags": v.flags, "note": v.note}
        variants[name] = entry
        if name in earlier and earlier[name]["flags"] == v.flags:  # finished by that run: not distilled or scored again
            entry |= earlier[name] | {"note": v.note}
            continue
        flags = resolve(v, fill, accepted)
        if isinstance(flags, str):
            entry |= {"status": "skipped", "reason": flags}
            continue
        entry["ipc"] = int(flag_value(flags, "--ipc") or 0)
        if flag_value(flags, "--method") != "random":
            flags += shlex.split(args.distill_args)
        folder = set_folder(args.work, name, flags, args)
        ran = distill(flags, folder, args, deadline)
        entry |= {"set": str(folder), "distill_run": ran, "status": ran["status"], "reason": ran.get("reason", "")}
        if (folder / "meta.json").is_file() and ran["status"] in ("reused", "distilled"):
            score(entry, folder, table, args, deadline)
        if time.time() < deadline:  # saved now, so a kill keeps it; the bootstrap (seconds) only for a set distilled now
            if entry["status"] == "done" and ran["status"] != "reused":  # (the rows of earlier sets: once, at the end)
                report["fidelity"] = summarise(table, variants, args)
            save(report, args, load_start)
    report["fidelity"] = summarise(table, variants, args)  # once past the deadline (the bootstrap takes seconds)
    return report


def machine(args: argparse.Namespace, load_start: tuple[float, float, float]) -> dict[str, Any]:
    import torch
    from provenance import machine as where

    from nas_proxy.utils import resolve_device

    device = torch.device("cpu") if args.report_only else resolve_device(args.device)  # the report's machine, not the sets'
    return where(device, load_start) | {
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "nice": os.nice(0),
        "commit": args.commit,  # of the code this process runs: read when it started
    }


def main(argv: list[str] | None = None) -> int:
    started, load_start = time.time(), os.getloadavg()
    args = parse_args(argv)
    git = ["git", "-C", str(BENCHMARKS)]
    args.commit = (
        subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=False).stdout.strip() or "unknown (no git)"
    )
    dirty = subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, check=False).stdout
    args.commit += " (with uncommitted changes)" if dirty.strip() else ""
    try:
        report = run(args, started, load_start)
    except NasProxyError as e:
        print(f"distill_ablation.py: error: {' '.join(str(e).split())}", file=sys.stderr)
        return e.exit_code
    save(report, args, load_start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
