"""``nasproxy correlate``: proxies against full-data training (tables ``[correlate]``,
``[correlate.ground_truth]``, ``[correlate.proxy]``)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from nas_proxy import checks
from nas_proxy.checks import finite_float, integer, nonempty
from nas_proxy.cli.common import Config, ProgressBars, Subparsers, add_quiet, print_json, print_verdict, save_config
from nas_proxy.cli.search import add_proxy_options, proxy_config

# CorrelateConfig fields that `nasproxy correlate` takes from the synthetic sets (or the study), not from a file
NOT_FROM_FILE = ("split_seed", "val_fraction", "zero_cost_batch")
# [correlate] key -> the flag's destination, where the file's value is written when the flag is not given
FLAG_OF = {
    "space": "space",
    "synthetic": "synthetic",
    "dataset": "dataset",
    "data_root": "data_root",
    "n_archs": "n_archs",
    "ceiling": "ceiling",
    "gt_storage": "gt_storage",
    "workers": "workers",
    "n_boot": "bootstrap",
    "seed": "seed",
    "device": "device",
    "promote": "promote",
}


def add_correlate(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    from nas_proxy.configs import CorrelateBudget
    from nas_proxy.protocols import GroundTruthConfig

    d = GroundTruthConfig()
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
        "--synthetic", type=nonempty, nargs="*", default=None, metavar="DIR", help="synthetic sets to compare (default: the study's)"
    )
    p.add_argument("--dataset", type=nonempty, help="the real data, when no synthetic set is given")
    p.add_argument("--data-root", type=nonempty, help="where the real data is, if not where distill found it")
    p.add_argument("--proxies", help="comma-separated subset of the proxies (default: all available)")
    p.add_argument("--no-random-subset", action="store_true", help="do not add a random real subset of the same size")
    p.add_argument("--n-archs", type=integer, help=f"architectures from the study or the space (default {CorrelateBudget.n_archs})")
    p.add_argument("--full-epochs", type=integer, help=f"ground-truth epochs (default {d.epochs})")
    p.add_argument("--full-lr", type=finite_float, help=f"default {d.lr}")
    p.add_argument("--full-batch-size", type=integer, help=f"default {d.batch_size}")
    p.add_argument("--full-images", type=integer, help="train the ground truth on this many training images (default: all)")
    p.add_argument("--full-augment", action="store_true", help="DSA augmentation for the ground truth")
    p.add_argument("--early", help=f"early-stopping points in epochs (default {','.join(f'{f:g}' for f in d.early)})")
    p.add_argument("--ceiling", type=integer, help="architectures trained with a second seed (default: all)")
    p.add_argument(
        "--gt-storage",
        type=nonempty,
        help="storage of the ground-truth study (share it between machines; default: with --study, the study's storage, else a journal under studies/)",
    )
    p.add_argument("--workers", type=integer, help="ground-truth processes on this machine (default 1)")
    p.add_argument("--bootstrap", type=integer, help="bootstrap resamples for the intervals (default 1000)")
    p.add_argument(
        "--promote", type=integer, metavar="K", help="report 'proxy + promote K': the proxy's top K picked by validation (default 5)"
    )
    p.add_argument("--seed", type=integer, help="default 0: with --study, the study's seed")
    p.add_argument("--device", help="default auto")
    p.add_argument("--out", type=nonempty, required=True, metavar="DIR", help="where the report, tables and config.toml go")
    add_quiet(p)
    add_proxy_options(p)
    p.set_defaults(func=cmd_correlate)


def resolve(args: argparse.Namespace, file: Config) -> dict[str, Any]:
    """Fill the options not given as flags from the config file, then from the defaults (in ``args``,
    as ``correlate_command`` reads them); the resolved tables."""
    from nas_proxy import configs
    from nas_proxy.calibrate.cli_args import proxy_given
    from nas_proxy.correlate import CorrelateConfig, GroundTruthConfig
    from nas_proxy.correlate.command import early_points

    tbl, where = file.table("correlate"), file.where("correlate")
    configs.check_keys(where, tbl, configs.fields(CorrelateConfig, configs.CorrelateBudget) - set(NOT_FROM_FILE))
    given = {**configs.values(CorrelateConfig, tbl, where), **configs.values(configs.CorrelateBudget, tbl, where)}
    defaults = {f.name: f.default for f in dataclasses.fields(CorrelateConfig) if f.default is not dataclasses.MISSING}
    defaults.update(configs.plain(configs.CorrelateBudget()))
    for key, dest in FLAG_OF.items():
        if getattr(args, dest) is None:  # not typed (the flags default to None): the file's, else the default
            setattr(args, dest, given.get(key, None if key == "seed" else defaults.get(key)))  # seed None: the study's
    if args.proxies is not None:
        args.proxies = checks.items("--proxies", args.proxies)
    elif given.get("proxies") is not None:
        args.proxies = given["proxies"]
    if not args.no_random_subset:
        args.no_random_subset = not given.get("random_subset", True)
    gt = configs.build(
        GroundTruthConfig,
        file.table("correlate.ground_truth"),
        file.where("correlate.ground_truth"),
        epochs=args.full_epochs,
        lr=args.full_lr,
        batch_size=args.full_batch_size,
        images=args.full_images,
        augment=True if args.full_augment else None,
    )
    args.full_epochs, args.full_lr, args.full_batch_size, args.full_images, args.full_augment = (
        gt.epochs,
        gt.lr,
        gt.batch_size,
        gt.images,
        gt.augment,
    )
    if args.early is not None:
        args.early = early_points(args.early)
    elif "early" in file.table("correlate.ground_truth"):  # given in the file: checked as given, not trimmed
        args.early = gt.early
    proxy_table = file.table("correlate.proxy")
    proxy = proxy_config(args, proxy_table, file.where("correlate.proxy"))
    args.proxy_given = frozenset(proxy_given(args) | set(proxy_table) | profile_fields(args))
    resolved = {k: getattr(args, dest) for k, dest in FLAG_OF.items()}
    resolved.update(proxies=args.proxies, random_subset=not args.no_random_subset)
    return {"correlate": {**resolved, "ground_truth": configs.plain(gt), "proxy": proxy}, "proxy": proxy}


def profile_fields(args: argparse.Namespace) -> set[str]:
    """The ProxyConfig fields ``--proxy-profile`` sets (chosen on purpose, like a flag typed)."""
    if not getattr(args, "proxy_profile", None):
        return set()
    from nas_proxy.profile import read_profile

    return set(read_profile(args.proxy_profile).proxy)


def request(args: argparse.Namespace, proxy: Any) -> Any:
    """The typed request of a resolved command line (``resolve`` filled what no flag gave)."""
    from pathlib import Path

    from nas_proxy.correlate import CorrelateRequest, GroundTruthConfig

    return CorrelateRequest(
        out=Path(args.out),
        study=args.study,
        archs=args.archs,
        storage=args.storage,
        space=args.space,
        synthetic=args.synthetic,
        dataset=args.dataset,
        data_root=args.data_root,
        proxies=args.proxies,
        random_subset=not args.no_random_subset,
        n_archs=args.n_archs,
        ground_truth=GroundTruthConfig(
            epochs=args.full_epochs, lr=args.full_lr, batch_size=args.full_batch_size, augment=args.full_augment, images=args.full_images
        ),
        early=None if args.early is None else tuple(args.early),
        ceiling=args.ceiling,
        gt_storage=args.gt_storage,
        workers=args.workers,
        n_boot=args.bootstrap,
        seed=args.seed,
        device=args.device,
        promote=args.promote,
        proxy=proxy,
        proxy_given=args.proxy_given,
    )


def cmd_correlate(args: argparse.Namespace) -> int:
    from nas_proxy.correlate import correlate_command

    tables = resolve(args, Config(args.config))
    with ProgressBars() as bars:
        result = correlate_command(request(args, tables.pop("proxy")), None if args.quiet else bars.on_progress)
    used = tables["correlate"]  # what ran, where the study or the defaults decided it
    used.update(seed=result.facts["seed"], proxy={k: v for k, v in result.facts["proxy_training"].items() if k != "seed"})
    used["ground_truth"]["early"] = list(result.facts["ground_truth"]["early"])
    save_config(result.out, tables)
    if args.json:
        print_json(result.to_dict())
        return 0
    from nas_proxy.correlate.report import summary_lines

    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print("\n".join(summary_lines(result)))
    print_verdict(result)
    print(f"report: {result.out / 'report.html'}  ({result.out / 'report.md'}, results.csv, results.json, config.toml)")
    return 0
