"""fidelity.py's inputs: a ground-truth table, its calibration / evaluation halves, and a proxy's scores (a scores
file, or the table's early-stopping columns), each checked as it is read (one line per bad input, see probe45).

Imports neither torch nor scipy: the scripts that only read a table (kseed.py, zero_cost_scores.py, kill_drill.py)
start in a fraction of a second.
"""

from __future__ import annotations

import csv
import io
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parents[1])]  # nas_proxy from this checkout when not installed
sys.path.insert(1, str(Path(__file__).resolve().parent / "groundtruth"))  # split.py

from split import SPLIT, read_split  # noqa: E402

from nas_proxy import checks  # noqa: E402
from nas_proxy.arch_ids import arch_id  # noqa: E402 (torch-free, unlike nas_proxy.spaces)
from nas_proxy.errors import InvalidArgumentError, shown  # noqa: E402
from nas_proxy.groundtruth.tables import TableData, check_has_rows, check_same_data, read_rows, rows_data  # noqa: E402

ROLES = ("all", "calibration", "evaluation")  # which architectures of the table (--role)


@dataclass
class Table:
    """A ground-truth table: architectures in file order, accuracy per seed, training seconds."""

    ids: list[str]
    specs: dict[str, dict[str, Any]]
    truth: dict[int, dict[str, float]]  # seed -> arch id -> accuracy
    seconds: dict[str, float] = field(default_factory=dict)  # arch id -> training seconds (first seed)
    seeds: list[int] = field(default_factory=list)
    val: dict[str, float] = field(default_factory=dict)  # arch id -> validation accuracy (first seed)
    data: TableData | None = None  # the data it was measured on (nas_proxy.groundtruth.tables); None: it names none


def read_table(path: Path, metric: str = "test_accuracy", val_seed: int | None = None) -> Table:
    """One row per (architecture, seed) with ``arch_id``, ``seed``, ``spec`` (JSON) and ``metric``.
    ``val_seed``: the seed whose validation accuracy promotion picks by (None: the first seed's, the
    same training as the ground truth; another seed's is an independent training, as a real
    promotion is)."""
    # a folder, a FIFO or a device (/dev/zero) is one line, not a traceback or a read that never ends (probe45); a row
    # cut short or a line cut inside a field too, in calibrate's words (the one reader: drill52)
    header, lines = read_rows("--table", path)
    need = {"arch_id", "seed", "spec", metric}
    if not need <= set(header):
        raise InvalidArgumentError(f"--table {path} needs rows with columns {', '.join(sorted(need))} (a ground-truth table)")
    check_has_rows(f"--table {path}", lines, "architecture and seed", "no architecture trained")  # before fix52d: 'needs columns'
    table = Table([], {}, {})
    for n, row in lines:
        seed, value, spec = _row_values(path, n, row, metric)
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
    table.data = rows_data(path, f"--table {path}", lines)  # rows of two datasets: refused
    return table


def _row_values(path: Path, n: int, row: dict[str, str], metric: str) -> tuple[int, float, dict[str, Any]]:
    """Line ``n``'s seed, ``metric`` and spec, each refused by name where it is not one (before drill52 "seed,
    test_accuracy or spec is not valid" named none of them; before probe45 'nan' and 'inf' were read as accuracies)."""
    try:
        seed = checks.parse_int(row["seed"].strip())  # blanks around a field: the file's layout
    except ValueError:
        raise InvalidArgumentError(f"{path} line {n}: seed {shown(row['seed'])} is not an integer; fix or drop that row") from None
    value = checks.file_number(row[metric], True)
    if not math.isfinite(value):
        raise InvalidArgumentError(f"{path} line {n}: {metric} {shown(row[metric])} is not a finite number; fix or drop that row")
    try:
        spec = checks.loads(row["spec"])
    except (ValueError, RecursionError):
        spec = None
    if not isinstance(spec, dict):
        raise InvalidArgumentError(
            f"{path} line {n}: spec {shown(row['spec'])} is not a JSON object (an architecture's spec); fix or drop that row"
        )
    return seed, value, spec


def check_dataset(
    data: TableData | None, dataset: str, ranked: str, fix: str | None = None, *, read: bool = False, root: str | None = None
) -> None:
    """Refuse a table measured on other data (``data``, a :class:`Table`'s) than ``dataset``, the real data of
    ``ranked`` (what the script ranks, as messages name it): the one line of ``check_same_data``; ``fix`` (default:
    give --dataset or another --table). A table that names no data (a user's own) is taken as it is. ``read``: the
    caller works on that data (``dataset`` under ``root``, --data-root), so where the table names its content digest
    the data is loaded and its digest compared, as a synthetic set's is (:func:`check_sets`): before fix53b zero-cost
    scores of another copy of the table's data (photos turned since, another --data-root) were ranked against it, exit
    0. A script that reads no data (power.py) compares the names alone."""
    if data is None:
        return
    fix = fix or f"give --dataset {data.dataset}, or a --table measured on {dataset}"
    check_same_data(data, dataset, None, ranked, fix)  # another dataset: refused before any data is read
    if read and data.sha256:
        from nas_proxy.data import load_dataset  # torch: only where there is a digest to compare

        check_same_data(data, dataset, load_dataset(dataset, root).content_sha256(), ranked, fix)


def check_sets(data: TableData | None, paths: list[str]) -> None:
    """Refuse a synthetic set of other data than the table's (``data``), by its meta.json's dataset and content digest,
    before any is trained: fidelity.py's ``synthetic:`` proxies, kseed.py's --synthetic, protocol_per_set.py's --set."""
    if data is None or not paths:
        return
    from nas_proxy.synthetic import read_meta  # torch: only where there is a set to read

    for path in paths:
        real = read_meta(Path(path))["dataset"]
        fix = f"give a --table measured on {real['name']} (benchmarks/groundtruth/build.py --dataset), or sets of {data.dataset}"
        check_same_data(data, str(real["name"]), real.get("content_sha256"), f"synthetic set {path}", fix)


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
        table.data,
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


def scores_csv(path: Path, text: str, needs: str, *columns: set[str]) -> tuple[list[dict[str, str]], list[str]]:
    """:func:`csv_rows` of a scores file (fidelity.py's, rank_average.py's, power.py's): refused in one line where its
    header holds none of the sets of ``columns`` ("scores file F needs ``needs``"), or where it has a header and no
    row. Before fix50d a header alone was said to lack the columns it has (each script its own words)."""
    rows, header = csv_rows(path, text)
    if not any(c <= set(header) for c in columns):
        raise InvalidArgumentError(f"scores file {path} needs {needs}")
    check_has_rows(f"scores file {path}", rows)
    return rows, header


def _scores_file(
    path: Path, ids: list[str], label: str | None = None, data: TableData | None = None
) -> tuple[dict[str, float], dict[str, float]]:
    """A file's scores (and seconds) per architecture; a file with a ``proxy`` column (one row per
    proxy and architecture, as the GPU sections write it) or a ``variant`` column (``distill_ablation.py``'s
    scores.csv) gives the rows of the proxy ``label``. A file whose rows name their data (``dataset``, ``data_sha256``:
    zero_cost_scores.py's, distill_ablation.py's, rank_average.py's) is refused against a table of other data
    (``data``, the table's): before fix53b those files named none, and a digits ablation's scores were ranked against
    Fashion-MNIST accuracies wherever no ablation.json lay beside them."""
    text = checks.read_text("scores", path)  # a folder: one line, not IsADirectoryError (probe45)
    checks.whole_lines("scores", path, text)  # a torn last row: its score would read as a shorter number
    rows, header = scores_csv(path, text, "columns arch_id and score (optionally seconds)", {"arch_id", "score"})
    check_scores_data(path, rows, data)
    column = next((c for c in ("proxy", "variant") if c in header), None)
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


def check_scores_data(path: Path, rows: list[dict[str, str]], data: TableData | None) -> TableData | None:
    """The data the rows of scores file ``path`` name (their ``dataset`` and ``data_sha256`` columns, read as a table's:
    rows of two datasets are refused), refused where it is not the table's (``data``; None: a table that names none);
    None where they name none (a user's own scores: taken as they are)."""
    named = rows_data(path, f"scores file {path}", enumerate(rows, start=2))
    if named is not None and data is not None:
        fix = f"give scores of proxies of {data.dataset}, or a --table measured on {named.dataset}"
        check_same_data(data, named.dataset, named.sha256, f"scores file {path} ({named.where})", fix)
    return named


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
        # before probe49 a subnormal such as 1e-320, refused as no score any proxy gives, was called "not a finite number"
        what = (
            f"is subnormal (give 0, or a number of at least {sys.float_info.min:.1e} in magnitude)"
            if _subnormal(text)
            else "is not a finite number"
        )
        raise InvalidArgumentError(
            f"{where} line {line}: {column} {shown(text)} {what}; give a number, or leave it empty where the proxy failed"
        )
    return value


def _subnormal(text: str | None) -> bool:
    """Whether ``text`` reads as a number of magnitude between 0 and the smallest normal float (``1e-320``)."""
    try:
        x = abs(float(text or ""))
    except ValueError:
        return False
    return 0 < x < sys.float_info.min


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
    lines = [(n, r) for n, r in read_rows("--table", path)[1] if r["seed"].strip() == str(seed)]  # the file's own line numbers
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
