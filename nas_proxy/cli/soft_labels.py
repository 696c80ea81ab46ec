"""``nasproxy soft-labels``: label a finished synthetic set with teachers' soft labels (table
``[distill.soft_labels]``: SoftLabelConfig), and the same options on ``nasproxy distill``."""

from __future__ import annotations

import argparse
from typing import Any

from nas_proxy import checks
from nas_proxy.cli.common import Config, Subparsers, add_quiet, default_of, option, path_shown, print_json, say, shell_word
from nas_proxy.cli.types import finite_float, integer, nonempty
from nas_proxy.files import output_lock


def add_soft_label_options(p: argparse.ArgumentParser) -> None:
    """The SoftLabelConfig flags (not given: the config file's ``[distill.soft_labels]``, else the default)."""
    from nas_proxy.distill.config import DEFAULT_TEACHER_SPACE as DEFAULT_SPACE
    from nas_proxy.distill.config import SoftLabelConfig

    g = p.add_argument_group("soft labels (teachers trained on the real training split)")
    option(
        g,
        "--soft-labels",
        "--teachers",
        dest="teachers",
        type=integer,
        metavar="N",
        help="label every image with the mean softmax of N teachers",
        field=(SoftLabelConfig, "teachers"),
        also=": none",
    )
    g.add_argument(
        "--teacher-space",
        metavar="SPACE",
        help=f"space the teachers are drawn from, stratified (default: the distillation's, else {DEFAULT_SPACE})",
    )
    option(g, "--teacher-epochs", type=integer, metavar="E", help="each teacher's epochs", field=(SoftLabelConfig, "epochs"))
    g.add_argument(
        "--teacher-images",
        type=integer,
        metavar="M",
        help="real training images per teacher, stratified (default: the whole training split)",
    )
    option(g, "--temperature", type=finite_float, help="labels are softmax(logits / T)", field=(SoftLabelConfig, "temperature"))
    g.add_argument("--teacher-dir", metavar="DIR", help="cache of trained teachers, shareable between sets (default: SET/teachers)")


def soft_label_config(args: argparse.Namespace, file: Config) -> Any:
    """SoftLabelConfig from its defaults, then ``[distill.soft_labels]`` of ``--config``, then the flags given."""
    from nas_proxy import configs
    from nas_proxy.distill.config import SoftLabelConfig

    return configs.build(
        SoftLabelConfig,
        file.table("distill.soft_labels"),
        file.where("distill.soft_labels"),
        teachers=args.teachers,
        space=args.teacher_space,
        epochs=args.teacher_epochs,
        images=args.teacher_images,
        temperature=args.temperature,
        cache=args.teacher_dir,
    )


def add_soft_labels(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "soft-labels",
        parents=[common],
        help="add teachers' soft labels to a finished synthetic set",
        description="Train N teachers drawn from a search space on the real training split (never validation or test) and store "
        "their mean softmax on every image of a synthetic set; proxies then train on these labels (--hard-labels: not). "
        "Trained teachers are cached: the same command resumes after a kill. Options also come from [distill.soft_labels] of --config.",
    )
    p.add_argument("path", metavar="DIR", help="a synthetic set made by 'nasproxy distill'")
    p.add_argument("--out", type=nonempty, metavar="DIR", help="write a labelled copy there (default: label DIR in place)")
    p.add_argument("--seed", type=integer, help="draws the teachers, their data and initialisation (default: the set's seed)")
    from nas_proxy.distill.config import DistillConfig

    option(p, "--device", field=(DistillConfig, "device"), help="auto, cpu or cuda[:N]")
    p.add_argument("--data-root", type=nonempty, metavar="DIR", help="where the real data is, if not where distill found it")
    add_quiet(p)
    add_soft_label_options(p)
    p.set_defaults(func=cmd_soft_labels)


def cmd_soft_labels(args: argparse.Namespace) -> int:
    from nas_proxy.distill.config import DistillConfig
    from nas_proxy.distill.soft_labels import add_soft_labels as label_set

    file = Config(args.config)
    config = soft_label_config(args, file)
    device = args.device or file.table("distill").get("device") or default_of(DistillConfig, "device")  # flag > file > default
    # the set labelled (in place: it must be there); --teacher-dir is a cache that several sets may share
    if args.out is not None:  # a copy in a set's folder (its own included) would be lost or copied with that set, as distill's
        checks.output_path("--out", args.out)  # a link loop: before probe45, 'internal error: RuntimeError: Symlink loop'
        checks.not_inside_a_synthetic_set("--out", args.out)
    with output_lock(args.out or args.path, make=args.out is not None):
        meta = label_set(args.path, config, args.out, args.seed, device, args.data_root, progress=not args.quiet)
    if args.json:
        print_json(meta)
        return 0
    say(*describe(meta))
    say(
        f"wrote {path_shown(args.out or args.path)}/; next: nasproxy search --synthetic {shell_word(str(args.out or args.path), path=True)} ..."
    )
    return 0


def describe(meta: dict[str, Any]) -> list[str]:
    """The teachers of a labelled set's ``meta.json``, one line each, then what the labels cost."""
    r = meta["soft_labels"]
    lines = [
        f"soft labels of {meta['num_images']} images from {len(r['members'])} teachers of {r['space']} ({r['train_images']} training images each):"
    ]
    for m in r["members"]:
        spec = ",".join(f"{k}={v}" for k, v in m["spec"].items() if k != "family")
        notes = [n for n, on in (("cached", m["cached"]), ("left out: near chance", not m.get("used", True))) if on]
        lines.append(f"  {spec}: validation {m['val_accuracy']:.2f} %, {m['seconds']:.1f} s" + (f" ({'; '.join(notes)})" if notes else ""))
    lines.append(
        f"top soft class = label on {100 * r['agreement']:.1f} % of the images, mean top probability {r['mean_top_probability']:.3f}; "
        f"{r['seconds']:.1f} s of teachers ({r['seconds_this_run']:.1f} s this run) on {r['device']}"
    )
    return lines
