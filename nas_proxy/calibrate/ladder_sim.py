"""A fidelity ladder simulated on a ground-truth table: what it picks, its regret and its seconds.

Nothing is trained: every rung's score and seconds of every architecture are already measured
(:class:`Fidelity`), so a ladder is replayed on them. Two promotion rules:

- ``sync`` (successive halving): every candidate finishes a rung before any climbs; the best
  ``size`` of them by that rung's score get the next rung. The order of arrival does not matter
  (it breaks exact ties only).
- ``async`` (the rule of Optuna's ``SuccessiveHalvingPruner``, ASHA-like): candidates arrive one at a
  time in the order of the row; one that finishes rung ``r`` climbs at once if its score is among the
  best ``max(1, floor(q * m))`` of the ``m`` candidates that have finished rung ``r`` so far (itself
  included), ``q`` being the synchronous ratio ``size[r+1] / size[r]``; one that does not climb is
  never revisited. Early arrivals climb easily, so it trains more than ``sync`` and depends on order.

The last rung's scores are the validation accuracies of real trainings; the pick is the best of the
candidates that reached it (a tie: the mean of the tied, as ``nas_proxy.correlate.picks``), and
the regret is the best test accuracy among all candidates minus the pick's. Test accuracy never picks.

``nasproxy calibrate --ladders`` measures candidate ladders with it on calibration architectures
(:mod:`nas_proxy.calibrate.ladder_choice`); ``benchmarks/ladder.py`` on the 100-architecture table.

Rows: every function takes ``rows``, an integer array ``(B, n)`` of candidate indices, and returns
one result per row: a row is a bootstrap resample, a subset, or an order of arrival.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from nas_proxy import checks
from nas_proxy.calibrate.config import TARGET_REGRET
from nas_proxy.errors import InvalidArgumentError, shown
from nas_proxy.groundtruth.tables import TableData, check_has_rows, check_same_data, plain_floats, read_rows, rows_data
from nas_proxy.ladders import FULL, is_token
from nas_proxy.protocols import canonical_dataset

if TYPE_CHECKING:
    from nas_proxy.ladders import Rung

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
PROMOTIONS = ("sync", "async")
# the GPU check labels its IPC-10 sets by method (RESULTS.md §7d); the registry's tokens
TOKENS = {"datadam": "datadam-ipc10", "random": "random-ipc10", "dm": "dm-ipc10"}
_EARLY = re.compile(r"val_accuracy_(.+)ep")


@dataclass(frozen=True)
class Fidelity:
    """One rung's measurements of every candidate. ``run``/``at``: the training run the score is a
    point of and how far along it (``early@1ep`` of a 3-epoch training: ``at`` 1/3; ``full``: 1), so
    that rungs of one run can share it: one that already paid ``at`` 1/30 pays only the rest."""

    scores: FloatArray  # (n,) higher is better; NaN: the proxy failed, ranks last
    seconds: FloatArray  # (n,) the rung's seconds on each candidate when run on its own
    one_off: float = 0.0  # paid once when the rung runs (a distillation)
    run: str | None = None
    at: float = 1.0


@dataclass(frozen=True)
class Candidates:
    """The architectures a ladder climbs: their ground truth (judges only) and every rung's
    measurements, ``full`` (validation accuracy of an independent training) among them."""

    test: FloatArray  # (n,) the ground truth's test accuracy
    fidelities: Mapping[str, Fidelity]
    ids: tuple[str, ...] = ()
    data: TableData | None = None  # the data the table was measured on, where it names it

    @property
    def n(self) -> int:
        return len(self.test)

    def get(self, proxy: str) -> Fidelity:
        try:
            return self.fidelities[proxy]
        except KeyError:
            raise InvalidArgumentError(f"no measurements of {proxy!r} here; measured: {', '.join(sorted(self.fidelities))}") from None

    def seconds_per_arch(self, proxy: str) -> float:
        return float(np.nanmean(self.get(proxy).seconds))

    def take(self, idx: npt.ArrayLike) -> Candidates:
        """The candidates at ``idx`` (a part of the table)."""
        i = np.asarray(idx, dtype=np.int64)
        fid = {k: Fidelity(f.scores[i], f.seconds[i], f.one_off, f.run, f.at) for k, f in self.fidelities.items()}
        return Candidates(self.test[i], fid, tuple(self.ids[j] for j in i) if self.ids else (), self.data)


@dataclass(frozen=True)
class Outcome:
    """One result per row: ``regret`` (points), ``seconds`` (the ladder's, one-offs included),
    ``reference`` (training every candidate of the row once), ``rung_seconds`` and ``reached``
    (``(B, rungs)``: seconds spent on, and candidates that got, each rung) and ``one_off``."""

    regret: FloatArray
    seconds: FloatArray
    reference: FloatArray
    rung_seconds: FloatArray
    reached: IntArray
    one_off: float

    @property
    def ratio(self) -> FloatArray:
        """How many times less than training every candidate."""
        return self.reference / self.seconds

    def projected(self, rungs: Sequence[Rung], n: int, space: int) -> FloatArray:
        """The ratio on a space of ``space`` candidates like these ``n``: a fraction rung's seconds
        and the reference scale by ``space / n``, a count rung's and the one-offs stay. (Regret is
        not projected: it is what was measured on these candidates.)"""
        scale = np.array([1.0 if r.is_count else space / n for r in rungs])
        return self.reference * (space / n) / (self.rung_seconds @ scale + self.one_off)


def climb(rungs: Sequence[Rung], cands: Candidates, rows: IntArray, promotion: str = "sync") -> BoolArray:
    """``(rungs, B, n)``: which candidates of each row get each rung."""
    if promotion not in PROMOTIONS:
        raise InvalidArgumentError(f"promotion must be one of {', '.join(PROMOTIONS)}, got {promotion!r}")
    B, n = rows.shape
    size: list[int] = []
    for rung in rungs:
        size.append(rung.size(n, size[-1] if size else None))
    scores = [_ranked(cands.get(r.proxy).scores[rows]) for r in rungs[:-1]]  # (B, n) each; NaN -> -inf
    masks = np.zeros((len(rungs), B, n), dtype=bool)
    masks[0] = True
    if promotion == "sync":
        for r in range(1, len(rungs)):
            key = np.where(masks[r - 1], scores[r - 1], -np.inf)
            order = np.argsort(-key, axis=1, kind="stable")[:, : size[r]]  # the best, earlier column first on ties
            np.put_along_axis(masks[r], order, True, axis=1)
        return masks
    quota = [size[r + 1] / size[r] for r in range(len(rungs) - 1)]
    for b in range(B):
        seen: list[list[float]] = [[] for _ in quota]  # each rung's finished scores, sorted
        for j in range(n):  # arrivals in column order
            r = 0
            while r < len(quota):
                v = float(scores[r][b, j])
                bisect.insort(seen[r], v)
                k = max(1, math.floor(quota[r] * len(seen[r]) + 1e-9))
                if v < seen[r][-k]:
                    break
                r += 1
                masks[r, b, j] = True
    return masks


def _ranked(scores: FloatArray) -> FloatArray:
    """NaN (a failed proxy) below every number, above the candidates not in the rung (-inf)."""
    return np.where(np.isnan(scores), -np.finfo(np.float64).max, scores)


def outcome(rungs: Sequence[Rung], cands: Candidates, rows: IntArray, masks: BoolArray, share: bool = True) -> Outcome:
    """Regret and seconds of the climb ``masks``; ``share``: rungs on one training run pay only
    what the candidate has not paid yet (a resumed training), else each rung pays its own."""
    paid: dict[str, FloatArray] = {}
    rung_seconds = np.zeros((rows.shape[0], len(rungs)))
    for r, rung in enumerate(rungs):
        f = cands.get(rung.proxy)
        cost = f.seconds[rows]
        if share and f.run is not None:
            before = paid.get(f.run, np.zeros(rows.shape))
            cost = cost * np.clip(f.at - before, 0.0, None) / f.at
            paid[f.run] = np.where(masks[r], np.maximum(before, f.at), before)
        rung_seconds[:, r] = np.where(masks[r], cost, 0.0).sum(axis=1)
    one_off = sum(cands.get(r.proxy).one_off for r in rungs)
    return Outcome(
        regret=_regret(cands.get(rungs[-1].proxy).scores[rows], masks[-1], cands.test[rows]),
        seconds=rung_seconds.sum(axis=1) + one_off,
        reference=cands.get(FULL).seconds[rows].sum(axis=1),
        rung_seconds=rung_seconds,
        reached=masks.sum(axis=2).T,
        one_off=one_off,
    )


def _regret(val: FloatArray, finalists: BoolArray, test: FloatArray) -> FloatArray:
    """Best test accuracy of the row minus that of the finalist with the best validation accuracy."""
    v = np.where(finalists & np.isfinite(val), val, -np.inf)
    best = v.max(axis=1, keepdims=True)
    picked = (v == best) & np.isfinite(best)
    with np.errstate(invalid="ignore"):
        chosen = np.where(picked, test, 0.0).sum(axis=1) / picked.sum(axis=1)
    return test.max(axis=1) - chosen


def simulate(
    rungs: Sequence[Rung], cands: Candidates, rows: npt.ArrayLike | None = None, promotion: str = "sync", share: bool = True
) -> Outcome:
    """The ladder on each row of ``rows`` (default: every candidate once, in table order)."""
    r = np.atleast_2d(np.arange(cands.n) if rows is None else np.asarray(rows, dtype=np.int64))
    return outcome(rungs, cands, r, climb(rungs, cands, r, promotion), share)


# --- the table ----------------------------------------------------------------------------------


MAX_SECONDS = checks.SECONDS_MAX  # a measured time in seconds: larger is a typo


def _csv(
    option: str, path: Path, check_header: Callable[[list[str]], None] | None = None
) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header and ``(line, row)`` of a CSV the user named, through the one reader of tables
    (:func:`nas_proxy.groundtruth.tables.read_rows`: the file's own line numbers, a row with more or fewer fields than
    the header refused with the decimal-comma hint, a torn last line refused); blanks around a field are the file's
    layout. Lines starting a record with ``#`` are comments, as they were here (split.py writes one above a split's
    header): read_rows reads them as blank lines, so that every row keeps the file's line number. Before stop 53 this module
    had its own copy of the reader: no decimal-comma hint, and lines counted by ``str.splitlines``, which also breaks at
    a form feed or U+2028 inside a field, so a refused value's line was not the file's."""
    # check_header first: a file of another kind (JSON) is named as such, not by its "columns" named twice; blank and comment
    # lines above the header skipped, its line named (before stop 56 '#' lines were blanked here too, also inside a quoted field)
    header, rows = read_rows(option, path, check_header=check_header)
    for i, (n, row) in enumerate(rows):  # in place: one table's rows in memory, not two (read_rows left no None in them)
        rows[i] = (n, dict(zip(row, map(str.strip, row.values()), strict=True)))
    return header, rows


def _number(path: Path, n: int, name: str, text: str, low: float = -math.inf, high: float = math.inf) -> float:
    """A field that must hold a finite number in ``[low, high]``."""
    x = checks.file_number(text, csv_field=True)  # NaN unless a plain decimal (blanks around it are the file's layout)
    if not low <= x <= high:
        bounds = f" in [{low:g}, {high:g}]" if math.isfinite(low) or math.isfinite(high) else ""
        raise InvalidArgumentError(f"{path} line {n}: {name} must be a finite number{bounds}, got {shown(text)}; fix or drop that row")
    return x


def _plain(values: list[str]) -> FloatArray | None:
    """:func:`~nas_proxy.groundtruth.tables.plain_floats` as an array."""
    x = plain_floats(values)
    return None if x is None else np.array(x, dtype=np.float64)


def _within(x: FloatArray, low: float, high: float) -> bool:
    return bool(np.all((low <= x) & (x <= high)))


_RANGES = {"test_accuracy": (0.0, 100.0), "val_accuracy": (0.0, 100.0), "seconds": (0.0, MAX_SECONDS), "epochs": (0.0, MAX_SECONDS)}


class _Table:
    """A ground-truth table's columns by seed (``benchmarks/groundtruth/``: one row per architecture
    and seed): ``ids`` in file order, ``seeds`` in order of first appearance."""

    def __init__(self, path: Path) -> None:
        if checks.status("--truth", path) is None:
            raise checks.not_found("ground-truth table", path)

        def needs(header: list[str]) -> None:
            if not {"arch_id", "seed", "test_accuracy"} <= set(header):
                raise InvalidArgumentError(f"{path} needs rows with columns arch_id, seed and test_accuracy (a ground-truth table)")

        self.header, self.rows = _csv("--truth", path, needs)
        self.path = path
        check_has_rows(f"ground-truth table {path}", self.rows, "architecture and seed", "no architecture trained")
        checks.columns(path, self.header)  # after: a file of another kind is named as such
        self.data = rows_data(path, f"--truth {path}", self.rows)  # a table mixing two datasets' rows is refused
        self.seeds: list[int] = []
        self.by_seed: dict[int, list[tuple[int, dict[str, str]]]] = {}  # each seed's rows, in file order
        if not self._index():
            self._index_row_by_row()
        test = self.column("test_accuracy", self.seeds[0])
        checks.percentages(str(path), test.values(), "test_accuracy")
        self.ids = [a for a in dict.fromkeys(r["arch_id"] for _, r in self.rows) if a in test]  # the truth: the first seed

    def _index(self) -> bool:
        """:attr:`seeds` and :attr:`by_seed` at once where every seed is an integer and no architecture is listed twice
        at a seed; False otherwise (nothing set): :meth:`_index_row_by_row` then refuses the first such row."""
        texts = [row["seed"] for _, row in self.rows]
        seed_of: dict[str, int] = {}
        for text in dict.fromkeys(texts):
            try:
                seed_of[text] = checks.parse_int(text.strip())
            except ValueError:
                return False
        by: dict[int, list[tuple[int, dict[str, str]]]] = {}
        for seed in dict.fromkeys(map(seed_of.__getitem__, texts)):
            by[seed] = []
        for item, text in zip(self.rows, texts, strict=True):
            by[seed_of[text]].append(item)
        if any(len({row["arch_id"] for _, row in rows}) != len(rows) for rows in by.values()):
            return False
        self.seeds, self.by_seed = list(by), by
        return True

    def _index_row_by_row(self) -> None:
        """:meth:`_index` row by row, refusing the first row whose seed is not an integer or that lists an architecture
        at a seed a second time."""
        seen: dict[tuple[str, int], int] = {}
        for n, row in self.rows:
            try:
                seed = checks.parse_int(row["seed"].strip())  # a CSV field: blanks around it are the file's layout
            except ValueError:
                raise InvalidArgumentError(f"{self.path} line {n}: seed {shown(row['seed'])} is not an integer") from None
            row["seed"] = str(seed)
            key = (row["arch_id"], seed)
            if key in seen:
                raise InvalidArgumentError(
                    f"{self.path} line {n} lists architecture {key[0]} at seed {seed} twice (also line {seen[key]}); keep one row"
                )
            seen[key] = n
            if seed not in self.seeds:
                self.seeds.append(seed)
            self.by_seed.setdefault(seed, []).append((n, row))

    def column(self, name: str, seed: int) -> dict[str, float]:
        """``arch id -> value`` of column ``name`` in ``seed``'s rows (every such row must hold a finite
        number; accuracies in [0, 100], seconds and epochs greater than 0)."""
        if name not in self.header:
            raise InvalidArgumentError(f"{self.path} has no column {name!r}")
        low, high = _RANGES.get(name, (0.0, 100.0) if name.startswith("val_accuracy") else (-math.inf, math.inf))
        rows = self.by_seed.get(seed, [])
        x = _plain([row[name] for _, row in rows])
        if x is not None and _within(x, low, high) and (name not in ("seconds", "epochs") or bool(np.all(x > 0))):
            return dict(zip([row["arch_id"] for _, row in rows], x.tolist(), strict=True))  # (the last of an id listed twice, as below)
        out: dict[str, float] = {}
        for n, row in rows:  # one by one: the first row that is not such a number refused
            v = _number(self.path, n, name, row[name], low, high)
            if name in ("seconds", "epochs") and v <= 0:
                raise InvalidArgumentError(
                    f"{self.path} line {n}: {name} must be greater than 0, got {shown(row[name])}; fix or drop that row"
                )
            out[row["arch_id"]] = v
        return out


def load_candidates(
    table: Path,
    scores: Sequence[Path],
    independent_seed: int | None = None,
    one_off: Mapping[str, float] | None = None,
    ids: Sequence[str] | None = None,
) -> Candidates:
    """The table's architectures (``benchmarks/groundtruth/``): the ground truth is its first seed's
    test accuracy; ``full`` and every ``early@Xep`` (its ``val_accuracy_Xep`` columns) are the
    validation accuracies of ``independent_seed``'s training (default: the second seed), one run
    shared by them, ``X / epochs`` of its seconds. ``scores``: long CSVs ``proxy,arch_id,score,seconds``
    (their ``early@`` rows are skipped: early stopping is read from the independent seed);
    ``one_off``: seconds paid once per proxy token; ``ids``: only these architectures (a calibration part)."""
    truth = _Table(table)
    seed0 = truth.seeds[0]
    if ids is None:
        ids = truth.ids
    else:
        known = set(truth.ids)  # (a list before perf62c: a part of 10**5 ids asked 10**10 comparisons)
        outside = [a for a in ids if a not in known]
        if outside:
            raise InvalidArgumentError(f"{table} has no ground truth for {len(outside)} of the architectures asked for (e.g. {outside[0]})")
    seed = independent_seed if independent_seed is not None else next((s for s in truth.seeds if s != seed0), None)
    if seed is None or seed == seed0 or seed not in truth.seeds:
        raise InvalidArgumentError(
            f"--independent-seed must be a seed of {table} other than the ground truth's {seed0}; it has {truth.seeds}"
        )

    def column(name: str) -> FloatArray:
        values = truth.column(name, seed)
        missing = [a for a in ids if a not in values]
        if missing:
            raise InvalidArgumentError(f"{table}: seed {seed} has no {name} for {len(missing)} architectures (e.g. {missing[0]})")
        return np.array([values[a] for a in ids], dtype=float)

    seconds, epochs = column("seconds"), column("epochs")
    if not np.all(epochs == epochs[0]):
        raise InvalidArgumentError(f"{table}: seed {seed} trains for {sorted(set(epochs))} epochs; early stopping needs one length")
    run = f"seed {seed}"
    fid = {FULL: Fidelity(column("val_accuracy"), seconds, run=run, at=1.0)}
    for name in truth.header:
        if m := _EARLY.fullmatch(name):
            try:
                at = checks.parse_float(m.group(1)) / float(epochs[0])
            except ValueError:
                at = math.nan
            if not 0 < at <= 1:
                raise InvalidArgumentError(
                    f"{table}: column {name!r} is not the validation accuracy after X epochs of the {epochs[0]:g}-epoch training "
                    f"(X in (0, {epochs[0]:g}]); rename or drop that column"
                )
            fid[f"early@{m.group(1)}ep"] = Fidelity(column(name), seconds * at, run=run, at=at)
    source: dict[str, Path] = {}
    for path in scores:
        for proxy, (values, secs) in _long_scores(path, ids, truth.data).items():
            if proxy in fid:
                where = f"{source[proxy]}" if proxy in source else f"{table} (its columns)"
                raise InvalidArgumentError(f"--scores {path} measures {proxy!r}, which {where} measures already; keep one")
            fid[proxy], source[proxy] = Fidelity(values, secs), path
    for proxy, s in (one_off or {}).items():
        if proxy not in fid:
            raise InvalidArgumentError(f"one-off seconds for {proxy!r}, which is not measured here; measured: {', '.join(sorted(fid))}")
        fid[proxy] = Fidelity(fid[proxy].scores, fid[proxy].seconds, s, fid[proxy].run, fid[proxy].at)
    test_acc = truth.column("test_accuracy", seed0)
    return Candidates(np.array([test_acc[a] for a in ids], dtype=float), fid, tuple(ids), truth.data)


def parse_one_off(text: str) -> tuple[str, float]:
    """``--one-off TOKEN=SECONDS`` (seconds a proxy pays once, a distillation) -> ``(token, seconds)``."""
    token, sep, value = text.partition("=")
    try:
        if not (token and sep):
            raise ValueError(text)
        seconds = checks.parse_float(value)
        if not 0 <= seconds <= MAX_SECONDS:
            raise ValueError(text)
        return token, abs(seconds)
    except ValueError:
        raise InvalidArgumentError(
            f"--one-off {text!r}: write TOKEN=SECONDS, seconds in [0, {MAX_SECONDS:g}], e.g. datadam-ipc10=16.3"
        ) from None


def _long_scores(path: Path, ids: Sequence[str], data: TableData | None = None) -> dict[str, tuple[FloatArray, FloatArray]]:
    """``proxy -> (scores, seconds)`` of ``ids`` from a long CSV ``proxy,arch_id,score,seconds``: a
    proxy token (not ``full``; ``early@`` rows skipped), each architecture once per proxy, a score
    (empty or ``nan``: the proxy failed there), seconds a finite number >= 0; every proxy scores
    every one of ``ids`` and succeeds on at least one. ``data``: the ground-truth table's, which the
    data the rows name must be (:func:`_check_scores_data`)."""
    if checks.status("--scores", path) is None:
        raise checks.not_found("--scores", path)
    header, rows = _csv("--scores", path)
    if not {"proxy", "arch_id", "score", "seconds"} <= set(header):
        raise InvalidArgumentError(
            f"--scores {path} needs comma-separated columns proxy, arch_id, score and seconds (one row per proxy and architecture)"
        )
    check_has_rows(f"--scores {path}", rows, "proxy and architecture")  # before fix50d: said to lack the columns it has
    checks.columns(path, header)
    _check_scores_data(path, rows, data)
    by = _scores_at_once(rows)
    if by is None:
        by = _scores_row_by_row(path, rows)
    for proxy, v in by.items():
        missing = [a for a in ids if a not in v]
        if missing:
            raise InvalidArgumentError(
                f"--scores {path} has no {proxy} score for {len(missing)} of the {len(ids)} architectures (e.g. {missing[0]}); "
                "score every one (an empty score: the proxy failed there)"
            )
        if ids and all(math.isnan(v[a][0]) for a in ids):
            raise InvalidArgumentError(
                f"--scores {path}: {proxy} failed on every architecture (no score is a number); drop it or measure it again"
            )
    return {p: (np.array([v[a][0] for a in ids]), np.array([v[a][1] for a in ids])) for p, v in by.items()}


def _scores_at_once(rows: Sequence[tuple[int, Mapping[str, str]]]) -> dict[str, dict[str, tuple[float, float]]] | None:
    """:func:`_scores_row_by_row`'s ``proxy -> arch id -> (score, seconds)``, read a column at a time (perf62c: 5 10**5
    rows one by one were seconds), where nothing in the rows is refused; None where something may be: the rows are then
    read one by one, which refuses the first."""
    kept: dict[str, list[Mapping[str, str]]] = {}
    for text in dict.fromkeys(r["proxy"] for _, r in rows):
        proxy = TOKENS.get(text, text)
        if not text.startswith("early@") and (proxy == FULL or not is_token(proxy)):
            return None
    for _, r in rows:
        if not r["proxy"].startswith("early@"):
            kept.setdefault(TOKENS.get(r["proxy"], r["proxy"]), []).append(r)
    by: dict[str, dict[str, tuple[float, float]]] = {}
    for proxy, part in kept.items():
        archs = [r["arch_id"] for r in part]
        if len(set(archs)) != len(archs):
            return None
        texts = [r["score"] for r in part]
        failed = np.array([t.lower() in ("", "nan") for t in texts], dtype=bool)
        scores = np.full(len(texts), math.nan)
        if not failed.all():
            read = _plain([t for t, f in zip(texts, failed, strict=True) if not f])
            if read is None:
                return None
            scores[~failed] = read
        seconds = _plain([r["seconds"] for r in part])
        if seconds is None or not _within(seconds, 0.0, MAX_SECONDS):
            return None
        by[proxy] = dict(zip(archs, zip(scores.tolist(), np.abs(seconds).tolist(), strict=True), strict=True))
    return by


def _scores_row_by_row(path: Path, rows: Sequence[tuple[int, Mapping[str, str]]]) -> dict[str, dict[str, tuple[float, float]]]:
    """``proxy -> arch id -> (score, seconds)`` of the rows of a scores file, refusing the first row that is not one."""
    by: dict[str, dict[str, tuple[float, float]]] = {}
    for n, r in rows:
        if r["proxy"].startswith("early@"):
            continue
        proxy = TOKENS.get(r["proxy"], r["proxy"])
        if proxy == FULL:
            raise InvalidArgumentError(
                f"{path} line {n}: proxy {FULL!r} is the real training, read from the ground-truth table; rename that proxy"
            )
        if not is_token(proxy):
            raise InvalidArgumentError(f"{path} line {n}: proxy {r['proxy']!r} is not a proxy token (letters, digits, _@.+-); rename it")
        score = math.nan if r["score"].lower() in ("", "nan") else _number(path, n, "score", r["score"])
        seconds = _number(path, n, "seconds", r["seconds"], 0.0, MAX_SECONDS)
        if r["arch_id"] in by.setdefault(proxy, {}):
            raise InvalidArgumentError(f"{path} line {n} scores architecture {r['arch_id']} with {proxy} a second time; keep one row")
        by[proxy][r["arch_id"]] = (score, abs(seconds))
    return by


def _check_scores_data(path: Path, rows: Sequence[tuple[int, Mapping[str, str]]], truth: TableData | None) -> None:
    """Refuse a scores file whose rows name other data (their ``dataset`` and ``data_sha256`` columns, which
    zero_cost_scores.py writes; rows of two datasets are refused as a table's) than the ground-truth table ``truth``:
    another dataset in the words of a table judged against other data (:func:`~nas_proxy.groundtruth.tables.check_same_data`),
    other images of the same one by their two digests, as benchmarks/fidelity_table.check_scores_data says them. Scores
    or a table that name no data are taken as they are. Before stop 53 the columns were read and not compared:
    Fashion-MNIST scores climbed a ladder judged by a digits table without a word. (At stop 53 other images were said in
    data_changed's words, which are of data read now: "images that differ from those found now ... or --data-root points
    at another copy", though calibrate reads no data and has no --data-root: review54.)"""
    named = rows_data(path, f"--scores {path}", rows)
    if named is None or truth is None:
        return
    ranked = f"--scores {path}"
    if canonical_dataset(named.dataset) != canonical_dataset(truth.dataset):
        ranked, fix = f"{ranked} ({named.where})", f"give scores of proxies of {truth.dataset}, or a --truth measured on {named.dataset}"
    else:  # other images of it (refused by their digests where both name one)
        fix = "score the table's architectures again on its data, or give a --truth measured on the images the scores were"
    # the same digest passes whatever the names say (an image folder named relative in one, absolute in the other)
    check_same_data(truth, named.dataset, named.sha256, ranked, fix)


# --- measuring ladders ----------------------------------------------------------------------------


def resamples(n: int, count: int, seed: int) -> IntArray:
    """``(count, n)`` bootstrap resamples of ``n`` candidates (with replacement; seeded)."""
    return np.random.default_rng(seed).integers(0, n, size=(count, n))


def orders(n: int, count: int, seed: int) -> IntArray:
    """``(count, n)`` seeded orders of arrival of ``n`` candidates."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(n) for _ in range(count)]) if count else np.zeros((0, n), dtype=np.int64)


def spread(values: FloatArray, prefix: str) -> dict[str, float | list[float]]:
    """Mean and central 95 % interval of ``values`` under ``prefix`` (``regret_mean``, ``regret_ci``)."""
    from nas_proxy.correlate.metrics import percentile_interval  # scipy.stats: not for a profile kept (ladder_choice.written)

    return {f"{prefix}_mean": float(np.nanmean(values)), f"{prefix}_ci": list(percentile_interval(values))}


def measure(
    rungs: Sequence[Rung],
    cands: Candidates,
    boot: IntArray,
    order_rows: IntArray,
    spaces: Sequence[int] = (720,),
    target: float = TARGET_REGRET,
) -> dict[str, Any]:
    """A ladder on ``cands``: the synchronous climb on the table (both cost models), over the
    bootstrap ``boot`` (regret, ratio, the ratio projected to each of ``spaces``), and when
    ``order_rows`` has rows, the asynchronous climb over those orders and over the bootstrap (whose
    rows come in a random order already). ``target``: the regret (points) ``p_regret_ok`` counts."""
    n = cands.n
    rows = np.arange(n)[None]
    masks = climb(rungs, cands, rows)
    shared, separate = outcome(rungs, cands, rows, masks, True), outcome(rungs, cands, rows, masks, False)
    b = simulate(rungs, cands, boot)
    out: dict[str, Any] = {
        "reached": shared.reached[0].tolist(),
        "regret": float(shared.regret[0]),
        "seconds": float(shared.seconds[0]),
        "seconds_separate": float(separate.seconds[0]),
        "reference_seconds": float(shared.reference[0]),
        "ratio": float(shared.ratio[0]),
        "ratio_separate": float(separate.ratio[0]),
        "projected": {str(m): float(shared.projected(rungs, n, m)[0]) for m in spaces},
        "projected_separate": {str(m): float(separate.projected(rungs, n, m)[0]) for m in spaces},
        "boot": {
            **spread(b.regret, "regret"),
            "p_regret_ok": float(np.mean(b.regret <= target + 1e-9)),
            **spread(b.ratio, "ratio"),
            "projected": {str(m): spread(b.projected(rungs, n, m), "ratio") for m in spaces},
        },
    }
    if len(order_rows):
        for key, rows_ in (("async_orders", order_rows), ("async_boot", boot)):
            a = simulate(rungs, cands, rows_, promotion="async")
            out[key] = {
                **spread(a.regret, "regret"),
                "p_regret_ok": float(np.mean(a.regret <= target + 1e-9)),
                **spread(a.ratio, "ratio"),
                "reached_mean": a.reached.mean(axis=0).tolist(),
            }
    return out


def grid(
    cands: Candidates, first: Sequence[str], middle: Sequence[str], keeps: Sequence[float], finals: Sequence[int], depth: int = 2
) -> list[str]:
    """The specs of every ladder of a first rung from ``first`` (on all), up to ``depth`` middle rungs from
    ``middle`` with strictly decreasing keeps from ``keeps``, and ``full`` keeping a count from
    ``finals``. Rungs come in order of their seconds per architecture (a rung cheaper than the one
    before it would be better placed before it), each proxy once."""
    cost = {p: cands.seconds_per_arch(p) + cands.get(p).one_off / cands.n for p in {*first, *middle}}
    out: list[str] = []
    for f in first:
        later = sorted((p for p in middle if p != f and cost[p] > cost[f]), key=lambda p: cost[p])
        for d in range(depth + 1):
            for proxies in combinations(later, d):
                for ks in combinations(sorted(keeps, reverse=True), d):
                    for k in finals:
                        middles = "".join(f",{p}:{x}" for p, x in zip(proxies, ks, strict=True))
                        out.append(f"{f}:1.0{middles},{FULL}:{k}")
    return out


def split(n: int, fraction: float, seed: int) -> tuple[IntArray, IntArray]:
    """A seeded split of ``n`` candidates: ``round(fraction * n)`` for calibration, the rest held out."""
    perm = np.random.default_rng(seed).permutation(n)
    k = round(fraction * n)
    return np.sort(perm[:k]), np.sort(perm[k:])


Row = Mapping[str, Any]  # what measure() returns, with the ladder's "spec"


def read_split(path: Path, ids: Sequence[str]) -> tuple[IntArray, IntArray]:
    """A committed split (``benchmarks/groundtruth/split.py``: CSV with ``arch_id`` and ``role``
    ``calibration`` or ``evaluation``; lines starting with ``#`` are comments): the indices of
    ``ids`` in each role."""
    if checks.status("--split", path) is None:
        raise checks.not_found("--split", path)
    header, rows = _csv("--split", path)
    if not {"arch_id", "role"} <= set(header):
        raise InvalidArgumentError(f"--split {path} needs columns arch_id and role (calibration or evaluation), one row per architecture")
    checks.columns(path, header)
    roles: dict[str, str] = {}
    for n, r in rows:
        if r["arch_id"] in roles:
            raise InvalidArgumentError(f"{path} line {n} gives architecture {r['arch_id']} a role a second time; keep one row")
        if r["role"] not in ("calibration", "evaluation"):  # before branch probe43, a mistyped role was an architecture left out
            raise InvalidArgumentError(f"{path} line {n}: role {shown(r['role'])} is neither calibration nor evaluation; fix that row")
        roles[r["arch_id"]] = r["role"]
    missing = [a for a in ids if roles.get(a) not in ("calibration", "evaluation")]
    if missing:
        raise InvalidArgumentError(
            f"--split {path} gives no calibration/evaluation role to {len(missing)} architectures (e.g. {missing[0]})"
        )
    cal = [i for i, a in enumerate(ids) if roles[a] == "calibration"]
    if not cal:  # before branch probe43: "internal error: IndexError" (no architecture to choose on)
        raise InvalidArgumentError(
            f"--split {path} gives the calibration role to none of the {len(ids)} architectures of the table: "
            "the ladder is chosen on those, the evaluation ones only check it; give some the calibration role"
        )
    return np.array(cal, dtype=np.int64), np.array([i for i, a in enumerate(ids) if roles[a] == "evaluation"], dtype=np.int64)


def frontier(rows: Sequence[Row], ratio: Callable[[Row], float]) -> list[Row]:
    """The rows no other row beats on both bootstrap mean regret (lower) and ``ratio`` (higher),
    highest ratio first."""
    best = sorted(rows, key=lambda r: (-ratio(r), r["boot"]["regret_mean"]))
    out: list[Row] = []
    for r in best:
        if not out or r["boot"]["regret_mean"] < out[-1]["boot"]["regret_mean"]:
            out.append(r)
    return out


def choose(rows: Sequence[Row], ratio: Callable[[Row], float], rule: str = "mean", target: float = TARGET_REGRET) -> Row:
    """The rule fixed before any result was seen: the highest ``ratio`` among the ladders whose
    regret meets the target, ``mean``: over the bootstrap (expected regret on a like set), or
    ``point``: on these candidates (the naive rule, for comparison); none meets it: the lowest.
    ``target``: the regret bar (points)."""
    key = (lambda r: r["boot"]["regret_mean"]) if rule == "mean" else (lambda r: r["regret"])
    ok = [r for r in rows if key(r) <= target + 1e-9]
    if not ok:
        return min(rows, key=lambda r: (key(r), -ratio(r)))
    return max(ok, key=lambda r: (ratio(r), -r["boot"]["regret_mean"], -len(r["reached"])))


__all__ = [
    "PROMOTIONS",
    "TARGET_REGRET",
    "TOKENS",
    "Candidates",
    "Fidelity",
    "Outcome",
    "Row",
    "choose",
    "climb",
    "frontier",
    "grid",
    "load_candidates",
    "measure",
    "orders",
    "outcome",
    "parse_one_off",
    "read_split",
    "resamples",
    "simulate",
    "split",
    "spread",
]
