"""``gpu_results.md``: the GPU check's results.json as a Markdown section for benchmarks/RESULTS.md.

Every section appears, with its numbers or the one-line reason it has none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gpu_common import SECTIONS

TITLES = {
    "environment": "Environment",
    "tests": "`gpu`-marked tests",
    "distill": "Distillation step (Fashion-MNIST, DataDAM)",
    "proxy": "Proxy trials per hour, full-data epoch, whole-space projection",
    "groundtruth": "Ground-truth table (benchmarks/groundtruth/build.py)",
    "evaluate": "Evaluation protocol on the IPC-10 DataDAM set",
    "fidelity": "Every proxy on every architecture of the ground-truth table (benchmarks/gpu_fidelity.py)",
    "distill-ablation": "Distillation variants on the 70 evaluation architectures (benchmarks/distill_ablation.py)",
    "distill-protocols": "Each set with the proxy protocol chosen for it on the calibration architectures (benchmarks/protocol_per_set.py)",
    "paper-protocol": "The field's evaluation protocol on DataDAM and DM sets (IPC 1/10/50, 8,000 and 20,000 iterations)",
    "trainer": "Real-data trainer: seconds per epoch, today's protocol vs the fast one (benchmarks/gpu_trainer.py)",
    "horizon": "Horizon of the fast protocol: ranking agreement between 3-48 epochs and between seeds",
    "groundtruth-converged": "The converged table (build.py with the fast protocol at the chosen horizon)",
    "fidelity-converged": "Every proxy on the converged table",
    "search-720": "The whole 720-architecture search measured: distillation + 720 trials + promote 3 (benchmarks/gpu_search.py)",
    "groundtruth-wide": "The 3-epoch table widened to more evaluation architectures (build.py --n-archs, the H100 journal resumed)",
}


def _f(value: Any, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def environment(s: dict[str, Any]) -> list[str]:
    t, pk = s.get("torch", {}), s.get("packages", {})
    lines = [
        f"- device: {s.get('device_name', '-')}; torch {t.get('torch', '-')}, CUDA {t.get('cuda', '-')}, cuDNN {t.get('cudnn', '-')}; "
        f"Python {s.get('python', {}).get('version', '-')}; {t.get('cpu_count', '-')} CPUs",
        f"- packages: {', '.join(f'{k} {v}' for k, v in pk.items())}",
    ]
    if "capability" in t:
        lines.append(
            f"- capability {t['capability']}, {t['memory_gib']} GiB, {t['multiprocessors']} SMs; TF32 matmul {t['tf32_matmul']}, "
            f"cuDNN {t['tf32_cudnn']}; bf16 4096^3 matmul smoke test {t.get('bf16_matmul_tflops_4096', '-')} TFLOP/s"
        )
    lines.append(f"- nvidia-smi: `{s.get('nvidia_smi', '-')}`".replace("\n", " / "))
    return lines


def tests(s: dict[str, Any]) -> list[str]:
    c = s.get("counts")
    if not c:
        return ["- no JUnit report"]
    lines = [f"- `{s.get('command', '')}`: {c['passed']} passed, {c['failures']} failed, {c['errors']} errors, {c['skipped']} skipped"]
    lines += [f"  - {bad}" for bad in c.get("not_passed", [])]
    return lines


def distill(s: dict[str, Any]) -> list[str]:
    lines = [
        "| autocast | IPC | vectorised s/step | per-class loop s/step | loop / vectorised | distill() s/iteration | "
        "peak MiB vectorised | peak MiB loop | agree |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for amp in ("on", "off"):
        entry = s.get(f"amp_{amp}", {})
        if entry.get("status") != "ok":
            notes.append(
                f"- autocast {amp}: {entry.get('status', 'not run')}: {entry.get('reason') or (entry.get('run') or {}).get('output_tail', [''])[-1:]}"
            )
        for r in entry.get("rows", []):
            peak = r.get("peak_mib", {})
            lines.append(
                f"| bf16 {amp} | {r['ipc']} | {r['vectorised_s']:.4f} | {r['loop_s']:.4f} | {r['speedup']:.2f}x | "
                f"{_f(r.get('distill_s_per_iteration'), 4)} | {_f(peak.get('vectorised'), 0)} | {_f(peak.get('loop'), 0)} | {r['agree']} |"
            )
    return [*lines, "", "Medians; CUDA-synchronised; peak = max allocated during a step above the allocation before it.", *notes]


def proxy(s: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    d = s.get("distill")
    if d:
        lines.append(
            f"- DataDAM IPC {d['config']['ipc']} distilled here: {d['config']['iterations']} iterations in {d['loop_seconds']:.1f} s "
            f"({d['seconds_per_iteration'] * 1000:.1f} ms/iteration; {d['wall_seconds']:.1f} s with loading and writing)"
        )
    sample = s.get("sample")
    if sample:
        mf = [a["mflops"] for a in sample["archs"]]
        lines.append(
            f"- {len(mf)} of the {sample['space_size']} architectures of {sample['space']} (seed {sample['seed']}; {sample['how']}): "
            f"{min(mf):.1f} to {max(mf):.1f} MFLOPs per image; proxy {sample['proxy_config']['epochs']} epochs"
        )
    rows = s.get("serial", {}).get("rows", [])
    if rows:
        lines += [
            "",
            "| arch | MFLOPs | proxy s | proxy val % | full epoch s | full val % | full / proxy |",
            "|---|---|---|---|---|---|---|",
        ]
        mflops = {a["arch_id"]: a["mflops"] for a in (sample or {}).get("archs", [])}
        for r in rows:
            p, f = r["proxy"], r.get("full")
            ratio = f"{f['seconds']['total'] / p['seconds']['total']:.1f}x" if f else "-"
            full_cells = f"{f['seconds']['total']:.2f} | {f['accuracy']:.1f}" if f else "- | -"
            lines.append(
                f"| {r['arch_id']} | {mflops.get(r['arch_id'], 0):.1f} | {p['seconds']['total']:.2f} | {p['accuracy']:.1f} | {full_cells} | {ratio} |"
            )
        summ = s["serial"]["summary"]
        if "ratio_median" in summ:
            lines.append(
                f"\nfull-data epoch / proxy trial, median {summ['ratio_median']:.1f}x (min {summ['ratio_min']:.1f}x, max {summ['ratio_max']:.1f}x)"
            )
    pools = s.get("pools", [])
    if pools:
        lines += [
            "",
            "| pool: processes x lanes | trials | wall s | trials / hour | vs 1 process | startup s | max \\|Δ acc\\| vs alone | note |",
            "|---|---|---|---|---|---|---|---|",
        ]
        one = next((p.get("trials_per_hour") for p in pools if p["workers"] == 1 and p.get("streams_per_worker", 1) == 1), None)
        for p in pools:
            rate = p.get("trials_per_hour")
            rel = f"{rate / one:.2f}x" if rate and one else "-"
            lanes = p.get("streams_per_worker", 1)
            lines.append(
                f"| {p['workers']} x {lanes} | {len(p.get('trials', []))} | {_f(p.get('wall_seconds'), 1)} | {_f(rate, 0)} | {rel} | "
                f"{_f(p.get('startup_seconds'), 1)} | {_f(p.get('max_abs_accuracy_diff_vs_alone'), 2)} | {p.get('stopped', '')} |"
            )
    opts = s.get("options", {})
    if opts.get("trials_per_hour"):
        default = opts["trials_per_hour"].get("default")
        lines += ["", f"Proxy options, one process, interleaved on {opts['archs']} architectures:", ""]
        lines += ["| proxy option | trials / hour | vs default |", "|---|---|---|"]
        for name, rate in opts["trials_per_hour"].items():
            lines.append(
                f"| {name} {opts['variants'][name] or ''} | {rate:.0f} | {rate / default:.2f}x |"
                if default
                else f"| {name} | {rate:.0f} | - |"
            )
        lines += [f"- {name} failed: {error}" for name, error in opts.get("errors", {}).items()]
    elif opts:
        lines.append(f"- proxy options: {opts.get('skipped') or opts.get('errors')}")
    proj = s.get("projection")
    if proj and "proxy_search_hours" in proj:
        lines += [
            "",
            f"Whole space ({proj['space_size']} architectures): proxy search {proj['proxy_search_hours'] * 60:.1f} min "
            f"(best pool {proj['best_pool']}, processes x lanes; distillation at its default length {proj['distill_hours'] * 60:.1f} min of it).",
            "",
            "| full-data epochs per candidate | full-data search (one process) | proxy search is faster by |",
            "|---|---|---|",
            *[f"| {f['epochs']} | {f['hours']:.2f} h | {f['speedup']:.1f}x |" for f in proj["full"]],
        ]
    elif proj:
        lines.append(f"- projection: {proj.get('missing')}")
    return lines or ["- no numbers"]


def groundtruth(s: dict[str, Any]) -> list[str]:
    lines = [f"- `{s.get('command', '-')}`: exit {s.get('run', {}).get('exit_code', '-')}, {s.get('run', {}).get('seconds', '-')} s"]
    lines += [f"- {name}: {n} rows" for name, n in s.get("csv_rows", {}).items()]
    lines += [f"- files: {', '.join(s.get('files', {})) or 'none'}"]
    return lines


def evaluate(s: dict[str, Any]) -> list[str]:
    r = s.get("result")
    if not r:
        return ["- no numbers"]
    accs = ", ".join(f"{a:.2f}" for a in r["accuracies"])
    sd = r["std"]
    return [
        f"- {r['model']} x {r['runs']}, {r['train']['epochs']} epochs on {r['synthetic'].get('ipc')} images/class "
        f"({r['synthetic'].get('iterations_done')} distillation iterations): test accuracy {r['mean']:.2f} +- {sd:.2f} % ({accs}); {r['seconds']:.1f} s on {r['device']}"
    ]


def fidelity(s: dict[str, Any]) -> list[str]:
    lines = [f"- table `{s.get('table', '-')}`; distillation seconds {s.get('distill_seconds', {})}"]
    for st in s.get("steps", []):
        run = st.get("run", {})
        lines.append(f"- {st['step']}: {st['status']}, {run.get('seconds', '-')} s" + (f" ({st['reason']})" if st.get("reason") else ""))
    if s.get("files"):
        lines.append(f"- the metrics, intervals and paired differences: OUT/{', OUT/'.join(s['files'])}")
    return lines


def _state(s: dict[str, Any]) -> list[str]:
    st, packed = s.get("state", {}), s.get("packed", {})
    lines = [f"- state {st.get('from', '-')}"]
    if packed:
        lines.append(
            f"- packed into {packed['path']} ({packed['bytes'] / 2**20:.1f} MiB, {packed.get('left_out', packed.get('checkpoints_left_out'))} files of finished sets "
            "left out): put it at benchmarks/out/ (carried) or benchmarks/gpu/ (committed) for the next call"
        )
    if packed.get("warning"):
        lines.append(f"- **the state will not come back**: {packed['warning']}")
    return lines


def distill_ablation(s: dict[str, Any]) -> list[str]:
    lines = [f"- `{s.get('command', '-')}`: exit {s.get('run', {}).get('exit_code', '-')}, {s.get('run', {}).get('seconds', '-')} s"]
    for name, v in (s.get("result") or {}).get("variants", {}).items():
        lines.append(f"- {name}: {v.get('status')}" + (f" ({v['reason']})" if v.get("reason") else ""))
    return [*lines, *_state(s), "- the table: OUT/distill-ablation/ablation.md; every score: OUT/distill-ablation/scores.csv"]


def distill_protocols(s: dict[str, Any]) -> list[str]:
    lines = [f"- `{s.get('command', '-')}`: exit {s.get('run', {}).get('exit_code', '-')}, {s.get('run', {}).get('seconds', '-')} s"]
    result = s.get("result") or {}
    for name, chosen in result.get("chosen", {}).items():
        rho = result["calibration_spearman"][name].get(chosen)  # none while pending: the calibration is not complete
        lines.append(f"- {name}: chosen {chosen}" + (f" (calibration Spearman {_f(rho)})" if rho is not None else ""))
    rows = (result.get("fidelity") or {}).get("proxies", {})
    if rows:
        lines += ["", "| on the evaluation architectures | n | Spearman ρ | ρ top 20 % | regret / promote 3 |", "|---|---|---|---|---|"]
        for label, r in rows.items():
            ci, top = r["spearman_ci"], r["top_spearman_ci"]
            lines.append(
                f"| {label} | {r['n_scored']} | {_f(r['spearman'])} [{_f(ci[0], 2)}, {_f(ci[1], 2)}] "
                f"| {_f(r['top_spearman'])} [{_f(top[0], 2)}, {_f(top[1], 2)}] | {_f(r['regret'], 2)} / {_f(r.get('promote_regret'), 2)} |"
            )
        lines.append("")
    return [
        *lines,
        *_state(s),
        "- every score is in the state: `protocol_per_set.py --report-only --work STATE` writes protocols.md and scores.csv",
    ]


def paper_protocol(s: dict[str, Any]) -> list[str]:
    lines = []
    for r in s.get("rows", []):
        acc = f"{r['mean']:.2f} +- {r['std']:.2f} % over {r['networks']}" if "mean" in r else "no network yet"
        lines.append(f"- {r['set']}: {acc}; {r.get('status', '')}")
    return [*lines, *_state(s), "- the table beside the published anchors: OUT/paper-protocol/paper.md"]


def trainer(s: dict[str, Any]) -> list[str]:
    sm = s.get("summary")
    if not sm:
        return ["- no architecture timed with both protocols"]
    t, f, r = sm["today_epoch_s"], sm["fast_epoch_s"], sm["speedup"]
    lines = [
        f"- {sm['archs']} architectures, {s.get('train_images', '-')} training images, seconds per epoch (median [q1, q3], min-max):",
        f"  today {t['median']:.3f} [{t['q1']:.3f}, {t['q3']:.3f}], {t['min']:.3f}-{t['max']:.3f}; "
        f"fast {f['median']:.3f} [{f['q1']:.3f}, {f['q3']:.3f}], {f['min']:.3f}-{f['max']:.3f}",
        f"- today / fast per architecture: median {r['median']:.2f}x [{r['q1']:.2f}, {r['q3']:.2f}], {r['min']:.2f}-{r['max']:.2f}x",
    ]
    for name, per in sm["trainings_per_hour"].items():
        lines.append(
            f"- {name}: trainings per hour, one process, median architecture: " + ", ".join(f"{h} ep {n:.0f}" for h, n in per.items())
        )
    for name, q in sm.get("fast_over_option", {}).items():  # > 1: the variant is faster than the fast protocol
        lines.append(
            f"- fast / {name} per architecture: median {q['median']:.2f}x [{q['q1']:.2f}, {q['q3']:.2f}], {q['min']:.2f}-{q['max']:.2f}x"
        )
    return lines


def horizon(s: dict[str, Any]) -> list[str]:
    r = s.get("result") or {}
    lines = [f"- {len(s.get('archs', []))} architectures; trainings done {s.get('done', '-')}; rule: {r.get('rule', '-')}", ""]
    lines += ["| epochs | Spearman vs longest (seed 0) | n | seed-to-seed | n |", "|---|---|---|---|---|"]
    for row in r.get("table", []):
        v, n = row["vs_longest"], row.get("seed_to_seed", {})
        lines.append(f"| {row['epochs']} | {_f(v['spearman'])} | {v['n']} | {_f(n.get('spearman'))} | {n.get('n', '-')} |")
    lines += ["", f"- chosen: {r.get('chosen_epochs') or 'not yet (' + ('complete' if r.get('complete') else 'incomplete') + ')'}"]
    return [*lines, *_state(s)]


def groundtruth_converged(s: dict[str, Any]) -> list[str]:
    run = s.get("run", {})
    lines = [
        f"- `{s.get('command', '-')}`: exit {run.get('exit_code', '-')}, {run.get('seconds', '-')} s",
        f"- rows: {s.get('csv_rows', {})}",
    ]
    return [*lines, *_state(s)]


def search_720(s: dict[str, Any]) -> list[str]:
    r, lines = s.get("result") or {}, []
    second = s.get("plan", {}).get("s7_second_proxy")
    labels = {"search": "on the DataDAM IPC-10 set distilled here", "random": f"on {second} (no distillation)"}
    for phase, label in labels.items():
        x = r.get(phase)
        if not x:
            continue
        if x["measured_in_one_call"]:
            verdict = "met" if x["meets_target"] else "NOT met"
            distilled = f"distillation {_f(x['distill_s'], 1)} s, " if "distill_s" in x else ""
            lines.append(
                f"- {label}: **{x['total_s']:.1f} s in all**, one call ({distilled}trials {_f(x.get('trials_s'), 1)} s, promotion "
                f"{_f(x.get('promotion_s'), 1)} s); {_f(x.get('trials_per_hour'))} trials/h; target {r['target_s']:.0f} s {verdict}"
            )
        else:
            lines.append(f"- {label}: {x['note']}")
            for row in x["per_call"]:
                lines.append(
                    f"  - call {row['call']}, {row['phase']}: {row['status']}, {_f(row.get('wall_s'), 1)} s, "
                    f"{row.get('trials_in_call', '-')} trials, {_f(row.get('trials_per_hour'))} trials/h"
                )
        pick = x.get("pick")
        if pick:
            lines.append(
                f"  - pick {pick['arch_id']}: real validation accuracy {_f(pick.get('real_val_accuracy'), 2)} % (proxy rank "
                f"{pick.get('proxy_rank')}); {x.get('distinct_archs')} distinct architectures in {x.get('trials_after')} trials"
            )
    for phase, e in (s.get("call") or {}).get("phases", {}).items():
        if e.get("command"):
            lines.append(f"- {phase}: `{e['command']}`")
    return [*lines, *_state(s)]


RENDERERS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "environment": environment,
    "tests": tests,
    "distill": distill,
    "proxy": proxy,
    "groundtruth": groundtruth,
    "evaluate": evaluate,
    "fidelity": fidelity,
    "distill-ablation": distill_ablation,
    "distill-protocols": distill_protocols,
    "paper-protocol": paper_protocol,
    "trainer": trainer,
    "horizon": horizon,
    "groundtruth-converged": groundtruth_converged,
    "fidelity-converged": fidelity,
    "search-720": search_720,
    "groundtruth-wide": groundtruth_converged,  # the same builder run, another table
}


def render(results: dict[str, Any]) -> str:
    run, sections = results["run"], results["sections"]
    env = sections.get("environment", {})
    t = env.get("torch", {})
    driver = (env.get("nvidia_smi") or "").splitlines()[1:2]
    lines = [
        f"## GPU check: {env.get('device_name', 'device unknown')}, {run['started']}"
        + (" (DRY RUN: CPU, tiny sizes; no number means anything)" if run["dry_run"] else ""),
        "",
        f"- command: `{run['command']}`",
        f"- commit: {run['commit']}",
        f"- torch {t.get('torch', '-')}, CUDA {t.get('cuda', '-')}; nvidia-smi (name, driver, memory, ...): {driver[0] if driver else '-'}",
        f"- budget {run['budget_seconds']:.0f} s, took {_f(run.get('seconds'), 0)} s; seed {run['seed']}",
        "",
        "| section | status | seconds | reason |",
        "|---|---|---|---|",
    ]
    for name in SECTIONS:
        s = sections.get(name, {"status": "not reached", "reason": "the run ended before it"})
        lines.append(f"| {name} | {s.get('status')} | {_f(s.get('seconds'), 0)} | {s.get('reason', '')} |")
    for i, name in enumerate(SECTIONS, 1):
        s = sections.get(name, {})
        lines += ["", f"### {i}. {TITLES[name]}", ""]
        if s.get("status") != "ok":
            lines.append(f"**{s.get('status', 'not reached')}**: {s.get('reason', 'the run ended before it')}")
        if s.get("status") not in (None, "skipped"):
            try:
                lines += RENDERERS[name](s)
            except (KeyError, TypeError, ValueError, IndexError) as e:  # results.json keeps every number: say so, go on
                lines.append(f"**this section's report failed** ({type(e).__name__}: {e}); its numbers are in results.json")
    return "\n".join(lines) + "\n"
