"""``nasproxy correlate``: every proxy and the ground truth on the same architectures, compared.

Ground truth -> proxies -> metrics -> a :class:`CorrelateResult`, returned to the caller, who
writes the reports (:mod:`nas_proxy.report.render`). Costly pieces are cached so that an
interrupted or repeated run redoes nothing: the ground truth in its own Optuna study (shared by
workers and machines), every proxy score in an append-only ``cache/*.jsonl`` of the output
directory, keyed by what determines it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nas_proxy import configs
from nas_proxy.checks import file_kind, not_a_synthetic_set
from nas_proxy.correlate.archs import Arch, check_in_space
from nas_proxy.correlate.config import CorrelateConfig, data_ref
from nas_proxy.correlate.measure import ceiling_row, dimension_metrics, proxy_metrics
from nas_proxy.correlate.metrics import MIN_POINTS
from nas_proxy.correlate.result import TRUTH_SEED2, CorrelateResult, check_proxy_names
from nas_proxy.correlate.truth import Truth, ground_truth_step
from nas_proxy.data.base import data_changed
from nas_proxy.data.registry import load_dataset, read_once
from nas_proxy.errors import InvalidArgumentError
from nas_proxy.files import check_writable
from nas_proxy.groundtruth.study import DataRef, study_name
from nas_proxy.progress import OnProgress, Progress
from nas_proxy.proxies import Proxy, RunSetup, Scored, offered, score_archs, select
from nas_proxy.proxies.choose import check_training_used
from nas_proxy.spaces import get_space
from nas_proxy.studies.storage import Storage, check_writable_storage, open_storage
from nas_proxy.trainers.fulldata import batch_used, check_images
from nas_proxy.trainers.synthetic_set import ready_to_count_flops
from nas_proxy.utils import resolve_device

MEANINGFUL = 10  # fewer architectures than this: the report says the correlations are not meaningful


CACHE_DIR = "cache"  # in --out: each proxy's scores, kept as they are made


@dataclass(frozen=True)
class Searched:
    """The search study a run's architectures come from (``correlate --study``), whose page its report is attached to,
    and the data it searched: its record's ``dataset`` (``name``, ``content_sha256``; none recorded before stop 50)."""

    study: str
    dataset: Mapping[str, Any]


def check_searched_data(searched: Searched, ref: DataRef) -> None:
    """Refuse to correlate a study's architectures on other images than it searched (``ref``: the data this run trains
    and scores on), in the one wording of every content digest refusal (:func:`~nas_proxy.data.base.data_changed`).
    Refused, not warned: the report is attached to the study's page, and its ground truth kept beside the study, as
    that search's; trained on other images, it judges a search that never ran (fix52b: photos turned since the search,
    exit 0, the report attached without a word). A run on another dataset than the study's is no edit of its images:
    the sets' own checks judge it; a study that recorded no digest is taken as before. Asked after the proxies' own
    checks, which name a set made from other images in its words ("syn was made from ..."), and before the ground truth
    trains or a random subset is drawn."""
    if searched.dataset.get("name") != ref.dataset:
        return
    found = load_dataset(ref.dataset, ref.data_root, image_size=ref.image_size).content_sha256()  # (read once: the run's)
    changed = data_changed(
        f"study {searched.study!r} was searched on",
        searched.dataset.get("content_sha256"),
        found,
        ref.dataset,
        str(ref.data_root or ""),
        otherwise="correlate its architectures apart, unattached (--archs with its best.json, and --space)",
    )
    if changed is not None:
        raise changed


def folders_written(out: Path) -> list[Path]:
    """What a correlation in ``out`` writes: ``out``, its scores' caches folder and the caches already in it (appended
    to, not replaced: a read-only one fails though its folder may be written). Each is checked before any training is
    stored, by correlate and by ``run`` before its first stage: before perm48 a read-only cache/ was refused after the
    ground truth trained, before stop 49 a read-only cache in it, and before review48 ``run`` distilled and searched
    first. Every cache is checked, not only this run's proxies': which of them a run appends to is known only once the
    ground truth has kept its architectures and each proxy is prepared (a random subset made)."""
    try:
        caches = sorted((out / CACHE_DIR).glob("*.jsonl"))
    except OSError:  # a name too long, a folder that cannot be listed: the folders' own check says so, in its words
        caches = []
    return [out, out / CACHE_DIR, *caches]


def _check(config: CorrelateConfig, archs: list[Arch], out: Path) -> None:
    config.validate()
    check_writable(out)  # first: a path that cannot be one (a name too long) is refused before it is looked at
    if out.exists() and not out.is_dir():  # then: said so, not as a cache/ that cannot be made in it
        raise InvalidArgumentError(f"--out {out} is {file_kind(out)}, not a directory")  # (probe54: a device was "a file")
    for path in folders_written(out):  # refused before any training is stored
        check_writable(path)
    not_a_synthetic_set("--out", out)
    configs.check_saved("--out", out, "correlate")  # a search's folder: its config.toml
    if not archs:
        raise InvalidArgumentError("no architectures to correlate")
    check_in_space(archs, get_space(config.space), config.space)


def choose_proxies(config: CorrelateConfig, ref: DataRef, archs: list[Arch], out: Path) -> tuple[RunSetup, list[Proxy]]:
    """The run's shared setup and the proxies asked for (checked before anything is trained)."""
    setup = RunSetup(
        space=get_space(config.space),
        data=ref,
        out=out,
        training=config.proxy,
        synthetic=list(config.synthetic),
        random_subset=config.random_subset,
        ground_truth=config.ground_truth,
        early=tuple(config.ground_truth.early),
        zero_cost_batch=config.zero_cost_batch,
        seed=config.seed,
        device=config.device,
        searched={a.arch_id: (a.study_sha256, a.study_value, a.study_seconds) for a in archs if a.study_value is not None},
    )
    chosen = select(offered(setup), config.proxies)
    check_proxy_names(p.name for p in chosen)  # a column of results.csv: refused before anything is trained
    return setup, chosen


def score_proxies(
    proxies: list[Proxy], kept: list[Arch], cache_dir: Path, on_progress: OnProgress | None = None
) -> tuple[dict[str, dict[str, Scored]], dict[str, float]]:
    """Every proxy's score of every kept architecture, and each proxy's one-off seconds."""
    pairs = [(a.arch_id, a.spec) for a in kept]

    def scored(name: str, done: int, total: int) -> None:
        if on_progress is not None:
            on_progress(Progress(f"proxy {name}", done=done, total=total, unit="arch"))

    scores = {p.name: score_archs(p, pairs, cache_dir, scored) for p in proxies}
    return scores, {p.name: p.one_off_seconds for p in proxies if p.one_off_seconds}


def _rows(kept: list[Arch], truth: Truth, scores: dict[str, dict[str, Scored]], seed: int) -> list[dict[str, Any]]:
    rows = []
    for a in kept:
        row: dict[str, Any] = {"arch_id": a.arch_id, "spec": a.spec, "truth": truth.accuracy[a.arch_id], "truth_given": a.truth is not None}
        r = truth.results.get((a.arch_id, seed), {})
        row.update({"params": r.get("params"), "flops": r.get("flops"), "truth_seconds": r.get("train_seconds")})
        second = truth.results.get((a.arch_id, seed + 1))
        row["truth_seed2"] = second["test_accuracy"] if second else None
        row["truth_val"] = r.get("val_accuracy")
        for name, got in scores.items():
            row[name] = got[a.arch_id].value
        rows.append(row)
    return rows


def _facts(
    config: CorrelateConfig, ref: DataRef, archs: list[Arch], kept: list[Arch], truth: Truth, proxies: list[Proxy]
) -> dict[str, Any]:
    gt_seconds = [truth.results[(a.arch_id, config.seed)]["train_seconds"] for a in kept if (a.arch_id, config.seed) in truth.results]
    facts = [(p.name, p.facts()) for p in proxies]
    return {
        "data": ref.key(),
        "archs": len(archs),
        "archs_scored": len(kept),
        "space": config.space,
        "ground_truth": {
            **config.ground_truth.to_dict(),
            "study": truth.study,
            "storage": truth.storage,
            "seconds_per_arch": sum(gt_seconds) / len(gt_seconds) if gt_seconds else float("nan"),
            "wall_seconds": truth.seconds,  # the whole step: the trainings side by side, or read from the study
            "seeds": [config.seed, config.seed + 1],
            "ceiling_archs": 0,
            "given": len(archs) - len(truth.trained),
        },
        "proxy_training": {**config.proxy.to_dict(), "seed": config.seed},
        "proxy_protocol": {p.name: p.describe() for p in proxies},
        "synthetic": {n: f["synthetic"] for n, f in facts if f.get("synthetic")},
        "synthetic_sha256": {n: f["tensors_sha256"] for n, f in facts if f.get("tensors_sha256")},
        "synthetic_batch": {n: f["batch_used"] for n, f in facts if f.get("batch_used")},  # each set's batch used (fix62b)
        "promote": config.promote,
        "seed": config.seed,
        "device": str(resolve_device(config.device)),
        "config": config.to_dict(),
    }


def _chosen_on_these(sets: Sequence[Path | str], metas: list[dict[str, Any]], archs: list[Arch]) -> list[str]:
    """A warning for each synthetic set that ``distill --select-by`` chose by how well it ranks some of ``archs``: its
    correlation on them is fit on them. Before branch probe46 the report gave that number as any other, without a word."""
    said = []
    ids = {a.arch_id for a in archs}
    for path, meta in zip(sets, metas, strict=True):
        found = meta.get("selection")
        selection: dict[str, Any] = found if isinstance(found, dict) else {}
        listed = selection.get("calibration")
        calibration: list[Any] = listed if isinstance(listed, list) else []
        if shared := len(ids.intersection(c for c in calibration if isinstance(c, str))):
            said.append(
                f"{shared} of these {len(archs)} architectures are calibration architectures of the synthetic set {path} (distill "
                f"--select-by {selection.get('file')} kept the iterate that ranks them best): its correlation on them is fit on "
                "them, and optimistic; correlate on architectures it was not chosen on for a fair number"
            )
    return said


def correlate(
    config: CorrelateConfig,
    archs: list[Arch],
    out: Path | str,
    on_progress: OnProgress | None = None,
    notes: list[str] | None = None,
    gt_storage: Storage | None = None,
    proxy_asked: Collection[str] = (),
    searched: Searched | None = None,
    check_data: Callable[[DataRef, str], None] | None = None,
) -> CorrelateResult:
    """Score ``archs`` with every proxy and with full-data training; the metrics, as a result.

    ``out`` holds the caches and a made random subset; nothing is printed and no report written
    (``nas_proxy.report.render.write_reports`` does that). ``on_progress`` hears of every step.
    ``notes``: what the caller changed or left out of what was asked, shown with the warnings.
    ``gt_storage``: the ground truth's storage, opened by the caller (a search's, which it already
    holds open); None: ``config.gt_storage``, opened here once. ``proxy_asked``: the fields of
    ``config.proxy`` the user asked for (typed, or in --config's ``[correlate.proxy]``); those that
    change nothing for the chosen proxies (none trains on a set, or none of their sets has soft
    labels for ``hard_labels``) are refused before anything runs. The data is read once (:func:`read_once`): before
    stop 51 up to five times, by --full-images' check, the proxies' digest and their real batch, the ground truth's
    study and its first worker (Fashion-MNIST: ~0.8 CPU-s each). ``searched``: the search study the architectures come
    from (``correlate --study``), whose data this run's must be (:func:`check_searched_data`). ``check_data``: called with
    the data and its content_sha256 before anything is stored, to refuse it (``--proxy-profile``'s, calibrated on another
    copy of the data: :meth:`~nas_proxy.profile.ProxyProfile.data_check`)."""
    with read_once():
        return _correlate(config, archs, Path(out), on_progress, notes, gt_storage, proxy_asked, searched, check_data)


def _correlate(
    config: CorrelateConfig,
    archs: list[Arch],
    out: Path,
    on_progress: OnProgress | None,
    notes: list[str] | None,
    gt_storage: Storage | None,
    proxy_asked: Collection[str],
    searched: Searched | None,
    check_data: Callable[[DataRef, str], None] | None,
) -> CorrelateResult:
    _check(config, archs, out)
    resolve_device(config.device)  # refused before the ground truth's study is made, as search does
    ref, metas = data_ref(config)
    check_images(ref, config.ground_truth.images, "--full-images")
    check_writable_storage(config.gt_storage, study_name(ref, config.ground_truth))
    setup, proxies = choose_proxies(config, ref, archs, out)
    check_training_used(config.proxy, proxies, proxy_asked, "correlate run")
    for proxy in proxies:  # a set made from other images, before the ground truth trains (before fix52f: stored, then refused)
        proxy.check()
    if searched is not None:  # then the study's images (a set's own check first: it names the set), before anything is stored
        check_searched_data(searched, ref)
    if check_data is not None:  # (read once: the run's)
        check_data(ref, load_dataset(ref.dataset, ref.data_root, image_size=ref.image_size).content_sha256())
    warnings: list[str] = list(notes or [])
    if len(archs) < MEANINGFUL:
        warnings.append(
            f"only {len(archs)} architectures: rank correlations need at least {MEANINGFUL} to mean much "
            f"(and {MIN_POINTS} to be defined); the numbers below are reported anyway, with wide intervals"
        )
    warnings += _chosen_on_these(config.synthetic, metas, archs)
    ready_to_count_flops(setup.space)  # the proxies count FLOPs: a user's family's first count (torch._dynamo), not in
    t_start = time.perf_counter()  # the first proxy's timed scoring, where a Ctrl-C waited for it (before fix56a)
    if gt_storage is None:
        gt_storage = open_storage(config.gt_storage, study_name(ref, config.ground_truth))
    gt_batch = batch_used(ref, config.ground_truth, "--full-batch-size")  # once nothing more is refused (fix61a)
    truth = ground_truth_step(config, ref, archs, gt_storage, on_progress)
    warnings += truth.warnings
    setup.truth = truth.results
    kept = [a for a in archs if a.arch_id in truth.accuracy]
    scores, one_off = score_proxies(proxies, kept, out / CACHE_DIR, on_progress)
    ids = [a.arch_id for a in kept]
    metrics = proxy_metrics(scores, one_off, truth, ids, config.n_boot, config.seed, config.promote)
    ceiling = ceiling_row(metrics, scores, truth, config.n_boot, config.seed)
    if ceiling is not None:
        metrics[TRUTH_SEED2] = ceiling
    dimension_metrics(metrics, scores, truth, ids, [a.spec for a in kept], config.n_boot, config.seed)
    facts = _facts(config, ref, archs, kept, truth, proxies)
    facts["ground_truth"]["ceiling_archs"] = ceiling["archs"] if ceiling else 0
    facts["ground_truth"]["batch_used"] = gt_batch  # batch_size is the protocol asked (the study's name is made of it)
    facts["seconds"] = time.perf_counter() - t_start
    facts["classes"] = metas[0]["dataset"].get("num_classes") if metas else None  # chance level, for the report
    return CorrelateResult(out, _rows(kept, truth, scores, config.seed), metrics, warnings, facts)
