"""``nasproxy correlate``: proxies against full-data training (tables ``[correlate]``,
``[correlate.ground_truth]``, ``[correlate.proxy]``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from nas_proxy import checks
from nas_proxy.cli.common import (
    Config,
    ProgressBars,
    Subparsers,
    add_quiet,
    cuda_flags,
    off,
    option,
    path_shown,
    print_json,
    print_verdict,
    save_config,
    say,
)
from nas_proxy.cli.proxy_options import add_proxy_options, proxy_config
from nas_proxy.cli.types import finite_float, integer, nonempty
from nas_proxy.files import output_lock


def add_correlate(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    from nas_proxy.configs import CorrelateBudget
    from nas_proxy.correlate.config import N_BOOT_MAX, N_BOOT_MIN, CorrelateConfig
    from nas_proxy.protocols import GroundTruthConfig

    p = sub.add_parser(
        "correlate",
        parents=[common],
        help="rank correlation of the proxies with full-data training",
        description="Train architectures on the real training split (the ground truth, scored on the test set) and "
        "compare how every proxy ranks them: synthetic sets, a random real subset, early stopping, training-free scores. "
        "Options also come from [correlate], [correlate.ground_truth] and [correlate.proxy] of --config.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--study", help="take the architectures from this search study (its best, then stratified)")
    src.add_argument("--archs", type=nonempty, metavar="FILE", help="JSON/CSV list of specs, optionally with full-data 'accuracy' (%%)")
    src.add_argument("--sample", action="store_true", help="draw --n-archs architectures from --space at random")
    p.add_argument("--storage", type=nonempty, help="the search study's storage (default: studies/STUDY/journal.log)")
    p.add_argument("--space", type=nonempty, help="the space of the architectures (default: the study's)")
    p.add_argument(
        "--synthetic",
        type=nonempty,
        nargs="*",
        action="extend",  # given twice, both lists count (before probe47 the last replaced the first, silently)
        default=None,
        metavar="DIR",
        help="synthetic sets to compare (default: the study's)",
    )
    p.add_argument("--dataset", type=nonempty, metavar="NAME", help="the real data, when no synthetic set is given")
    p.add_argument("--data-root", type=nonempty, metavar="DIR", help="where the real data is, if not where distill found it")
    p.add_argument("--proxies", help="comma-separated subset of the proxies (default: all available)")
    p.add_argument("--no-random-subset", action="store_true", help="do not add a random real subset of the same size")
    option(p, "--n-archs", type=integer, field=(CorrelateBudget, "n_archs"), help="architectures from the study or the space")
    option(p, "--full-epochs", type=integer, field=(GroundTruthConfig, "epochs"), help="ground-truth epochs")
    option(p, "--full-lr", type=finite_float, field=(GroundTruthConfig, "lr"))
    option(p, "--full-batch-size", type=integer, field=(GroundTruthConfig, "batch_size"))
    option(
        p,
        "--full-images",
        type=integer,
        field=(GroundTruthConfig, "images"),
        none="all",
        help="train the ground truth on this many training images",
    )
    p.add_argument("--full-augment", action="store_true", help="DSA augmentation for the ground truth")
    option(p, "--early", field=(GroundTruthConfig, "early"), help="early-stopping points in epochs")
    option(p, "--ceiling", type=integer, field=(CorrelateConfig, "ceiling"), none="all", help="architectures trained with a second seed")
    option(
        p,
        "--gt-storage",
        type=nonempty,
        field=(CorrelateConfig, "gt_storage"),
        none="with --study, the study's storage, else a journal under studies/",
        help="storage of the ground-truth study, to share it between machines",
    )
    option(p, "--workers", type=integer, field=(CorrelateConfig, "workers"), help="ground-truth processes on this machine")
    option(
        p,
        "--n-boot",
        "--bootstrap",
        type=integer,
        dest="n_boot",
        field=(CorrelateConfig, "n_boot"),
        help=f"bootstrap resamples for the intervals, {N_BOOT_MIN} to {N_BOOT_MAX}; --bootstrap is its older name",
    )
    option(
        p,
        "--promote",
        type=integer,
        metavar="K",
        field=(CorrelateConfig, "promote"),
        help="report 'proxy + promote K': the proxy's top K picked by validation",
    )
    option(p, "--seed", type=integer, field=(CorrelateConfig, "seed"), also="; with --study, the study's seed")
    option(p, "--device", field=(CorrelateConfig, "device"))
    p.add_argument("--out", type=nonempty, required=True, metavar="DIR", help="where the report, tables and config.toml go")
    add_quiet(p)
    add_proxy_options(p)
    p.set_defaults(func=cmd_correlate)


def resolve(args: argparse.Namespace, file: Config) -> Any:
    """The request of a command line: each option from its flag if typed, else the config file's
    tables, else its dataclass default (:func:`nas_proxy.configs.build`); what was set on purpose
    is recorded in the request's ``given`` and ``proxy_given``."""
    from pathlib import Path

    from nas_proxy import configs
    from nas_proxy.cli.proxy_options import proxy_given
    from nas_proxy.correlate import CorrelateConfig, GroundTruthConfig
    from nas_proxy.report import CorrelateRequest
    from nas_proxy.report.command import early_points

    tbl, where = file.table("correlate"), file.where("correlate")
    budget_keys = configs.fields(configs.CorrelateBudget)
    configs.check_keys(
        where, tbl, configs.fields(CorrelateConfig) - set(configs.CORRELATE_NOT_FROM_FILE) | budget_keys
    )  # sub-tables included
    gt_table = file.table("correlate.ground_truth")
    ground_truth = configs.build(
        GroundTruthConfig,
        gt_table,
        file.where("correlate.ground_truth"),
        epochs=args.full_epochs,
        lr=args.full_lr,
        batch_size=args.full_batch_size,
        images=args.full_images,
        augment=True if args.full_augment else None,
        early=None if args.early is None else early_points(args.early),
    )
    proxy_table = file.table("correlate.proxy")
    proxy = proxy_config(args, proxy_table, file.where("correlate.proxy"))
    flags = {
        "space": args.space,
        "synthetic": args.synthetic,
        "dataset": args.dataset,
        "data_root": args.data_root,
        "proxies": None if args.proxies is None else checks.items("--proxies", args.proxies),
        "random_subset": off(args.no_random_subset),
        "ceiling": args.ceiling,
        "gt_storage": args.gt_storage,
        "workers": args.workers,
        "n_boot": args.n_boot,
        "seed": args.seed,
        "device": args.device,
        "promote": args.promote,
    }
    study_space = {} if args.space is not None or "space" in tbl else {"space": ""}  # space "": the study's (not a file's: refused there)
    config = configs.build(
        CorrelateConfig,
        {k: v for k, v in tbl.items() if k not in budget_keys},
        where,
        ground_truth=ground_truth,
        proxy=proxy,
        **{**flags, **study_space},
    )
    cuda_flags(args, config.device)
    budget = configs.build(configs.CorrelateBudget, {k: v for k, v in tbl.items() if k in budget_keys}, where, n_archs=args.n_archs)
    # n_archs only when typed: idle with --archs, refused there; a --config's is not (config.toml writes n_archs for every run)
    given = {k for k, v in flags.items() if v is not None} | (set(tbl) - budget_keys)
    if args.early is not None or "early" in gt_table:
        given.add("early")
    if args.n_archs is not None:
        given.add("n_archs")
    return CorrelateRequest(
        out=Path(args.out),
        config=config,
        study=args.study,
        archs=args.archs,
        storage=args.storage,
        budget=budget,
        given=frozenset(given),
        proxy_given=frozenset(proxy_given(args) | set(proxy_table) | profile_fields(args)),
        proxy_asked=frozenset(proxy_given(args) | set(proxy_table)),
        proxy_profile=args.proxy_profile,
    )


def profile_fields(args: argparse.Namespace) -> set[str]:
    """The ProxyConfig fields ``--proxy-profile`` sets (chosen on purpose, like a flag typed)."""
    if not getattr(args, "proxy_profile", None):
        return set()
    from nas_proxy.profile import read_profile

    return set(read_profile(args.proxy_profile).proxy)


def cmd_correlate(args: argparse.Namespace) -> int:
    from nas_proxy.report import correlate_command
    from nas_proxy.report.command import saved_tables

    r = resolve(args, Config(args.config))
    # one correlate at a time on --out, as distill, train and soft-labels: before probe47 two at once both ran, exit 0, the
    # last to finish replacing the other's report; refused before the lock, which makes a missing --out (distill's order)
    checks.not_inside_a_synthetic_set("--out", r.out)
    with output_lock(r.out), ProgressBars() as bars:
        result = correlate_command(r, None if args.quiet else bars.on_progress)
        save_config(result.out, saved_tables(result, "promote" in r.given, r.budget))
    if args.json:
        print_json(result.to_dict())
        return 0
    from nas_proxy.report.render import summary_lines

    for w in result.warnings:
        say(f"warning: {w}", file=sys.stderr)
    say(*summary_lines(result))
    print_verdict(result)
    say(
        f"report: {path_shown(result.out / 'report.html')}  ({path_shown(result.out / 'report.md')}, results.csv, results.json, config.toml)"
    )
    return 0
