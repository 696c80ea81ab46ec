"""Section ``fidelity`` of the GPU check: every proxy scored on every architecture of the ground-truth table.

On the CPU the synthetic-set proxies only afforded a FLOPs-capped subset of 48 architectures (RESULTS.md §7b);
on a GPU a proxy trial is 0.1-0.4 s, so all 100 fit in a minute per proxy. Everything goes through the
project's command lines (``nasproxy distill``, ``benchmarks/fidelity.py``), one subprocess per step, so that a
step cut at the deadline loses only itself and fidelity.py's per-architecture cache keeps what was scored:

1. DataDAM and DM IPC-10 sets with distill's defaults (DataDAM: the official code's recipe since RESULTS.md §19;
   before, the paper's) at ``Plan.fid_distill_iterations``, the random real subset;
2. one ``fidelity.py`` run per synthetic set (its scores cached per architecture), then, where this tree's
   fidelity.py takes them, the committed calibrated proxy profile (``--proxy-profile``) and the seed-averaged
   proxy (``--proxy-seeds 4``) on the random subset and the DataDAM set; every proxy's per-architecture
   scores are kept in ``OUT/fidelity/scores.csv`` as soon as they exist;
3. the early-stopping columns of the table and the training-free scores;
4. one final ``fidelity.py`` run over everything (cached scores, no training): metrics, intervals and the
   paired differences between every two proxies, in ``OUT/fidelity/fidelity.{md,json}``.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from gpu_common import run_group
from gpu_context import BENCHMARKS, Context, Recorder

TABLE = BENCHMARKS / "groundtruth" / "fashion-mnist-convnet720.csv"
EARLY = ("val_accuracy_0.1ep", "val_accuracy_1ep")  # the table's own early-stopping columns
ZERO_COST = ("snip", "grad_norm", "synflow", "naswot", "params", "flops")
PROFILE = BENCHMARKS.parent / "profiles" / "fashion-mnist-convnet720.toml"  # a calibrated proxy profile, when committed


def dry_table(work: Path, n: int | None) -> Path:
    """Dry run: the table's ``n`` smallest architectures (both seeds; None: all), so that the CPU scores them in seconds."""
    with TABLE.open(newline="") as f:
        rows = list(csv.DictReader(f))
    small = sorted({r["arch_id"]: int(r["flops"]) for r in rows}.items(), key=lambda kv: kv[1])[:n]
    keep = {a for a, _ in small}
    out = work / "table-small.csv"
    with out.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(r for r in rows if r["arch_id"] in keep)
    return out


def early_scores(table: Path, work: Path) -> dict[str, Path]:
    """``early@...`` scores files (arch_id, score) from the table's seed-0 columns."""
    with table.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["seed"] == "0"]
    files = {}
    for column in EARLY:
        label = "early@" + column.removeprefix("val_accuracy_")
        path = work / f"{label}.csv"
        with path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["arch_id", "score"])
            w.writerows([r["arch_id"], r[column]] for r in rows)
        files[label] = path
    return files


def cache_scores(fid_out: Path, label: str, work: Path, table: Path) -> Path | None:
    """fidelity.py's per-architecture cache of one synthetic proxy as a scores file (arch_id, score, seconds), a row for
    every architecture of ``table``: one its run did not reach (cut at the deadline) has an empty score, as one the proxy
    failed on, which the final run drops and counts (fidelity.py refuses a scores file without a row for some: before
    review46 a proxy cut at the deadline failed the final run, and with it the section's every number). None where it
    scored none. Every cache file of ``fid_out`` is read, oldest first, so that a later one's row wins (one file per device
    type since drill41, and a file named before: this section makes one, but never picks one by its name's hash)."""
    from nas_proxy.proxies import Cache

    caches = sorted((fid_out / "cache").glob("proxy-*.jsonl"), key=lambda c: c.stat().st_mtime)
    rows: dict[str, dict[str, Any]] = {}
    for cache in caches:
        rows.update(Cache(cache).rows)  # whole rows only: a torn last line is left out, as fidelity.py leaves it
    if not rows:
        return None
    with table.open(newline="") as f:
        ids = list(dict.fromkeys(r["arch_id"] for r in csv.DictReader(f)))
    path = work / f"scores-{label}.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arch_id", "score", "seconds"])
        every = [*ids, *(a for a in rows if a not in set(ids))]  # (the table's first, in its order)
        w.writerows([a, rows[a]["score"], rows[a]["seconds"]] if a in rows else [a, "", ""] for a in every)
    return path


def write_scores(path: Path, scores: dict[str, Path]) -> None:
    """Every proxy's per-architecture scores in one file (label, arch_id, score, seconds): what comes back from the
    GPU machine, so that any later metric (promotion regret, a new interval) is computed without it."""
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["proxy", "arch_id", "score", "seconds"])
        for label, source in scores.items():
            with source.open(newline="") as g:
                w.writerows([label, r["arch_id"], r["score"], r.get("seconds", "")] for r in csv.DictReader(g))
    tmp.replace(path)


def run_fidelity_section(ctx: Context, rec: Recorder, table: Path | None = None, out_name: str = "fidelity") -> None:
    """Every proxy scored on ``table`` (None: the 3-epoch table; the dry run: its smallest few), into ``OUT/out_name``."""
    p = ctx.plan
    work = ctx.work / out_name
    work.mkdir(parents=True, exist_ok=True)
    table = table or (dry_table(work, p.fid_archs) if p.fabricate else TABLE)
    root = ctx.data_root()
    data = ["--data-root", root] if root else []
    nasproxy = [sys.executable, "-m", "nas_proxy"]
    fid = [sys.executable, str(BENCHMARKS / "fidelity.py"), "--table", str(table), "--device", p.device, "--seed", str(ctx.seed)]
    fid += data  # read by the synthetic and zero-cost proxies, which every run below has
    # read by a synthetic proxy only: the last run (scores and zero-cost) is refused with them (stop 46)
    training = ["--space", "convnet720", *(["--epochs", str(p.proxy_epochs)] if p.proxy_epochs else [])]
    helped = subprocess.run([*fid[:2], "--help"], cwd=ctx.root, capture_output=True, text=True, timeout=120, check=False)
    takes = set(re.findall(r"--[a-z][a-z0-9-]*", helped.stdout))
    steps: list[dict[str, Any]] = []
    rec.set("table", str(table))
    rec.set("steps", steps)

    def step(name: str, cmd: list[str], share: float = 1.0, reserve: float = 0.0) -> bool:
        """Run one command with ``share`` of the time left after ``reserve`` seconds kept for later steps."""
        timeout = (ctx.left() - reserve) * share - 2
        if timeout < 5:
            steps.append({"step": name, "status": "skipped", "reason": f"only {ctx.left():.0f} s left"})
            rec.set("steps", steps)
            return False
        ran = run_group(cmd, timeout=timeout, cwd=ctx.root)
        status = "ok" if ran.code == 0 else ("timeout" if ran.code is None else "failed")
        steps.append({"step": name, "status": status, "command": " ".join(cmd[1:]), "run": ran.to_dict()})
        rec.set("steps", steps)
        return status == "ok"

    sets: dict[str, Path] = {}
    for method in p.fid_sets:
        out = work / "syn" / f"{method}-ipc{p.proxy_ipc}"
        cmd = [*nasproxy, "distill", "--dataset", "fashion-mnist", *data, "--ipc", str(p.proxy_ipc), "--method", method]
        cmd += ["--device", p.device, "--seed", str(ctx.seed), "--out", str(out), "--force", "--quiet"]
        if method != "random":
            cmd += ["--iterations", str(p.fid_distill_iterations), "--batch-real", str(p.batch_real)]
        if step(f"distill {method}", cmd, 0.2, p.fid_final_reserve_s):
            sets[method] = out
            meta = json.loads((out / "meta.json").read_text())
            rec.set("distill_seconds", {**rec.data.get("distill_seconds", {}), method: meta.get("seconds")})
    # (label, set, extra fidelity.py flags), in order of importance: under the deadline the last ones are cut
    variants: list[tuple[str, str, list[str]]] = []
    for m in sets:
        variants.append((m, m, []))
        if m == "random" and "--proxy-seeds" in takes:  # the seed-averaged proxy: K = 4 copies as one batched model
            variants.append(("random-k4", m, ["--proxy-seeds", "4"]))
    if "--proxy-profile" in takes and PROFILE.is_file():  # the calibrated protocol, on the set its profile names (else random)
        chosen = re.search(r'^synthetic\s*=\s*"([a-z]+)', PROFILE.read_text(), re.M)
        on = chosen.group(1) if chosen and chosen.group(1) in sets else "random"
        variants += [("profile", on, ["--proxy-profile", str(PROFILE)])] if on in sets else []
    if "datadam" in sets and "--proxy-seeds" in takes:
        variants.append(("datadam-k4", "datadam", ["--proxy-seeds", "4"]))
    rec.set("variants", [v[0] for v in variants])
    scores: dict[str, Path] = early_scores(table, work)
    (ctx.out / out_name).mkdir(parents=True, exist_ok=True)
    for label, method, extra in variants:
        fid_out = work / f"fid-{label}"
        cmd = [*fid, *training, "--proxy", f"{label}=synthetic:{sets[method]}", *extra, "--out", str(fid_out)]
        step(f"score {label}", cmd, 1.0, p.fid_final_reserve_s)  # in order of importance: a late one is cut, not the first
        cached = cache_scores(fid_out, label, work, table)  # also what a run cut at the deadline had scored
        if cached is not None:
            scores[label] = cached
            write_scores(ctx.out / out_name / "scores.csv", scores)
    zero = [a for z in ZERO_COST for a in ("--proxy", f"zero-cost:{z}")]
    final = [*fid, *[a for label, path in scores.items() for a in ("--proxy", f"{label}=scores:{path}")], *zero]
    final_out = ctx.out / out_name
    if step("fidelity (all proxies)", [*final, "--out", str(final_out)]):
        rec.set("result", json.loads((final_out / "fidelity.json").read_text()))
    rec.set("files", sorted(str(q.relative_to(ctx.out)) for q in final_out.glob("*")) if final_out.is_dir() else [])
    if "result" not in rec.data:
        rec.set("reason", "the final fidelity.py run did not finish: see the steps")
        rec.set("status", "failed")
