"""The architectures a calibration learns from, each with its full-data (ground-truth) accuracy.

Three sources: a ground-truth table (``benchmarks/groundtruth/*.csv``: one row per architecture and
seed), a file of architectures with an ``accuracy`` (what ``correlate --archs`` reads), or a cached
ground-truth study (``nasproxy correlate`` trains one). Where there are several seeds the lowest
seed's accuracy is the truth, as in ``benchmarks/fidelity.py``, so every architecture is judged
against one training of the same kind. Each carries the data it was measured on where its source names it
(:mod:`nas_proxy.groundtruth.tables`; a study records it), and :func:`check_data` refuses to judge a proxy of other
data against it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from nas_proxy import checks
from nas_proxy.checks import existing_file, read_text
from nas_proxy.correlate.archs import read_archs
from nas_proxy.errors import InvalidArgumentError, NasProxyError, shown
from nas_proxy.groundtruth import study as ground_truth
from nas_proxy.groundtruth.tables import TableData, check_same_data, plain_floats, read_data, read_rows
from nas_proxy.spaces import SearchSpace, arch_id
from nas_proxy.studies import kinds
from nas_proxy.studies.storage import hidden, open_storage, require_existing

ARCH_ID = re.compile(r"[0-9a-f]{12}")  # an arch_id as nasproxy writes it (nas_proxy.arch_ids.arch_id)
MIN_ARCHS = 6  # fewest architectures a calibration accepts: two folds of three, the least a rank correlation needs


@dataclass(frozen=True)
class Truth:
    """One architecture and its ground-truth accuracy (%), and the data it was measured on (None: not named)."""

    spec: dict[str, Any]
    arch_id: str
    accuracy: float
    data: TableData | None = field(default=None, compare=False)


def _table_rows(
    what: str, path: Path, text: str, data: TableData | None, read: tuple[list[str], list[tuple[int, dict[str, str]]]] | None = None
) -> list[Truth] | None:
    """The lowest seed's ``test_accuracy`` of a ground-truth table (measured on ``data``); None when ``path`` is not one.
    ``read``: what :func:`~nas_proxy.groundtruth.tables.read_rows` returned of ``text`` already (else it is read now)."""
    header, rows = read or read_rows(what, path, text)  # its file's line numbers, blank lines and a cut last row as every table's
    if not {"seed", "spec", "test_accuracy"} <= set(header):
        return None
    best: dict[str, tuple[int, Truth]] = {}
    seen: dict[tuple[str, int], int] = {}
    seeds: dict[str, int] = {}  # each seed's text read once (perf62c: 10**6 rows, a few seeds)
    plain = plain_floats([row["test_accuracy"].strip() for _, row in rows])  # all at once where all are plain decimals
    for i, (n, row) in enumerate(rows):
        try:  # blanks around a field: the file's layout
            seed = seeds.get(row["seed"])
            if seed is None:
                seed = seeds[row["seed"]] = checks.parse_int(row["seed"].strip())
            spec = checks.loads(row["spec"])
        except checks.DuplicateKeyError as e:  # probe59: json.loads kept the last value silently
            raise InvalidArgumentError(f"{path} line {n}: its spec is JSON in which {e}; keep one") from None
        except (ValueError, TypeError, RecursionError):  # (a JSONDecodeError is a ValueError)
            raise InvalidArgumentError(f"{path} line {n}: seed, test_accuracy or spec is not valid; fix or drop that row") from None
        acc = checks.file_number(row["test_accuracy"], csv_field=True) if plain is None else plain[i]
        if not isinstance(spec, dict) or not math.isfinite(acc) or not 0 <= acc <= 100:
            raise InvalidArgumentError(
                f"{path} line {n}: spec must be a JSON object and test_accuracy a % in [0, 100], got {shown(row['test_accuracy'])}"
            )
        aid = arch_id(spec)
        given = (row.get("arch_id") or "").strip()  # what calibrate --ladders reads the row by (fix60: ignored here)
        if ARCH_ID.fullmatch(given) and given != aid:  # (any other text: a name of the user's, as a ladder table's)
            raise InvalidArgumentError(
                f"{path} line {n}: arch_id {shown(given)} is another architecture's id, not its spec's ({aid}): a row pasted "
                "from another table, or a spec edited since; give the row its spec's id, or a name of your own"
            )
        if (aid, seed) in seen:
            raise InvalidArgumentError(
                f"{path} line {n} lists architecture {aid} at seed {seed} twice (also line {seen[aid, seed]}); keep one row"
            )
        seen[aid, seed] = n
        if aid not in best or seed < best[aid][0]:
            best[aid] = (seed, Truth(spec, aid, acc, data))
    checks.percentages(str(path), (t.accuracy for _, t in best.values()), "test_accuracy")
    return [t for _, t in best.values()]


def from_file(path: Path | str, space: SearchSpace | None = None, what: str = "--truth") -> list[Truth]:
    """A ground-truth table CSV, or a JSON/CSV list of architectures that all carry ``accuracy``
    (``what``: the option that named the file, for the errors)."""
    path = existing_file(what, path)
    data = None
    if path.suffix.lower() == ".csv":
        text = read_text(what, path)
        data = read_data(path, f"{what} {path}", text)
        rows = _table_rows(what, path, text, data)
        if rows is not None:
            return rows
    else:
        data = read_data(path, f"{what} {path}")
    archs = read_archs(path, space, what)
    if any(a.truth is None for a in archs):
        raise InvalidArgumentError(
            f"{what} file {path} has no ground truth: give a ground-truth table (columns seed, spec, test_accuracy) "
            "or architectures that each carry an 'accuracy' (%)"
        )
    return [Truth(a.spec, a.arch_id, float(a.truth), data) for a in archs if a.truth is not None]


def from_study(name: str, storage: str | None) -> list[Truth]:
    """The finished trainings of a ground-truth study (``nasproxy correlate`` made it)."""
    require_existing(storage, name)
    opened, _ = open_storage(storage, name)
    try:
        study = optuna.load_study(study_name=name, storage=opened)
    except KeyError:
        raise InvalidArgumentError(
            f"no study {name!r} in storage {hidden(storage) if storage else 'studies/' + name}; check --truth-study and --gt-storage"
        ) from None
    if kinds.kind_of(study) != ground_truth.GROUND_TRUTH.kind:
        raise InvalidArgumentError(f"study {name!r} is not a ground-truth study (nasproxy correlate makes those); give its name")
    recorded = study.user_attrs.get(ground_truth.GROUND_TRUTH.attr, {}).get("data", {})
    sha = recorded.get("content_sha256")
    data = TableData(recorded["dataset"], sha, f"ground-truth study {name}", "its recorded data") if "dataset" in recorded else None
    best: dict[str, tuple[int, Truth]] = {}
    for (aid, seed), record in ground_truth.results(study).items():
        if aid not in best or seed < best[aid][0]:
            best[aid] = (seed, Truth(record["spec"], aid, float(record["test_accuracy"]), data))
    return [t for _, t in best.values()]


def check_in_space(truths: list[Truth], space: SearchSpace, name: str) -> None:
    """Refuse the first architecture of ``truths`` that is not one of space ``name``'s (a table of another space
    calibrated under this one's name: its profile would pass a search of this space)."""
    for t in truths:
        try:
            space.validate(t.spec)
        except NasProxyError as e:
            raise InvalidArgumentError(f"architecture {t.arch_id} is outside space {name!r}: {e}") from None


def check_table_in_space(path: Path | str, space: SearchSpace, name: str) -> None:
    """:func:`check_in_space` for the ``--truth`` table of ``calibrate --ladders --space``. A ladder table may name its
    architectures by ``arch_id`` alone (the ladders read no spec); such a table cannot be checked against a space, and
    is refused saying so (before branch probe43b: "a CSV of architectures needs a 'spec' column", which named neither
    --space nor the way out: the same table passes without it)."""
    path = existing_file("--truth", path)
    truths = None
    if path.suffix.lower() == ".csv":
        text = read_text("--truth", path)
        read = read_rows("--truth", path, text)
        if "spec" not in read[0]:
            raise InvalidArgumentError(
                f"--space {name} is checked against the architectures of --truth {path} by their specs, and its table has no "
                "'spec' column (it names them by arch_id only); give a table with their specs, or leave --space out "
                "(the profile then records no space)"
            )
        # from_file's reading, of the rows read here (perf62c: before, the table was read and parsed twice here)
        truths = _table_rows("--truth", path, text, read_data(path, f"--truth {path}", text), read)
    check_in_space(from_file(path) if truths is None else truths, space, name)


def check_data(truths: list[Truth], dataset: str, sha256: str | None, ranked: str, fix: str) -> None:
    """Refuse ``truths`` measured on other data than ``dataset`` (``sha256``: its content_sha256 where at hand), the data
    of ``ranked``; ``fix``: what to do (:func:`nas_proxy.groundtruth.tables.check_same_data`). Truths that name no data
    (a user's own file) are taken as they are."""
    check_same_data(truths[0].data if truths else None, dataset, sha256, ranked, fix)


def check_enough(truths: list[Truth], folds: int, where: str) -> None:
    """Every fold must hold at least 3 architectures (a rank correlation is undefined on fewer), and
    the accuracies must differ (a constant truth ranks nothing: every protocol would score NaN)."""
    need = max(MIN_ARCHS, 3 * folds)
    if len(truths) < need:
        raise InvalidArgumentError(
            f"{where} holds {len(truths)} architectures with ground truth; {folds} folds need at least {need} (3 per fold): "
            "add architectures or lower --folds"
        )
    if len({t.accuracy for t in truths}) == 1:
        raise InvalidArgumentError(
            f"{where}: all {len(truths)} architectures have the same accuracy ({truths[0].accuracy:g} %): a ranking cannot be "
            "calibrated on a constant truth; give the accuracies the architectures really reached"
        )


__all__ = ["MIN_ARCHS", "Truth", "check_data", "check_enough", "check_in_space", "check_table_in_space", "from_file", "from_study"]
