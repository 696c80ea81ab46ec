"""Proxy trials per hour of two checkouts of nasproxy side by side (an old commit against a new one).

Each checkout runs in its own child process (``PYTHONPATH`` = that checkout, ``--threads`` torch threads) that
loads the ``ProxyContext`` once and runs one untimed warm-up trial. The parent then sends the same architectures
(a seeded ``RandomSampler`` draw from ``--space``) to the two children in turn, alternating which goes first,
so only one trial runs at a time and load from other processes hits both alike. A trial is
``ProxyContext.score`` as a search runs it; its time is the trial's own ``seconds["total"]``.

The table gives each architecture's seconds and validation accuracy in both checkouts; the summary, mean
seconds per trial, trials per hour (3600 / mean) and their ratio. On the CPU both checkouts must score every
architecture identically (issue 11 changed how a trial runs, not what it computes): a difference is printed
as ``DIFFER`` and the exit status is 1.

    git worktree add /tmp/old e202da5
    OMP_NUM_THREADS=1 python benchmarks/proxy_ab.py --synthetic DIR --old /tmp/old --new . --json benchmarks/out/proxy_ab.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any, TextIO

WARMUP_EPOCHS = 2  # the untimed first trial of each child: lazy initialisation, kernel selection


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from nas_proxy.cli.common import ScriptParser

    p = ScriptParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--synthetic", type=Path, required=True, help="a synthetic-set directory (nasproxy distill --out)")
    p.add_argument("--old", type=Path, help="the checkout measured first in the table (e.g. a worktree of the old commit)")
    p.add_argument("--new", type=Path, default=Path("."), help="the other checkout")
    p.add_argument("--space", default="convnet-cpu", help="search space name or file")
    p.add_argument("--n-archs", type=int, default=4, help="distinct architectures drawn from the space")
    p.add_argument("--repeats", type=int, default=2, help="times every architecture is scored by each checkout")
    p.add_argument("--seed", type=int, default=0, help="sampler seed and the trials' seed")
    p.add_argument("--epochs", type=int, default=50, help="proxy epochs (ProxyConfig's default)")
    p.add_argument("--report-every", type=int, default=10, help="epochs between validation reports (ProxyConfig's default)")
    p.add_argument("--device", default="cpu", help="cpu | cuda (both children)")
    p.add_argument("--threads", type=int, default=1, help="torch threads of each child")
    p.add_argument("--json", type=Path, default=None, help="write every raw number here")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # internal: serve trials on stdin/stdout
    args = p.parse_args(argv)
    if not args.child and args.old is None:
        p.error("--old is required")
    if args.n_archs < 1 or args.repeats < 1 or args.epochs < 1 or args.report_every < 1 or args.threads < 1:
        p.error("--n-archs, --repeats, --epochs, --report-every and --threads must be >= 1")
    return args


def check_parent(args: argparse.Namespace) -> None:
    """What the children would die of, or a comparison that means nothing, refused before they start (stop 46: --old
    /nonexistent a FileNotFoundError traceback, --seed -1 numpy's ValueError, --device tpu or a --synthetic that is no set
    'the child of ... died'; --old equal to --new compared a checkout with itself)."""
    from nas_proxy import checks
    from nas_proxy.errors import InvalidArgumentError
    from nas_proxy.spaces import get_space
    from nas_proxy.utils import resolve_device

    checks.number("--seed", args.seed, 0, integer=True)
    for option in ("--old", "--new"):
        root = checks.existing_dir(option, getattr(args, option[2:]))
        if not (root / "nas_proxy" / "__init__.py").is_file():
            raise InvalidArgumentError(
                f"{option} {root} is not a checkout of nasproxy (no nas_proxy/__init__.py): give one (git worktree add)"
            )
    if args.old.resolve() == args.new.resolve():
        raise InvalidArgumentError(f"--old and --new are one checkout ({args.new.resolve()}): give two to compare")
    checks.existing_file("--synthetic", args.synthetic / "meta.json")
    resolve_device(args.device)  # an unknown device or no CUDA: one line here, not a child that dies
    get_space(args.space)  # an unknown space likewise
    if args.json is not None and args.json.is_dir():
        raise InvalidArgumentError(f"--json {args.json} is a folder; give the file to write")


def child(args: argparse.Namespace) -> None:
    """Serve trials: one JSON spec per stdin line, one JSON result per stdout line (only APIs both commits have)."""
    import torch

    import nas_proxy
    from nas_proxy.spaces import get_space
    from nas_proxy.trainers.synthetic_set import ProxyConfig, ProxyContext

    torch.set_num_threads(args.threads)
    space = get_space(args.space)
    ctx = ProxyContext.load(args.synthetic, args.device, ProxyConfig(epochs=args.epochs, report_every=args.report_every))
    warm = ProxyContext.load(args.synthetic, args.device, ProxyConfig(epochs=WARMUP_EPOCHS, report_every=1))
    out: TextIO = sys.stdout
    for line in sys.stdin:
        spec = json.loads(line)
        if spec.get("warmup"):
            warm.score(space, spec["spec"], seed=-1)
            out.write(json.dumps({"package": nas_proxy.__file__, "torch": torch.__version__}) + "\n")
        else:
            r = ctx.score(space, spec, seed=args.seed)
            out.write(json.dumps({"seconds": r.seconds["total"], "accuracy": r.accuracy, "curve": r.curve}) + "\n")
        out.flush()


class Checkout:
    """A child process serving trials with the nasproxy of ``root``."""

    def __init__(self, root: Path, args: argparse.Namespace, argv: list[str]) -> None:
        self.root = root.resolve()
        env = {**os.environ, "PYTHONPATH": str(self.root), "OMP_NUM_THREADS": str(args.threads)}
        command = [sys.executable, str(Path(__file__).resolve()), "--child", *argv]
        self.proc = subprocess.Popen(command, cwd=self.root, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, message: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"the child of {self.root} died (exit status {self.proc.wait()})")
        return dict(json.loads(line))

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def main(argv: list[str] | None = None) -> int:
    if "--child" in (sys.argv[1:] if argv is None else argv):  # a child imports only the nas_proxy of its checkout
        child(parse_args(argv))
        return 0
    from nas_proxy.cli.common import one_line_errors

    return one_line_errors("proxy_ab.py")(compare)(argv)


def compare(argv: list[str]) -> int:
    """The parent: the two children, the trials in turn, the table; 1 where the CPU scores differ."""
    args = parse_args(argv)
    check_parent(args)
    import torch
    from provenance import machine  # benchmarks/provenance.py (this script's folder is on sys.path)
    from search_speed import draw_specs

    from nas_proxy.files import write_text
    from nas_proxy.spaces import arch_id, get_space

    load_start = os.getloadavg()
    specs = draw_specs(get_space(args.space), args.n_archs, args.seed)
    passed = [
        *("--synthetic", str(args.synthetic.resolve()), "--space", args.space, "--seed", str(args.seed), "--epochs", str(args.epochs)),
        *("--report-every", str(args.report_every), "--device", args.device, "--threads", str(args.threads)),
    ]
    sides = {"old": Checkout(args.old, args, passed), "new": Checkout(args.new, args, passed)}
    info = {name: side.ask({"warmup": True, "spec": specs[0]}) for name, side in sides.items()}
    for name, side in sides.items():
        if not info[name]["package"].startswith(str(side.root)):
            raise SystemExit(f"the {name} child imported nasproxy from {info[name]['package']}, not from {side.root}")
    runs: list[dict[str, Any]] = []
    for r in range(args.repeats):
        for i, spec in enumerate(specs):
            order = ("old", "new") if (i + r) % 2 == 0 else ("new", "old")  # alternate which goes first
            for name in order:
                runs.append({"repeat": r, "index": i, "side": name, **sides[name].ask(spec)})
    for side in sides.values():
        side.close()

    def of(name: str, i: int) -> list[dict[str, Any]]:
        return [x for x in runs if x["side"] == name and x["index"] == i]

    print(
        f"space {args.space}, {args.n_archs} archs x {args.repeats} repeats, proxy {args.epochs} epochs, {args.threads} thread(s), {args.device}"
    )
    print(f"old: {args.old.resolve()}\nnew: {args.new.resolve()}\n")
    print("| arch id | old s (median) | new s (median) | old val % | new val % | same score |")
    print("|---|---|---|---|---|---|")
    differ = False
    for i, spec in enumerate(specs):
        old, new = of("old", i), of("new", i)
        same = all((a["accuracy"], a["curve"]) == (b["accuracy"], b["curve"]) for a in old for b in new)
        differ |= not same
        s_old, s_new = (statistics.median(x["seconds"] for x in side) for side in (old, new))
        print(
            f"| {arch_id(spec)} | {s_old:.2f} | {s_new:.2f} | {old[0]['accuracy']:.2f} | {new[0]['accuracy']:.2f} | {'yes' if same else 'DIFFER'} |"
        )
    mean = {name: statistics.fmean(x["seconds"] for x in runs if x["side"] == name) for name in sides}
    print("\n| summary | old | new |\n|---|---|---|")
    print(f"| mean s / trial | {mean['old']:.3f} | {mean['new']:.3f} |")
    print(f"| trials / hour (3600 / mean) | {3600 / mean['old']:.0f} | {3600 / mean['new']:.0f} |")
    print(f"| new / old trials per hour | | {mean['old'] / mean['new']:.3f}x |")
    pairs = [
        a["seconds"] / b["seconds"]
        for a in runs
        if a["side"] == "old"
        for b in runs
        if b["side"] == "new" and b["index"] == a["index"] and b["repeat"] == a["repeat"]
    ]
    print(
        f"| old s / new s of the same trial, median (min - max) | | {statistics.median(pairs):.3f} ({min(pairs):.2f} - {max(pairs):.2f}) |"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        provenance = machine(torch.device(args.device), load_start)
        write_text(args.json, json.dumps({"provenance": provenance, "children": info, "specs": specs, "runs": runs}, indent=1) + "\n")
    return 1 if differ and args.device == "cpu" else 0


if __name__ == "__main__":
    sys.exit(main())
