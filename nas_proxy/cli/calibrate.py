"""``nasproxy calibrate``: choose the proxy protocol on architectures with ground truth (the
library is :mod:`nas_proxy.calibrate`; ``--proxy-profile`` is in :mod:`nas_proxy.cli.proxy_options`)."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from nas_proxy import checks
from nas_proxy.cli.common import Subparsers, add_quiet, command_line, option, print_json
from nas_proxy.cli.types import finite_float, integer, nonempty
from nas_proxy.errors import InvalidArgumentError

TRUTHY = {"on": True, "true": True, "yes": True, "off": False, "false": False, "no": False}


def add_calibrate(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    from nas_proxy.calibrate.config import DEFAULT_CHOICES, METRIC_NAMES, CalibrateConfig

    p = sub.add_parser(
        "calibrate",
        parents=[common],
        help="choose the proxy protocol on architectures with ground truth",
        description="An Optuna study over the proxy protocol (synthetic set, epochs, lr, batch, DSA) that maximises rank agreement "
        "with the ground truth per unit of proxy cost; reports the fidelity on held-out architectures (k-fold) and writes a proxy "
        "profile for --proxy-profile.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--truth", type=nonempty, metavar="FILE", help="a ground-truth table CSV (benchmarks/groundtruth/) or archs with 'accuracy'"
    )
    src.add_argument("--truth-study", type=nonempty, metavar="NAME", help="a cached ground-truth study (nasproxy correlate made it)")
    p.add_argument("--gt-storage", type=nonempty, help="storage of --truth-study (default: studies/NAME/journal.log)")
    p.add_argument("--space", type=nonempty, required=True, help="the search space of the architectures")
    p.add_argument(
        "--synthetic",
        type=nonempty,
        nargs="+",
        required=True,
        metavar="DIR",
        help="synthetic sets to choose among (the first: the default's)",
    )
    p.add_argument("--study", required=True, help="calibration name (resumed when it exists)")
    p.add_argument("--storage", type=nonempty, help="Optuna storage URL (default: journal file studies/STUDY/journal.log)")
    c = CalibrateConfig
    option(p, "--folds", type=integer, field=(c, "folds"), help="cross-validation folds")
    option(p, "--trials", type=integer, field=(c, "trials"), help="Optuna trials per study; there are folds + 1 studies")
    option(p, "--metric", choices=METRIC_NAMES, field=(c, "metric"), help="rank agreement to maximise")
    option(p, "--cost-weight", type=finite_float, field=(c, "cost_weight"), help="fidelity a doubling of proxy cost must buy")
    for key, values in DEFAULT_CHOICES.items():
        shown = ",".join(_show(v) for v in values)
        p.add_argument(
            f"--{key.replace('_', '-')}-choices",
            metavar="LIST",
            help=f"candidate {key} values (default: {shown}, calibrate.config.DEFAULT_CHOICES)",
        )
    option(
        p,
        "--n-boot",
        "--bootstrap",
        type=integer,
        dest="n_boot",
        field=(c, "n_boot"),
        help="bootstrap resamples of the held-out intervals; --bootstrap is its older name",
    )
    option(p, "--seed", type=integer, field=(c, "seed"), help="folds, samplers, proxy trainings")
    option(p, "--device", field=(c, "device"), help="auto, cpu or cuda[:N]")
    p.add_argument("--data-root", type=nonempty, metavar="DIR", help="where the real data is, if not where distill found it")
    p.add_argument("--out", type=nonempty, metavar="FILE", help="the profile to write (default: studies/STUDY/profile.toml)")
    add_quiet(p)
    p.set_defaults(func=cmd_calibrate)


def _show(v: Any) -> str:
    return ("on" if v else "off") if isinstance(v, bool) else f"{v:g}" if isinstance(v, float) else str(v)


def _parse_choices(option: str, text: str, kind: type) -> list[Any]:
    """``--X-choices``: comma-separated values of ``kind`` (checks.items: no empty item, none twice)."""

    def parse(part: str) -> Any:
        try:
            if kind is bool:
                return TRUTHY[part.lower()]
            return checks.parse_int(part) if kind is int else checks.parse_float(part)
        except (KeyError, ValueError) as e:
            want = "on or off" if kind is bool else "integers" if kind is int else "finite numbers"
            detail = f" ({e})" if isinstance(e, ValueError) and "subnormal" in str(e) else ""
            raise InvalidArgumentError(f"{option} takes comma-separated {want}, got {part!r} in {text!r}{detail}") from None

    return checks.items(option, text, parse, show=_show)


def _choices(args: argparse.Namespace) -> dict[str, list[Any]]:
    from nas_proxy.calibrate.config import DEFAULT_CHOICES
    from nas_proxy.profile import proxy_fields

    kinds = proxy_fields()
    out = {}
    for key, values in DEFAULT_CHOICES.items():
        text = getattr(args, f"{key}_choices")
        out[key] = list(values) if text is None else _parse_choices(f"--{key.replace('_', '-')}-choices", text, kinds[key])
    return out


def _output(args: argparse.Namespace) -> Path:
    """The profile path, refused before any work when it holds something that is not a profile."""
    from nas_proxy.files import check_writable
    from nas_proxy.profile import FORMAT
    from nas_proxy.studies.storage import study_dir

    out = Path(args.out) if args.out else study_dir(args.study) / "profile.toml"
    check_writable(out)
    if out.is_dir():
        raise InvalidArgumentError(f"--out {out} is a directory; give the profile's file name, such as {out / 'profile.toml'}")
    if out.exists():
        try:
            mine = FORMAT in out.read_text(errors="replace")
        except OSError:
            mine = False
        if not mine:
            raise InvalidArgumentError(f"--out {out} exists and is not a proxy profile; give a new file name")
    return out


def cmd_calibrate(args: argparse.Namespace) -> int:
    from nas_proxy.calibrate import truth
    from nas_proxy.errors import InvalidArgumentError

    if getattr(args, "config", None):  # refused, not ignored: a silently unread file would mislead
        raise InvalidArgumentError(f"calibrate reads no --config file yet ({args.config}): give its options as flags")
    from nas_proxy import configs
    from nas_proxy.calibrate.config import CalibrateConfig
    from nas_proxy.calibrate.runner import calibrate
    from nas_proxy.profile import write_profile

    config = configs.build(
        CalibrateConfig,
        {},
        "calibrate",
        space=args.space,
        synthetic=list(args.synthetic),
        choices=_choices(args),
        folds=args.folds,
        trials=args.trials,
        metric=args.metric,
        cost_weight=args.cost_weight,
        seed=args.seed,
        device=args.device,
        data_root=args.data_root,
        n_boot=args.n_boot,
    )
    config.validate()
    out = _output(args)
    if args.truth:
        from nas_proxy.spaces import get_space

        truths, data = truth.from_file(args.truth, get_space(args.space)), str(args.truth)
    else:
        truths, data = truth.from_study(args.truth_study, args.gt_storage), f"ground-truth study {args.truth_study}"
    command = command_line()
    result = calibrate(config, truths, data, args.study, args.storage, command, progress=not args.quiet)
    write_profile(result.profile, out)
    if args.json:
        print_json({**result.to_dict(), "profile_path": str(out)})
        return 0
    for line in summary(result):
        print(line)
    print(f"profile: {out}  (use it with --proxy-profile {shlex.quote(str(out))})")
    return 0


def summary(result: Any) -> list[str]:
    """Plain lines: the held-out fidelity first, then the folds, the tuned number and the choice."""
    c = result.profile.calibration
    lo, hi = result.heldout_interval
    glo, ghi = result.gain_interval
    lines = [
        f"held-out {c['metric']} ({c['folds']}-fold): {result.heldout:.3f} [{lo:.3f}, {hi:.3f}]; "
        f"default protocol on the same folds {result.default_heldout:.3f}; gain {result.gain:+.3f} [{glo:+.3f}, {ghi:+.3f}] (paired)",
    ]
    for f in result.folds:
        chosen = ", ".join(f"{k}={_show(v)}" for k, v in f.chosen.items())
        lines.append(f"  fold {f.fold + 1}: {len(f.held_out)} held out, chosen {chosen}: {f.heldout:.3f} (default {f.default_heldout:.3f})")
    proxy = ", ".join(f"{k}={_show(v)}" for k, v in result.profile.proxy.items())
    lines.append(
        f"profile (chosen on all {len(c['architectures'])} architectures): {proxy}, synthetic {c['synthetic']}; "
        f"tuned {c['metric']} {result.tuned:.3f} (in-sample, optimistic); cost {result.cost_ratio:.2f}x the default's FLOPs, "
        f"{result.seconds_per_arch:.2f} s/arch measured (default {result.default_seconds_per_arch:.2f})"
    )
    return lines
