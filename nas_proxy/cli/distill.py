"""``nasproxy distill``: a real dataset -> a synthetic set (table ``[distill]``: DistillConfig)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from nas_proxy import checks
from nas_proxy.cli.common import (
    Config,
    Subparsers,
    add_quiet,
    command_line,
    cuda_flags,
    default_of,
    from_config,
    off,
    option,
    path_shown,
    print_json,
    save_config,
    say,
    shell_word,
)
from nas_proxy.cli.soft_labels import add_soft_label_options, describe, soft_label_config
from nas_proxy.cli.types import finite_float, integer, nonempty
from nas_proxy.errors import InvalidArgumentError, shown
from nas_proxy.files import left_as_found, output_lock


def add_distill(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    from nas_proxy.distill import METHODS, DistillConfig
    from nas_proxy.distill.config import BATCHNORM_RULES as RULES
    from nas_proxy.distill.config import LAMBDA_MMD_MAX
    from nas_proxy.models.convnet_spec import NORMALIZATIONS
    from nas_proxy.protocols import ProxyConfig

    p = sub.add_parser(
        "distill",
        parents=[common],
        help="distil a dataset into a synthetic set",
        description="Distil a real dataset into a few synthetic images per class. Options also come from [distill] of --config.",
    )
    from_config(
        p.add_argument(
            "--dataset",
            type=nonempty,
            required=True,
            metavar="NAME",
            help="fashion-mnist, mnist, cifar10, cifar100, svhn, digits or imagefolder:PATH",
        ),
        "distill",
    )
    p.add_argument("--data-root", type=nonempty, metavar="DIR", help="directory with the dataset files")
    p.add_argument("--download", action="store_true", help="download the dataset into --data-root with torchvision (needs internet)")
    option(p, "--image-size", type=integer, help="image folders: side after resize", field=(DistillConfig, "image_size"))
    from_config(p.add_argument("--ipc", type=integer, required=True, help="synthetic images per class"), "distill")
    option(p, "--method", choices=METHODS.names(), field=(DistillConfig, "method"))
    option(p, "--iterations", type=integer, field=(DistillConfig, "iterations"), also=": the official code's; the paper's is 8000")
    option(p, "--batch-real", type=integer, help="real images per class per iteration", field=(DistillConfig, "batch_real"))
    p.add_argument("--image-lr", type=finite_float, help="SGD lr on the pixels (default: 1.0 for ipc <= 50, else 10; x100 with --nets)")
    p.add_argument(
        "--lambda",
        dest="lambda_mmd",
        type=finite_float,
        help=f"datadam: MMD weight, 0 to {LAMBDA_MMD_MAX:g} (above, MMD alone steers: --method dm) (default: 0.01 up to 32 px, else 0.02)",
    )
    option(
        p,
        "--attention-power",
        type=finite_float,
        help="datadam: p of the attention maps: official code 1 (measured best, RESULTS.md §19), paper 4",
        field=(DistillConfig, "attention_power"),
    )
    option(
        p,
        "--net-norm",
        choices=NORMALIZATIONS,
        help="distillation network norm: official DataDAM code batchnorm (measured best, RESULTS.md §19), paper instancenorm",
        field=(DistillConfig, "net_norm"),
        none="the method's own: datadam batchnorm, dm instancenorm",
    )
    p.add_argument(
        "--nets",
        metavar="SPACE",
        help="draw the distillation network from this search space (name or file) at every iteration, stratified "
        "over each dimension's values (default: the one ConvNet of --net-norm)",
    )
    option(
        p,
        "--batchnorm-stats",
        choices=RULES,
        field=(DistillConfig, "batchnorm_stats"),
        help="batch-norm networks: real = the synthetic batch uses the real batch's statistics (DC), own = each its own "
        "(official DataDAM code)",
        none="own with one network, as the official code; real with --nets",
    )
    option(
        p,
        "--real-per-class",
        type=integer,
        metavar="R",
        help="hybrid: R of the ipc images per class stay real",
        field=(DistillConfig, "real_per_class"),
    )
    p.add_argument(
        "--select-by",
        metavar="FILE",
        help="calibration architectures with ground truth (a ground-truth table CSV, or architectures with 'accuracy'): "
        "keep the set that ranks them best",
    )
    option(
        p, "--select-every", type=integer, metavar="N", help="iterations between selection scores", field=(DistillConfig, "select_every")
    )
    option(p, "--select-space", help="the space of the --select-by architectures", field=(DistillConfig, "select_space"))
    p.add_argument(
        "--select-epochs",
        type=integer,
        help=f"proxy epochs of each calibration training (default: the proxy's, {default_of(ProxyConfig, 'epochs')})",
    )
    p.add_argument("--select-archs", type=integer, metavar="N", help="score a seeded subset of N calibration architectures (default: all)")
    p.add_argument(
        "--select-max-mflops", type=finite_float, metavar="M", help="leave out calibration architectures above M forward MFLOPs per image"
    )
    option(p, "--init", choices=("real", "noise"), field=(DistillConfig, "init"))
    option(p, "--seed", type=integer, field=(DistillConfig, "seed"))
    option(p, "--split-seed", type=integer, help="seed of the held-out validation split", field=(DistillConfig, "split_seed"))
    option(p, "--val-fraction", type=finite_float, help="held-out validation fraction", field=(DistillConfig, "val_fraction"))
    option(p, "--device", help="auto, cpu or cuda[:N]", field=(DistillConfig, "device"))
    p.add_argument("--no-amp", action="store_true", help="no bf16 autocast on GPU")
    option(p, "--checkpoint-every", type=integer, field=(DistillConfig, "checkpoint_every"), also=" iterations")
    p.add_argument("--out", type=nonempty, required=True, metavar="DIR", help="output directory")
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--resume",
        action="store_true",
        help="continue a finished run in --out to more --iterations (an unfinished run of the same options continues without it)",
    )
    g.add_argument("--force", action="store_true", help="replace the run in --out")
    add_quiet(p)
    p.add_argument(
        "--distributed",
        action="store_true",
        help="one rank of 'torchrun --nproc-per-node N -m nas_proxy distill ...': distil this rank's block of classes, rank 0 merges",
    )
    p.add_argument(
        "--launch",
        type=integer,
        metavar="N",
        help="start N --distributed ranks on this machine (torchrun --standalone's launch); a rank that dies is said in one line",
    )
    from nas_proxy.distill.join import JOIN_SECONDS

    p.add_argument(
        "--join-timeout",
        type=finite_float,
        metavar="SECONDS",
        help=f"with --distributed or --launch: how long a rank waits for the others (and rank 0 at MASTER_ADDR:MASTER_PORT) "
        f"before it gives up in one line, exit 1 (default: {JOIN_SECONDS:g})",
    )
    add_soft_label_options(p)  # --soft-labels N and the teachers' options
    p.set_defaults(func=cmd_distill)


def cmd_distill(args: argparse.Namespace) -> int:
    from nas_proxy import configs
    from nas_proxy.distill import DistillConfig, distill

    file = Config(args.config)
    tbl = file.table("distill")
    config = configs.build(
        DistillConfig,
        tbl,
        file.where("distill"),
        dataset=args.dataset,
        data_root=args.data_root,
        image_size=args.image_size,
        ipc=args.ipc,
        method=args.method,
        iterations=args.iterations,
        batch_real=args.batch_real,
        image_lr=args.image_lr,
        lambda_mmd=args.lambda_mmd,
        attention_power=args.attention_power,
        net_norm=args.net_norm,
        nets=args.nets,
        batchnorm_stats=args.batchnorm_stats,
        real_per_class=args.real_per_class,
        select_by=args.select_by,
        select_every=args.select_every,
        select_space=args.select_space,
        select_epochs=args.select_epochs,
        select_archs=args.select_archs,
        select_max_mflops=args.select_max_mflops,
        init=args.init,
        seed=args.seed,
        split_seed=args.split_seed,
        val_fraction=args.val_fraction,
        device=args.device,
        amp=off(args.no_amp),
        checkpoint_every=args.checkpoint_every,
        soft_labels=soft_label_config(args, file),
    )
    cuda_flags(args, config.device)
    args.teachers = config.soft_labels.teachers > 0  # the line of a Ctrl-C says they are kept only when there are some
    if args.join_timeout is not None:  # checked before a download, and before the launch (not once per rank)
        if args.launch is None and not args.distributed:
            raise InvalidArgumentError(
                "--join-timeout is how long a rank of a launch waits for the others: add --distributed or --launch N, or drop it"
            )
        checks.number("--join-timeout", args.join_timeout, 0, low_open=True)
    # another command's folder (a search's, a correlation's: its config.toml) is refused, --force or not: before probe51,
    # 'holds no nasproxy run; choose a new directory or pass --force', and with --force the set was written among its files
    # and its config.toml replaced by distill's
    try:
        folder = Path(args.out).is_dir()
    except OSError:  # a name too long (before stop 51's fix an internal error): refused below, in distill's words
        folder = False
    if folder:  # a file there is refused below, in distill's words
        configs.check_saved("--out", args.out, "distill")
    from nas_proxy.data import output_outside

    output_outside("--out", config.dataset, args.out)  # (probe57) not inside the image folder it reads: every path's, launch's too
    if args.download:
        from nas_proxy.data import load_dataset

        load_dataset(config.dataset, config.data_root, download=True, image_size=config.image_size)
    if args.launch is not None:
        if args.distributed:
            raise InvalidArgumentError("--launch N starts N --distributed ranks itself: drop --distributed")
        from nas_proxy.distill.launch import launch
        from nas_proxy.distill.sharded import check_launch, shard_dirs

        out = Path(args.out)
        if args.launch >= 1:  # (launch refuses fewer) what every rank would refuse, refused here before any starts
            check_launch(config, out, args.launch, args.resume, args.force)
        with left_as_found(shard_dirs(out, max(args.launch, 0))):  # the ranks' folders, where all of them refused
            launch(args.launch, _without_launch(args.argv))
        return 0  # rank 0 printed the merged artifact's lines
    if args.distributed:
        from nas_proxy.distill.sharded import distill_sharded

        join = {} if args.join_timeout is None else {"join_timeout": args.join_timeout}  # None: the library's default
        sharded = distill_sharded(config, args.out, args.resume, args.force, not args.quiet, command=command_line(args), **join)
        if sharded is None:
            return 0  # ranks other than 0: rank 0 reports the merged artifact
        result = sharded
        save_config(result.path, {"distill": config})
    else:
        _refuse_torchrun_without_distributed()
        rank = None
        if config.select_by is not None:  # its module imports scipy.stats (~0.8 s): only when selecting
            from nas_proxy.calibrate.selection import ranker

            rank = ranker(config)
        # refused before the lock, which makes a missing --out: inside a set's folder that would change the set
        checks.not_inside_a_synthetic_set("--out", args.out)
        with output_lock(args.out):  # --distributed: each rank locks its shard, and rank 0 this --out (sharded.py)
            result = distill(
                config,
                args.out,
                resume=args.resume,
                force=args.force,
                progress=not args.quiet,
                command=command_line(args),
                ranker=rank,
            )
            save_config(result.path, {"distill": config})
    if args.json:
        print_json(result.meta)
    else:
        m = result.meta
        loss = m["loss"]
        change = f"; loss {loss['first']['loss']:.4g} -> {loss['last']['loss']:.4g}" if loss.get("windows") else ""
        say(
            f"{m['method']}: {m['num_images']} images ({m['ipc']} per class) of {m['dataset']['name']}, {m['iterations_done']} iterations in {m['seconds']:.1f} s on {m['device']}{change}"
        )
        if "selection" in m:
            s = m["selection"]
            rho = "undefined" if s["chosen_spearman"] is None else f"{s['chosen_spearman']:.3f}"  # before stop 46: 17 digits
            say(
                f"selection: kept iteration {s['chosen_iteration']} (Spearman {rho} on {len(s['calibration'])} calibration "
                f"architectures; {len(s['scored'])} scored in {s['seconds']:.1f} s)"
            )
        if "soft_labels" in m:
            say(*describe(m))
        say(
            f"wrote {path_shown(result.path)}/ (synthetic.safetensors, meta.json, grid.png, config.toml); next: nasproxy evaluate {shell_word(str(result.path), path=True)}"
        )
    return 0


def _refuse_torchrun_without_distributed() -> None:
    world = os.environ.get("WORLD_SIZE", "1").strip() or "1"
    try:  # plain ASCII digits: str.isdigit takes '²', which int() refuses
        processes = checks.parse_int(world)
    except ValueError:
        processes = -1
    if processes < 1:  # before branch probe46 a WORLD_SIZE of 0 (no process) was taken for a run of one
        raise InvalidArgumentError(f"WORLD_SIZE is {shown(world)}, not a number of processes; unset it, or launch with torchrun")
    if processes > 1:
        raise InvalidArgumentError(
            f"WORLD_SIZE is {os.environ['WORLD_SIZE']} (a torchrun launch) but --distributed is missing: "
            "every process would distil all classes into the same --out; add --distributed"
        )


def _without_launch(argv: list[str]) -> list[str]:
    """The command line the ranks run: ``argv`` (as main() parsed it) without ``--launch N`` or ``--launch=N`` (the
    parser takes no abbreviation of it since stop 54: see :class:`~nas_proxy.cli.common.Parser`)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a.partition("=")[0] == "--launch":
            skip = "=" not in a
        else:
            out.append(a)
    return out
