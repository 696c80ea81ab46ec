"""Section ``search-720`` of the GPU check (issue 20, item 6): the whole 720-architecture search, measured for real
by wall clock, as a user runs it.

Each phase is one ``python -m nas_proxy`` command in its own process group (``gpu_common.run_group``), read
through its ``--json``:

1. ``distill``: ``nasproxy distill --dataset fashion-mnist --method datadam --ipc 10`` with distill's defaults (the
   official code's recipe since RESULTS.md §19) at ``Plan.s7_distill_iterations`` (the paper's 8,000: the default
   20,000 take 116 s on an H200, most of the 2-minute target; the dry run: a few, on the fabricated Fashion-MNIST);
2. ``search``: ``nasproxy search --synthetic SET --space convnet720 --sampler bruteforce --pruner none
   --n-trials 720 --workers 8 --promote 3`` (``PROMOTE_FLAGS`` appended): every architecture of the space
   once, each with its whole proxy score (the default median pruner would stop some), then the 3 best
   trained on the real training split;
3. ``random``, if the call has time left: the same search with ``--proxy random-ipc10 --dataset
   fashion-mnist``, the proxy that needs no distillation.

Recorded: the seconds of the distillation, of the trials (the search's wall clock less its promotion, which
its JSON times apart), of the promotion, the total against issue 20's ``TARGET_S``, trials per hour, the
search's pick and its real validation accuracy, device and commit, the commands. A total is given only when
the distillation and the whole search (trials and promotion) ran from nothing in one call
(``measured_in_one_call``); otherwise ``per_call`` lists what each call did (seconds, trials, rates) and
there is no total.

Resumable as issue 18's sections (``gpu_ablation.state_folder``): the set, the studies' journals and the
record of every call (``record.json``) live in the state folder, packed into ``OUT/search-720/state.tar.gz``
(commit it as ``benchmarks/gpu/search-720-state.tar.gz`` for the next call). A search cut by the call's
deadline (its ``--timeout`` leaves ``Plan.s7_promote_reserve_s`` of the call to the promotion; a command
still running at the deadline gets SIGTERM, which the product handles between trials) is continued by the
same command in the next call; a phase that finished is not run again. To measure again from nothing, run
without the state.
"""

from __future__ import annotations

import json
import platform
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from gpu_ablation import STATE_RESERVE_S, state_folder, state_packed
from gpu_common import read_json, run_group, write_json
from gpu_context import Context, Recorder

SECTION = "search-720"
TARGET_S = 120.0  # issue 20: the whole 720-space search with promotion in <= 2 minutes, distillation included
PROMOTE_FLAGS = ["--promote-protocol", "fast"]  # appended to both searches: promotion with the fast trainer (protocols.TRAINING_PROTOCOLS)
SET_LABEL = "datadam-ipc10"  # the distilled set's proxy (the search's default)
SEARCHES = ("search", "random")  # the phases that are searches: on the distilled set, then on Plan.s7_second_proxy
GRACE_S = 8.0  # SIGTERM at the deadline, SIGKILL this much later (a distillation checkpoints, a search stores its trial)
FIT_MARGIN = 1.2  # the second search starts in a call that already ran a phase only if 1.2x the first's seconds are left
PHASE_KEYS = ("status", "wall_s", "exit_code", "trials_in_call", "search_s", "promotion_s", "trials_per_hour", "trials_per_hour_span")


def nasproxy(*args: str) -> list[str]:
    return [sys.executable, "-m", "nas_proxy", *args]


def shown(cmd: list[str]) -> str:
    """The command as a user types it (``nasproxy`` for this Python's ``-m nas_proxy``)."""
    return shlex.join(["nasproxy", *cmd[3:]])


def distill_command(ctx: Context, folder: Path) -> list[str]:
    p = ctx.plan
    cmd = nasproxy("distill", "--dataset", "fashion-mnist", "--method", "datadam", "--ipc", "10", "--out", str(folder))
    cmd += ["--iterations", str(p.s7_distill_iterations)] if p.s7_distill_iterations else []
    cmd += ["--device", p.device, "--seed", str(ctx.seed), "--quiet", "--json"]
    data_root = ctx.data_root()
    cmd += ["--data-root", data_root] if data_root else []
    return cmd + shlex.split(p.s7_distill_args)


def proxy_label(ctx: Context, phase: str) -> str:
    return SET_LABEL if phase == "search" else str(ctx.plan.s7_second_proxy)


def study_name(ctx: Context, phase: str) -> str:
    return f"search720-{proxy_label(ctx, phase)}"


def search_command(ctx: Context, state: Path, phase: str) -> list[str]:
    """The search of ``phase``: its study, journal and exports in the state folder (without the call's ``--timeout``)."""
    p = ctx.plan
    folder = state / phase
    cmd = nasproxy("search")
    if phase == "search":
        cmd += ["--synthetic", str(state / "set")]
    else:
        cmd += ["--proxy", proxy_label(ctx, phase), "--dataset", "fashion-mnist"]
    cmd += ["--space", p.s7_space, "--study", study_name(ctx, phase)]
    cmd += ["--storage", str(folder / "journal.log"), "--out", str(folder / "out")]
    cmd += ["--sampler", "bruteforce", "--pruner", p.s7_pruner, "--n-trials", str(p.s7_trials), "--workers", str(p.s7_workers)]
    cmd += ["--promote", str(p.s7_promote)] + (["--promote-epochs", str(p.s7_promote_epochs)] if p.s7_promote_epochs else [])
    cmd += ["--seed", str(ctx.seed), "--device", p.device, "--quiet", "--json"]
    data_root = ctx.data_root()
    cmd += ["--data-root", data_root] if data_root else []
    cmd += ["--epochs", str(p.proxy_epochs)] if p.proxy_epochs else []
    cmd += ["--report-every", str(p.proxy_report_every)] if p.proxy_report_every else []
    return cmd + PROMOTE_FLAGS


def study_counts(journal: Path, study: str) -> dict[str, Any]:
    """What search ``study`` holds in ``journal``: its trials that count (complete and pruned) with their
    start and end, its distinct architectures, and the promotion trainings finished in the same journal."""
    out: dict[str, Any] = {"counted": 0, "archs": 0, "promoted": 0, "times": {}}
    if not journal.is_file():
        return out
    import optuna

    from nas_proxy.studies.budget import COUNTED
    from nas_proxy.studies.storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(str(journal), study).backend
    names = {s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)}
    for name in names:
        loaded = optuna.load_study(study_name=name, storage=storage)
        if name == study:
            trials = loaded.get_trials(deepcopy=False, states=COUNTED)
            out["counted"] = len(trials)
            out["archs"] = len({t.user_attrs.get("arch_id") for t in trials} - {None})
            out["times"] = {t.number: (t.datetime_start, t.datetime_complete) for t in trials}
        else:  # the promotion study (nas_proxy.search.promotion) in the search's storage
            out["promoted"] += len(loaded.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
    return out


def device_name(device: str) -> str:
    smi = shutil.which("nvidia-smi")
    if device.startswith("cuda") and smi:
        done = subprocess.run([smi, "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=20, check=False)
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip().splitlines()[0]
    return f"{device} ({platform.processor() or platform.machine()})"


def run_distill_phase(ctx: Context, state: Path) -> dict[str, Any]:
    """The distillation, fresh or continued from its checkpoint (the same command), stopped at the deadline."""
    p = ctx.plan
    folder = state / "set"
    cmd = distill_command(ctx, folder)
    entry: dict[str, Any] = {"command": shown(cmd)}
    left = ctx.left() - STATE_RESERVE_S
    if left < p.s7_min_left_s:
        return {**entry, "status": "waiting", "reason": f"{max(left, 0):.0f} s left in this call"}
    entry["from_scratch"] = not (folder / "checkpoint.safetensors").is_file()
    ran = run_group(cmd, timeout=left, cwd=ctx.root, grace=GRACE_S, stdout=ctx.work / "search-720-distill.json")
    entry |= {"wall_s": round(ran.seconds, 2), "exit_code": ran.code}
    meta = folder / "meta.json"
    if ran.code == 0 and meta.is_file():
        m = json.loads(meta.read_text())
        return {**entry, "status": "distilled", "iterations": m["iterations_done"], "loop_s": m["seconds"]}
    if ran.code in (None, 130, 143):  # stopped at its limit (SIGTERM: it checkpoints after the iteration)
        return {**entry, "status": "cut", "reason": "stopped at the call's deadline: the same command continues from its checkpoint"}
    return {**entry, "status": "failed", "reason": f"exit status {ran.code}", "output_tail": ran.tail}


def run_search_phase(ctx: Context, state: Path, phase: str) -> dict[str, Any]:
    """One search (``phase``), fresh or continued (the same command), with a ``--timeout`` that leaves the
    call's promotion its reserve; its seconds, the trials it added, their rate, the pick."""
    p = ctx.plan
    folder = state / phase
    folder.mkdir(parents=True, exist_ok=True)
    journal, study = folder / "journal.log", study_name(ctx, phase)
    cmd = search_command(ctx, state, phase)
    entry: dict[str, Any] = {"command": shown(cmd)}
    left = ctx.left() - STATE_RESERVE_S
    if left < p.s7_min_left_s:
        return {**entry, "status": "waiting", "reason": f"{max(left, 0):.0f} s left in this call"}
    before = study_counts(journal, study)
    timeout = max(left - p.s7_promote_reserve_s, 1.0)
    out_json = ctx.work / f"search-720-{phase}.json"
    ran = run_group([*cmd, "--timeout", f"{timeout:.0f}"], timeout=left, cwd=ctx.root, grace=GRACE_S, stdout=out_json)
    after = study_counts(journal, study)
    result = read_json(out_json) if ran.code in (0, 1) else None
    added = after["counted"] - before["counted"]
    entry |= {
        "timeout_s": round(timeout),
        "wall_s": round(ran.seconds, 2),
        "exit_code": ran.code,
        "trials_before": before["counted"],
        "trials_after": after["counted"],
        "trials_in_call": added,
        "distinct_archs": after["archs"],
        "promoted_before": before["promoted"],
        "promoted_after": after["promoted"],
    }
    new = [after["times"][n] for n in after["times"] if n not in before["times"]]
    if new:  # first trial started to last trial stored, by the journal's clock: the trials alone
        span = (max(end for _, end in new) - min(start for start, _ in new)).total_seconds()
        entry |= {"trials_span_s": round(span, 2), "trials_per_hour_span": round(3600.0 * added / span) if span > 0 else None}
    promotion = (result or {}).get("promotion") or {}
    entry["promotion_s"] = round(promotion["seconds"], 2) if promotion else None
    if result is not None:  # process start to trials exported; without its JSON, the promotion's share of the wall time is unknown
        entry["search_s"] = round(ran.seconds - (promotion.get("seconds") or 0.0), 2)
        if added and entry["search_s"] > 0:
            entry["trials_per_hour"] = round(3600.0 * added / entry["search_s"])
    if result is not None:
        entry |= {"json_seconds": round(result["seconds"], 2), "trial_states": result["trials"], "unmet": result["unmet"]}
        best = (result.get("best") or [None])[0]
        if best:
            entry["proxy_best"] = {"arch_id": best["arch_id"], "proxy_score": best["values"][0], "spec": best["spec"]}
        rows = promotion.get("rows") or []
        if rows:
            keys = ("arch_id", "spec", "real_val_accuracy", "proxy_rank", "proxy_score", "promotion_seconds")
            entry["pick"] = {k: rows[0].get(k) for k in keys}
            entry["promoted"] = [{k: r.get(k) for k in ("arch_id", "proxy_rank", "real_val_accuracy")} for r in rows]
            entry["promotion_epochs"] = promotion.get("epochs")
        if promotion.get("notes"):
            entry["notes"] = promotion["notes"]
    if ran.code == 0 and result is not None and result["unmet"] is None and promotion:
        return {**entry, "status": "complete"}
    if ran.code in (None, 1, 130, 143) and (result is None or "timeout" in str(result.get("unmet"))):
        return {**entry, "status": "cut", "reason": "stopped at the call's deadline: the same command continues the study"}
    return {**entry, "status": "failed", "reason": (result or {}).get("unmet") or f"exit status {ran.code}", "output_tail": ran.tail}


def complete_phases(calls: list[dict[str, Any]]) -> set[str]:
    """The phases some call finished (a distillation is ``distilled``, a search ``complete``)."""
    return {name for c in calls for name, e in c["phases"].items() if e.get("status") == ("distilled" if name == "distill" else "complete")}


def whole(calls: list[dict[str, Any]], phase: str) -> tuple[int, dict[str, Any]] | None:
    """The call that ran ``phase`` from nothing to its end, and its entry (None: no call did)."""
    for c in calls:
        e = c["phases"].get(phase) or {}
        if phase == "distill" and e.get("status") == "distilled" and e.get("from_scratch"):
            return c["call"], e
        if phase != "distill" and e.get("status") == "complete" and e.get("trials_before") == 0 and e.get("promoted_before") == 0:
            return c["call"], e
    return None


def per_call(calls: list[dict[str, Any]], phases: tuple[str, ...]) -> list[dict[str, Any]]:
    """What each call did in ``phases`` (phases reused or waiting in a call are left out)."""
    rows = []
    for c in calls:
        for phase in phases:
            e = c["phases"].get(phase) or {}
            if e.get("status") in ("distilled", "complete", "cut", "failed"):
                rows.append({"call": c["call"], "phase": phase, **{k: e[k] for k in PHASE_KEYS if e.get(k) is not None}})
    return rows


def last_pick(calls: list[dict[str, Any]], phase: str) -> dict[str, Any]:
    for c in reversed(calls):
        e = c["phases"].get(phase) or {}
        if e.get("status") == "complete":
            return {k: e.get(k) for k in ("pick", "proxy_best", "promoted", "distinct_archs", "trials_after", "notes") if k in e}
    return {}


def summarise(calls: list[dict[str, Any]], target_s: float = TARGET_S) -> dict[str, Any]:
    """Per search (on the distilled set, with its distillation; on the second proxy, which needs none): the
    seconds and rates measured whole, the total and the target only when everything ran in one call."""
    out: dict[str, Any] = {"target_s": target_s}
    for phase in SEARCHES:
        needs = ("distill", phase) if phase == "search" else (phase,)
        if not any(phase in c["phases"] for c in calls):
            continue
        found = {n: whole(calls, n) for n in needs}
        r: dict[str, Any] = {"per_call": per_call(calls, needs), **last_pick(calls, phase)}
        d, s = found.get("distill"), found[phase]
        if d:
            r |= {"distill_s": d[1]["wall_s"], "distill_call": d[0]}
        if s:
            e = s[1]
            r |= {"search_call": s[0], "trials_s": e.get("search_s"), "promotion_s": e["promotion_s"], "search_wall_s": e["wall_s"]}
            r |= {k: e.get(k) for k in ("trials_per_hour", "trials_span_s", "trials_per_hour_span")}
        calls_used = {f[0] for f in found.values() if f}
        one = all(found.values()) and len(calls_used) == 1
        r["measured_in_one_call"] = one
        if one:
            c = next(c for c in calls if c["call"] in calls_used)
            r["total_s"] = round(sum(f[1]["wall_s"] for f in found.values() if f), 2)
            r["meets_target"] = r["total_s"] <= target_s
            r |= {"device": c.get("device"), "commit": c.get("commit")}
        else:
            r["total_s"] = r["meets_target"] = None
            if all(found.values()):
                r["sum_of_phases_s"] = round(sum(f[1]["wall_s"] for f in found.values() if f), 2)
                r["note"] = (
                    f"not measured in one call: each phase ran whole, in calls {sorted(calls_used)}; sum_of_phases_s adds two "
                    "measurements and is not one run"
                )
            else:
                r["note"] = "not measured in one call: no total; per_call lists what each call did and its rates"
        out[phase] = r
    return out


def second_search_fits(ctx: Context, calls: list[dict[str, Any]], ran: bool) -> tuple[bool, str]:
    """Whether the second search starts now: in a call that ran nothing else, or where ``FIT_MARGIN`` times
    the first search's seconds (all its calls together) fit in what is left: it then runs whole in one call."""
    if not ran:
        return True, ""
    first = sum(e.get("wall_s", 0.0) for c in calls if (e := c["phases"].get("search") or {}).get("status") in ("complete", "cut"))
    need, left = FIT_MARGIN * first, ctx.left() - STATE_RESERVE_S
    if left < need:
        return False, f"needs about {need:.0f} s ({FIT_MARGIN}x the first search), {max(left, 0):.0f} s left: the next call runs it whole"
    return True, ""


def run_search_section(ctx: Context, rec: Recorder) -> None:
    p = ctx.plan
    state, origin = state_folder(ctx, SECTION)
    record_path = state / "record.json"
    record: dict[str, Any] = json.loads(record_path.read_text()) if record_path.is_file() else {"calls": []}
    calls: list[dict[str, Any]] = record["calls"]
    done = complete_phases(calls)
    rec.set("state", {"from": origin, "calls_before": len(calls), "phases_done_before": sorted(done)})
    rec.set("resumed", bool(calls))
    sizes = {k: v for k, v in p.to_dict().items() if k.startswith("s7_")}
    rec.set("plan", {**sizes, "proxy_epochs": p.proxy_epochs, "promote_flags": PROMOTE_FLAGS, "target_s": TARGET_S})
    call: dict[str, Any] = {
        "call": len(calls) + 1,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": ctx.commit,
        "device": device_name(p.device),
        "seconds_left_at_start": round(ctx.left()),
        "phases": {},
    }
    calls.append(call)

    def save(phase: str, entry: dict[str, Any]) -> None:
        call["phases"][phase] = entry
        write_json(record_path, record)
        rec.set("call", call)
        print(f"[gpu_check] search-720 {phase}: {entry['status']} {entry.get('wall_s', '')}", flush=True)

    # the driver's SIGTERM at the section's limit: this call's record and the state still come back (RESULTS.md §20)
    with state_packed(rec, state, ctx.out / SECTION / "state.tar.gz"):
        try:
            ran = False  # whether a phase did work in this call
            if "distill" in done:
                save("distill", {"status": "reused"})
            else:
                save("distill", run_distill_phase(ctx, state))
                ran = True
            phases = ["search", *(["random"] if p.s7_second_proxy else [])]
            for phase in phases:
                if phase in done:
                    save(phase, {"status": "reused"})
                elif phase == "search" and call["phases"]["distill"]["status"] not in ("distilled", "reused"):
                    save(phase, {"status": "waiting", "reason": "no distilled set yet"})
                elif phase == "random" and call["phases"]["search"]["status"] not in ("complete", "reused"):
                    save(phase, {"status": "waiting", "reason": "runs after the search on the distilled set"})
                else:
                    go, why = second_search_fits(ctx, calls, ran) if phase == "random" else (True, "")
                    if go:
                        save(phase, run_search_phase(ctx, state, phase))
                        ran = True
                    else:
                        save(phase, {"status": "waiting", "reason": why})
        finally:
            rec.set("result", summarise(calls))
    entries = call["phases"]
    failed = [f"{n}: {e.get('reason')}" for n, e in entries.items() if e["status"] == "failed"]
    pending = [n for n, e in entries.items() if e["status"] not in ("distilled", "complete", "reused")]
    if failed:
        rec.set("status", "failed")
        rec.set("reason", "; ".join(failed))
    elif pending:
        waiting = ", ".join(f"{n} {entries[n]['status']}" for n in pending)
        rec.set("reason", f"resumable: {waiting}; the next call continues")
