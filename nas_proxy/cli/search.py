"""``nasproxy search``, ``worker`` and ``score``: Optuna studies on the proxy (tables ``[search]``,
``[search.proxy]``, ``[worker]``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from nas_proxy import checks
from nas_proxy.cli.common import (
    WORKER_NOT_FROM_FILE,
    Config,
    Missing,
    Subparsers,
    add_quiet,
    cuda_flags,
    dashboard_command,
    default_of,
    from_config,
    option,
    path_shown,
    print_json,
    save_config,
    say,
)
from nas_proxy.cli.proxy_options import add_proxy_options, check_profile_sets, profile_data_check, profile_ladder, proxy_config, proxy_given
from nas_proxy.cli.types import finite_float, integer, nonempty
from nas_proxy.errors import one_line

if TYPE_CHECKING:
    from nas_proxy.search.runner import SearchResult


def add_heartbeat_options(p: argparse.ArgumentParser) -> None:
    from nas_proxy.studies.kinds import GRACE_SECONDS, HEARTBEAT_SECONDS

    g = p.add_argument_group("dead workers on other machines (database storages; a journal's heartbeat files)")
    g.add_argument(
        "--heartbeat-interval", type=integer, default=HEARTBEAT_SECONDS, help="seconds between a worker's heartbeats (default %(default)s)"
    )
    g.add_argument(
        "--grace", type=integer, default=GRACE_SECONDS, help="seconds without a heartbeat before a trial is retried (default %(default)s)"
    )


def add_search(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    from nas_proxy.configs import SearchBudget
    from nas_proxy.protocols import DEFAULT_PROTOCOL, TRAINING_PROTOCOLS, GroundTruthConfig
    from nas_proxy.search.config import PRUNERS, SAMPLERS, SearchConfig

    p = sub.add_parser(
        "search",
        parents=[common],
        help="run an Optuna study on the proxy",
        description="Search architectures: every trial scores a candidate with one proxy of the registry (the proxies 'correlate' "
        "compares): by default it trains on the --synthetic set and scores on the real validation split; --proxy names another "
        "(random-ipcN, early@Xep, a training-free score) on --dataset. Options also come from [search] and [search.proxy] of --config.",
    )
    p.add_argument(
        "--synthetic", type=nonempty, metavar="DIR", help="a synthetic set made by 'nasproxy distill' (its own proxy by default)"
    )
    p.add_argument(
        "--proxy",
        type=nonempty,
        metavar="TOKEN",
        dest="proxy_name",
        help="the proxy that scores every trial: the --synthetic set's name (datadam-ipc10, the default), or on --dataset "
        "random-ipcN (a random real subset, made once), early@Xep (the full-data training stopped after X epochs) or a "
        "training-free score (synflow, naswot, grad_norm, snip, params, flops); synthetic sets and random subsets report "
        "every --report-every epochs and can be pruned, early stopping and training-free scores cannot",
    )
    p.add_argument(
        "--ladder",
        type=nonempty,
        metavar="SPEC",
        help="climb a fidelity ladder in the study, e.g. 'random-ipc10:1.0,early@1ep:0.2,full:3': every candidate gets the "
        "first rung, the best fraction (0.2 of all candidates) or count (3) climbs to the next, the last rung 'full:K' trains "
        "on real data (--promote-epochs, --promote-images) and picks by validation accuracy",
    )
    p.add_argument(
        "--dataset",
        type=nonempty,
        metavar="NAME",
        help="real data for a --proxy that uses no distilled set (split seed 0, 10%% validation)",
    )
    from_config(
        p.add_argument("--space", type=nonempty, required=True, help="a registered space (nasproxy spaces) or a space file path"), "search"
    )
    p.add_argument("--study", required=True, help="study name (resumed when it exists)")
    p.add_argument("--storage", type=nonempty, help="Optuna storage URL (default: journal file studies/STUDY/journal.log)")
    from_config(
        p.add_argument(
            "--n-trials", type=integer, required=True, help="total trials of the study (complete + pruned), across workers and runs"
        ),
        "search",
    )
    p.add_argument("--timeout", type=finite_float, help="stop starting trials after this many seconds")
    option(p, "--sampler", choices=SAMPLERS.names(), field=(SearchConfig, "sampler"))
    option(p, "--pruner", choices=PRUNERS.names(), field=(SearchConfig, "pruner"), also="; none with several objectives")
    p.add_argument("--objectives", help="accuracy, optionally followed by params and/or flops: accuracy,params")
    p.add_argument("--max-params", type=integer, help="skip candidates with more parameters")
    option(p, "--workers", type=integer, field=(SearchBudget, "workers"), help="processes on this machine")
    option(
        p,
        "--promote",
        type=integer,
        metavar="K",
        field=(SearchBudget, "promote"),
        help="then train the K best distinct candidates on real data (0: none)",
    )
    option(
        p,
        "--promote-epochs",
        type=integer,
        metavar="E",
        field=(SearchBudget, "promote_epochs"),
        none=f"the ground truth's, {default_of(GroundTruthConfig, 'epochs')}",
        help="epochs of each promoted (or 'full' rung) training",
    )
    option(
        p,
        "--promote-images",
        type=integer,
        metavar="N",
        field=(SearchBudget, "promote_images"),
        none="all",
        help="train each promoted (or 'full' rung) candidate on N training images",
    )
    option(
        p,
        "--promote-protocol",
        choices=TRAINING_PROTOCOLS.names(),
        field=(SearchBudget, "promote_protocol"),
        none=f"the ground truth's, {DEFAULT_PROTOCOL}",
        help="how each promoted (or 'full' rung) candidate is trained: standard (SGD lr 0.01 stepped down half way, batch 256) "
        "or fast (one-cycle lr 0.05, batch 512, label smoothing 0.1; CUDA graphs and channels_last on a GPU; not yet chosen by measurement)",
    )
    add_heartbeat_options(p)
    option(p, "--seed", type=integer, field=(SearchConfig, "seed"))
    option(p, "--device", field=(SearchConfig, "device"))
    p.add_argument("--data-root", type=nonempty, metavar="DIR", help="where the real data is, if not where distill found it")
    p.add_argument("--out", type=nonempty, metavar="DIR", help="where trials.csv, best.json and config.toml go (default: studies/STUDY)")
    add_quiet(p)
    add_proxy_options(p)
    p.set_defaults(func=cmd_search, needs=synthetic_needed)


def synthetic_needed(args: argparse.Namespace, file: Config) -> list[Missing]:
    """``--synthetic`` when the search is on a set: neither ``--dataset`` nor ``--proxy`` (typed or
    in [search] of --config) names real data, and no set is given either."""
    tbl = file.table("search")
    on_set = all(getattr(args, k, None) is None and k not in tbl for k in ("dataset", "proxy_name", "ladder"))
    on_set = on_set and profile_ladder(args) is None
    if on_set and args.synthetic is None and "synthetic" not in tbl:
        return [Missing("--synthetic (or --proxy)" if hasattr(args, "proxy_name") else "--synthetic", "search", "synthetic")]
    return []


def search_config(args: argparse.Namespace, file: Config) -> tuple[Any, Any]:
    """The SearchConfig and SearchBudget of ``search`` (and the spec options of ``score``)."""
    from nas_proxy import configs
    from nas_proxy.search.config import SearchConfig, default_pruner

    tbl = file.table("search")
    where = file.where("search")
    configs.check_keys(where, tbl, configs.fields(SearchConfig, configs.SearchBudget))
    proxy = proxy_config(args, file.table("search.proxy"), file.where("search.proxy"))
    given = {**configs.values(SearchConfig, tbl, where), "proxy": proxy}
    objectives = checks.items("--objectives", args.objectives) if args.objectives is not None else None
    flags = {
        "synthetic": args.synthetic,
        "space": args.space,
        "objectives": objectives,
        "sampler": getattr(args, "sampler", None),
        "pruner": getattr(args, "pruner", None),
        "max_params": getattr(args, "max_params", None),
        "seed": args.seed,
        "device": args.device,
        "data_root": args.data_root,
        "proxy_name": getattr(args, "proxy_name", None),
        "dataset": getattr(args, "dataset", None),
        "ladder": getattr(args, "ladder", None),
    }
    given.update({k: v for k, v in flags.items() if v is not None})
    if "ladder" not in given and "proxy_name" not in given:  # neither flag nor file names one: the profile's choice
        ladder = profile_ladder(args)
        if ladder is not None:
            given["ladder"] = ladder
    given.setdefault("synthetic", None)  # required unless a proxy on real data: see synthetic_needed
    given.setdefault("pruner", default_pruner(given.get("objectives")))
    budget = configs.build(
        configs.SearchBudget,
        {k: v for k, v in tbl.items() if k in configs.fields(configs.SearchBudget)},
        where,
        n_trials=getattr(args, "n_trials", None),
        timeout=getattr(args, "timeout", None),
        workers=getattr(args, "workers", None),
        promote=getattr(args, "promote", None),
        promote_epochs=getattr(args, "promote_epochs", None),
        promote_images=getattr(args, "promote_images", None),
        promote_protocol=getattr(args, "promote_protocol", None),
    )
    config = SearchConfig(**given)
    check_profile_sets(
        args, [config.synthetic] if config.synthetic else [], config.space, config.dataset
    )  # typed or from [search] of --config
    cuda_flags(args, config.device)
    return config, budget


def cmd_search(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nas_proxy.synthetic import read_meta

    file = Config(args.config)
    config, budget = search_config(args, file)
    if config.synthetic is not None:  # a path that is missing or not a set: refused before torch (fix61c: 3.8 -> 0.2 CPU-s)
        read_meta(Path(config.synthetic))
    from nas_proxy.search import search

    result = search(
        config,
        args.study,
        budget.n_trials,
        args.storage,
        budget.timeout,
        budget.workers,
        Path(args.out) if args.out else None,
        progress=not args.quiet,
        heartbeat=(args.heartbeat_interval, args.grace),
        promote=budget.promote,
        promote_epochs=budget.promote_epochs,
        promote_images=budget.promote_images,
        promote_protocol=budget.promote_protocol,
        proxy_options=proxy_given(args) | set(file.table("search.proxy")),  # a profile's values are never refused
        check_data=profile_data_check(args),  # its data's digest, once loaded
    )
    save_config(Path(result.files["best"]).parent, {"search": {**config.to_dict(), **vars(budget)}})
    if args.json:
        print_json(result.to_dict())
    else:
        say(summary_line(result))
        print_table(result.best, result.metric)
        if result.promotion:
            print_promoted(result.promotion)
        if result.ladder:
            print_ladder(result.ladder)
        say(f"best spec: {path_shown(result.files['best'])}   all trials: {path_shown(result.files['trials'])}")
        say(f"dashboard: {dashboard_command(result.study, result.storage)}")
    for note in (result.promotion or {}).get("notes", []):
        say(f"nasproxy search: note: {note}", file=sys.stderr)
    for g in result.given_up:
        say(
            f"nasproxy search: note: candidate {g['arch_id'] or g['params']} (trial {g['trial']}) was given up: its worker died on "
            "every try (out of memory or a crash, as far as the host tells: see the trials' fail_reason), and it is not tried again; "
            "the study keeps its trials as failed",
            file=sys.stderr,
        )
    for d in result.worker_deaths:  # its trial was failed and re-queued; the exit status says whether the budget was met
        after = "" if result.unmet else "; the other workers finished the budget"
        say(
            f"nasproxy search: warning: {d['ended']}; its unfinished trial, if any, was failed and re-queued{after}",
            file=sys.stderr,
        )
    if result.unmet:
        say(f"nasproxy search: error: {one_line(result.unmet)}", file=sys.stderr)
        return 1
    return 0


def print_promoted(p: dict[str, Any]) -> None:
    """Both scores of every promoted candidate, the best by real validation accuracy first."""
    on = "the real training split" if p.get("images") is None else f"{p['images']} images of the real training split"
    say(f"promoted: {len(p['rows'])} trained {p['epochs']} epochs ({p['protocol']} protocol) on {on} (study {p['study']})")
    say(f"{'proxy rank':>10}  {'proxy acc %':>11}  {'real val acc %':>14}  arch_id")
    for r in p["rows"]:
        real = "failed" if r["real_val_accuracy"] is None else f"{r['real_val_accuracy']:.2f}"
        say(f"{r['proxy_rank']:>10}  {r['proxy_score']:>11.2f}  {real:>14}  {r['arch_id']}")


def print_ladder(ladder: dict[str, Any]) -> None:
    """Every rung's trainings and seconds, then the top rung's candidates best by validation accuracy."""
    say(f"ladder {ladder['ladder']} on {ladder['candidates']} distinct candidates:")
    say(f"{'rung':>4}  {'proxy':<16}  {'trained':>7}  {'planned':>7}  {'seconds':>9}")
    for r in ladder["rungs"]:
        say(f"{r['rung']:>4}  {r['proxy']:<16}  {r['trained']:>7}  {r['planned']:>7}  {r['seconds']:>9.1f}")
    say(f"{'top rung val acc %':>18}  arch_id")
    for r in ladder["rows"]:
        say(f"{r['real_val_accuracy']:>18.2f}  {r['arch_id']}")


def print_table(rows: list[dict[str, Any]], metric: str = "val_accuracy") -> None:
    """The best trials; ``metric`` names their first value (a training-free proxy's score is no accuracy)."""
    if not rows:
        say("no complete trials yet")
        return
    head = "val acc %" if metric == "val_accuracy" else metric
    w = max(9, len(head))
    say(f"{'trial':>5}  {head:>{w}}  {'params':>10}  {'MFLOPs':>9}  {'seconds':>7}  arch_id       spec")
    for r in rows:
        spec = {k: v for k, v in (r["spec"] or {}).items() if k != "family"}
        say(
            f"{r['number']:>5}  {r['values'][0]:>{w}.2f}  {r['params'] or 0:>10,}  {(r['flops'] or 0) / 1e6:>9.1f}  {r['proxy_seconds'] or 0:>7.1f}  {r['arch_id']}  {json.dumps(spec, separators=(',', ':'))}"
        )


def add_worker(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    from nas_proxy.studies.kinds import WorkerOptions

    p = sub.add_parser(
        "worker",
        parents=[common],
        help="join an existing study (another process or machine)",
        description="Join a study created by 'nasproxy search'; its settings are read from the study. Options also come from [worker] of --config.",
    )
    p.add_argument("--study", required=True, help="the name of the study to join")
    p.add_argument(
        "--storage",
        type=nonempty,
        help="the study's storage URL: a journal path on the same host, or a database URL (default: journal file studies/STUDY/journal.log)",
    )
    p.add_argument(
        "--n-trials",
        type=integer,
        help="stop when the study has this many trials (default: the --n-trials of the last 'nasproxy search' on it)",
    )
    p.add_argument(
        "--data-root", type=nonempty, metavar="DIR", help="where the real data is on this machine, if not where the study's machine had it"
    )
    p.add_argument("--timeout", type=finite_float, help="stop starting trials after this many seconds (default: no limit)")
    p.add_argument("--synthetic", type=nonempty, metavar="DIR", help="the synthetic set at another path on this machine (checked by hash)")
    p.add_argument("--device", type=nonempty, help="override the study's device")
    option(p, "--worker-index", type=integer, field=(WorkerOptions, "worker_index"), help="sampler seed offset (distinct per worker)")
    add_heartbeat_options(p)
    add_quiet(p)
    p.set_defaults(func=cmd_worker)


def cmd_worker(args: argparse.Namespace) -> int:
    from nas_proxy import configs
    from nas_proxy.studies import WorkerOptions, join
    from nas_proxy.studies.workers import ran_here

    file = Config(args.config)
    table = file.table("worker")
    configs.check_keys(file.where("worker"), table, configs.fields(WorkerOptions) - set(WORKER_NOT_FROM_FILE))
    o = configs.build(
        WorkerOptions,
        table,
        file.where("worker"),
        n_trials=args.n_trials,
        timeout=args.timeout,
        worker_index=args.worker_index,
        synthetic=args.synthetic,
        device=args.device,
        data_root=args.data_root,
        progress=not args.quiet,
        heartbeat=(args.heartbeat_interval, args.grace),
    )
    from nas_proxy.studies.storage import default_storage_url

    storage = args.storage or default_storage_url(args.study)  # as search made it without --storage
    study = join(args.study, storage, o)  # dispatched on the study's stored kind (search, ground truth, promotion)
    if args.json:
        config = {k: v for k, v in o.to_dict().items() if k not in WORKER_NOT_FROM_FILE}
        print_json({"study": args.study, "storage": storage, "trials": _states(study), "config": config})
    elif not ran_here(study):  # before fix50b nothing was printed: a worker that found nothing looked hung or broken
        say(f"study {args.study}: {_nothing_run(_states(study))}")
    return 0


def _nothing_run(states: dict[str, int]) -> str:
    """What a worker that ran no trial found: 'nothing left to run (3 finished)', '... (3 finished, 1 running in other
    workers)'; 'ran no trial (..., 2 queued)' where trials wait (the budget, or --n-trials, met)."""
    finished = sum(states.get(s, 0) for s in ("complete", "pruned", "fail"))
    found = [f"{finished} finished"]
    found += [f"{states['running']} running in other workers"] if states.get("running") else []
    found += [f"{states['waiting']} queued"] if states.get("waiting") else []
    return f"{'ran no trial' if states.get('waiting') else 'nothing left to run'} ({', '.join(found)})"


def _states(study: Any) -> dict[str, int]:
    """How many trials of the study are in each state (after this worker), read through the storage it was joined on."""
    states: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        states[t.state.name.lower()] = states.get(t.state.name.lower(), 0) + 1
    return states


def add_score(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "score",
        parents=[common],
        help="proxy scores of a list of architectures",
        description="Train each spec of a JSON list on the synthetic set and score it on the real validation split. "
        "Options also come from [search] (synthetic, space, seed, device, data_root) and [search.proxy] of --config.",
    )
    p.add_argument("--synthetic", type=nonempty, metavar="DIR", help="a synthetic set made by 'nasproxy distill'")
    from_config(p.add_argument("--space", type=nonempty, required=True, help="the space of the specs (nasproxy spaces)"), "search")
    p.add_argument(
        "--archs",
        type=nonempty,
        required=True,
        metavar="FILE",
        help="the architectures: a JSON list of specs (or of objects with a 'spec' key), a best.json, or a CSV with a 'spec' column",
    )
    from nas_proxy.search.config import SearchConfig

    option(p, "--seed", type=integer, field=(SearchConfig, "seed"))
    option(p, "--device", field=(SearchConfig, "device"))
    p.add_argument("--data-root", type=nonempty, metavar="DIR", help="where the real data is, if not where distill found it")
    add_quiet(p)
    add_proxy_options(p)
    p.set_defaults(func=cmd_score, objectives=None, needs=synthetic_needed)


def cmd_score(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nas_proxy.synthetic import read_meta

    c, _ = search_config(args, Config(args.config))
    read_meta(Path(c.synthetic))  # a path that is missing or not a set: refused before torch is imported (fix61c: 3.8 -> 0.2 CPU-s)
    from nas_proxy.search import score

    specs = _read_specs(args.archs, c.space)
    results = score(c.synthetic, c.space, specs, c.proxy, c.seed, c.device, c.data_root, progress=not args.quiet)
    if results.kept is None and results.reused < len(results):  # (all of them kept before: nothing lost)
        say(f"nasproxy score: finished architectures are not kept ({results.not_kept})", file=sys.stderr)
    if args.json:
        print_json([r.to_dict() for r in results])
    else:
        rows = [
            {
                "number": i,
                "values": [r.accuracy],
                "params": r.params,
                "flops": r.flops,
                "proxy_seconds": r.seconds["total"],
                "arch_id": r.arch_id,
                "spec": r.spec,
            }
            for i, r in enumerate(results)
        ]
        print_table(rows)
    return 0


def _read_specs(path: str, space_name: str) -> list[dict[str, Any] | str]:
    """The specs of ``--archs``, read as correlate and calibrate read theirs (:func:`~nas_proxy.correlate.archs.read_archs`:
    a JSON list, a best.json, or a CSV with a 'spec' column); before stop 47 score read JSON alone, and a CSV that
    correlate took was 'not valid JSON'. Their scores are not read here."""
    from nas_proxy.correlate.archs import read_archs
    from nas_proxy.spaces import get_space

    return [a.spec for a in read_archs(path, get_space(space_name))]


def summary_line(result: SearchResult) -> str:
    """The line a search ends with: its trials by state, the sampler's repeated proposals, the retries that hold no
    slot and the failed architectures queued again (trained here unless the command stopped first) said once each, in words, and its seconds."""
    counts = ", ".join(f"{n} {state}" for state, n in sorted(result.trials.items()) if state != "uncounted")
    words = (
        f"; {result.repeats} proposed an architecture already scored (answered from the study, not scored again)" if result.repeats else ""
    )
    if result.trials.get("uncounted"):
        words += (
            f"; {result.trials['uncounted']} uncounted (a dead worker's retry whose candidate another trial scored: no slot of the budget)"
        )
    if result.retried:  # fix55a: an earlier run's architectures that only failed, queued once more by this command
        n = len(result.retried)
        words += f"; {n} architecture{'s' if n > 1 else ''} that only failed before queued again{' (once each)' if n > 1 else ''}"
    return f"study {result.study}: {counts}{words} ({result.seconds:.0f} s)"
