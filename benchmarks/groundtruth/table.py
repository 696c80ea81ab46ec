"""The ground-truth table and its provenance, written from the trainings finished in the studies.

One row per finished (architecture, seed): the architecture's dimensions, test and validation
accuracy (%), the validation accuracy after 0.1 and 1 epoch (early-stopping points of the same
run), parameters, forward FLOPs per image, training seconds, device, commit, the Optuna trial.
A row keeps the commit and device of the run that trained it (read back from the previous table). Every row names
the data it was measured on (columns ``dataset`` and ``data_sha256``, ``nas_proxy.groundtruth.tables``), and so does
provenance.json (``data``: ``content_sha256`` and the ``tables`` it describes).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch
from optuna.trial import TrialState

from nas_proxy.correlate.metrics import summarise, to_jsonable
from nas_proxy.files import write_text
from nas_proxy.groundtruth import study as gt
from nas_proxy.groundtruth.tables import COLUMNS as DATA_COLUMNS
from nas_proxy.groundtruth.tables import row_columns, sidecar_data
from nas_proxy.studies.queue import record_of

AGREEMENT_BOOT = 1000  # bootstrap resamples of the agreement intervals
EARLY_KEYS = ("0.1", "1")  # early-stopping points recorded as columns


def columns(dims: Sequence[str]) -> list[str]:
    return [
        "arch_id", "block", *dims, "seed", "epochs", "test_accuracy", "val_accuracy",
        *(f"val_accuracy_{k}ep" for k in EARLY_KEYS), "params", "flops", "seconds", "device", "commit", "trial", *DATA_COLUMNS, "spec",
    ]  # fmt: skip


def _device_name() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    from provenance import cpu_model

    return cpu_model()


def _finished(study: optuna.Study) -> dict[tuple[str, int], tuple[int, dict[str, Any]]]:
    """(arch id, seed) -> (trial number, attributes) of the first finished training of each."""
    out: dict[tuple[str, int], tuple[int, dict[str, Any]]] = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        key = gt.key_of(t)
        if key is not None and key not in out:
            out[key] = (t.number, record_of(t.user_attrs))
    return out


def _write_csv(path: Path, fields: list[str], rows: list[dict[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    tmp.replace(path)  # a reader never sees half a table


def previous_rows(path: Path) -> tuple[dict[tuple[str, str, str], dict[str, str]], str | None]:
    """The whole rows of a previous table by (arch id, seed, trial), and a line saying what was not read (None: the
    table is whole, or absent). A row counts only with all its fields and its line's end: a table cut short (a write
    the disk lost, a copy cut off) ends in a row whose last field, the commit or the spec, may be cut too (fix60:
    before, that row's cut commit was written into the new table as the commit that trained it)."""
    if not path.is_file():
        return {}, None
    data = path.read_bytes()
    text = data.decode("utf-8", errors="replace")
    whole = text.endswith("\n")
    records = list(csv.reader(io.StringIO(text, newline="")))
    lost = "" if whole else f"{path} was cut short ({len(data)} bytes, its last line without its end)"
    if not whole and records:
        records.pop()  # the line being written when the write stopped
    if not records:
        return {}, (lost or f"{path} is empty") + ": every row gets this run's commit and device"
    header, out, bad = records[0], {}, []
    for number, fields in enumerate(records[1:], start=2):
        if len(fields) != len(header):
            bad.append(number)
            continue
        row = dict(zip(header, fields, strict=True))
        if all(row.get(k) for k in ("arch_id", "seed", "trial", "device", "commit")):
            out[(row["arch_id"], row["seed"], row["trial"])] = row
        else:
            bad.append(number)
    if bad:
        lines = f"line {bad[0]} is" if len(bad) == 1 else f"lines {', '.join(map(str, bad))} are"
        lost = f"{lost}, and {lines} not whole rows" if lost else f"{path}: {lines} not whole rows (cut short or damaged)"
    if not lost:
        return out, None
    return out, f"{lost}: the rows not read back get this run's commit and device (the table is written anew, whole)"


def _agreement(a: list[float], b: list[float], intervals: bool = True) -> dict[str, Any]:
    """How well ``a`` ranks like ``b`` (b is the reference), with bootstrap intervals (only ``n``
    under 3 architectures, or while the run goes: the bootstrap would slow the scheduler)."""
    if len(a) < 3 or not intervals:
        return {"n": len(a)}
    s = summarise(np.array(a), np.array(b), n_boot=AGREEMENT_BOOT, seed=0)
    keep = ("n", "spearman", "spearman_ci", "kendall", "kendall_ci", "weighted_tau", "top_n", "top_spearman", "top_kendall", "regret")
    return {k: s[k] for k in keep}


class Writer:
    """Rewrites the tables and the provenance of one build from its two studies."""

    def __init__(
        self,
        out: Path,
        dataset: str,
        space: str,
        dims: list[str],
        planned: Sequence[Any],
        seeds: list[int],
        ref: gt.DataRef,
        main: optuna.Study,
        long: optuna.Study,
        main_cfg: gt.GroundTruthConfig,
        long_cfg: gt.GroundTruthConfig,
        meta: dict[str, Any],
        suffix: str = "",
    ) -> None:
        """``suffix``: after DATASET-SPACE in the tables' names (``-converged``: the fast protocol's table)."""
        self.out, self.dims, self.planned, self.seeds, self.ref, self.meta = out, dims, planned, seeds, ref, meta
        stem = f"{dataset}-{space}{suffix}"
        self.paths = {"main": out / f"{stem}.csv", "long": out / f"{stem}-long.csv"}
        self.studies, self.configs = {"main": main, "long": long}, {"main": main_cfg, "long": long_cfg}
        self.host, self.device = socket.gethostname(), _device_name()
        # the data the trainings were made from, as their study recorded it (None: a study made before branch fix50e)
        self.content_sha256: str | None = main.user_attrs[gt.GROUND_TRUTH.attr]["data"].get("content_sha256")
        self.known: dict[tuple[str, str, str], dict[str, str]] = {}  # rows of an earlier run keep its commit and device
        self.notes: list[str] = []  # a previous table cut short, in one line each: the caller prints them
        for path in self.paths.values():
            known, note = previous_rows(path)
            self.known.update(known)
            self.notes += [note] if note else []

    def _row(self, p: Any, seed: int, number: int, attrs: dict[str, Any], epochs: int) -> dict[str, Any]:
        old = self.known.get((p.arch_id, str(seed), str(number)))
        here = attrs.get("worker_host") == self.host
        early = attrs.get("early", {})
        return {
            **{k: v for k, v in p.row(self.dims).items() if k in ("arch_id", "block", *self.dims, "spec")},
            "seed": seed,
            "epochs": epochs,
            "test_accuracy": round(float(attrs["test_accuracy"]), 4),
            "val_accuracy": round(float(attrs["val_accuracy"]), 4),
            **{f"val_accuracy_{k}ep": round(float(early[k]["val_accuracy"]), 4) if k in early else "" for k in EARLY_KEYS},
            "params": int(attrs["params"]),
            "flops": int(attrs["flops"]),
            "seconds": round(float(attrs["train_seconds"]), 3),
            "device": old["device"] if old else (f"{attrs.get('device')} ({self.device})" if here else str(attrs.get("device"))),
            "commit": old["commit"] if old else self.meta["commit"],
            "trial": number,
            **row_columns(self.ref.dataset, self.content_sha256),
        }

    def write(self, reason: str, seconds: float | None = None) -> dict[str, int]:
        """Tables and provenance from what is finished now; (pass -> finished trainings)."""
        rows: dict[str, list[dict[str, Any]]] = {"main": [], "long": []}
        finished = {k: _finished(s) for k, s in self.studies.items()}
        for seed in self.seeds:
            for p in self.planned:
                if (p.arch_id, seed) in finished["main"]:
                    rows["main"].append(self._row(p, seed, *finished["main"][(p.arch_id, seed)], self.configs["main"].epochs))
        for p in self.planned:
            if (p.arch_id, self.seeds[0]) in finished["long"]:
                rows["long"].append(self._row(p, self.seeds[0], *finished["long"][(p.arch_id, self.seeds[0])], self.configs["long"].epochs))
        for name, path in self.paths.items():
            if rows[name] or name == "main" or path.is_file():
                _write_csv(path, columns(self.dims), rows[name])
        self.known.update({(r["arch_id"], str(r["seed"]), str(r["trial"])): r for rs in rows.values() for r in rs})
        counts = {name: len(r) for name, r in rows.items()}
        prov = self._provenance(rows, reason, seconds)
        # replaced whole (a file beside, renamed over it): written in place, a kill or a full disk mid-write left it cut
        # short or empty, and an empty one was read as naming no data (tables._from_sidecar; review59)
        write_text(self.out / "provenance.json", json.dumps(to_jsonable(prov), indent=1) + "\n")
        write_text(self.out / "provenance.md", markdown(prov))
        return counts

    def _provenance(self, rows: dict[str, list[dict[str, Any]]], reason: str, seconds: float | None) -> dict[str, Any]:
        by = {name: {(r["arch_id"], r["seed"]): r for r in rs} for name, rs in rows.items()}
        s0 = self.seeds[0]
        agreement: dict[str, Any] = {}
        if len(self.seeds) > 1:
            ids = [p.arch_id for p in self.planned if (p.arch_id, s0) in by["main"] and (p.arch_id, self.seeds[1]) in by["main"]]
            for metric in ("val_accuracy", "test_accuracy"):
                agreement[f"seed {self.seeds[1]} vs seed {s0}, {metric}"] = _agreement(
                    [by["main"][(i, self.seeds[1])][metric] for i in ids], [by["main"][(i, s0)][metric] for i in ids], reason != "running"
                )
        ids = [p.arch_id for p in self.planned if (p.arch_id, s0) in by["main"] and (p.arch_id, s0) in by["long"]]
        for metric in ("val_accuracy", "test_accuracy"):
            agreement[f"{self.configs['main'].epochs} vs {self.configs['long'].epochs} epochs (seed {s0}), {metric}"] = _agreement(
                [by["main"][(i, s0)][metric] for i in ids], [by["long"][(i, s0)][metric] for i in ids], reason != "running"
            )
        main = rows["main"]
        from provenance import machine

        return {
            **self.meta,
            "status": reason,
            "seconds": seconds,
            "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": machine(torch.device("cuda" if torch.cuda.is_available() else "cpu"), os.getloadavg()),
            "data": {
                **self.ref.key(),
                "data_root": self.ref.data_root,
                "test": "the dataset's test split, never used to choose anything",
                **sidecar_data(self.content_sha256, [p.name for p in self.paths.values() if p.is_file()]),
            },
            "protocol": {
                name: {**cfg.to_dict(), "train": cfg.train_config().to_dict(), "study": self.studies[name].study_name}
                for name, cfg in self.configs.items()
            },
            "progress": {
                "planned": {"main": len(self.planned) * len(self.seeds), "long": self.meta["args"]["long_archs"]},
                "finished": {name: len(r) for name, r in rows.items()},
                "finished_per_seed": {str(s): sum(1 for r in main if r["seed"] == s) for s in self.seeds},
                # not finished: failed, or interrupted by a deadline (retried by the next run)
                "failed_or_interrupted": {name: len(gt.failures(study)) for name, study in self.studies.items()},
            },
            "summary": {
                "mean_test_accuracy": float(np.mean([r["test_accuracy"] for r in main])) if main else math.nan,
                "best_test_accuracy": max((r["test_accuracy"] for r in main), default=math.nan),
                "mean_seconds": float(np.mean([r["seconds"] for r in main])) if main else math.nan,
                "training_seconds_total": float(sum(r["seconds"] for rs in rows.values() for r in rs)),
            },
            "agreement": agreement,
        }


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "–" if not math.isfinite(v) else f"{v:.3f}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return "–" if v is None else str(v)


def markdown(prov: dict[str, Any]) -> str:
    """The provenance as a short Markdown page."""
    main, long = prov["protocol"]["main"], prov["protocol"]["long"]
    m = prov["machine"]
    cap = "no FLOPs cap" if prov["plan"]["max_flops"] is None else f"at most {prov['plan']['max_flops'] / 1e6:g} MFLOPs per image"
    images = "the whole training split" if main["images"] is None else f"{main['images']} training images"
    lines = [
        f"# Ground truth: {prov['data']['dataset']} x {prov['args']['space']}",
        "",
        f"Status: **{prov['status']}** after {_fmt(prov['seconds'])} s; commit `{prov['commit']}`; {m['device']} ({m['device_name']}).",
        f"Command: `{m['command']}`",
        "",
        f"Protocol: {main['epochs']} epochs on {images} "
        f"(split seed {prov['data']['split_seed']}, validation fraction {prov['data']['val_fraction']}), SGD lr {main['lr']} momentum "
        f"{main['train']['momentum']} weight decay {main['train']['weight_decay']}, batch {main['batch_size']}, lr x0.1 at "
        f"{main['train']['lr_decay_at']:g} of the epochs, augmentation {'DSA' if main['augment'] else 'none'}, bf16 autocast on CUDA; "
        f"test accuracy on the test split. Longer run: {long['epochs']} epochs, same protocol otherwise.",
        f"Plan: {prov['plan']['archs']} architectures ({cap}), seeds {prov['seeds']}; training "
        f"{_fmt(prov['plan']['training_pflop']['main'])} PFLOP, the longer run {_fmt(prov['plan']['training_pflop']['long'])} PFLOP.",
        "",
        "| dimension | value: architectures |",
        "|---|---|",
        *(f"| {d} | {', '.join(f'{v}: {n}' for v, n in vals.items())} |" for d, vals in prov["plan"]["coverage"].items()),
        "",
        f"Finished: {prov['progress']['finished']} of planned {prov['progress']['planned']}; per seed {prov['progress']['finished_per_seed']}; "
        f"failed or interrupted (retried by a rerun) {prov['progress']['failed_or_interrupted']}.",
        f"Mean test accuracy {_fmt(prov['summary']['mean_test_accuracy'])} %, best {_fmt(prov['summary']['best_test_accuracy'])} %, "
        f"{_fmt(prov['summary']['mean_seconds'])} s per training.",
        "",
        "| agreement | n | Spearman [95% CI] | Kendall [95% CI] | weighted tau | Spearman top 20% | Kendall top 20% |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, a in prov["agreement"].items():
        lines.append(
            f"| {name} | {a['n']} | {_fmt(a.get('spearman'))} {_fmt(a.get('spearman_ci'))} | {_fmt(a.get('kendall'))} {_fmt(a.get('kendall_ci'))} "
            f"| {_fmt(a.get('weighted_tau'))} | {_fmt(a.get('top_spearman'))} | {_fmt(a.get('top_kendall'))} |"
        )
    return "\n".join(lines) + "\n"
