"""``nasproxy calibrate``: choose the proxy protocol on architectures with ground truth (the
library is :mod:`nas_proxy.calibrate`; ``--proxy-profile`` is in :mod:`nas_proxy.cli.proxy_options`)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from nas_proxy import checks
from nas_proxy.cli.common import Config, Missing, Subparsers, add_quiet, command_line, option, path_shown, print_json, say, shell_word
from nas_proxy.cli.types import finite_float, integer, nonempty
from nas_proxy.errors import InvalidArgumentError

TRUTHY = {"on": True, "true": True, "yes": True, "off": False, "false": False, "no": False}


def add_calibrate(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    from nas_proxy.calibrate.config import DEFAULT_CHOICES, METRIC_NAMES, CalibrateConfig, LadderChoiceConfig
    from nas_proxy.correlate.config import N_BOOT_MAX, N_BOOT_MIN

    p = sub.add_parser(
        "calibrate",
        parents=[common],
        help="choose the proxy protocol, or the proxy or ladder to search with, on architectures with ground truth",
        description="An Optuna study over the proxy protocol (synthetic set, epochs, lr, batch, DSA) that maximises rank agreement "
        "with the ground truth per unit of proxy cost; reports the fidelity on held-out architectures (k-fold) and writes a proxy "
        "profile for --proxy-profile. With --ladders: every candidate proxy and fidelity ladder replayed on the calibration "
        "architectures of a ground-truth table (proxy scores from --scores), the cheapest whose regret meets the target chosen, "
        "and a profile written whose [search] ladder `search --proxy-profile` climbs.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--truth", type=nonempty, metavar="FILE", help="a ground-truth table CSV (benchmarks/groundtruth/) or archs with 'accuracy'"
    )
    src.add_argument("--truth-study", type=nonempty, metavar="NAME", help="a cached ground-truth study (nasproxy correlate made it)")
    p.add_argument("--gt-storage", type=nonempty, help="storage of --truth-study (default: studies/NAME/journal.log)")
    p.add_argument(
        "--space",
        type=nonempty,
        help="the search space of the architectures; required without --ladders; with --ladders, recorded in the profile "
        "(a search of another space is then refused)",
    )
    p.add_argument(
        "--synthetic",
        type=nonempty,
        nargs="+",
        action="extend",  # given twice, both lists count (before probe47 the last replaced the first, silently)
        metavar="DIR",
        help="synthetic sets to choose among (the first: the default's); required without --ladders",
    )
    p.add_argument("--study", help="calibration name (resumed when it exists); required without --ladders")
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
        help=f"bootstrap resamples of the held-out intervals, {N_BOOT_MIN} to {N_BOOT_MAX}; --bootstrap is its older name",
    )
    option(p, "--seed", type=integer, field=(c, "seed"), help="folds, samplers, proxy trainings")
    option(p, "--device", field=(c, "device"), help="auto, cpu or cuda[:N]")
    p.add_argument("--data-root", type=nonempty, metavar="DIR", help="where the real data is, if not where distill found it")
    p.add_argument("--out", type=nonempty, metavar="FILE", help="the profile to write (default: studies/STUDY/profile.toml)")
    lad = p.add_argument_group("choosing a proxy or ladder (--ladders; --truth is then a ground-truth table)")
    lad.add_argument(
        "--ladders",
        type=nonempty,
        metavar="SPECS",
        help="'auto' (every measured proxy alone and the grid of ladders built from them) or ladder specs separated by ';', "
        "e.g. 'random-ipc10:1.0,full:3;snip:1.0,random-ipc10:0.2,full:1'",
    )
    lad.add_argument(
        "--scores", type=nonempty, action="append", metavar="CSV", help="proxy scores: CSV proxy,arch_id,score,seconds (repeatable)"
    )
    lad.add_argument(
        "--proxies", type=nonempty, metavar="PROXIES", help="with --ladders auto: only these measured proxies (comma-separated)"
    )
    lad.add_argument("--one-off", type=nonempty, action="append", metavar="TOKEN=S", help="seconds a proxy pays once (a distillation)")
    lad.add_argument(
        "--split",
        type=nonempty,
        metavar="FILE",
        help="a calibration/evaluation split (CSV arch_id,role): only its calibration architectures",
    )
    lad.add_argument(
        "--independent-seed", type=integer, metavar="S", help="the table's seed whose training is the full rung (default: its second seed)"
    )
    lc = LadderChoiceConfig
    option(lad, "--target-regret", type=finite_float, field=(lc, "target_regret"), help="regret (points) a ladder must keep")
    option(
        lad,
        "--candidates",
        type=integer,
        field=(lc, "candidates"),
        none="the calibration architectures' count",
        help="how many candidates the search climbs (the saving is projected to it)",
    )
    add_quiet(p)
    p.set_defaults(func=cmd_calibrate, needs=protocol_needs, reads_config=False)  # a --config refused (common.config_files)


def protocol_needs(args: argparse.Namespace, file: Config) -> list[Missing]:
    """Without ``--ladders`` (the protocol study): ``--space``, ``--synthetic`` and ``--study``."""
    if args.ladders is not None:
        return []
    return [Missing(f"--{k}") for k in ("space", "synthetic", "study") if getattr(args, k) is None]


LADDER_ONLY = ("scores", "proxies", "one_off", "split", "independent_seed", "target_regret", "candidates")
PROTOCOL_ONLY = ("truth_study", "synthetic", "folds", "trials", "metric", "cost_weight", "device", "data_root")
# the protocol study's options that --ladders does not read either (before branch probe39, ignored without a word;
# --space was one until fix43a: --ladders records it now)
STUDY_ONLY = ("storage", "gt_storage")


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
    from nas_proxy import configs
    from nas_proxy.checks import PROFILE_BYTES_MAX, not_a_synthetic_set, regular_file
    from nas_proxy.files import check_writable
    from nas_proxy.profile import looks_like_profile
    from nas_proxy.studies.storage import study_dir

    out = Path(args.out) if args.out else study_dir(args.study) / "profile.toml"
    check_writable(out)
    not_a_synthetic_set("--out", out.parent, out)  # a profile among a set's files
    if out.is_dir():
        raise InvalidArgumentError(f"--out {out} is a directory; give the profile's file name, such as {out / 'profile.toml'}")
    if out.exists() and not configs.empty_own(out, "a profile"):
        regular_file(out.stat().st_mode, lambda what: f"--out {out} is {what}; give the profile's file name")  # (/dev/zero: read for ever)
        try:
            with out.open("rb") as f:  # whole, or cut short (a damaged disk); a profile is never near the limit
                head = f.read(PROFILE_BYTES_MAX + 1)
            mine = len(head) <= PROFILE_BYTES_MAX and looks_like_profile(head.decode(errors="replace"))
        except OSError:
            mine = False
        if not mine:
            raise InvalidArgumentError(f"--out {out} exists and is not a proxy profile; give a new file name")
        _other_kind(out, ladders=args.ladders is not None)
        _torn(out)
    if out.suffix.lower() in OTHER_FORMATS:  # before probe44b, --out p.csv wrote a TOML profile named p.csv, exit 0
        raise InvalidArgumentError(
            f"--out {out}: a proxy profile is a TOML file, whatever its name; give a name ending .toml, such as {out.with_suffix('.toml')}"
        )
    return out


def _torn(out: Path) -> None:
    """Say in one line that the profile at ``out``, which does not read whole, was cut short where it is the start of one
    (``configs.torn_own``: its first line, whole lines of TOML, the start of one more; a write the disk lost leaves one),
    as a command's own config.toml is: it is written anew. Before fix60 it was replaced without a word. A profile that
    reads is judged by :func:`_other_kind`; one that does not read otherwise (edited by hand) is replaced as before."""
    from nas_proxy import configs
    from nas_proxy.errors import NasProxyError
    from nas_proxy.profile import FIRST_LINE, FORMAT, read_profile

    try:
        read_profile(out)
    except NasProxyError:
        configs.torn_own(out, "a profile", FIRST_LINE, lambda doc: doc.get("format", FORMAT) == FORMAT)


def _other_kind(out: Path, ladders: bool) -> None:
    """Refuse a profile of the other kind at ``out``, which this command would replace: a protocol study's (its
    [proxy], hours of trainings) for ``--ladders``, a ladder's for the protocol study (refused at the start, not
    replaced at its end). Before fix49a either was replaced, with one line at most. A profile a newer nasproxy
    wrote is refused too; one that cannot be read otherwise is the command's to replace. Asked before any work, and again
    once the profile's lock is held (another kind's writer may have ended between the two)."""
    if not out.exists():
        return
    from nas_proxy.errors import NasProxyError, NewerFormatError
    from nas_proxy.profile import read_profile

    try:
        there = read_profile(out)
    except NewerFormatError as e:  # whole, only unreadable here: not replaced (before fix50d, chosen again over it)
        raise e.with_cause(f"--out {out}: {e.cause}").with_remedy(f"{e.remedy or 'upgrade nasproxy'}, or give another --out") from None
    except NasProxyError:
        return
    if ladders and there.ladder is None:
        raise InvalidArgumentError(
            f"--out {out} holds the profile of a protocol study (nasproxy calibrate without --ladders), which --ladders "
            "would replace: give another --out, or move that one away first"
        )
    if not ladders and there.ladder is not None:
        raise InvalidArgumentError(
            f"--out {out} holds the profile calibrate --ladders wrote (ladder {there.ladder}), which this calibration "
            "would replace: give another --out, or move that one away first"
        )


# the suffixes of other formats, refused for --out (a name of another kind, "profiles/v1.2" or "cal", is the user's)
OTHER_FORMATS = (".csv", ".tsv", ".json", ".jsonl", ".yaml", ".yml", ".ini", ".cfg", ".txt", ".md", ".html", ".log", ".xlsx", ".pt", ".pkl")
LADDERS_HEADER = "ladder,chosen,per_rung,"  # how the candidates' CSV beside a profile starts (ladder_choice.rows_csv)


def _ladders_csv(out: Path) -> Path:
    """``OUT-ladders.csv``, where ``calibrate --ladders`` writes every candidate beside the profile;
    refused before any work when it holds something else (an input table named so, a folder)."""
    every = out.with_name(out.stem + "-ladders.csv")
    if every.is_dir():
        raise InvalidArgumentError(f"--out {out} writes every candidate ladder to {every}, a directory; give another --out")
    if every.exists():
        try:
            with every.open(encoding="utf-8", errors="replace") as f:
                mine = f.read(len(LADDERS_HEADER)) == LADDERS_HEADER
        except OSError:
            mine = False
        if not mine:
            raise InvalidArgumentError(
                f"--out {out} writes every candidate ladder to {every}, which exists and is not such a table; give another --out"
            )
    return every


def cmd_calibrate(args: argparse.Namespace) -> int:
    if args.ladders is not None:  # before the protocol study's imports (torch, Optuna, scipy): a kept profile needs none
        return cmd_choose_ladder(args)
    from nas_proxy import configs
    from nas_proxy.calibrate import truth
    from nas_proxy.calibrate.config import CalibrateConfig
    from nas_proxy.calibrate.runner import calibrate
    from nas_proxy.profile import one_writer, write_profile

    given = [k for k in LADDER_ONLY if getattr(args, k) is not None]
    if given:
        raise InvalidArgumentError(f"--{given[0].replace('_', '-')} chooses a ladder: give it with --ladders (auto or specs)")
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
    command = command_line(args)
    with one_writer(out):  # a calibration of another study writing the same --out meanwhile is refused (fix49a)
        _other_kind(out, ladders=False)  # again, held: a --ladders may have written it since _output looked (review50)
        result = calibrate(config, truths, data, args.study, args.storage, command, progress=not args.quiet)
        write_profile(result.profile, out)
    if args.json:
        print_json({**result.to_dict(), "profile_path": str(out)})
        return 0
    say(*summary(result))
    say(f"profile: {path_shown(out)}  (use it with --proxy-profile {shell_word(str(out), path=True)})")
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


def cmd_choose_ladder(args: argparse.Namespace) -> int:
    """``calibrate --ladders``: measure every candidate on the calibration architectures, choose, write the profile."""
    from nas_proxy import configs
    from nas_proxy.calibrate import ladder_sim as sim
    from nas_proxy.calibrate.config import LadderChoiceConfig
    from nas_proxy.calibrate.ladder_choice import inputs_of, written
    from nas_proxy.profile import one_writer

    typed = [k for k in PROTOCOL_ONLY if getattr(args, k) is not None]
    typed += [k for k in vars(args) if k.endswith("_choices") and getattr(args, k) is not None]
    if typed:
        raise InvalidArgumentError(
            f"--{typed[0].replace('_', '-')} tunes the proxy protocol; --ladders reads proxy scores instead: drop one"
        )
    if unread := [k for k in STUDY_ONLY if getattr(args, k) is not None]:
        raise InvalidArgumentError(
            f"--{unread[0].replace('_', '-')} is an option of the protocol study (calibrate without --ladders); "
            "--ladders reads a ground-truth table and proxy scores: drop it"
        )
    if args.out is not None and args.study is not None:
        raise InvalidArgumentError(
            f"--study names where --ladders writes its profile (studies/NAME/profile.toml) when --out is not given; "
            f"with --out {args.out} it changes nothing: drop one"
        )
    if not args.truth:
        raise InvalidArgumentError("--ladders needs --truth TABLE: a ground-truth table with a second seed's val_accuracy and seconds")
    if not args.scores:
        raise InvalidArgumentError("--ladders needs --scores CSV (proxy,arch_id,score,seconds), the candidate proxies' scores")
    if args.out is None and args.study is None:
        raise InvalidArgumentError("--ladders needs --out FILE (or --study NAME for studies/NAME/profile.toml): where the profile goes")
    config = configs.build(
        LadderChoiceConfig,
        {},
        "calibrate",
        target_regret=args.target_regret,
        candidates=args.candidates,
        n_boot=args.n_boot,
        seed=args.seed,
    )
    config.validate()
    space = None
    if args.space is not None:  # an unknown one refused before anything is read (the spaces import torch: only then)
        from nas_proxy.spaces import get_space

        space = get_space(args.space)
        # what the profile will record: the table's architectures must be the space's (review of stop 43)
        from nas_proxy.calibrate.truth import check_table_in_space

        check_table_in_space(args.truth, space, args.space)
    out = _output(args)
    every = _ladders_csv(out)
    pairs = [sim.parse_one_off(t) for t in args.one_off or []]
    if pairs:
        checks.distinct("--one-off", [token for token, _ in pairs])  # a proxy pays its one-off once
    one_off = dict(pairs)
    auto = args.ladders.strip() == "auto"
    if not auto and args.proxies:
        raise InvalidArgumentError("--proxies narrows --ladders auto; with ladders given, list only the ladders you want")
    given = None if auto else _specs(args.ladders)  # their proxies are checked once the scores are read
    table = Path(args.truth)
    recorded = None if space is None else (args.space, space.definition_sha256())
    # --proxies as the set it narrows to (before fix49a, 'b,a' after 'a,b' measured every candidate again)
    proxies = sorted(checks.items("--proxies", args.proxies, str)) if args.proxies else None
    options = {"ladders": given or "auto", "proxies": proxies, "one_off": one_off, "independent_seed": args.independent_seed}
    options |= {"config": dataclasses.asdict(config), "space": recorded and recorded[1]}
    inputs = inputs_of(table, [Path(s) for s in args.scores], None if args.split is None else Path(args.split), options)
    kept_then = "wait for it to finish (the same command then keeps what it wrote), or choose another --out"
    with one_writer(out, kept_then):  # one command at a time computes and writes this profile (before fix49a, the last to end won)
        _other_kind(out, ladders=True)  # again, held: a protocol study may have written it since _output looked (review50)
        kept, why = written(out, every, inputs)
        if kept is not None:  # the same command run again: nothing measured again
            if args.json:
                print_json(_ladder_json(kept, out, reused=True))
            else:
                say(
                    f"{path_shown(out)} already written (same inputs; nothing measured again): chosen {kept.ladder}; every candidate: {path_shown(every)}"
                )
            return 0
        if why and not args.json:
            say(why)
        return _choose_and_write(args, config, (out, every), given, one_off, recorded, inputs, why or None)


def _ladder_json(profile: Any, out: Path, reused: bool, reason: str | None = None) -> dict[str, Any]:
    """What ``calibrate --ladders --json`` prints, of the profile written now or kept (one shape: before fix49a a kept
    one had no ``proxies``): a proxy's number the profile leaves out (an undefined Spearman) is null. ``reason``: why
    a profile already there was computed again, the line the readable output prints (before fix50d --json had none);
    null when it was kept or there was none."""
    from nas_proxy.profile import PROXY_RECORD

    proxies = {name: {k: p.get(k) for k in PROXY_RECORD} for name, p in profile.calibration.get("proxies", {}).items()}
    return {
        "chosen": profile.ladder,
        "calibration": profile.calibration,
        "proxies": proxies,
        "profile_path": str(out),
        "reused": reused,
        "reason": reason,
    }


def _choose_and_write(
    args: argparse.Namespace,
    config: Any,
    paths: tuple[Path, Path],
    given: list[str] | None,
    one_off: dict[str, float],
    recorded: tuple[str, str] | None,
    inputs: dict[str, Any] | None,
    reason: str | None,
) -> int:
    """Measure every candidate ladder on the calibration architectures, choose, write the profile (``paths``: it
    and the table of every candidate beside it; ``reason``: why one there is computed again, for ``--json``)."""
    from nas_proxy.calibrate import ladder_sim as sim
    from nas_proxy.calibrate.ladder_choice import choose_ladder, default_ladders, rows_csv, to_profile
    from nas_proxy.files import write_text
    from nas_proxy.profile import write_profile

    out, every = paths
    table = Path(args.truth)
    ids = None
    if args.split:
        whole = sim.load_candidates(table, [], args.independent_seed)
        cal, _ = sim.read_split(Path(args.split), whole.ids)
        ids = [whole.ids[i] for i in cal]  # only these are measured; the evaluation ones are for the check afterwards
    cands = sim.load_candidates(table, [Path(s) for s in args.scores], args.independent_seed, one_off, ids)
    specs = given
    if given is None:
        proxies = checks.items("--proxies", args.proxies, str) if args.proxies else None
        unknown = [p for p in proxies or [] if p not in cands.fidelities]
        if unknown:
            raise InvalidArgumentError(f"--proxies {unknown[0]} has no scores here; measured: {', '.join(sorted(cands.fidelities))}")
        specs = default_ladders(cands, config, proxies)
    choice = choose_ladder(cands, config, specs)
    data = str(table) + (f" (calibration architectures of {args.split})" if args.split else "")
    rows = rows_csv(choice)
    profile = to_profile(choice, cands, data, list(args.scores), command_line(args), recorded, inputs, rows)
    write_text(every, rows)  # first: the profile is what a search takes, so it is written last
    try:
        write_profile(profile, out)
    except BaseException:
        every.unlink(missing_ok=True)  # the profile failed (a full disk): no half of the pair is left
        raise
    if args.json:
        print_json(_ladder_json(profile, out, reused=False, reason=reason))
        return 0
    say(*ladder_summary(choice))
    say(f"every candidate: {path_shown(every)}")
    say(
        f"profile: {path_shown(out)}  (search with it: nasproxy search --proxy-profile {shell_word(str(out), path=True)} --dataset NAME ...)"
    )
    return 0


def _specs(text: str) -> list[str]:
    """``--ladders 'A;B'``: the specs, none empty, none twice (each is parsed against the measured proxies later)."""
    parts = [part.strip() for part in text.split(";")]
    if "" in parts:
        raise InvalidArgumentError(f"--ladders has an empty item in {text!r} (a trailing or doubled ';'?); remove it")
    checks.distinct("--ladders", parts)
    return parts


def ladder_summary(choice: Any, best: int = 8) -> list[str]:
    """Plain lines: every proxy's rank agreement, the chosen ladder, and the best candidates by the rule's order."""
    from nas_proxy.ladders import FULL

    n = len(choice.architectures)
    lines = [f"{n} calibration architectures; every proxy (Spearman with the ground truth [95 % bootstrap], seconds per architecture):"]
    for name, p in choice.proxies.items():
        lo, hi = p["spearman_ci"]
        what = "  (the full rung: an independent real training, the ceiling)" if name == FULL else ""
        lines.append(f"  {name:<16} {p['spearman']:+.3f} [{lo:+.3f}, {hi:+.3f}]  {p['seconds_per_arch']:.3f} s{what}")
    size = str(choice.candidates)
    ok = [r for r in choice.rows if r["boot"]["regret_mean"] <= choice.target_regret + 1e-9]
    ranked = sorted(ok, key=lambda r: -r["projected"][size]) + sorted(
        (r for r in choice.rows if r not in ok), key=lambda r: r["boot"]["regret_mean"]
    )
    lines.append(
        f"{len(choice.rows)} candidate ladders, {len(ok)} with bootstrap mean regret <= {choice.target_regret:g} points; "
        f"the best {min(best, len(ranked))} (saving = x less compute than training all {size} candidates):"
    )
    for r in ranked[:best]:
        b = r["boot"]
        lo, hi = b["regret_ci"]
        slo, shi = b["projected"][size]["ratio_ci"]
        mark = "*" if r["spec"] == choice.chosen else " "
        lines.append(
            f" {mark}{r['spec']}: regret {r['regret']:.2f}, mean {b['regret_mean']:.2f} [{lo:.2f}, {hi:.2f}], "
            f"saving {r['projected'][size]:.1f}x [{slo:.1f}, {shi:.1f}]"
        )
    lines.append(f"chosen: {choice.chosen} (rule: {choice.rule})")
    return lines
