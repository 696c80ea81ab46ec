"""The ``nasproxy`` command line. Commands compute and return results; renderers print them.

Errors a user can cause print as one line and exit non-zero; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from nas_proxy.errors import NasProxyError


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (the usage is behind --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand's default must not overwrite ``nasproxy --debug COMMAND``
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    return p


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


# ---- distill -------------------------------------------------------------------------------


def _add_distill(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    from nas_proxy.distill import METHODS, DistillConfig
    from nas_proxy.models.convnet import NORMALIZATIONS

    d = DistillConfig()
    p = sub.add_parser("distill", parents=[common], help="distil a dataset into a synthetic set", description="Distil a real dataset into a few synthetic images per class.")
    p.add_argument("--dataset", required=True, help="fashion-mnist, mnist, cifar10, cifar100, svhn, digits or imagefolder:PATH")
    p.add_argument("--data-root", help="directory with the dataset files")
    p.add_argument("--download", action="store_true", help="download the dataset into --data-root with torchvision (needs internet)")
    p.add_argument("--image-size", type=int, default=d.image_size, help="image folders: side after resize (default %(default)s)")
    p.add_argument("--ipc", type=int, required=True, help="synthetic images per class")
    p.add_argument("--method", default=d.method, choices=METHODS.names(), help="default %(default)s")
    p.add_argument("--iterations", type=int, default=d.iterations, help="default %(default)s (paper)")
    p.add_argument("--batch-real", type=int, default=d.batch_real, help="real images per class per iteration (default %(default)s)")
    p.add_argument("--image-lr", type=float, help="SGD lr on the pixels (default 1.0 for ipc <= 50, else 10)")
    p.add_argument("--lambda", dest="lambda_mmd", type=float, help="MMD weight (default 0.01 up to 32 px, else 0.02)")
    p.add_argument("--attention-power", type=float, default=d.attention_power, help="p of the attention maps: paper 4, official code 1 (default %(default)s)")
    p.add_argument("--net-norm", default=d.net_norm, choices=NORMALIZATIONS, help="distillation network norm: paper instancenorm, official code batchnorm (default %(default)s)")
    p.add_argument("--init", default=d.init, choices=("real", "noise"), help="default %(default)s")
    p.add_argument("--seed", type=int, default=d.seed, help="default %(default)s")
    p.add_argument("--split-seed", type=int, default=d.split_seed, help="seed of the held-out validation split (default %(default)s)")
    p.add_argument("--val-fraction", type=float, default=d.val_fraction, help="held-out validation fraction (default %(default)s)")
    p.add_argument("--device", default=d.device, help="auto, cpu or cuda[:N] (default %(default)s)")
    p.add_argument("--no-amp", action="store_true", help="no bf16 autocast on GPU")
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every, help="default %(default)s iterations")
    p.add_argument("--out", required=True, help="output directory")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--resume", action="store_true", help="continue the run in --out")
    g.add_argument("--force", action="store_true", help="replace the run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the artifact's metadata as JSON")
    p.set_defaults(func=cmd_distill)


def cmd_distill(args: argparse.Namespace) -> int:
    from nas_proxy.distill import DistillConfig, distill

    config = DistillConfig(
        dataset=args.dataset, data_root=args.data_root, image_size=args.image_size, ipc=args.ipc, method=args.method,
        iterations=args.iterations, batch_real=args.batch_real, image_lr=args.image_lr, lambda_mmd=args.lambda_mmd,
        attention_power=args.attention_power, net_norm=args.net_norm, init=args.init, seed=args.seed,
        split_seed=args.split_seed, val_fraction=args.val_fraction, device=args.device, amp=not args.no_amp,
        checkpoint_every=args.checkpoint_every,
    )
    if args.download:
        from nas_proxy.data import load_dataset

        load_dataset(args.dataset, args.data_root, download=True, image_size=args.image_size)
    result = distill(config, args.out, resume=args.resume, force=args.force, progress=not args.quiet, command=_command_line())
    if args.json:
        _print_json(result.meta)
    else:
        m = result.meta
        loss = m["loss"]
        change = f"; loss {loss['first']['loss']:.4g} -> {loss['last']['loss']:.4g}" if loss.get("windows") else ""
        print(f"{m['method']}: {m['num_images']} images ({m['ipc']} per class) of {m['dataset']['name']}, {m['iterations_done']} iterations in {m['seconds']:.1f} s on {m['device']}{change}")
        print(f"wrote {result.path}/ (synthetic.safetensors, meta.json, grid.png); next: nasproxy evaluate {shlex.quote(str(result.path))}")
    return 0


# ---- evaluate ------------------------------------------------------------------------------


def _add_evaluate(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    from nas_proxy.training import TrainConfig

    t = TrainConfig()
    p = sub.add_parser("evaluate", parents=[common], help="train fresh networks on a synthetic set, test on real data", description="The standard protocol: fresh ConvNets trained on the synthetic set only, scored on the real test set.")
    p.add_argument("path", metavar="DIR", help="a synthetic set made by 'nasproxy distill'")
    p.add_argument("--runs", type=int, default=5, help="networks to train (default %(default)s)")
    p.add_argument("--epochs", type=int, default=t.epochs, help="default %(default)s")
    p.add_argument("--model", default="", help="ConvNet spec, e.g. depth=4,width=64,normalization=batchnorm (default ConvNet-3)")
    p.add_argument("--lr", type=float, default=t.lr, help="default %(default)s")
    p.add_argument("--batch-size", type=int, default=t.batch_size, help="default %(default)s")
    p.add_argument("--no-dsa", action="store_true", help="train without DSA augmentation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--data-root", help="where the real data is, if not where distill found it")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from nas_proxy.evaluate import evaluate
    from nas_proxy.training import TrainConfig

    train = TrainConfig(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, dsa=not args.no_dsa)
    result = evaluate(args.path, runs=args.runs, epochs=args.epochs, model=args.model or None, train=train, seed=args.seed, device=args.device, data_root=args.data_root, progress=not args.quiet)
    if args.json:
        _print_json(result.to_dict())
    else:
        s = result.synthetic
        print(f"{s['dataset']} {s['method']} ipc={s['ipc']}: test accuracy {result.mean:.2f} +- {result.std:.2f} % over {len(result.accuracies)} runs "
              f"({args.epochs} epochs, {result.model}, {result.device}, {result.seconds:.0f} s)")
    return 0


# ---- entry point ---------------------------------------------------------------------------

COMMANDS: list[Callable[[argparse._SubParsersAction, argparse.ArgumentParser], None]] = [_add_distill, _add_evaluate]  # type: ignore[type-arg]


def build_parser() -> argparse.ArgumentParser:
    from nas_proxy import __version__

    common = _common()
    parser = _Parser(prog="nasproxy", parents=[common], description="Neural-architecture search on distilled data: distill -> search -> correlate.")
    parser.add_argument("--version", action="version", version=f"nasproxy {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")
    for add in COMMANDS:
        add(sub, common)
    return parser


def _command_line() -> str:
    return "nasproxy " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.debug = getattr(args, "debug", False)
    try:
        return int(args.func(args))
    except NasProxyError as e:
        if args.debug:
            raise
        print(f"nasproxy {args.command}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"nasproxy {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the last line of defence; --debug shows everything
        if args.debug:
            raise
        print(f"nasproxy {args.command}: internal error: {type(e).__name__}: {' '.join(str(e).split())} (rerun with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
