"""``nasproxy evaluate``: the standard protocol on a synthetic set (tables ``[evaluate]``, ``[evaluate.train]``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nas_proxy.cli.common import Config, Subparsers, add_quiet, off, option, print_json, say
from nas_proxy.cli.types import finite_float, integer, nonempty
from nas_proxy.protocols import EvaluateOptions, TrainConfig


def add_evaluate(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "evaluate",
        parents=[common],
        help="train fresh networks on a synthetic set, test on real data",
        description="The standard protocol: fresh ConvNets trained on the synthetic set only, scored on the real test set. "
        "Options also come from [evaluate] and [evaluate.train] of --config.",
    )
    p.add_argument("path", metavar="DIR", type=nonempty, help="a synthetic set made by 'nasproxy distill'")
    option(p, "--runs", type=integer, help="networks to train", field=(EvaluateOptions, "runs"))
    option(p, "--epochs", type=integer, field=(TrainConfig, "epochs"))
    p.add_argument("--model", type=nonempty, help="ConvNet spec, e.g. depth=4,width=64,normalization=batchnorm (default: ConvNet-3)")
    option(p, "--lr", type=finite_float, field=(TrainConfig, "lr"))
    option(p, "--batch-size", type=integer, field=(TrainConfig, "batch_size"))
    p.add_argument("--no-dsa", action="store_true", help="train without DSA augmentation")
    p.add_argument("--hard-labels", action="store_true", default=None, help="train on the class indices of a set with soft labels")
    option(p, "--seed", type=integer, field=(EvaluateOptions, "seed"))
    option(p, "--device", field=(EvaluateOptions, "device"))
    p.add_argument("--data-root", type=nonempty, metavar="DIR", help="where the real data is, if not where distill found it")
    add_quiet(p)
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from nas_proxy import configs

    file = Config(args.config)
    tbl = file.table("evaluate")
    train = configs.build(
        TrainConfig,
        file.table("evaluate.train"),
        file.where("evaluate.train"),
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        dsa=off(args.no_dsa),
    )
    o = configs.build(
        EvaluateOptions,
        tbl,
        file.where("evaluate"),
        runs=args.runs,
        model=args.model,
        seed=args.seed,
        device=args.device,
        data_root=args.data_root,
        train=train,
        hard_labels=args.hard_labels,
    )
    from nas_proxy.models.convnet_spec import ConvNetSpec
    from nas_proxy.synthetic import read_meta

    o.validate()  # the options first, as before fix60's read_meta: a bad --runs or --model is said whatever the path
    if o.model:
        ConvNetSpec.parse(o.model)
    read_meta(Path(args.path))  # a path that is missing or not a set: refused before torch is imported (fix60: ~2 CPU-s)
    from nas_proxy.evaluate import evaluate

    result = evaluate(
        args.path,
        runs=o.runs,
        model=o.model or None,
        train=o.train,
        seed=o.seed,
        device=o.device,
        data_root=o.data_root,
        progress=not args.quiet,
        hard_labels=o.hard_labels,
    )
    if result.kept is None and result.reused < len(result.accuracies):  # (all of them kept before: nothing lost)
        say(f"nasproxy evaluate: finished networks are not kept ({result.not_kept})", file=sys.stderr)
    if args.json:
        print_json({**result.to_dict(), "config": configs.plain({"evaluate": o})})
    else:
        s = result.synthetic
        reused = f", {result.reused} of them kept from an earlier call" if result.reused else ""
        say(
            f"{s['dataset']} {s['method']} ipc={s['ipc']}{' (soft labels)' if s['soft_labels'] else ''}: test accuracy {result.mean:.2f} +- {result.std:.2f} % over {len(result.accuracies)} runs "
            f"({o.train.epochs} epochs, {result.model}, {result.device}, {result.seconds:.0f} s{reused})"
        )
    return 0
