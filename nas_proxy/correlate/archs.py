"""Which architectures a correlation is measured on: a file, a study, or a sample of a space."""

from __future__ import annotations

import itertools
import math
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from nas_proxy import checks
from nas_proxy.checks import read_text
from nas_proxy.errors import InvalidArgumentError, NasProxyError, NasProxyWarning, shown
from nas_proxy.groundtruth.tables import read_rows
from nas_proxy.search.winner import beside_best
from nas_proxy.spaces import SearchSpace, arch_id

TOP_ALWAYS = 3  # the proxy's best candidates are always among the architectures of a study


@dataclass
class Arch:
    spec: dict[str, Any]
    arch_id: str
    truth: float | None = None  # a full-data accuracy the user already has (%)
    study_value: float | None = None  # its proxy score in the study it came from
    study_seconds: float | None = None
    study_sha256: str | None = None  # the synthetic set that score was made with


def check_in_space(archs: list[Arch], space: SearchSpace, space_name: str) -> None:
    for i, a in enumerate(archs):
        try:
            space.validate(a.spec)
        except NasProxyError as e:
            raise InvalidArgumentError(f"architecture {i} ({a.arch_id}) is outside space {space_name!r}: {e}") from None


def _unique(archs: list[Arch], path: Path) -> list[Arch]:
    """``archs``, refused when one architecture is listed twice (with two accuracies, one would be
    dropped silently; with one, it would be counted twice)."""
    seen: dict[str, int] = {}
    for i, a in enumerate(archs):
        if a.arch_id in seen:
            raise InvalidArgumentError(
                f"{path}: architecture {i} ({a.arch_id}) is architecture {seen[a.arch_id]} twice; list each architecture once"
            )
        seen[a.arch_id] = i
    return archs


def _search_file(what: str, path: Path) -> InvalidArgumentError | None:
    """A search's other file given for its best.json (``search.winner.beside_best``), for ``--archs`` only: a ``--truth``
    needs accuracies, which a best.json has not."""
    return beside_best(what, path) if what == "--archs" else None


def read_archs(path: Path | str, space: SearchSpace | None = None, what: str = "--archs") -> list[Arch]:
    """A JSON list (of specs, or of objects with ``spec`` and optionally ``accuracy`` and ``arch_id``), a
    ``best.json`` from a search, or a CSV with a ``spec`` column and optionally ``accuracy``.

    With the ``space`` they belong to, a spec may leave out ``"family"`` and may be text in the
    family's short form (``"depth=2,width=32"`` for a ConvNet, as ``evaluate --model`` takes)."""
    path = Path(path)
    text = read_text(what, path)
    rows: list[Any]
    searched = False  # a best.json of a search: its keys are the search's own
    is_csv = path.suffix.lower() == ".csv"
    if is_csv:
        header, lines = read_rows(what, path, text, numbers={"accuracy"})  # the file's line numbers, blank lines as every table's
        if "spec" not in header:
            raise _search_file(what, path) or InvalidArgumentError(
                f"{path}: a CSV of architectures needs a 'spec' column (each a JSON object)"
            )
        _no_lookalike(header, path, beside="accuracy" in header)  # before fix61c, beside 'accuracy' it went unsaid
        rows = []
        for n, fields in lines:
            spec: Any = fields["spec"]
            if spec.lstrip().startswith("{") or space is None:  # else text in the family's short form
                try:
                    spec = checks.loads(spec)
                except (ValueError, RecursionError):  # JSONDecodeError, or an integer too long to read
                    raise InvalidArgumentError(f"{path} line {n}: column 'spec' is not a JSON object: {shown(fields['spec'])}") from None
            rows.append({"spec": spec, **({"accuracy": fields["accuracy"]} if "accuracy" in fields else {})})
    else:
        try:
            data = checks.parse_json(f"{what} file {path}", text)
        except InvalidArgumentError as e:
            raise (_search_file(what, path) or e) from None
        searched = isinstance(data, dict) and "top" in data
        if searched:
            data = data["top"]
            if not isinstance(data, list) or not all(isinstance(t, dict) and "spec" in t for t in data):
                raise InvalidArgumentError(
                    f"{what} file {path} looks like a best.json but its 'top' entries lack 'spec'; export it again with nasproxy search"
                )
        rows = data if isinstance(data, list) else []
        if not searched:  # (a best.json's entries hold the search's own keys)
            _plain_entries(rows, path, what)
    if not rows:
        raise InvalidArgumentError(f"{what} file {path} must hold a non-empty list of architectures")
    archs = []
    scored = any(isinstance(r, dict) and "spec" in r and r.get("accuracy") not in (None, "") for r in rows)
    for i, row in enumerate(rows):
        spec = row["spec"] if isinstance(row, dict) and "spec" in row else row
        if space is not None:
            try:
                spec = space.complete(spec)
            except NasProxyError as e:
                raise InvalidArgumentError(f"{path}: architecture {i}: {e}") from None
        if not isinstance(spec, dict):
            raise InvalidArgumentError(f"{path}: architecture {i} is not a JSON object: {spec!r}")
        truth = None
        if scored:
            raw = row.get("accuracy") if isinstance(row, dict) else None
            truth = checks.file_number(raw, csv_field=is_csv)
            if not (math.isfinite(truth) and 0.0 <= truth <= 100.0):
                quoted = " (text: a JSON number has no quotes)" if isinstance(raw, str) and not is_csv else ""
                raise InvalidArgumentError(
                    f"{path}: architecture {i} has accuracy {shown(raw)}{quoted}; give every architecture a full-data accuracy in % "
                    "(0-100), or none"
                )
        archs.append(Arch(spec, arch_id(spec), truth))
    if scored:
        checks.percentages(str(path), (a.truth for a in archs if a.truth is not None))
    elif not is_csv and not searched:  # (its real_val_accuracy is a promotion's score, not a ground truth)
        _no_lookalike({k for r in rows if isinstance(r, dict) and "spec" in r for k in r}, path)
    return _unique(archs, path)


ENTRY_KEYS = ("spec", "accuracy", "arch_id")  # what an object of a JSON list of architectures is read for (arch_id: a label)


def _plain_entries(rows: list[Any], path: Path, what: str) -> None:
    """Say (a warning) the keys of a JSON list's ``{"spec": ...}`` entries that are not read, and a spec given as JSON
    text (encoded twice). Both are still taken, as a CSV's other columns and its spec text are, and as a list with a
    'val_accuracy' beside each spec has been (eaf3adc); a key that looks like an accuracy is refused
    (:func:`_no_lookalike`). Before probe46 both were read without a word: a typo such as 'acuracy' was silent."""
    unread: dict[str, int] = {}  # key -> first entry holding it
    text = None  # first entry whose spec is JSON text
    for i, row in enumerate(rows):
        if not (isinstance(row, dict) and "spec" in row):
            continue
        for key in row:
            if key not in ENTRY_KEYS:
                unread.setdefault(key, i)
        if text is None and isinstance(row["spec"], str) and row["spec"].lstrip().startswith("{"):
            text = i
    if unread:
        beside = any(isinstance(r, dict) and "spec" in r and "accuracy" in r for r in rows)
        _no_lookalike(unread, path, beside)  # 'acc', 'test_accuracy': refused as such
        key, i = next(iter(unread.items()))
        warnings.warn(
            f"{what} file {path}: key {shown(key)} (architecture {i}{f', and {len(unread) - 1} more keys' if len(unread) > 1 else ''}) "
            f"is not read; an entry is read for {', '.join(ENTRY_KEYS)} only",
            NasProxyWarning,
            stacklevel=3,
        )
    if text is not None:
        warnings.warn(
            f"{what} file {path}: architecture {text}'s spec is JSON text (a string), read as its object; "
            "give the object itself, without the quotes",
            NasProxyWarning,
            stacklevel=3,
        )


# names a ground truth's accuracy goes by elsewhere (lower case, only letters and digits kept): 'Accuracy',
# 'acc', 'test_accuracy', 'top-1 acc'; not a validation or proxy score ('val_accuracy', best.json's 'real_val_accuracy')
LOOKALIKE = {"acc", "accuracy", "accuracies", "testacc", "testaccuracy", "top1", "top1acc", "top1accuracy", "fullacc", "fullaccuracy"}


def _no_lookalike(keys: Iterable[str], path: Path, beside: bool = False) -> None:
    """Refuse a file whose rows carry a column that looks like an accuracy ('acc', 'Accuracy', 'test_accuracy'): without
    'accuracy', read as no ground truth, a typo would silently mean "train them all"; ``beside`` one named 'accuracy'
    (a CSV's 'test_accuracy' disagreeing with it was not read, without a word, before fix61c), which of the two is the
    ground truth is not guessed."""
    like = sorted(k for k in keys if isinstance(k, str) and k != "accuracy" and re.sub(r"[^a-z0-9]", "", k.lower()) in LOOKALIKE)
    if like:
        where = f"{path}: {'column' if path.suffix.lower() == '.csv' else 'key'} {shown(like[0])} looks like an accuracy"
        if beside:
            raise InvalidArgumentError(
                f"{where} beside 'accuracy', the full-data accuracy (%) read; which is the ground truth is not guessed: drop one"
            )
        raise InvalidArgumentError(
            f"{where}, but the full-data accuracy (%) is read from one named 'accuracy' only; rename it to 'accuracy', or drop it"
        )


def from_space(space: SearchSpace, n: int, seed: int) -> list[Arch]:
    """``n`` distinct architectures drawn uniformly (Optuna's random sampler, seeded); all of them
    when the space holds fewer (the draw stops there instead of looking for more forever)."""
    size = space.size()
    n = n if size is None else min(n, size)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out: dict[str, Arch] = {}
    for _ in range(50 * n):
        if len(out) == n:
            break
        trial = study.ask()
        spec = space.sample(trial)
        study.tell(trial, 0.0)
        out.setdefault(arch_id(spec), Arch(spec, arch_id(spec)))
    return list(out.values())


def from_study(study: optuna.Study, n: int, seed: int) -> list[Arch]:
    """``n`` architectures of a finished search: its best ``TOP_ALWAYS`` by proxy score, then one
    per equal-width bin of the remaining proxy-score range (seeded pick within a bin), topped up
    evenly by rank when bins are empty."""
    from nas_proxy.search.study import spec_of, study_space, trial_value

    best: dict[str, Arch] = {}
    space = study_space(study)
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        spec = spec_of(t, space)
        if spec is None or not t.values or t.user_attrs.get("rung"):  # a ladder's climber: scored by another rung
            continue
        a = Arch(spec, arch_id(spec), None, trial_value(study, t), t.user_attrs.get("proxy_seconds"), t.user_attrs.get("synthetic_sha256"))
        if a.arch_id not in best or (a.study_value or 0) > (best[a.arch_id].study_value or 0):
            best[a.arch_id] = a
    ranked = sorted(best.values(), key=lambda a: (-(a.study_value or 0.0), a.arch_id))
    if len(ranked) <= n:
        return ranked
    chosen = ranked[: min(TOP_ALWAYS, n)]
    rest = ranked[len(chosen) :]
    need = n - len(chosen)
    rng = np.random.default_rng(seed)
    values = np.array([a.study_value for a in rest], dtype=float)
    edges = np.linspace(values.min(), values.max(), need + 1)
    picked: list[int] = []
    for lo, hi in itertools.pairwise(edges):
        inside = [i for i, v in enumerate(values) if lo <= v <= hi and i not in picked]
        if inside:
            picked.append(int(rng.choice(inside)))
    left = [i for i in range(len(rest)) if i not in picked]
    while len(picked) < need and left:
        take = left[:: max(1, len(left) // (need - len(picked)))][: need - len(picked)]
        picked += take
        left = [i for i in left if i not in take]
    return chosen + [rest[i] for i in sorted(picked)]
