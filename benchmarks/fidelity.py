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
Writes fidelity.json and fidelity.md into --out and prints the Markdown.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import itertools
import json
import math
import stat
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parents[1])]  # nas_proxy from this checkout when not installed
sys.path.insert(1, str(Path(__file__).resolve().parent / "groundtruth"))  # split.py

from split import SPLIT, read_split  # noqa: E402

if TYPE_CHECKING:
    from nas_proxy.proxies import Cache

from nas_proxy import checks, configs  # noqa: E402
from nas_proxy.cli.common import one_line_errors  # noqa: E402
from nas_proxy.cli.types import integer  # noqa: E402
from nas_proxy.correlate.config import N_BOOT_MAX, N_BOOT_MIN, CorrelateConfig, check_promote  # noqa: E402
from nas_proxy.correlate.metrics import (  # noqa: E402
    Metric,
    TopFraction,
    kendall,
    paired_difference,
    per_dimension,
    spearman,
    summarise,
    to_jsonable,
)
from nas_proxy.correlate.picks import compute, promote  # noqa: E402
from nas_proxy.errors import DivergedError, InvalidArgumentError, NasProxyError, shown  # noqa: E402
from nas_proxy.report.render import dimension_lines  # noqa: E402

ROLES = ("all", "calibration", "evaluation")  # which architectures of the table (--role)
KINDS = ("synthetic", "scores", "zero-cost", "early")
K_VALUES = (1, 3, 5, 10)  # precision@k
TOP = 0.2  # the "best 20 %" of the top-of-ranking metrics
PROMOTE = 5  # "proxy + promote K": issue 12's target is the top 5
CEILING = "ground truth, 2nd seed"
PAIRED: dict[str, Metric] = {
    "spearman": spearman,
    "kendall": kendall,
    "top_spearman": TopFraction(spearman, TOP),
    "top_kendall": TopFraction(kendall, TOP),
}


@dataclass
class Table:
    """A ground-truth table: architectures in file order, accuracy per seed, training seconds."""

    ids: list[str]
    specs: dict[str, dict[str, Any]]
    truth: dict[int, dict[str, float]]  # seed -> arch id -> accuracy
    seconds: dict[str, float] = field(default_factory=dict)  # arch id -> training seconds (first seed)
    seeds: list[int] = field(default_factory=list)
    val: dict[str, float] = field(default_factory=dict)  # arch id -> validation accuracy (first seed)


def read_table(path: Path, metric: str = "test_accuracy", val_seed: int | None = None) -> Table:
    """One row per (architecture, seed) with ``arch_id``, ``seed``, ``spec`` (JSON) and ``metric``.
    ``val_seed``: the seed whose validation accuracy promotion picks by (None: the first seed's, the
    same training as the ground truth; another seed's is an independent training, as a real
    promotion is)."""
    from nas_proxy.spaces import arch_id

    # a folder, a FIFO or a device (/dev/zero) is one line, not a traceback or a read that never ends (probe45)
    rows, _ = csv_rows(path, checks.read_text("--table", path))
    need = {"arch_id", "seed", "spec", metric}
    if not rows or not need <= set(rows[0]):
        raise InvalidArgumentError(f"--table {path} needs rows with columns {', '.join(sorted(need))} (a ground-truth table)")
    table = Table([], {}, {})
    for n, row in enumerate(rows, start=2):
        try:
            seed, value, spec = checks.parse_int(row["seed"] or ""), checks.file_number(row[metric], True), checks.loads(row["spec"] or "")
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or not isinstance(spec, dict):  # before probe45 'nan' and 'inf' were read as accuracies
            raise InvalidArgumentError(f"{path} line {n}: seed, {metric} or spec is not valid: {shown(row)}")
        if row["arch_id"] != arch_id(spec):  # before stop 46 a scores file's row met another architecture's spec and results
            raise InvalidArgumentError(
                f"{path} line {n}: arch_id {shown(row['arch_id'])} is not its spec's ({arch_id(spec)}): an edited table? give the id of its spec"
            )
        if seed not in table.truth:
            table.truth[seed] = {}
            table.seeds.append(seed)
        aid = row["arch_id"]
        if aid in table.truth[seed]:  # before probe45 the last row won silently
            raise InvalidArgumentError(f"{path} line {n}: architecture {aid} has a row of seed {seed} already; give each training once")
        table.truth[seed][aid] = value
        table.specs[aid] = spec
        if aid not in table.ids:
            table.ids.append(aid)
        if seed == table.seeds[0] and row.get("seconds"):
            table.seconds[aid] = _number(f"--table {path}", n, "seconds", row["seconds"])
        if seed == (table.seeds[0] if val_seed is None else val_seed) and row.get("val_accuracy"):
            table.val[aid] = _number(f"--table {path}", n, "val_accuracy", row["val_accuracy"])
    if val_seed is not None and val_seed not in table.truth:  # before probe45: no pick, every promotion '–', exit 0
        raise InvalidArgumentError(
            f"--promote-seed {val_seed}: --table {path} has no training of seed {val_seed}; it has seeds {', '.join(map(str, table.seeds))}"
        )
    table.ids = [a for a in table.ids if a in table.truth[table.seeds[0]]]  # the ground truth is the first seed
    return table


def subset(table: Table, ids: list[str]) -> Table:
    """The table restricted to ``ids`` (kept in the table's order)."""
    keep = set(ids)
    return Table(
        [a for a in table.ids if a in keep],
        {a: s for a, s in table.specs.items() if a in keep},
        {seed: {a: v for a, v in t.items() if a in keep} for seed, t in table.truth.items()},
        {a: v for a, v in table.seconds.items() if a in keep},
        list(table.seeds),
        {a: v for a, v in table.val.items() if a in keep},
    )


def with_role(table: Table, role: str, split: Path = SPLIT) -> Table:
    """``all`` the table, or its ``calibration`` / ``evaluation`` architectures by ``split`` (groundtruth/split.py)."""
    if role == "all":
        return table
    if checks.status("--split", split) is None:
        raise InvalidArgumentError(f"--split {split} does not exist (benchmarks/groundtruth/split.py writes it)")
    checks.read_text("--split", split)  # a folder, a FIFO, bytes that are not text: one line (stop 46: IsADirectoryError)
    roles = read_split(split)
    missing = [a for a in table.ids if a not in roles]
    if missing:
        raise InvalidArgumentError(
            f"--split {split} does not list {len(missing)} of the table's architectures ({missing[0]}, ...): wrong table?"
        )
    other = [a for a in table.ids if roles[a].get("role") not in ROLES[1:]]  # before stop 46: in neither half, silently
    if other:
        raise InvalidArgumentError(
            f"--split {split} gives architecture {other[0]} the role {shown(roles[other[0]].get('role'))}"
            f"{f' (and {len(other) - 1} more)' if len(other) > 1 else ''}; a role is {' or '.join(ROLES[1:])}"
        )
    return subset(table, [a for a in table.ids if roles[a]["role"] == role])


def csv_rows(path: Path, text: str) -> tuple[list[dict[str, str]], list[str]]:
    """The rows and the header of a CSV file's ``text``; a column named twice (a reader by name keeps one: before stop 46
    'arch_id,score,score' read the second as the score) or a field the csv module cannot read (one over its 131,072
    characters, before stop 46 a csv.Error traceback) is one line."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        rows = list(reader)
    except csv.Error as e:
        raise InvalidArgumentError(f"{path} line {reader.reader.line_num}: {e}; is it the right file?") from None
    checks.columns(path, reader.fieldnames)
    return rows, [c for c in reader.fieldnames or () if c is not None]


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


def _scores_file(path: Path, ids: list[str], label: str | None = None) -> tuple[dict[str, float], dict[str, float]]:
    """A file's scores (and seconds) per architecture; a file with a ``proxy`` column (one row per
    proxy and architecture, as the GPU sections write it) or a ``variant`` column (``distill_ablation.py``'s
    scores.csv) gives the rows of the proxy ``label``."""
    text = checks.read_text("scores", path)  # a folder: one line, not IsADirectoryError (probe45)
    checks.whole_lines("scores", path, text)  # a torn last row: its score would read as a shorter number
    rows, _ = csv_rows(path, text)
    if not rows or not {"arch_id", "score"} <= set(rows[0]):
        raise InvalidArgumentError(f"scores file {path} needs columns arch_id and score (optionally seconds)")
    header = [c for c in rows[0] if c is not None]
    column = next((c for c in ("proxy", "variant") if c in rows[0]), None)
    if column is not None:
        names = sorted({r[column] for r in rows})
        if label not in names:
            raise InvalidArgumentError(
                f"scores file {path} holds several proxies: name one as LABEL=scores:FILE, LABEL one of {', '.join(names)}"
            )
        rows = [r for r in rows if r[column] == label]
    scores: dict[str, float] = {}
    seconds: dict[str, float] = {}
    for n, r in enumerate(rows, start=2):
        checks.whole_row(path, n, r, header)
        if r["arch_id"] in scores:  # before probe45 the last row won silently
            raise InvalidArgumentError(
                f"scores file {path} line {n}: arch_id {r['arch_id']!r} is scored twice; give each architecture once"
            )
        scores[r["arch_id"]] = _number(f"scores file {path}", n, "score", r["score"])
        if r.get("seconds"):
            seconds[r["arch_id"]] = _number(f"scores file {path}", n, "seconds", r["seconds"])
    if not set(scores) & set(ids):  # before probe45, a row of n = 0 and exit 0
        raise InvalidArgumentError(f"scores file {path} scores none of the table's {len(ids)} architectures ({ids[0]}, ...): wrong table?")
    _covers(f"scores file {path}" + (f" (proxy {label})" if column else ""), scores, ids)
    return {a: scores.get(a, math.nan) for a in ids}, {a: seconds.get(a, math.nan) for a in ids}


def _covers(where: str, scores: dict[str, float], ids: list[str], every: bool = True) -> None:
    """Refuse scores that leave out some of the architectures ``ids`` (``every``: a scores file must give each a row, as
    every row of the table is on the same architectures; before stop 46 such a proxy's row was silently computed on fewer,
    beside rows on all of them) or that are NaN on every one (before, a row of n = 0 and exit 0). An empty or ``nan``
    score, where the proxy failed on that architecture, is kept: dropped by the metrics and counted in the row's n."""
    missing = [a for a in ids if a not in scores]
    if every and missing:
        raise InvalidArgumentError(
            f"{where} has no row for {len(missing)} of the {len(ids)} architectures scored here (e.g. {missing[0]}): every proxy's "
            "row is on the same architectures; score them (an empty score where the proxy failed), or give a --table or --role of those it has"
        )
    if all(math.isnan(scores.get(a, math.nan)) for a in ids):
        raise InvalidArgumentError(
            f"{where} has no score (every one empty or nan: the proxy failed) for any of the {len(ids)} architectures scored here; nothing to rank"
        )


def _number(where: str, line: int, column: str, text: str | None) -> float:
    """A field of a scores file or a table (``where``): a plain finite number, or empty / ``nan`` where the proxy
    failed on that architecture (dropped by the metrics and counted). Before probe45 ``high`` was a ValueError traceback
    and a score ``inf`` ranked first."""
    if text in ("", "nan"):
        return math.nan
    value = checks.file_number(text, csv_field=True)
    if not math.isfinite(value):
        raise InvalidArgumentError(
            f"{where} line {line}: {column} {shown(text)} is not a finite number; give a number, or leave it empty where the proxy failed"
        )
    return value


def _early(value: str, path: Path, table: Table) -> tuple[dict[str, float], dict[str, float]]:
    """``Xep[@SEED]``: the table's ``val_accuracy_Xep`` of seed SEED (default: the ground truth's) per
    architecture, and X epochs' share of that training's seconds."""
    at, _, seed_text = value.partition("@")
    column = f"val_accuracy_{at}"
    try:
        epochs_at = float(at.removesuffix("ep")) if at.endswith("ep") else math.nan
        seed = int(seed_text) if seed_text else table.seeds[0]
    except ValueError:
        epochs_at = math.nan
    if not epochs_at > 0:
        raise InvalidArgumentError(f"--proxy early:{value}: write early:Xep[@SEED], X the epochs of a val_accuracy_Xep column")
    text = checks.read_text("--table", path)
    lines = [(n, r) for n, r in enumerate(csv_rows(path, text)[0], start=2) if r["seed"] == str(seed)]
    rows = [(n, r) for n, r in lines if r["arch_id"] in table.specs]
    if not rows or column not in rows[0][1]:
        raise InvalidArgumentError(f"--proxy early:{value}: --table {path} has no column {column} for seed {seed}")
    where = f"--table {path}"
    scores = {
        r["arch_id"]: _number(where, n, column, r[column]) for n, r in rows
    }  # before stop 46 'high' was a traceback, 'inf' ranked first
    seconds = {}
    for n, r in rows:
        if r.get("seconds") and r.get("epochs"):
            epochs = _number(where, n, "epochs", r["epochs"])
            if not epochs > 0:  # the share X / epochs of the training's seconds
                raise InvalidArgumentError(f"{where} line {n}: epochs {shown(r['epochs'])} is not a count of epochs above 0")
            seconds[r["arch_id"]] = _number(where, n, "seconds", r["seconds"]) * epochs_at / epochs
    # an architecture without a training of that seed is NaN, as in the ceiling row; none at all: refused
    _covers(f"--proxy early:{value} (--table {path}, seed {seed})", scores, table.ids, every=False)
    return {a: scores.get(a, math.nan) for a in table.ids}, {a: seconds.get(a, math.nan) for a in table.ids}


def score_cache(out: Path, sha256: str, config: dict[str, Any], seed: int, device: str) -> Cache:
    """A set's scores (scored architectures survive an interruption), one file per device type (``device``
    as given: ``auto`` is the type it resolves to here): CUDA's scores differ from the CPU's in their last
    bits, and their seconds outright. A file named before the device was in the key is read too, on any
    device (the committed GPU states' caches: --report-only rebuilds their tables on a CPU machine)."""
    from nas_proxy.proxies import Cache
    from nas_proxy.utils import resolve_device

    kind = resolve_device("auto").type if device == "auto" else device.split(":")[0]  # as given: no GPU asked of --report-only

    def name(*parts: Any) -> Path:
        return out / "cache" / f"proxy-{hashlib.sha256(json.dumps(list(parts), sort_keys=True).encode()).hexdigest()[:12]}.jsonl"

    return Cache(name(sha256, config, seed, kind), legacy=name(sha256, config, seed))


def _synthetic(
    path: str, table: Table, args: argparse.Namespace, out: Path, deadline: float | None = None
) -> tuple[str, dict[str, float], dict[str, float], float]:
    """Every architecture of ``table`` trained on the set at ``path`` and scored (cached per
    architecture in ``out/cache``); past ``deadline`` (``time.time()``) no new one is started. A
    score is NaN where the training diverged (its seconds are then finite) or where it was not
    started (seconds NaN too)."""
    from nas_proxy.cli import _proxy_config
    from nas_proxy.spaces import get_space
    from nas_proxy.synthetic import load_synthetic
    from nas_proxy.trainers.synthetic_set import ProxyContext

    config = _proxy_config(args)
    syn = load_synthetic(path)
    seen = sorted(set(syn.meta.get("selection", {}).get("calibration", [])) & set(table.ids))  # distill --select-by chose on these
    if seen:
        raise InvalidArgumentError(
            f"{path} was selected by its ranking of {len(seen)} of the table's architectures ({', '.join(seen[:3])}); "
            "score it on architectures it never saw: drop those from the table"
        )
    cache = score_cache(out, syn.meta["tensors_sha256"], config.to_dict(), args.seed, args.device)
    todo = [a for a in table.ids if a not in cache.rows]
    if todo and (deadline is None or time.time() <= deadline):  # past the deadline: the cached ones, nothing loaded
        space = get_space(args.space)
        for aid in todo:  # before stop 46 a spec of another space failed each training (NaN) or trained something else
            try:
                space.validate(table.specs[aid])
            except NasProxyError as e:  # SpaceError, naming the key and its allowed values
                raise InvalidArgumentError(f"--table architecture {aid} is not one of --space {args.space}: {e}") from None
        ctx = ProxyContext.load(path, args.device, config, args.data_root)
        for aid in todo:
            if deadline is not None and time.time() > deadline:
                break
            t0 = time.perf_counter()
            try:
                scored = ctx.score(space, table.specs[aid], args.seed)
                cache.add({"arch_id": aid, "score": scored.accuracy, "seconds": scored.seconds["total"]})
            except DivergedError as e:  # the proxy failed on this one: NaN, dropped by the metrics and counted
                cache.add({"arch_id": aid, "score": math.nan, "seconds": time.perf_counter() - t0, "failed": str(e)})
    label = syn.name(config.hard_labels)  # the token nasproxy correlate names it by (datadam-ipc10, random-ipc10-soft)
    return (
        label,
        {a: cache.rows[a]["score"] if a in cache.rows else math.nan for a in table.ids},
        {a: cache.rows[a]["seconds"] if a in cache.rows else math.nan for a in table.ids},
        syn.one_off_seconds(config.hard_labels),  # distillation, and the teachers when their soft labels train
    )


def _zero_cost(name: str, table: Table, args: argparse.Namespace) -> tuple[dict[str, float], dict[str, float]]:
    import torch

    from nas_proxy.data import load_dataset
    from nas_proxy.proxies.zero_cost import ZERO_COST, score_all
    from nas_proxy.spaces import build_model
    from nas_proxy.utils import derive_seed, generator, resolve_device

    ZERO_COST.get(name)  # unknown names: one line listing the known ones
    device = resolve_device(args.device)
    dataset = load_dataset(args.dataset, args.data_root)
    splits = dataset.split(0, 0.1)  # the project's split (ground-truth studies and synthetic sets use it)
    pick = torch.randperm(splits.train_x.shape[0], generator=generator(derive_seed(args.seed, "zero-cost-batch")))[: args.zero_cost_batch]
    x, y = splits.train_x[pick].to(device), splits.train_y[pick].to(device)
    scores, seconds = {}, {}
    for aid in table.ids:
        torch.manual_seed(derive_seed(args.seed, "zero-cost", aid))
        model = build_model(table.specs[aid], dataset.channels, dataset.num_classes, dataset.image_size).to(device)
        scores[aid], seconds[aid] = score_all(model, x, y, [name])[name]
    return scores, seconds


def _promotion(table: Table, x: np.ndarray, y: np.ndarray, seconds: list[float], one_off: float, k: int) -> dict[str, Any]:
    """ "proxy + promote k": the pick by the table's validation accuracy, its regret and compute."""
    val = np.array([table.val.get(a, math.nan) for a in table.ids], dtype=float)
    full = np.array([table.seconds.get(a, math.nan) for a in table.ids], dtype=float)
    got = promote(x, val, y, k)
    return {"promote_k": k, "promote_regret": got.regret, **compute(seconds, one_off, full, got.promoted)}


def fidelity(
    table: Table, proxies: dict[str, dict[str, Any]], n_boot: int = 1000, seed: int = 0, promote_k: int | None = PROMOTE
) -> dict[str, Any]:
    """Metrics of every proxy (``{"scores": {id: x}, "seconds": {id: s}, "one_off_seconds": s}``)
    against the table's first seed, "proxy + promote ``promote_k``" (None: none), the ceiling row, and paired
    differences between every two rows."""
    ids = table.ids
    y = np.array([table.truth[table.seeds[0]][a] for a in ids])
    specs = [table.specs[a] for a in ids]
    vectors = {name: np.array([p["scores"].get(a, math.nan) for a in ids], dtype=float) for name, p in proxies.items()}
    gt_seconds = float(np.mean([table.seconds[a] for a in ids if a in table.seconds])) if table.seconds else math.nan
    rows: dict[str, dict[str, Any]] = {}
    for name, p in proxies.items():
        per_arch = [p["seconds"].get(a, math.nan) for a in ids]
        cost = float(np.nanmean(per_arch)) if not all(math.isnan(s) for s in per_arch) else math.nan
        rows[name] = {
            **summarise(vectors[name], y, k_values=K_VALUES, top=TOP, n_boot=n_boot, seed=seed),
            "seconds_per_arch": cost,
            "one_off_seconds": float(p.get("one_off_seconds", 0.0)),
            "speedup": gt_seconds / cost if cost and cost > 0 else math.nan,
            "source": p.get("source"),
            **(_promotion(table, vectors[name], y, per_arch, float(p.get("one_off_seconds", 0.0)), promote_k) if promote_k else {}),
            "per_dimension": per_dimension(vectors[name], y, specs, n_boot, seed),
        }
    if len(table.seeds) > 1:
        second = table.truth[table.seeds[1]]
        vectors[CEILING] = np.array([second.get(a, math.nan) for a in ids], dtype=float)
        rows[CEILING] = {
            **summarise(vectors[CEILING], y, k_values=K_VALUES, top=TOP, n_boot=n_boot, seed=seed),
            "seconds_per_arch": gt_seconds,
            "one_off_seconds": 0.0,
            "speedup": 1.0,
            "source": f"seed {table.seeds[1]} vs seed {table.seeds[0]}",
            "per_dimension": per_dimension(vectors[CEILING], y, specs, n_boot, seed),
        }
    paired = [
        {"a": a, "b": b, "metric": m, **paired_difference(fn, vectors[a], vectors[b], y, n=n_boot, seed=seed)}
        for a, b in itertools.combinations(vectors, 2)
        for m, fn in PAIRED.items()
    ]
    return {
        "n_archs": len(ids),
        "truth_seed": table.seeds[0],
        "gt_seconds_per_arch": gt_seconds,
        "promote_k": promote_k,
        "proxies": rows,
        "paired": paired,
    }


def _f(v: Any, digits: int = 3) -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{digits}f}"


def _ci(v: float, ci: list[float]) -> str:
    return f"{_f(v)} [{_f(ci[0], 2)}, {_f(ci[1], 2)}]"


def markdown(result: dict[str, Any]) -> str:
    """The proxies' table and the paired differences, in Markdown."""
    head = ["proxy", "n", "Spearman ρ", "Kendall τ-b", "weighted τ", "ρ top 20%", "τ-b top 20%"]
    head += [f"P@{k}" for k in K_VALUES] + ["regret (pts)", "regret, top K promoted", "s / arch", "one-off s", "speed-up"]
    head += ["s, proxy + K", "full ÷ (proxy + K)"]
    k = result.get("promote_k", PROMOTE)
    promotion = (
        f"Promotion: each proxy's top {k} trained on full data, the pick by validation accuracy (never test); its seconds "
        "are the proxy on every architecture, its one-off cost and those trainings, against training every architecture."
        if k
        else f"Promotion: none (its default top {PROMOTE} is not fewer than the {result['n_archs']} architectures: it would train them all)."
    )
    lines = [
        f"Ground truth: seed {result['truth_seed']} of {result['n_archs']} architectures. {promotion}",
        "",
        "| " + " | ".join(head) + " |",
    ]
    lines.append("|" + "---|" * len(head))
    for name, r in result["proxies"].items():
        cells = [name, str(r["n_scored"]), _ci(r["spearman"], r["spearman_ci"]), _ci(r["kendall"], r["kendall_ci"]), _f(r["weighted_tau"])]
        cells += [_ci(r["top_spearman"], r["top_spearman_ci"]), _ci(r["top_kendall"], r["top_kendall_ci"])]
        cells += [_f(r[f"precision@{k}"]) for k in K_VALUES]
        cells += [_f(r["regret"], 2), _f(r.get("promote_regret"), 2), _f(r["seconds_per_arch"], 2), _f(r["one_off_seconds"], 0)]
        cells += [_f(r["speedup"], 1), _f(r.get("cost_promoted_seconds"), 0), _f(r.get("promote_saving"), 1)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Paired bootstrap differences (a - b, 95% interval, share of resamples where a wins):", ""]
    lines += ["| a | b | metric | n | a - b [95% CI] | P(a better) |", "|---|---|---|---|---|---|"]
    for d in result["paired"]:
        lines.append(f"| {d['a']} | {d['b']} | {d['metric']} | {d['n']} | {_ci(d['diff'], d['ci'])} | {_f(d['p_better'], 2)} |")
    dims = dimension_lines({name: r.get("per_dimension") or {} for name, r in result["proxies"].items()})
    lines += ["", *dims] if dims else []
    return "\n".join(lines) + "\n"


@one_line_errors("fidelity.py")
def main(argv: list[str] | None = None) -> int:
    from nas_proxy.cli import _add_proxy_options

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--table", type=Path, default=Path(__file__).parent / "groundtruth" / "fashion-mnist-convnet720.csv")
    p.add_argument("--proxy", action="append", default=[], help="[LABEL=]KIND:VALUE, KIND synthetic, scores or zero-cost (repeatable)")
    p.add_argument("--role", choices=ROLES, default="all", help="which of the table's architectures (--split) (default %(default)s)")
    p.add_argument("--split", type=Path, default=SPLIT, help="calibration / evaluation split of the table (default %(default)s)")
    p.add_argument("--metric", default="test_accuracy", help="the table's ground-truth column (default %(default)s)")
    p.add_argument("--dataset", default="fashion-mnist", help="real data of zero-cost batches (default %(default)s)")
    p.add_argument("--data-root")
    p.add_argument("--space", default="convnet720", help="space of the table's architectures (default %(default)s)")
    p.add_argument("--zero-cost-batch", type=integer, default=64, help="training images a zero-cost score sees (default %(default)s)")
    p.add_argument(
        "--bootstrap",
        type=integer,
        default=configs.default_of(CorrelateConfig, "n_boot"),
        help=f"resamples of the 95%% intervals, {N_BOOT_MIN} to {N_BOOT_MAX} (fewer puts an interval's ends on 2 or fewer resamples; default %(default)s)",
    )
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
            scores, seconds = _scores_file(Path(value), table.ids, label)
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


def _check_numbers(args: argparse.Namespace) -> None:
    """The numbers of the command line, refused before anything is read or trained (probe45: --seed -1 was numpy's
    ValueError traceback, --bootstrap 10**8 a 74 GiB MemoryError, --zero-cost-batch 0 scored on no image, exit 0;
    --promote was checked only after every proxy had been trained; stop 47: --bootstrap 1 gave zero-wide intervals, exit 0)."""
    checks.number("--seed", args.seed, 0, integer=True)
    checks.number("--bootstrap", args.bootstrap, N_BOOT_MIN, N_BOOT_MAX, integer=True)
    checks.number("--zero-cost-batch", args.zero_cost_batch, 1, integer=True)
    checks.number("--promote", args.promote, 1, integer=True)


def write_outputs(out: Path, stem: str, result: dict[str, Any], text: str, command: str | None = None) -> None:
    """``OUT/STEM.json`` (every number, and the command that made it: ``command``, else this process's)
    and ``OUT/STEM.md``; prints the Markdown."""
    from nas_proxy.files import write_text

    result["command"] = command or " ".join([sys.executable, *sys.argv])
    check_out(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / f"{stem}.json", json.dumps(to_jsonable(result), indent=1) + "\n")  # whole or not at all
    write_text(out / f"{stem}.md", text)
    print(text)


def check_out(out: Path) -> None:
    """Refuse an --out that exists and is no folder, before anything is scored (before stop 46: FileExistsError after),
    or that is a synthetic set's folder or inside one (before stop 46 the results and the score cache went among its files)."""
    checks.not_a_synthetic_set("--out", out)
    st = checks.status("--out", out)
    if st is not None and not stat.S_ISDIR(st.st_mode):
        what = "a file" if stat.S_ISREG(st.st_mode) else checks.kind(st.st_mode)
        raise InvalidArgumentError(f"--out {out} is {what}, not a folder: give the folder the results are written into")


def check_out_file(option: str, path: Path, makes_folder: bool = False) -> None:
    """Refuse a file to write that is a folder, or (unless the writer ``makes_folder``) whose folder does not exist, before any work."""
    st = checks.status(option, path)
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise InvalidArgumentError(f"{option} {path} is a folder; give the file to write")
    if not makes_folder and not path.parent.is_dir():
        raise InvalidArgumentError(f"{option} {path}: its folder {path.parent} does not exist")


if __name__ == "__main__":
    sys.exit(main())
