"""How faithfully proxies rank the architectures of a ground-truth table (benchmarks/groundtruth/).

    python benchmarks/fidelity.py --table benchmarks/groundtruth/fashion-mnist-convnet720.csv \\
        --proxy synthetic:benchmarks/out/fashion/datadam-ipc10 --proxy dm=synthetic:benchmarks/out/fashion/dm-ipc10 \\
        --proxy zero-cost:synflow --proxy mine=scores:my-scores.csv --epochs 50 --out benchmarks/out/fidelity

A proxy is ``[LABEL=]KIND:VALUE``: ``synthetic:DIR`` (a synthetic set; every architecture trained on
it with the proxy options below, on its soft labels when it has them unless ``--hard-labels``, and
scored on the validation split, as ``nasproxy search`` does),
``scores:CSV`` (precomputed: columns ``arch_id``, ``score``, optionally ``seconds``; with a ``proxy``
column, the rows of the proxy named LABEL) or
``zero-cost:NAME`` (a training-free score, ``nas_proxy.proxies.zero_cost``) or
``early:Xep[@SEED]`` (early stopping read from the table: its column ``val_accuracy_Xep``, the validation
accuracy after X epochs of the training of seed SEED; the default, the ground truth's own training, is
favoured; another seed's is an independent run; seconds: X epochs' share of that training's). The ground truth is
the table's test accuracy of its first seed; the ceiling row is its second seed against its first,
on the architectures that have both. Metrics come from ``nas_proxy.correlate.metrics``: Spearman,
Kendall tau-b, weighted tau, both on the best 20 % by ground truth, precision@k, top-1 regret, with
percentile bootstrap intervals, and paired bootstrap differences between every two proxies.
"proxy + promote K" (``--promote K``): among the proxy's top K, the pick by the table's validation
accuracy (never its test accuracy), its regret and its compute (the proxy on every architecture,
its one-off cost and the K trainings' seconds) against training every architecture.
Every proxy also gets the per-dimension diagnostic (``metrics.per_dimension``: Spearman within each
value of each dimension, and the mean rank shift of its members). ``--role calibration|evaluation``
keeps one half of the split of ``groundtruth/split.csv`` (issue 18; results belong on the evaluation half).
A table that names its data (``nas_proxy.groundtruth.tables``: its ``dataset`` column, or the provenance.json beside
it) judges only proxies of that data: a synthetic set of another dataset, or zero-cost scores on another --dataset,
is refused before anything is trained; a table that names none (a user's own) is read as before.
Writes fidelity.json and fidelity.md into --out and prints the Markdown.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]  # nas_proxy; fidelity_*.py

# the script is these modules (reading, the proxies that compute, the numbers, the outputs); the other scripts import them
from fidelity_proxies import _synthetic, _zero_cost  # noqa: E402
from fidelity_report import add_bootstrap, check_out, markdown, write_outputs  # noqa: E402
from fidelity_stats import CEILING, PROMOTE, fidelity  # noqa: E402
from fidelity_table import ROLES, SPLIT, Table, _early, _scores_file, check_dataset, check_sets, read_table, with_role  # noqa: E402

from nas_proxy import checks, configs  # noqa: E402
from nas_proxy.cli.common import ScriptParser, one_line_errors  # noqa: E402
from nas_proxy.cli.types import integer  # noqa: E402
from nas_proxy.correlate.config import check_n_boot, check_promote  # noqa: E402
from nas_proxy.errors import InvalidArgumentError  # noqa: E402
from nas_proxy.groundtruth.tables import TableData  # noqa: E402

KINDS = ("synthetic", "scores", "zero-cost", "early")


def parse_proxy(text: str) -> tuple[str | None, str, str]:
    """``[LABEL=]KIND:VALUE`` -> (label or None, kind, value)."""
    label, _, rest = text.partition("=") if "=" in text.split(":", 1)[0] else ("", "", text)
    kind, sep, value = rest.partition(":")
    if not sep or kind not in KINDS or not value:
        raise InvalidArgumentError(f"--proxy {text!r}: write [LABEL=]KIND:VALUE with KIND one of {', '.join(KINDS)}")
    if not label.isprintable() or "|" in label:  # before stop 46 a newline or a '|' broke the Markdown table's rows
        raise InvalidArgumentError(
            f"--proxy {text!r}: its label {label!r} names a row of a Markdown table: give one without '|' or control characters"
        )
    return label or None, kind, value


def _default_name(kind: str, value: str) -> str | None:
    """The row name of a --proxy without a label, where it is known before reading it (a synthetic set's comes from its meta)."""
    return {"scores": Path(value).stem, "early": f"early@{value}", "zero-cost": value}.get(kind)


@one_line_errors("fidelity.py")
def main(argv: list[str] | None = None) -> int:
    from nas_proxy.cli import _add_proxy_options

    p = ScriptParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--table", type=Path, default=Path(__file__).parent / "groundtruth" / "fashion-mnist-convnet720.csv")
    p.add_argument("--proxy", action="append", default=[], help="[LABEL=]KIND:VALUE, KIND synthetic, scores or zero-cost (repeatable)")
    p.add_argument("--role", choices=ROLES, default="all", help="which of the table's architectures (--split) (default %(default)s)")
    p.add_argument("--split", type=Path, default=SPLIT, help="calibration / evaluation split of the table (default %(default)s)")
    p.add_argument("--metric", default="test_accuracy", help="the table's ground-truth column (default %(default)s)")
    p.add_argument("--dataset", default="fashion-mnist", help="real data of zero-cost batches (default %(default)s)")
    p.add_argument("--data-root")
    p.add_argument("--space", default="convnet720", help="space of the table's architectures (default %(default)s)")
    p.add_argument("--zero-cost-batch", type=integer, default=64, help="training images a zero-cost score sees (default %(default)s)")
    add_bootstrap(p)
    p.add_argument("--promote", type=integer, default=PROMOTE, metavar="K", help="'proxy + promote K' (default %(default)s)")
    p.add_argument(
        "--promote-seed",
        type=integer,
        metavar="S",
        help="promotion picks by the validation accuracy of the table's seed S (default: the ground truth's own training)",
    )
    p.add_argument("--seed", type=integer, default=0, help="proxy training and bootstrap seed (default %(default)s)")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", type=Path, default=Path("benchmarks/out/fidelity"))
    _add_proxy_options(p)
    for action in p._actions:
        configs.track(action)  # which options were typed (configs.given), whatever their value
    args = p.parse_args(argv)
    _check_numbers(args)
    check_out(args.out)
    parsed = [parse_proxy(t) for t in args.proxy]
    _check_used(args, {kind for _, kind, _ in parsed}, [value for _, kind, value in parsed if kind == "synthetic"])
    table = with_role(read_table(args.table, args.metric, args.promote_seed), args.role, args.split)
    with contextlib.ExitStack() as once:
        if any(kind == "zero-cost" for _, kind, _ in parsed):  # the data its digest is checked on is the one scored on
            from nas_proxy.data.registry import read_once

            once.enter_context(read_once())
        return _run(args, parsed, table)


def _run(args: argparse.Namespace, parsed: list[tuple[str | None, str, str]], table: Table) -> int:
    """The proxies of ``parsed`` scored on ``table`` and judged; fidelity.json and fidelity.md written."""
    data = table.data
    _check_data(data, parsed, args.dataset, args.data_root)
    promote_k: int | None = args.promote
    if args.promote >= len(table.ids):  # before stop 46 accepted: 'proxy + promote K' trained them all, a regret of 0
        if "promote" in configs.given(args):
            check_promote(args.promote, len(table.ids))  # typed: refused, as nasproxy correlate refuses it
        promote_k = None  # the default on a small table: no promotion, and the Markdown says why
    typed = {f"--{d.replace('_', '-')}" for d in configs.given(args)} & {"--promote", "--promote-seed"}
    if typed and (not parsed or promote_k is None):  # stop 46: ignored, exit 0 (the ceiling row is never promoted)
        why = (
            "no --proxy is given (the ceiling row is never promoted)"
            if not parsed
            else (
                f"there is no promotion (its default top {PROMOTE} is not fewer than the {len(table.ids)} architectures): give --promote K below that"
            )
        )
        raise InvalidArgumentError(f"{', '.join(sorted(typed))} change{'s' if len(typed) == 1 else ''} nothing: {why}")
    proxies: dict[str, dict[str, Any]] = {}
    names = [label or _default_name(kind, value) for label, kind, value in parsed]
    for n, name in enumerate(names):  # before stop 46 the later one replaced the earlier one's row, exit 0
        if name is not None and (name == CEILING or name in names[:n]):
            raise InvalidArgumentError(
                f"--proxy {parsed[n][1]}:{parsed[n][2]} is named {name!r}, as {'the ceiling row is' if name == CEILING else 'an earlier --proxy is'}: "
                "give each proxy a label of its own (LABEL=KIND:VALUE)"
            )
    for label, kind, value in parsed:
        t0 = time.perf_counter()
        if kind == "scores":
            scores, seconds = _scores_file(Path(value), table.ids, label, data)
            proxies[label or Path(value).stem] = {"scores": scores, "seconds": seconds, "source": value}
        elif kind == "early":
            scores, seconds = _early(value, args.table, table)
            proxies[label or f"early@{value}"] = {"scores": scores, "seconds": seconds, "source": f"{args.table} {value}"}
        elif kind == "zero-cost":
            scores, seconds = _zero_cost(value, table, args)
            proxies[label or value] = {"scores": scores, "seconds": seconds, "source": kind}
        else:
            name, scores, seconds, one_off = _synthetic(value, table, args, args.out)
            if not label and (name in proxies or name in names or name == CEILING):  # its scores stay cached: a rerun trains nothing
                raise InvalidArgumentError(
                    f"--proxy synthetic:{value} is named {name!r} (its set's name), as another row is: give it a label (LABEL=synthetic:DIR)"
                )
            proxies[label or name] = {"scores": scores, "seconds": seconds, "one_off_seconds": one_off, "source": value}
        print(f"{list(proxies)[-1]}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    result = fidelity(table, proxies, args.bootstrap, args.seed, promote_k)
    result["table"] = str(args.table)
    result["table_dataset"] = None if data is None else {"dataset": data.dataset, "content_sha256": data.sha256}
    write_outputs(args.out, "fidelity", result, markdown(result))
    return 0


# the options that only some kinds of --proxy read
USED_BY = {  # dest -> kinds; the proxy-training options (TRAINING_FLAGS, --proxy-profile) are read by synthetic: alone
    "space": {"synthetic"},
    "device": {"synthetic", "zero-cost"},
    "data_root": {"synthetic", "zero-cost"},
    "dataset": {"zero-cost"},
    "zero_cost_batch": {"zero-cost"},
}


def _check_used(args: argparse.Namespace, kinds: set[str], sets: list[str]) -> None:
    """Refuse the options typed that no --proxy given reads (stop 46: ``--epochs 3`` with only ``scores:`` proxies
    was silently ignored, exit 0): a user who typed them believes they mattered."""
    from nas_proxy.cli.proxy_options import proxy_given
    from nas_proxy.proxies.choose import TRAINING_FLAGS

    typed = configs.given(args)
    if "split" in typed and args.role == "all":
        raise InvalidArgumentError(
            "--split changes nothing with --role all (every architecture): give --role calibration or evaluation, or drop it"
        )
    readers = {TRAINING_FLAGS[name]: {"synthetic"} for name in TRAINING_FLAGS if name in proxy_given(args)}
    readers |= {"--proxy-profile": {"synthetic"}} if "proxy_profile" in typed else {}
    readers |= {"--" + dest.replace("_", "-"): kinds_ for dest, kinds_ in USED_BY.items() if dest in typed}
    idle = {flag: used for flag, used in readers.items() if not used & kinds}
    if idle:
        by: dict[str, list[str]] = {}
        for flag, used in idle.items():
            by.setdefault(" or ".join(f"{k}:" for k in sorted(used)), []).append(flag)
        them = "it" if len(idle) == 1 else "them"
        read = "; ".join(f"{', '.join(flags)} by {k}" for k, flags in by.items())
        raise InvalidArgumentError(
            f"{', '.join(idle)} change{'s' if len(idle) == 1 else ''} nothing with the proxies given "
            f"({', '.join(sorted(kinds)) or 'none: the ceiling row only'}): only a --proxy of another kind reads {them} ({read}); drop {them}"
        )
    if "hard_labels" in typed and sets:  # stop 46: ignored where no set given has soft labels to leave aside
        from nas_proxy.synthetic import load_synthetic

        if all(load_synthetic(path).soft_labels is None for path in sets):
            raise InvalidArgumentError(
                f"--hard-labels changes nothing with {', '.join(sets)}: no set given holds soft labels (distill --soft-labels); drop it"
            )


def _check_data(data: TableData | None, parsed: list[tuple[str | None, str, str]], dataset: str, root: str | None = None) -> None:
    """Refuse a proxy of other data than the table was measured on, before anything is trained: a synthetic set by its
    meta.json's dataset (and content digest), zero-cost scores by --dataset (and the content digest of its data under
    --data-root ``root``, where the table names one: review52). Before fix51a a digits set was ranked against
    Fashion-MNIST accuracies, exit 0 (probe50). ``scores:`` and ``early:`` proxies name no data."""
    check_sets(data, [value for _, kind, value in parsed if kind == "synthetic"])
    if any(kind == "zero-cost" for _, kind, _ in parsed):
        check_dataset(data, dataset, "the zero-cost scores' real data (--dataset)", read=True, root=root)


def _check_numbers(args: argparse.Namespace) -> None:
    """The numbers of the command line, refused before anything is read or trained (probe45: --seed -1 was numpy's
    ValueError traceback, --bootstrap 10**8 a 74 GiB MemoryError, --zero-cost-batch 0 scored on no image, exit 0;
    --promote was checked only after every proxy had been trained; stop 47: --bootstrap 1 gave zero-wide intervals, exit 0)."""
    checks.number("--seed", args.seed, 0, integer=True)
    check_n_boot(args.bootstrap, "--bootstrap")
    checks.number("--zero-cost-batch", args.zero_cost_batch, 1, integer=True)
    checks.number("--promote", args.promote, 1, integer=True)


if __name__ == "__main__":
    sys.exit(main())
