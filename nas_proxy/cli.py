"""The ``nasproxy`` command line. Commands compute and return results; renderers print them.

Errors a user can cause print as one line and exit non-zero; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from nas_proxy.checks import finite_float
from nas_proxy.errors import InvalidArgumentError, NasProxyError


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


def _add_distill(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from nas_proxy.distill import METHODS, DistillConfig
    from nas_proxy.models.convnet import NORMALIZATIONS

    d = DistillConfig()
    p = sub.add_parser(
        "distill",
        parents=[common],
        help="distil a dataset into a synthetic set",
        description="Distil a real dataset into a few synthetic images per class.",
    )
    p.add_argument("--dataset", required=True, help="fashion-mnist, mnist, cifar10, cifar100, svhn, digits or imagefolder:PATH")
    p.add_argument("--data-root", help="directory with the dataset files")
    p.add_argument("--download", action="store_true", help="download the dataset into --data-root with torchvision (needs internet)")
    p.add_argument("--image-size", type=int, default=d.image_size, help="image folders: side after resize (default %(default)s)")
    p.add_argument("--ipc", type=int, required=True, help="synthetic images per class")
    p.add_argument("--method", default=d.method, choices=METHODS.names(), help="default %(default)s")
    p.add_argument("--iterations", type=int, default=d.iterations, help="default %(default)s (paper)")
    p.add_argument("--batch-real", type=int, default=d.batch_real, help="real images per class per iteration (default %(default)s)")
    p.add_argument("--image-lr", type=finite_float, help="SGD lr on the pixels (default 1.0 for ipc <= 50, else 10)")
    p.add_argument("--lambda", dest="lambda_mmd", type=finite_float, help="MMD weight (default 0.01 up to 32 px, else 0.02)")
    p.add_argument(
        "--attention-power",
        type=finite_float,
        default=d.attention_power,
        help="p of the attention maps: paper 4, official code 1 (default %(default)s)",
    )
    p.add_argument(
        "--net-norm",
        default=d.net_norm,
        choices=NORMALIZATIONS,
        help="distillation network norm: paper instancenorm, official code batchnorm (default %(default)s)",
    )
    p.add_argument("--init", default=d.init, choices=("real", "noise"), help="default %(default)s")
    p.add_argument("--seed", type=int, default=d.seed, help="default %(default)s")
    p.add_argument("--split-seed", type=int, default=d.split_seed, help="seed of the held-out validation split (default %(default)s)")
    p.add_argument("--val-fraction", type=finite_float, default=d.val_fraction, help="held-out validation fraction (default %(default)s)")
    p.add_argument("--device", default=d.device, help="auto, cpu or cuda[:N] (default %(default)s)")
    p.add_argument("--no-amp", action="store_true", help="no bf16 autocast on GPU")
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every, help="default %(default)s iterations")
    p.add_argument("--out", required=True, help="output directory")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--resume", action="store_true", help="continue the run in --out")
    g.add_argument("--force", action="store_true", help="replace the run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the artifact's metadata as JSON")
    p.add_argument(
        "--distributed",
        action="store_true",
        help="one rank of 'torchrun --nproc-per-node N -m nas_proxy distill ...': distil this rank's block of classes, rank 0 merges",
    )
    p.set_defaults(func=cmd_distill)


def cmd_distill(args: argparse.Namespace) -> int:
    from nas_proxy.distill import DistillConfig, distill

    config = DistillConfig(
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
        init=args.init,
        seed=args.seed,
        split_seed=args.split_seed,
        val_fraction=args.val_fraction,
        device=args.device,
        amp=not args.no_amp,
        checkpoint_every=args.checkpoint_every,
    )
    if args.download:
        from nas_proxy.data import load_dataset

        load_dataset(args.dataset, args.data_root, download=True, image_size=args.image_size)
    if args.distributed:
        from nas_proxy.distill.sharded import distill_sharded

        sharded = distill_sharded(config, args.out, args.resume, args.force, not args.quiet, command=_command_line())
        if sharded is None:
            return 0  # ranks other than 0: rank 0 reports the merged artifact
        result = sharded
    else:
        _refuse_torchrun_without_distributed()
        result = distill(config, args.out, resume=args.resume, force=args.force, progress=not args.quiet, command=_command_line())
    if args.json:
        _print_json(result.meta)
    else:
        m = result.meta
        loss = m["loss"]
        change = f"; loss {loss['first']['loss']:.4g} -> {loss['last']['loss']:.4g}" if loss.get("windows") else ""
        print(
            f"{m['method']}: {m['num_images']} images ({m['ipc']} per class) of {m['dataset']['name']}, {m['iterations_done']} iterations in {m['seconds']:.1f} s on {m['device']}{change}"
        )
        print(f"wrote {result.path}/ (synthetic.safetensors, meta.json, grid.png); next: nasproxy evaluate {shlex.quote(str(result.path))}")
    return 0


def _refuse_torchrun_without_distributed() -> None:
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise InvalidArgumentError(
            f"WORLD_SIZE is {os.environ['WORLD_SIZE']} (a torchrun launch) but --distributed is missing: "
            "every process would distil all classes into the same --out; add --distributed"
        )


# ---- evaluate ------------------------------------------------------------------------------


def _add_evaluate(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from nas_proxy.training import TrainConfig

    t = TrainConfig()
    p = sub.add_parser(
        "evaluate",
        parents=[common],
        help="train fresh networks on a synthetic set, test on real data",
        description="The standard protocol: fresh ConvNets trained on the synthetic set only, scored on the real test set.",
    )
    p.add_argument("path", metavar="DIR", help="a synthetic set made by 'nasproxy distill'")
    p.add_argument("--runs", type=int, default=5, help="networks to train (default %(default)s)")
    p.add_argument("--epochs", type=int, default=t.epochs, help="default %(default)s")
    p.add_argument("--model", default="", help="ConvNet spec, e.g. depth=4,width=64,normalization=batchnorm (default ConvNet-3)")
    p.add_argument("--lr", type=finite_float, default=t.lr, help="default %(default)s")
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
    result = evaluate(
        args.path,
        runs=args.runs,
        epochs=args.epochs,
        model=args.model or None,
        train=train,
        seed=args.seed,
        device=args.device,
        data_root=args.data_root,
        progress=not args.quiet,
    )
    if args.json:
        _print_json(result.to_dict())
    else:
        s = result.synthetic
        print(
            f"{s['dataset']} {s['method']} ipc={s['ipc']}: test accuracy {result.mean:.2f} +- {result.std:.2f} % over {len(result.accuracies)} runs "
            f"({args.epochs} epochs, {result.model}, {result.device}, {result.seconds:.0f} s)"
        )
    return 0


# ---- search / worker / dashboard / score ---------------------------------------------------


def _add_proxy_options(p: argparse.ArgumentParser) -> None:
    from nas_proxy.search import ProxyConfig

    d = ProxyConfig()
    g = p.add_argument_group("proxy training (each candidate on the synthetic set)")
    g.add_argument("--epochs", type=int, default=d.epochs, help="default %(default)s")
    g.add_argument("--lr", type=finite_float, default=d.lr, help="default %(default)s")
    g.add_argument("--batch-size", type=int, default=d.batch_size, help="default %(default)s")
    g.add_argument("--no-dsa", action="store_true", help="no DSA augmentation")
    g.add_argument(
        "--report-every", type=int, default=d.report_every, help="epochs between validation reports (pruning; default %(default)s)"
    )
    g.add_argument(
        "--report-images", type=int, default=d.report_images, help="validation images scored at each report (default %(default)s)"
    )
    g.add_argument("--no-amp", action="store_true", help="CUDA: train and validate in float32 instead of bf16 autocast")
    g.add_argument("--channels-last", action="store_true", help="CUDA: NHWC weights and batches")
    g.add_argument("--cuda-graph", action="store_true", help="CUDA: replay forward + backward as CUDA graphs")
    g.add_argument(
        "--proxy-seeds",
        type=int,
        default=d.seeds,
        help="K seeds of each candidate trained as one batched model, scored by their mean (default %(default)s)",
    )


def _add_heartbeat_options(p: argparse.ArgumentParser) -> None:
    from nas_proxy.search.storage import GRACE_SECONDS, HEARTBEAT_SECONDS

    g = p.add_argument_group("dead workers on database storages (PostgreSQL, MySQL)")
    g.add_argument(
        "--heartbeat-interval", type=int, default=HEARTBEAT_SECONDS, help="seconds between a trial's heartbeats (default %(default)s)"
    )
    g.add_argument(
        "--grace", type=int, default=GRACE_SECONDS, help="seconds without a heartbeat before a trial is retried (default %(default)s)"
    )


def _proxy_config(args: argparse.Namespace) -> Any:
    from nas_proxy.search import ProxyConfig

    return ProxyConfig(
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        dsa=not args.no_dsa,
        report_every=args.report_every,
        report_images=args.report_images,
        amp=not args.no_amp,
        channels_last=args.channels_last,
        cuda_graph=args.cuda_graph,
        seeds=args.proxy_seeds,
    )


def _add_search(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from nas_proxy.search import PRUNERS, SAMPLERS

    p = sub.add_parser(
        "search",
        parents=[common],
        help="run an Optuna study on the proxy",
        description="Search architectures: every trial trains a candidate on the synthetic set and scores it on the real validation split.",
    )
    p.add_argument("--synthetic", required=True, metavar="DIR", help="a synthetic set made by 'nasproxy distill'")
    p.add_argument("--space", required=True, help="a registered space (nasproxy spaces) or a space file path")
    p.add_argument("--study", required=True, help="study name (resumed when it exists)")
    p.add_argument("--storage", help="Optuna storage URL (default: journal file studies/STUDY/journal.log)")
    p.add_argument("--n-trials", type=int, required=True, help="total trials of the study (complete + pruned), across workers and runs")
    p.add_argument("--timeout", type=finite_float, help="stop starting trials after this many seconds")
    p.add_argument("--sampler", default="tpe", choices=SAMPLERS.names(), help="default %(default)s")
    p.add_argument("--pruner", choices=PRUNERS.names(), help="default median (none with several objectives)")
    p.add_argument("--objectives", default="accuracy", help="accuracy, optionally followed by params and/or flops: accuracy,params")
    p.add_argument("--max-params", type=int, help="skip candidates with more parameters")
    p.add_argument("--workers", type=int, default=1, help="processes on this machine (default %(default)s)")
    _add_heartbeat_options(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--data-root", help="where the real data is, if not where distill found it")
    p.add_argument("--out", help="where trials.csv and best.json go (default studies/STUDY)")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--json", action="store_true")
    _add_proxy_options(p)
    p.set_defaults(func=cmd_search)


def cmd_search(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nas_proxy.search import SearchConfig, search

    objectives = [o.strip() for o in args.objectives.split(",") if o.strip()]
    pruner = args.pruner or ("median" if len(objectives) == 1 else "none")
    config = SearchConfig(
        synthetic=args.synthetic,
        space=args.space,
        objectives=objectives,
        sampler=args.sampler,
        pruner=pruner,
        max_params=args.max_params,
        seed=args.seed,
        device=args.device,
        data_root=args.data_root,
        proxy=_proxy_config(args),
    )
    result = search(
        config,
        args.study,
        args.n_trials,
        args.storage,
        args.timeout,
        args.workers,
        Path(args.out) if args.out else None,
        progress=not args.quiet,
        heartbeat=(args.heartbeat_interval, args.grace),
    )
    if args.json:
        _print_json(result.to_dict())
    else:
        counts = ", ".join(f"{n} {state}" for state, n in sorted(result.trials.items()))
        print(f"study {result.study}: {counts} ({result.seconds:.0f} s)")
        _print_table(result.best, objectives)
        print(f"best spec: {result.files['best']}   all trials: {result.files['trials']}")
        print(f"dashboard: nasproxy dashboard --study {result.study} --storage {shlex.quote(result.storage)}")
    if result.unmet:
        print(f"nasproxy search: error: {result.unmet}", file=sys.stderr)
        return 1
    return 0


def _print_table(rows: list[dict[str, Any]], objectives: list[str]) -> None:
    if not rows:
        print("no complete trials yet")
        return
    print(f"{'trial':>5}  {'val acc %':>9}  {'params':>10}  {'MFLOPs':>9}  {'seconds':>7}  arch_id       spec")
    for r in rows:
        spec = {k: v for k, v in (r["spec"] or {}).items() if k != "family"}
        print(
            f"{r['number']:>5}  {r['values'][0]:>9.2f}  {r['params'] or 0:>10,}  {(r['flops'] or 0) / 1e6:>9.1f}  {r['proxy_seconds'] or 0:>7.1f}  {r['arch_id']}  {json.dumps(spec, separators=(',', ':'))}"
        )


def _add_worker(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "worker",
        parents=[common],
        help="join an existing study (another process or machine)",
        description="Join a study created by 'nasproxy search'; its settings are read from the study.",
    )
    p.add_argument("--study", required=True)
    p.add_argument("--storage", required=True, help="the study's storage URL (a journal path on the same host, or a database URL)")
    p.add_argument(
        "--n-trials",
        type=int,
        help="stop when the study has this many trials (default: the --n-trials of the last 'nasproxy search' on it)",
    )
    p.add_argument("--data-root", help="where the real data is on this machine, if not where the study's machine had it")
    p.add_argument("--timeout", type=finite_float)
    p.add_argument("--synthetic", metavar="DIR", help="the synthetic set at another path on this machine (checked by hash)")
    p.add_argument("--device", help="override the study's device")
    p.add_argument("--worker-index", type=int, default=0, help="sampler seed offset (distinct per worker)")
    _add_heartbeat_options(p)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_worker)


def cmd_worker(args: argparse.Namespace) -> int:
    from nas_proxy.search import join

    join(
        args.study,
        args.storage,
        args.n_trials,
        args.timeout,
        args.worker_index,
        args.synthetic,
        args.device,
        not args.quiet,
        args.data_root,
        (args.heartbeat_interval, args.grace),
    )
    return 0


def _add_dashboard(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "dashboard",
        parents=[common],
        help="open optuna-dashboard on a study",
        description="Serve optuna-dashboard for a study (127.0.0.1 by default).",
    )
    p.add_argument("--study", required=True)
    p.add_argument("--storage", help="default: studies/STUDY/journal.log")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.set_defaults(func=cmd_dashboard)


def cmd_dashboard(args: argparse.Namespace) -> int:
    from nas_proxy.search.dashboard import serve

    serve(args.study, args.storage, args.host, args.port)
    return 0


def _add_score(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "score",
        parents=[common],
        help="proxy scores of a list of architectures",
        description="Train each spec of a JSON list on the synthetic set and score it on the real validation split.",
    )
    p.add_argument("--synthetic", required=True, metavar="DIR")
    p.add_argument("--space", required=True)
    p.add_argument("--archs", required=True, metavar="FILE", help="JSON list of specs (or of objects with a 'spec' key)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--data-root")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--json", action="store_true")
    _add_proxy_options(p)
    p.set_defaults(func=cmd_score)


def cmd_score(args: argparse.Namespace) -> int:
    from nas_proxy.search import score

    specs = _read_specs(args.archs)
    results = score(args.synthetic, args.space, specs, _proxy_config(args), args.seed, args.device, args.data_root, progress=not args.quiet)
    if args.json:
        _print_json([r.to_dict() for r in results])
    else:
        rows = [
            {
                "number": i,
                "values": [r.accuracy],
                "params": r.params,
                "flops": r.flops,
                "proxy_seconds": r.seconds["total"],
                "arch_id": r.arch_id,
                "spec": r.spec,
            }
            for i, r in enumerate(results)
        ]
        _print_table(rows, ["accuracy"])
    return 0


def _read_specs(path: str) -> list[dict[str, Any] | str]:
    from nas_proxy.checks import read_text
    from nas_proxy.errors import InvalidArgumentError

    try:
        data = json.loads(read_text("--archs", path))
    except json.JSONDecodeError as e:
        raise InvalidArgumentError(f"--archs file {path} is not valid JSON: {e}") from None
    if isinstance(data, dict) and "top" in data:  # a best.json exported by search
        top = data["top"]
        if not isinstance(top, list) or not all(isinstance(t, dict) and "spec" in t for t in top):
            raise InvalidArgumentError(
                f"--archs file {path} looks like a best.json but its 'top' entries lack 'spec'; export it again with nasproxy search"
            )
        data = [t["spec"] for t in top]
    if not isinstance(data, list) or not data:
        raise InvalidArgumentError(f"--archs file {path} must hold a non-empty JSON list of specs")
    specs = [d["spec"] if isinstance(d, dict) and "spec" in d else d for d in data]
    bad = [i for i, s in enumerate(specs) if not isinstance(s, dict | str)]  # text: the space's short form
    if bad:
        raise InvalidArgumentError(f"--archs file {path}: entries {bad[:5]} are neither spec objects nor spec text")
    return specs


def _add_spaces(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "spaces",
        parents=[common],
        help="list the registered search spaces",
        description="List the registered search spaces, or describe one.",
    )
    p.add_argument("name", nargs="?", help="a space name or file to describe")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_spaces)


def cmd_spaces(args: argparse.Namespace) -> int:
    from nas_proxy.spaces import get_space, space_names

    described = [get_space(n).describe() for n in ([args.name] if args.name else space_names())]
    if args.json:
        _print_json(described)
    else:
        for d in described:
            size = d.get("size")
            print(f"{d['name']:<16} family={d['family']:<8} size={size if size else 'conditional'}  {d.get('description', '')}")
    return 0


# ---- entry point ---------------------------------------------------------------------------

# ---- correlate -----------------------------------------------------------------------------


def _add_correlate(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from nas_proxy.correlate.ground_truth import GroundTruthConfig

    d = GroundTruthConfig()
    p = sub.add_parser(
        "correlate",
        parents=[common],
        help="rank correlation of the proxies with full-data training",
        description="Train architectures on the real training split (the ground truth, scored on the test set) and "
        "compare how every proxy ranks them: synthetic sets, a random real subset, early stopping, training-free scores.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--study", help="take the architectures from this search study (its best, then stratified)")
    src.add_argument("--archs", metavar="FILE", help="JSON/CSV list of specs, optionally with full-data 'accuracy' (%%)")
    src.add_argument("--sample", action="store_true", help="draw --n-archs architectures from --space at random")
    p.add_argument("--storage", help="the search study's storage (default: studies/STUDY/journal.log)")
    p.add_argument("--space", help="the space of the architectures (default: the study's)")
    p.add_argument("--synthetic", nargs="*", default=None, metavar="DIR", help="synthetic sets to compare (default: the study's)")
    p.add_argument("--dataset", help="the real data, when no synthetic set is given")
    p.add_argument("--data-root")
    p.add_argument("--proxies", help="comma-separated subset of the proxies (default: all available)")
    p.add_argument("--no-random-subset", action="store_true", help="do not add a random real subset of the same size")
    p.add_argument("--n-archs", type=int, default=20, help="architectures from the study or the space (default %(default)s)")
    p.add_argument("--full-epochs", type=int, default=d.epochs, help="ground-truth epochs (default %(default)s)")
    p.add_argument("--full-lr", type=finite_float, default=d.lr, help="default %(default)s")
    p.add_argument("--full-batch-size", type=int, default=d.batch_size, help="default %(default)s")
    p.add_argument("--full-images", type=int, help="train the ground truth on this many training images (default: all)")
    p.add_argument("--full-augment", action="store_true", help="DSA augmentation for the ground truth")
    p.add_argument("--early", default=",".join(f"{f:g}" for f in d.early), help="early-stopping points in epochs (default %(default)s)")
    p.add_argument("--ceiling", type=int, help="architectures trained with a second seed (default: all)")
    p.add_argument("--gt-storage", help="storage of the ground-truth study (share it between machines; default a journal under studies/)")
    p.add_argument("--workers", type=int, default=1, help="ground-truth processes on this machine (default %(default)s)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the intervals (default %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--json", action="store_true")
    _add_proxy_options(p)
    p.set_defaults(func=cmd_correlate)


def cmd_correlate(args: argparse.Namespace) -> int:
    from nas_proxy.correlate import correlate_command

    result = correlate_command(args, _proxy_config(args))
    if args.json:
        _print_json(result.to_dict())
        return 0
    from nas_proxy.correlate.report import summary_lines

    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print("\n".join(summary_lines(result)))
    print(f"report: {result.out / 'report.html'}  ({result.out / 'report.md'}, results.csv, results.json)")
    return 0


# ---- run -----------------------------------------------------------------------------------


def _add_run(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "run",
        parents=[common],
        help="distill -> search -> correlate from a preset",
        description="Run the whole pipeline from a preset file (studies/*.toml); run it again to resume.",
    )
    p.add_argument("preset", help="a preset TOML file, e.g. studies/fashion-mnist-convnet720.toml")
    p.add_argument("--dataset", help="replace the preset's dataset (the run gets its own name)")
    p.add_argument("--device", help="replace the preset's device")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from nas_proxy.correlate.report import summary_lines
    from nas_proxy.pipeline import run

    done = run(args.preset, args.dataset, args.device, progress=not args.quiet)
    print("\n".join(summary_lines(done["result"])))
    print(f"synthetic set: {done['synthetic']}")
    print(f"search:        {done['search']['best']}  (all trials: {done['search']['trials']})")
    print(f"report:        {done['report']}")
    print(f"dashboard:     nasproxy dashboard --study {done['study']} --storage {shlex.quote(done['storage'])}")
    return 0


COMMANDS: list[Callable[[argparse._SubParsersAction, argparse.ArgumentParser], None]] = [
    _add_distill,
    _add_evaluate,
    _add_search,
    _add_worker,
    _add_dashboard,
    _add_score,
    _add_correlate,
    _add_run,
    _add_spaces,
]


def build_parser() -> argparse.ArgumentParser:
    from nas_proxy import __version__

    common = _common()
    parser = _Parser(
        prog="nasproxy", parents=[common], description="Neural-architecture search on distilled data: distill -> search -> correlate."
    )
    parser.add_argument("--version", action="version", version=f"nasproxy {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")
    for add in COMMANDS:
        add(sub, common)
    return parser


def _command_line() -> str:
    return "nasproxy " + " ".join(shlex.quote(a) for a in sys.argv[1:])


# what a second run of the same command does after Ctrl-C (distill says it in its own error)
RESUME_HINTS = {
    "search": "; finished trials are stored; run the same command again to resume the study",
    "worker": "; finished trials are stored; run the same command again to rejoin the study",
    "correlate": "; finished trainings are cached; run the same command again to resume",
    "run": "; run the same command again to resume",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``nasproxy`` with ``argv`` (None: this process's arguments); the exit status."""
    code = _main(argv)
    if code == 130 and argv is None:  # the program itself, interrupted
        _exit_interrupted()
    return code


def _exit_interrupted() -> NoReturn:
    # Once a KeyboardInterrupt has passed through code run by exec() (the classes that a lazy import
    # makes), CPython ends the process by SIGINT (status -2) at exit even though it was handled:
    # leave at once instead, everything written being already on disk.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)


def _main(argv: Sequence[str] | None) -> int:
    from nas_proxy import interrupts

    interrupts.install()  # Ctrl-C: exit 130 from here on, and never inside a storage write
    try:
        args = build_parser().parse_args(argv)
    except KeyboardInterrupt:
        print("nasproxy: interrupted", file=sys.stderr)
        return 130
    args.debug = getattr(args, "debug", False)
    try:
        return int(args.func(args))
    except NasProxyError as e:
        if args.debug:
            raise
        print(f"nasproxy {args.command}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        hint = RESUME_HINTS.get(args.command, "")
        print(f"nasproxy {args.command}: interrupted{hint}", file=sys.stderr)
        return 130
    except Exception as e:
        if args.debug:
            raise
        print(
            f"nasproxy {args.command}: internal error: {type(e).__name__}: {' '.join(str(e).split())} (rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
