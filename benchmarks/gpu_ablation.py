"""Sections ``distill-ablation`` and ``paper-protocol`` of the GPU check (issue 18, items 5 and 6).

Both take more than one 5-minute call, so both resume: their state (the synthetic sets, checkpoints of
unfinished ones, every score and every evaluated network) lives in a folder that a second call on the
same (warm) machine finds again, ``benchmarks/out/gpu-SECTION-state``; on a fresh machine it is unpacked
from ``STATE.tar.gz`` when the tree carries one (``benchmarks/out/SECTION-state.tar.gz``, a carried
ignored path, or ``benchmarks/gpu/SECTION-state.tar.gz``, committed). Every call packs the state into
``OUT/SECTION/state.tar.gz``: put that file at one of those places for the next call.

- ``distill-ablation``: ``benchmarks/distill_ablation.py`` on all 70 evaluation architectures of the
  ground-truth split, at the paper's and the official code's iteration counts, until the deadline;
  ``OUT/distill-ablation/ablation.md`` and ``scores.csv``; the JSON goes into results.json.
- ``distill-protocols``: ``benchmarks/protocol_per_set.py`` on the ablation's finished sets (``Plan.dp_sets``):
  each set with the proxy protocol it ranks the 30 calibration architectures best with, then on the 70
  evaluation architectures with it and with the default; in the ablation's state folder (its score cache
  shared), packed as the ablation's: ``OUT/distill-ablation/state.tar.gz``, replacing the ablation's own when both
  run in one call. No file of its own (OUT sends back 8 files in all): its tables are in results.json and
  gpu_results.md, every score in the state (``protocol_per_set.py --report-only`` on it writes protocols.md and
  scores.csv).
- ``paper-protocol``: the field's protocol (``nasproxy evaluate``'s: ConvNet-3, 1,000 epochs, 5
  networks) on DataDAM and DM sets of their papers' recipes (``PAPER``: instance norm; DataDAM's power 4)
  at IPC 10, 1 and 50 (that order), each at 8,000 iterations (the paper) and then extended to 20,000 (the official code), beside REFERENCE.md §2's published anchors;
  network r of a set is ``evaluate(runs=1, seed=SEED + r)``, one at a time so that a call cut short
  keeps every network it finished. ``OUT/paper-protocol/paper.md``.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import shlex
import shutil
import statistics
import tarfile
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from gpu_common import read_json, set_finished, terminated_as_exit, write_json
from gpu_context import Context, Recorder

STATE_RESERVE_S = 20.0  # kept at the end of a section to write its outputs and pack its state
RETURN_LIMIT_BYTES = 16 * 2**20  # the most a file under OUT may weigh to come back from the GPU machine (its README)
# paper-protocol: each method's paper recipe, pinned (distill's DataDAM default is the official code's since RESULTS.md §19)
PAPER = {"datadam": ["--net-norm", "instancenorm", "--attention-power", "4"], "dm": ["--net-norm", "instancenorm"]}
# REFERENCE.md §2, Fashion-MNIST, ConvNet, IPC 1 / 10 / 50 (no DM or DataDAM number is published for it)
ANCHORS = {"DC": {1: 70.5, 10: 82.3, 50: 83.6}, "DSA": {1: 70.6, 10: 84.6, 50: 88.7}}


def state_folder(ctx: Context, name: str) -> tuple[Path, str]:
    """The section's state folder and where it came from: kept on this machine, unpacked from a tarball, or new."""
    folder = ctx.work / f"{name}-state" if ctx.plan.fabricate else ctx.root / "benchmarks" / "out" / f"gpu-{name}-state"
    if folder.is_dir():
        return folder, f"kept on this machine ({folder})"
    # the dry run never takes a real run's state (a committed one would be unpacked into its fabricated run)
    tarballs = (
        [ctx.work / f"{name}-state.tar.gz"]
        if ctx.plan.fabricate
        else [ctx.root / "benchmarks" / "out" / f"{name}-state.tar.gz", ctx.root / "benchmarks" / "gpu" / f"{name}-state.tar.gz"]
    )
    for tar in tarballs:
        if tar.is_file():
            staging = folder.with_name(folder.name + ".unpacking")
            shutil.rmtree(staging, ignore_errors=True)
            dropped = _unpack(tar, staging)
            if (staging / "state").is_dir():
                (staging / "state").rename(folder)
            else:
                folder.mkdir(parents=True)
            shutil.rmtree(staging)
            cut = "" if dropped is None else f" (cut short: {dropped or 'nothing'} dropped, made again)"
            return folder, f"unpacked from {tar}{cut}"
    folder.mkdir(parents=True)
    return folder, "new"


def _unpack(tar: Path, staging: Path) -> str | None:
    """``tar`` extracted into ``staging``; None when whole. A tarball cut short (a copy interrupted) keeps
    what came whole: the set folder (or the file) the cut fell in is removed, so that no set looks finished
    with its tensors missing; its name is returned ("" when the cut fell before any file)."""
    last: str | None = None
    try:
        with tarfile.open(tar) as t:
            for member in t:
                last = member.name
                t.extract(member, staging, filter="data")  # nothing outside the staging folder, no links out
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile):
        if last is None or last == "state":
            return ""
        parts = last.split("/")
        unit = "/".join(parts[:3] if parts[1] == "sets" and len(parts) > 2 else parts)  # state/sets/NAME, or the file
        path = staging / unit
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        return unit.removeprefix("state/")
    return None


def pack_state(folder: Path, dest: Path, needed: Callable[[Path], bool] = lambda set_dir: not set_finished(set_dir)) -> dict[str, Any]:
    """``dest`` (a .tar.gz) holding ``folder`` as ``state/``; a set's checkpoint and its soft labels'
    teachers (``teachers/``, trained only to label it) are left out where ``needed(set folder)`` says
    nothing will continue that set (default: it is finished). A tarball over what the GPU machine sends
    back (``RETURN_LIMIT_BYTES``) says so: it stays on that machine only."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    left_out = []

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        path = folder.parent / info.name.replace("state", folder.name, 1)
        owner = path.parent.parent if path.parent.name == "teachers" else path.parent
        if (path.name == "checkpoint.safetensors" or path.parent.name == "teachers") and not needed(owner):
            left_out.append(str(path.relative_to(folder)))
            return None
        return info

    tmp = dest.with_suffix(".tmp")
    with tarfile.open(tmp, "w:gz") as t:
        t.add(folder, arcname="state", filter=keep)
    tmp.replace(dest)
    size = dest.stat().st_size
    packed: dict[str, Any] = {"path": str(dest), "bytes": size, "left_out": len(left_out)}
    if size > RETURN_LIMIT_BYTES:
        packed["warning"] = f"{size / 2**20:.1f} MiB: over the {RETURN_LIMIT_BYTES / 2**20:.0f} MiB a file may have to come back"
    return packed


@contextlib.contextmanager
def state_packed(
    rec: Recorder, state: Path, dest: Path, needed: Callable[[Path], bool] = lambda set_dir: not set_finished(set_dir)
) -> Iterator[None]:
    """A resumable section's work; its state packed into ``dest`` however that ends, the driver's SIGTERM
    at the section's limit included (what finished must come back to be committed)."""
    try:
        with terminated_as_exit():
            yield
    finally:
        rec.set("packed", pack_state(state, dest, needed))


def drive(
    rec: Recorder,
    state: Path,
    dest: Path,
    main: Callable[[list[str]], int],
    argv: list[str],
    result_json: Path,
    keep: Callable[[dict[str, Any]], None] = lambda result: None,
) -> int | None:
    """A driver script's ``main(argv)`` in this process, its state packed into ``dest`` however it ends (the
    section's SIGTERM at its limit included: what finished still leaves in OUT); its exit status and seconds, and
    its ``result_json`` (then ``keep(result)``) recorded as far as it got. Its exit status (None: stopped)."""
    t0 = time.perf_counter()
    code = None
    with state_packed(rec, state, dest):
        try:
            code = main(argv)
        finally:
            rec.set("run", {"exit_code": code, "seconds": round(time.perf_counter() - t0, 1)})
            if result_json.is_file():
                result = json.loads(result_json.read_text())
                rec.set("result", result)
                keep(result)
    return code


def run_distill_ablation_section(ctx: Context, rec: Recorder) -> None:
    p = ctx.plan
    state, origin = state_folder(ctx, "distill-ablation")
    rec.set("state", {"folder": str(state), "from": origin})
    out = ctx.out / "distill-ablation"
    out.mkdir(parents=True, exist_ok=True)
    report = ctx.work / "distill-ablation-report"
    argv = ["--device", p.device, "--seed", str(ctx.seed), "--work", str(state), "--out", str(report)]
    argv += ["--deadline-seconds", f"{max(ctx.left() - STATE_RESERVE_S, 1):.0f}"]
    argv += ["--iterations", str(p.abl_iterations), "--official-iterations", str(p.abl_official_iterations)]
    argv += ["--data-root", ctx.data_root() or ""] if ctx.data_root() else []
    argv += ["--variants", ",".join(p.abl_variants)] if p.abl_variants else []
    argv += ["--max-mflops", str(p.abl_max_mflops)] if p.abl_max_mflops else []
    argv += ["--n-archs", str(p.abl_n_archs)] if p.abl_n_archs else []
    argv += ["--table", str(ctx.root / p.abl_table), "--split", str(ctx.root / p.abl_split)] if p.abl_table and p.abl_split else []
    argv += ["--distill-args", p.abl_distill_args] if p.abl_distill_args else []
    argv += ["--epochs", str(p.proxy_epochs)] if p.proxy_epochs else []
    rec.set("command", shlex.join(["benchmarks/distill_ablation.py", *argv]))
    import distill_ablation  # in this process: the section's start-up is the driver's

    def keep(result: dict[str, Any]) -> None:
        for name in ("ablation.md", "scores.csv"):
            shutil.copy2(report / name, out / name)
        rec.set("pending", [n for n, v in result["variants"].items() if v.get("status") not in ("done", "skipped")])

    code = drive(rec, state, out / "state.tar.gz", distill_ablation.main, argv, report / "ablation.json", keep)
    if code != 0 or "result" not in rec.data:
        rec.set("reason", f"distill_ablation.py exit {code} (the log says why)")
        rec.set("status", "failed")
    elif rec.data["pending"]:
        rec.set("reason", f"resumable: {len(rec.data['pending'])} variants not finished ({', '.join(rec.data['pending'])})")


def finished_sets(state: Path, names: tuple[str, ...]) -> dict[str, Path]:
    """The ablation's finished sets of these variant names (a set's folder is ``NAME-HASH``), in ``names``' order."""
    found = {d.name.rsplit("-", 1)[0]: d for d in sorted((state / "sets").glob("*-*")) if d.is_dir() and set_finished(d)}
    return {n: found[n] for n in names if n in found}


def run_distill_protocols_section(ctx: Context, rec: Recorder) -> None:
    """``protocol_per_set.py`` on the ablation's finished sets, in the ablation's state folder: its score cache is
    shared (the default protocol's evaluation scores are already there) and packed with it."""
    p = ctx.plan
    state, origin = state_folder(ctx, "distill-ablation")
    rec.set("state", {"folder": str(state), "from": origin})
    sets = finished_sets(state, p.dp_sets)
    rec.set("sets", {n: str(d) for n, d in sets.items()})
    if p.dp_sets[0] not in sets or len(sets) < 2:
        rec.set("status", "skipped")
        rec.set(
            "reason",
            f"the ablation's state has {len(sets)} of the sets {', '.join(p.dp_sets)} finished (the first is needed): run distill-ablation",
        )
        return
    out = ctx.out / "distill-ablation"  # its state is the ablation's: OUT sends back 8 files in all
    out.mkdir(parents=True, exist_ok=True)
    report = ctx.work / "distill-protocols-report"
    argv = ["--device", p.device, "--seed", str(ctx.seed), "--work", str(state), "--out", str(report), "--base", p.dp_sets[0]]
    argv += [f"--set={n}={d}" for n, d in sets.items()]
    argv += ["--epochs-grid", ",".join(map(str, p.dp_epochs)), "--lr-grid", ",".join(map(str, p.dp_lrs)), "--dsa-grid", ",".join(p.dp_dsa)]
    argv += ["--deadline-seconds", f"{max(ctx.left() - STATE_RESERVE_S, 1):.0f}"]
    argv += ["--data-root", ctx.data_root() or ""] if ctx.data_root() else []
    argv += ["--epochs", str(p.proxy_epochs)] if p.proxy_epochs else []  # the ablation's default protocol: its cache is reused
    argv += ["--max-mflops", str(p.dp_max_mflops)] if p.dp_max_mflops else []
    argv += ["--n-archs", str(p.dp_n_archs)] if p.dp_n_archs else []
    argv += ["--table", str(ctx.root / p.abl_table), "--split", str(ctx.root / p.abl_split)] if p.abl_table and p.abl_split else []
    rec.set("command", shlex.join(["benchmarks/protocol_per_set.py", *argv]))
    import protocol_per_set  # in this process

    # the ablation's state with the new scores replaces the ablation's in OUT; no file of its own there (OUT sends back 8
    # in all): its table is in results.json and gpu_results.md, every score in the state (--report-only rebuilds them)
    code = drive(rec, state, out / "state.tar.gz", protocol_per_set.main, argv, report / "protocols.json")
    if code != 0 or "result" not in rec.data:
        rec.set("reason", f"protocol_per_set.py exit {code} (the log says why)")
        rec.set("status", "failed")
    elif (waiting := rec.data["result"]["calibration_pending"] + rec.data["result"]["evaluation_pending"]) > 0:
        rec.set("reason", f"resumable: {waiting} proxy trainings not done yet")


def _distill(ctx: Context, folder: Path, method: str, ipc: int, iterations: int) -> dict[str, Any]:
    """One ``nasproxy distill`` run (fresh, resumed or extended), stopped at the deadline with a checkpoint."""
    from distill_ablation import run_distill

    p = ctx.plan
    meta = folder / "meta.json"
    if meta.is_file() and json.loads(meta.read_text())["iterations_done"] >= iterations:
        return {"status": "reused"}
    if ctx.left() - STATE_RESERVE_S < 10:
        return {"status": "stopped", "reason": f"{ctx.left():.0f} s left"}
    cmd = ["--dataset", "fashion-mnist", "--method", method, "--ipc", str(ipc), "--iterations", str(iterations), *PAPER[method]]
    cmd += ["--device", p.device, "--seed", str(ctx.seed), "--batch-real", str(p.batch_real), "--quiet", "--out", str(folder)]
    cmd += ["--data-root", ctx.data_root() or ""] if ctx.data_root() else []
    cmd += ["--resume"] if (folder / "checkpoint.safetensors").is_file() else ["--force"]
    code, wall, _ = run_distill(cmd, time.time() + ctx.left() - STATE_RESERVE_S)
    status = "distilled" if code == 0 and meta.is_file() else ("stopped" if code in (130, 143) else "failed")  # 143: its deadline's SIGTERM
    return {"status": status, "command": shlex.join(["nasproxy", "distill", *cmd]), "seconds": round(wall, 1)}


def run_paper_protocol_section(ctx: Context, rec: Recorder) -> None:
    p = ctx.plan
    state, origin = state_folder(ctx, "paper-protocol")
    rec.set("state", {"folder": str(state), "from": origin})
    evals_path = state / "evaluations.json"
    evals = read_json(evals_path) if evals_path.is_file() else {}
    if evals is None:  # cut short (copied by hand; write_json replaces it whole): set aside, its networks trained again
        evals_path.replace(evals_path.with_name(evals_path.name + ".unreadable"))
        rec.set("evaluations", f"{evals_path.name} was cut short or unreadable: set aside as {evals_path.name}.unreadable")
        evals = {}
    low, high = p.pp_iterations
    rows: list[dict[str, Any]] = []
    rec.set("protocol", {"runs": p.pp_runs, "epochs": p.pp_epochs, "model": p.eval_model or "ConvNet-3", "batch_real": p.batch_real})
    with state_packed(rec, state, ctx.out / "paper-protocol" / "state.tar.gz", lambda f: continues(f, low, high)):
        _paper_rows(ctx, state, evals, rows, rec)
    waiting = [r["set"] for r in rows if r.get("status") != "done"]
    if waiting:
        rec.set(
            "reason",
            f"resumable: {len(waiting)} of {len(rows)} sets not finished ({', '.join(waiting[:4])}{', ...' if len(waiting) > 4 else ''})",
        )


def _paper_rows(ctx: Context, state: Path, evals: dict[str, Any], rows: list[dict[str, Any]], rec: Recorder) -> None:
    """Distil, extend and evaluate the sets in order until the deadline; ``rows`` and the evaluations file as they go."""
    from nas_proxy.evaluate import evaluate as run_evaluate
    from nas_proxy.training import TrainConfig

    p = ctx.plan
    low, high = p.pp_iterations
    evals_path = state / "evaluations.json"
    stop = ""
    for ipc in p.pp_ipcs:
        for iterations in (low, high):
            for method in p.pp_methods:
                key = f"{method}-ipc{ipc}-it{iterations}"
                row: dict[str, Any] = {"set": key, "method": method, "ipc": ipc, "iterations": iterations}
                rows.append(row)
                if stop:
                    row["status"] = stop
                    continue
                folder = state / "sets" / key
                shorter = state / "sets" / f"{method}-ipc{ipc}-it{low}"
                if iterations == high and not folder.exists() and (shorter / "meta.json").is_file():
                    shutil.copytree(shorter, folder)  # the 20,000-iteration set continues the 8,000 one
                row["distill"] = _distill(ctx, folder, method, ipc, iterations)
                if row["distill"]["status"] not in ("reused", "distilled"):
                    stop = row["status"] = f"waiting: distillation {row['distill']['status']}"
                    continue
                meta = json.loads((folder / "meta.json").read_text())
                row |= {"distill_seconds": meta["seconds"], "iterations_done": meta["iterations_done"]}
                got = evals.setdefault(key, {"accuracies": {}, "seconds": {}})
                for r in range(p.pp_runs):
                    if str(r) in got["accuracies"]:
                        continue
                    per_net = statistics.fmean(got["seconds"].values()) if got["seconds"] else 0.0
                    if ctx.left() - STATE_RESERVE_S < 1.5 * per_net + 5:
                        stop = f"waiting: {ctx.left():.0f} s left"
                        break
                    one = run_evaluate(
                        folder, 1, model=p.eval_model, train=TrainConfig(epochs=p.pp_epochs), seed=ctx.seed + r, device=p.device,
                        data_root=ctx.data_root(), progress=False,
                    )  # fmt: skip
                    got["accuracies"][str(r)], got["seconds"][str(r)] = one.accuracies[0], one.seconds
                    write_json(evals_path, evals)
                accs = list(got["accuracies"].values())
                row |= {"networks": len(accs), "accuracies": accs, "eval_seconds": sum(got["seconds"].values())}
                if accs:
                    row |= {"mean": statistics.fmean(accs), "std": statistics.pstdev(accs) if len(accs) > 1 else 0.0}
                row["status"] = "done" if len(accs) >= p.pp_runs else stop or "incomplete"
                rec.set("rows", rows)
    rec.set("rows", rows)
    out = ctx.out / "paper-protocol"
    out.mkdir(parents=True, exist_ok=True)
    (out / "paper.md").write_text(paper_markdown(rows, rec.data["protocol"]))


def continues(folder: Path, low: int, high: int) -> bool:
    """Whether a paper-protocol set's checkpoint is still needed: the set is unfinished, or it is the
    shorter set and its longer continuation has not started."""
    meta = folder / "meta.json"
    target = int(folder.name.rsplit("-it", 1)[1])
    if not meta.is_file() or json.loads(meta.read_text())["iterations_done"] < target:
        return True
    return target == low and not folder.with_name(folder.name.replace(f"-it{low}", f"-it{high}")).exists()


def paper_markdown(rows: list[dict[str, Any]], protocol: dict[str, Any]) -> str:
    """The evaluated sets beside the published Fashion-MNIST anchors (REFERENCE.md §2)."""
    lines = [
        f"`nasproxy evaluate`'s protocol: {protocol['model']}, {protocol['epochs']} epochs, {protocol['runs']} networks per set "
        f"(network r: seed + r); sets distilled with {protocol['batch_real']} real images per class per iteration. Published "
        "Fashion-MNIST ConvNet anchors (REFERENCE.md §2; none for DM or DataDAM): "
        + "; ".join(f"{m} {' / '.join(str(v) for v in a.values())} at IPC 1 / 10 / 50" for m, a in ANCHORS.items())
        + ".",
        "",
        "| method | IPC | iterations | distill s | networks | test accuracy % (mean ± std) | DC | DSA | status |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        acc = f"{r['mean']:.2f} ± {r['std']:.2f}" if "mean" in r else "–"
        distill_s = f"{r['distill_seconds']:.0f}" if "distill_seconds" in r else "–"
        anchors = [str(ANCHORS[m].get(r["ipc"], "–")) for m in ("DC", "DSA")]
        cells = [r["method"], str(r["ipc"]), str(r["iterations"]), distill_s, str(r.get("networks", 0)), acc, *anchors, r.get("status", "")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
