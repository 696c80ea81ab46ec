"""``nasproxy train``: a search's winner trained on all the training data, tested once, exported (table ``[train]``)."""

from __future__ import annotations

import argparse

from nas_proxy.cli.common import Config, Subparsers, add_quiet, command_line, option, path_shown, print_json, say
from nas_proxy.cli.types import integer, nonempty
from nas_proxy.files import output_lock


def add_train(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    from nas_proxy.protocols import TRAINING_PROTOCOLS
    from nas_proxy.search.config import TrainBestConfig

    p = sub.add_parser(
        "train",
        parents=[common],
        help="train a search's best architecture on all the training data and export it",
        description="Train the architecture a search ranked first (or --rank N) on the whole training set (training and "
        "validation splits together) with the ground-truth protocol (SGD, lr 0.01, batch 256, lr x0.1 at half way) or --protocol fast, "
        "report its test accuracy once, and write DIR/model.safetensors, DIR/model.pt (TorchScript, where the family "
        "allows) and DIR/spec.json (written last). Load it with nas_proxy.load_trained(DIR). Options also come from "
        "[train] of --config.",
    )
    p.add_argument("best", metavar="BEST", type=nonempty, help="a search's best.json, or the folder holding it (studies/STUDY)")
    p.add_argument("--out", metavar="DIR", type=nonempty, required=True, help="the folder to write the model into")
    c = TrainBestConfig
    option(p, "--epochs", type=integer, field=(c, "epochs"), help="epochs on the whole training set", also=", the ground truth's")
    option(
        p,
        "--protocol",
        choices=TRAINING_PROTOCOLS.names(),
        field=(c, "protocol"),
        help="how it is trained (as search's --promote-protocol)",
    )
    option(p, "--rank", type=integer, field=(c, "rank"), help="which architecture of best.json's list: 1 is the search's pick")
    option(p, "--seed", type=integer, field=(c, "seed"), help="seeds the initialisation and batch order")
    option(p, "--device", field=(c, "device"), help="auto (CUDA when present), cpu, cuda, cuda:N")
    p.add_argument("--data-root", metavar="DIR", type=nonempty, help="where the real data is, if not where distill found it")
    add_quiet(p, "accepted as by every command; this one draws no progress")  # before branch probe41, refused as unknown
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    from nas_proxy import configs
    from nas_proxy.search.config import TrainBestConfig
    from nas_proxy.search.winner import train_best

    file = Config(args.config)
    options = configs.build(
        TrainBestConfig,
        file.table("train"),
        file.where("train"),
        epochs=args.epochs,
        protocol=args.protocol,
        rank=args.rank,
        seed=args.seed,
        device=args.device,
        data_root=args.data_root,
    )
    with output_lock(args.out):
        result = train_best(args.best, args.out, options, command=command_line(args))
    s = result.spec
    if args.json:
        print_json({**result.to_dict(), "config": configs.plain({"train": options})})
        return 0
    if result.reused:
        say(f"{path_shown(args.out)} already holds this training (nothing trained again)")
    elif result.kept_weights:
        say(f"{path_shown(args.out)} already holds this training's weights (not trained again); writing the rest")
    epochs = s["protocol"]["epochs"]
    say(
        f"{s['arch_id']} ({s['family']}, {s['params']:,} parameters): test accuracy {s['test_accuracy']:.2f} % on {s['test_images']} images "
        f"after {epochs} epoch{'s' if epochs != 1 else ''} on {s['train_images']} ({s['train_seconds']:.0f} s, {s['device']})"
    )
    files = ", ".join(s["files"].values())
    say(f"wrote {path_shown(args.out)}: {files}, spec.json" + ("" if "torchscript" in s["files"] else f" ({s['torchscript']})"))
    say(f"load it:  nas_proxy.load_trained({args.out!r})")  # repr: Python reads back every escape
    return 0
