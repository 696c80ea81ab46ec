"""From ``nasproxy correlate`` arguments to a :func:`correlate` call (the study, the file, or the space)."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import optuna

from nas_proxy import checks
from nas_proxy.correlate.archs import Arch, from_space, from_study, read_archs
from nas_proxy.correlate.ground_truth import GroundTruthConfig
from nas_proxy.correlate.report import attach_to_study
from nas_proxy.correlate.runner import CorrelateConfig, CorrelateResult, correlate
from nas_proxy.errors import InvalidArgumentError
from nas_proxy.search.proxy import ProxyConfig
from nas_proxy.search.study import load_config
from nas_proxy.spaces import get_space
from nas_proxy.studies.storage import open_storage, require_existing
from nas_proxy.synthetic import load_synthetic

SEED_DEFAULT = 0  # the CLI's --seed default: with --study, it means "the study's seed"


def _early(text: str, epochs: int) -> tuple[tuple[float, ...], list[str]]:
    """The early-stopping points of ``--early``, and a note for each default one dropped because
    it is not before ``--full-epochs`` (the defaults must fit each other; points given are checked)."""
    try:
        points = tuple(float(f) for f in text.split(",") if f.strip())
    except ValueError:
        raise InvalidArgumentError(f"--early takes comma-separated epochs such as 0.1,1; got {text!r}") from None
    if points != GroundTruthConfig().early:
        return points, []
    dropped = [f"{f:g}" for f in points if f >= epochs]
    note = f"early stopping at {', '.join(dropped)} epochs (the default --early) is left out: not before --full-epochs {epochs}"
    return tuple(f for f in points if f < epochs), [note] if dropped else []


def _study_proxy(stored: ProxyConfig, given: ProxyConfig) -> tuple[ProxyConfig, list[str]]:
    """The proxy a study searched with, where the command line left an option at its default;
    a note for each option set to another value than the study's."""
    default = ProxyConfig().to_dict()
    changed = {k: v for k, v in given.to_dict().items() if v != default[k] and v != getattr(stored, k)}
    notes = [
        f"proxy training {k} is {v!r} as asked, not the study's {getattr(stored, k)!r}: the study's proxy scores are not reused"
        for k, v in changed.items()
    ]
    return replace(stored, **changed), notes


def _config(
    args: argparse.Namespace, proxy: ProxyConfig, ground_truth: GroundTruthConfig, space: str, synthetic: list[str], seed: int
) -> CorrelateConfig:
    return CorrelateConfig(
        space=space,
        synthetic=synthetic,
        proxies=[p.strip() for p in args.proxies.split(",")] if args.proxies else None,
        ground_truth=ground_truth,
        proxy=proxy,
        dataset=args.dataset,
        data_root=args.data_root,
        seed=seed,
        ceiling=args.ceiling,
        random_subset=not args.no_random_subset,
        n_boot=args.bootstrap,
        device=args.device,
        workers=args.workers,
        gt_storage=args.gt_storage,
    )


def correlate_command(args: argparse.Namespace, proxy: ProxyConfig) -> CorrelateResult:
    """`nasproxy correlate`: ``args`` as the CLI parsed them; ``proxy`` built from its proxy options.

    With ``--study`` the synthetic set is scored with the proxy training and the seed the study
    searched with; an option set on the command line to another value than its default overrides it."""
    early, notes = _early(args.early, args.full_epochs)
    ground_truth = GroundTruthConfig(
        epochs=args.full_epochs,
        lr=args.full_lr,
        batch_size=args.full_batch_size,
        augment=args.full_augment,
        images=args.full_images,
        early=early,
    )
    checks.positive("--n-archs", args.n_archs)
    _config(args, proxy, ground_truth, args.space or "", list(args.synthetic or []), args.seed).validate()  # before any file is touched
    if args.archs:
        checks.existing_file("--archs", args.archs)
    synthetic = list(args.synthetic or [])
    seed = args.seed
    space_name = args.space
    study = None
    url = ""
    archs: list[Arch]
    if args.study:
        require_existing(args.storage, args.study)
        storage, url = open_storage(args.storage, args.study)
        search_config, _ = load_config(storage, args.study)
        if search_config is None:
            raise InvalidArgumentError(f"{args.study!r} is a ground-truth study; --study takes a search study")
        space_name = space_name or search_config.space
        if args.synthetic is None:
            synthetic = [search_config.synthetic]
        proxy, changed = _study_proxy(search_config.proxy, proxy)
        notes += changed
        study = optuna.load_study(study_name=args.study, storage=storage)
        if seed == SEED_DEFAULT:  # the study's seed: the same networks as in the search
            seed = search_config.seed
        elif seed != search_config.seed:
            notes.append(f"seed {seed} as asked, not the study's {search_config.seed}: the study's proxy scores are not reused")
        archs = from_study(study, args.n_archs, seed)
        if not archs:
            raise InvalidArgumentError(f"study {args.study!r} has no finished trials yet; run the search first")
        reusable = search_config.proxy == proxy and search_config.seed == seed and search_config.space == space_name
        sha = load_synthetic(synthetic[0]).meta.get("tensors_sha256") if synthetic else None
        for a in archs:  # search scores are reused only when made the same way on the same images
            if not (reusable and a.study_sha256 is not None and a.study_sha256 == sha):
                a.study_value = None
    elif args.archs:
        if not space_name:
            raise InvalidArgumentError("--archs needs --space: the space the architectures belong to")
        archs = read_archs(args.archs, get_space(space_name))
    else:
        if not space_name:
            raise InvalidArgumentError("--sample needs --space")
        archs = from_space(get_space(space_name), args.n_archs, seed)
    config = _config(args, proxy, ground_truth, space_name, synthetic, seed)
    result = correlate(config, archs, Path(args.out), progress=not args.quiet, notes=notes)
    if study is not None:
        attach_to_study(study, result, url)
    return result
