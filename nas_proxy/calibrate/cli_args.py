"""The command line of calibration: ``nasproxy calibrate`` and ``--proxy-profile`` on the commands
that train proxies (``search``, ``score``, ``correlate``). ``nas_proxy/cli.py`` only calls these."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nas_proxy import checks
from nas_proxy.checks import finite_float, integer, nonempty
from nas_proxy.errors import InvalidArgumentError
from nas_proxy.protocols import ProxyConfig

# option dest -> ProxyConfig field where the two differ (a --no-X flag sets X to false)
FLAG_FIELDS = {"no_dsa": "dsa", "no_amp": "amp", "proxy_seeds": "seeds"}
TRUTHY = {"on": True, "true": True, "yes": True, "off": False, "false": False, "no": False}


# ---- --proxy-profile on search / score / correlate ------------------------------------------


def add_profile_option(group: argparse._ArgumentGroup) -> None:
    """Add ``--proxy-profile FILE`` to the proxy options in ``group`` (call it after adding them;
    they record when they are typed, in any parser: ``configs.track``)."""
    from nas_proxy import configs

    for action in list(group._group_actions):
        configs.track(action)
    group.add_argument(
        "--proxy-profile",
        type=nonempty,
        metavar="FILE",
        help="a proxy profile (nasproxy calibrate writes one): its values replace the defaults above; options given here still win",
    )


def with_profile(args: argparse.Namespace, proxy: ProxyConfig, also_given: Iterable[str] = ()) -> ProxyConfig:
    """``proxy`` (built from the options) with ``--proxy-profile``'s values where no option was typed
    and no field was set in ``also_given`` (a config file's keys)."""
    path = getattr(args, "proxy_profile", None)
    if not path:
        return proxy
    from nas_proxy.profile import read_profile

    return read_profile(path).apply(proxy, proxy_given(args) | set(also_given))


def proxy_given(args: argparse.Namespace) -> set[str]:
    """The ProxyConfig fields whose flags were typed on the command line (whatever their value)."""
    from nas_proxy import configs

    return {FLAG_FIELDS.get(dest, dest) for dest in configs.given(args)} & configs.fields(ProxyConfig)


# ---- nasproxy calibrate ---------------------------------------------------------------------


def add_calibrate_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from nas_proxy.calibrate.config import DEFAULT_CHOICES, METRIC_NAMES, CalibrateConfig

    d = CalibrateConfig("", [])
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
    p.add_argument("--gt-storage", type=nonempty, help="storage of --truth-study (default studies/NAME/journal.log)")
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
    p.add_argument("--folds", type=integer, default=d.folds, help="cross-validation folds (default %(default)s)")
    p.add_argument(
        "--trials", type=integer, default=d.trials, help="Optuna trials per study; there are folds + 1 studies (default %(default)s)"
    )
    p.add_argument("--metric", default=d.metric, choices=METRIC_NAMES, help="rank agreement to maximise (default %(default)s)")
    p.add_argument(
        "--cost-weight", type=finite_float, default=d.cost_weight, help="fidelity a doubling of proxy cost must buy (default %(default)s)"
    )
    for key, values in DEFAULT_CHOICES.items():
        shown = ",".join(_show(v) for v in values)
        p.add_argument(f"--{key.replace('_', '-')}-choices", metavar="LIST", help=f"candidate {key} values (default {shown})")
    p.add_argument("--bootstrap", type=integer, default=d.bootstrap, help="resamples of the held-out intervals (default %(default)s)")
    p.add_argument("--seed", type=integer, default=d.seed, help="folds, samplers, proxy trainings (default %(default)s)")
    p.add_argument("--device", default=d.device, help="auto, cpu or cuda[:N] (default %(default)s)")
    p.add_argument("--data-root", type=nonempty, help="where the real data is, if not where distill found it")
    p.add_argument("--out", type=nonempty, metavar="FILE", help="the profile to write (default studies/STUDY/profile.toml)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or progress lines on stderr")
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
    from nas_proxy.calibrate.config import CalibrateConfig
    from nas_proxy.calibrate.runner import calibrate
    from nas_proxy.profile import write_profile

    config = CalibrateConfig(
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
        bootstrap=args.bootstrap,
    )
    config.validate()
    out = _output(args)
    if args.truth:
        from nas_proxy.spaces import get_space

        truths, data = truth.from_file(args.truth, get_space(args.space)), str(args.truth)
    else:
        truths, data = truth.from_study(args.truth_study, args.gt_storage), f"ground-truth study {args.truth_study}"
    command = "nasproxy " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    result = calibrate(config, truths, data, args.study, args.storage, command, progress=not args.quiet)
    write_profile(result.profile, out)
    if args.json:
        print(json.dumps({**result.to_dict(), "profile_path": str(out)}, indent=2, default=str))
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
