"""Which data a ground-truth table was measured on: the columns its writer adds, and the one reader of them.

A ground-truth table (one row per architecture and seed; ``benchmarks/groundtruth/build.py`` writes them) judges
proxies of its own data only: a digits proxy ranked against Fashion-MNIST accuracies gives numbers that mean
nothing. From branch fix51a on every row names its data in two columns, ``dataset`` (the data registry's name) and
``data_sha256`` (the data's ``Dataset.content_sha256``: which images and labels), before ``spec``: a row copied into
another file keeps them, and a spreadsheet shows them beside the numbers (a sidecar alone is lost with a copy).
A table written before names its data in the ``provenance.json`` its builder wrote beside it, where that file's
``data.tables`` lists the table (the committed Fashion-MNIST tables). A table with neither, a user's own, names no
data and is read as before, without a word: its user knows which data it is, and a warning on every run that only
an edit of the file could silence would teach to ignore warnings.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence, Sized
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nas_proxy import checks
from nas_proxy.errors import InvalidArgumentError
from nas_proxy.protocols import canonical_dataset

DATASET = "dataset"  # the column naming the data a row was measured on (the data registry's name)
SHA256 = "data_sha256"  # the column holding that data's content_sha256 (empty where unknown)
COLUMNS = (DATASET, SHA256)
SIDECAR = "provenance.json"  # the builder's file beside its tables; its "data" names their dataset


@dataclass(frozen=True)
class TableData:
    """The data a table was measured on: ``dataset`` (registry name), ``sha256`` (its content_sha256, None where
    unknown), ``table`` (how messages name the table) and ``where`` (what in it says so)."""

    dataset: str
    sha256: str | None
    table: str
    where: str


def row_columns(dataset: str, sha256: str | None) -> dict[str, str]:
    """The two columns of a row measured on ``dataset`` (``sha256``: its content_sha256, or None)."""
    return {DATASET: dataset, SHA256: sha256 or ""}


def sidecar_data(sha256: str | None, tables: list[str]) -> dict[str, Any]:
    """What the builder adds to its ``provenance.json``'s ``data`` (beside ``dataset``): the content digest and the
    names of the tables it describes (a user's own CSV put in the same folder is not one of them)."""
    return {"content_sha256": sha256, "tables": sorted(tables)}


def read_rows(
    option: str,
    path: Path | str,
    text: str | None = None,
    numbers: Collection[str] | None = None,
    check_header: Callable[[list[str]], None] | None = None,
) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header and ``(line, row)`` of the table at ``path``, read whole: the one reader of a ground-truth table's
    rows (``benchmarks/fidelity_table.py``'s and the scripts that import it); ``option``: how messages name it
    (``--table``); ``text``: its contents when the caller has read them already. A row with more or fewer fields than
    the header (a table cut inside its last row, an unquoted comma) is refused naming its line and its field counts, as
    calibrate's readers do (:func:`nas_proxy.checks.whole_row`; drill52: fidelity.py said "seed, test_accuracy or spec
    is not valid" of a table cut inside its last row), then a last line without its newline (a write that stopped
    inside a field: it reads whole, shorter), a column named twice and a field the csv module cannot read; a quoted
    field that the end of the file closes (an odd number of quotes) is refused at the line it opens (stop 56). Blank
    lines are skipped, above the header too (before stop 54 a blank line there was read as an empty header: "line 2 has
    3 fields, the header 0"); ``line`` is the file's (where a row ends), and a message about the header names its line
    where that is not the first. ``numbers``: refuse a last line without its newline only where the header has one of
    these columns (a list of specs alone, written by hand in an editor that ends no file in a newline, has no number a
    cut could shorten); None: always. ``check_header``: the caller's check of the header, first (a file of another kind
    named as such before its "columns" are judged)."""
    path = Path(path)
    text = checks.read_text(option, path) if text is None else text
    body, unclosed = _uncommented(text.removeprefix("\ufeff"))  # a byte-order mark: read_text drops it, a caller's text may not
    stream = io.StringIO(body, newline="")
    lines = csv.reader(stream)  # the header's line: the first that is not blank (nor blanks and commas only) nor a comment
    rows: list[tuple[int, dict[str, str]]] = []
    reader: Any = None  # the rows' reader, once the header is read
    try:  # blanks around a name are the file's layout (a byte-order mark too, after blank lines: two files joined)
        header = [h.lstrip("\ufeff").strip() for h in next((f for f in lines if any(map(str.strip, f))), [])]
        at = lines.line_num  # lines read up to the header's end (0: none), which the rows' own count starts after
        if check_header is not None:
            check_header(header)
        if unclosed is not None:  # before stop 56: the last line refused as a row of too few fields, "a comma inside a field needs quotes"
            raise InvalidArgumentError(
                f"{path} line {unclosed}: a quoted field opens here and is not closed before the end of the file (an odd number "
                "of '\"'); close it, or drop the quote"
            )
        checks.columns(path, header, at)
        reader = csv.reader(stream)  # rows as csv.DictReader makes them (extra fields under None, missing ones None), inline
        first, width, last = (header[0] if header else None), len(header), 0
        for fields in reader:
            if not fields:  # a blank line
                continue
            row: dict[Any, Any] = dict(zip(header, fields, strict=False))
            if len(fields) > width:
                row[None] = fields[width:]
            elif len(fields) < width:
                row.update(dict.fromkeys(header[len(fields) :]))
            line = at + reader.line_num
            # the checks below only where they can refuse the row (perf62c: per row they were most of the reading of a
            # table of 10**6 rows): a record on one line has no line break inside a field, a row with all its fields
            # neither a None key nor a None value, and a row that is the header again holds the header's first name first
            if reader.line_num - last != 1:
                _no_rows_inside(path, line, row, header)  # first: the rows it took in make the count wrong
            if len(fields) != width:
                checks.whole_row(path, line, row, header, at)
            if first is None or first in fields[0]:
                _not_the_header(path, line, row.values(), header)
            last = reader.line_num
            rows.append((line, row))
    except csv.Error as e:  # a field over the csv module's 131,072 characters, a NUL byte
        line = lines.line_num if reader is None else at + reader.line_num
        raise InvalidArgumentError(f"{path} line {line}: {e}; is it the right file?") from None
    if rows and (numbers is None or not set(numbers).isdisjoint(header)):  # a row cut inside its last field: all its fields, one shorter
        checks.whole_lines(option, path, text)
    return header, rows


# a column of plain decimals (no sign but '-', no exponent, at most 15 digits either side of the point), one a line:
# numbers checks.file_number reads as float() does, finite, none rounding to 0 nor subnormal
_PLAIN_COLUMN = re.compile(r"(?:-?[0-9]{1,15}(?:\.[0-9]{0,15})?\n)+\Z")


def plain_floats(values: list[str]) -> list[float] | None:
    """``values`` (stripped fields) as floats where every one is a plain decimal (:data:`_PLAIN_COLUMN`), read at once
    (perf62c: a column of 10**6 fields number by number was seconds); None otherwise: the caller reads them one by one
    (:func:`nas_proxy.checks.file_number`), which refuses the first that is not a number in its own words."""
    if not values or not _PLAIN_COLUMN.match("\n".join(values) + "\n"):
        return None
    return list(map(float, values))


def _not_the_header(path: Path, line: int, fields: Iterable[Any], header: Sequence[str]) -> None:
    """Refuse a row that is the header again (two tables joined with ``cat``; a second file's byte-order mark and blanks
    around its names as the header's own). Before fix59 it was refused as a bad row ("line 6: seed, test_accuracy or spec
    is not valid"), or as a table that "mixes datasets" (its ``dataset`` column's name read as a dataset)."""
    if [f.lstrip("\ufeff").strip() if isinstance(f, str) else f for f in fields] == list(header):
        raise InvalidArgumentError(f"{path} line {line} repeats the header (two tables joined?); drop that line")


_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # where the csv reader's lines end (io.StringIO's with newline="": not U+2028)


def _no_rows_inside(path: Path, line: int, row: Mapping[Any, Any], header: Sequence[str]) -> None:
    """Refuse a record (``row``, read up to the file's ``line``) whose quoted field takes in a row of the table: a stray '"'
    that opens a field (an architecture named ``"net1``), which the csv module read on to the next '"' in the file. Before
    fix58 those rows were one architecture's name, ``'net1,0.5\\nnet2'``, without a word. A row taken in: a whole line
    of the field's text that reads as a row (as many fields as the header, none blank), or the text on the line where
    it opens, which completes that line's row with two fields or more. A line break inside a quoted field is otherwise
    data (a spreadsheet's note of two lines, a spec's JSON written over lines: ``{"a": 1,``)."""
    values = [_LINE_BREAK.split(v) if isinstance(v, str) else [""] for v in row.values()]
    for i, parts in enumerate(values):
        fields = [next(csv.reader([part]), []) for part in parts[:-1]]  # (the last: the head of the line it closes on)
        if any(len(f) == len(header) - (i if k == 0 else 0) and len(f) > (k == 0) and all(map(str.strip, f)) for k, f in enumerate(fields)):
            taken = sum(len(later) - 1 for later in values[i:])  # the line breaks from the field's opening quote on
            raise InvalidArgumentError(
                f"{path} line {line - taken}: a quoted field opens here and takes in lines up to line {line} that read as rows of "
                "the table (a stray '\"' in a name?); drop the quote, or close it on its line"
            )


def _uncommented(text: str) -> tuple[str, int | None]:
    """``text`` with its comment lines made blank (their line endings kept, so every row keeps its line number): a line
    that starts a record with ``#``; and the line where a quoted field opens that the end of the text closes (None:
    none). The project's tables have comments (``benchmarks/groundtruth/split.py`` writes one above its header), and
    calibrate's readers always took them for comments; the csv module knows none (a comment with ``,"`` in it would
    open a quoted field). Where records start is the csv module's to say: each is read by its own reader, and a line
    that starts one with ``#`` is not given to it. Before stop 56 a count of the quotes on each line said it (quote
    parity): a quote inside an unquoted field (``ab"c``, read as it is) made every later comment a row of data."""
    if not text.startswith("#") and "\n#" not in text and "\r#" not in text and _closed(text):
        return text, None  # no line starts with '#', every quoted field closed: the text as it is (perf62c: 10**6 lines at once)
    lines = io.StringIO(text, newline="").readlines()  # the lines as the csv reader gets them (not split at U+2028)
    out, at = list[str](), 0

    def fed() -> Iterator[str]:
        nonlocal at
        while at < len(lines):
            at += 1
            yield lines[at - 1]

    while at < len(lines):
        if lines[at].startswith("#"):  # a comment: where a record starts
            out.append(lines[at][len(lines[at].rstrip("\r\n")) :])
            at += 1
            continue
        first = at
        with suppress(csv.Error, StopIteration):  # (a NUL byte, a field too long: read_rows' reader names them)
            next(csv.reader(fed()))  # the csv module reads the lines of one record, no more
        at = max(at, first + 1)
        out.extend(lines[first:at])
        if at == len(lines) and _open_at_end("".join(lines[first:at])):
            return "".join(out), first + 1
    return "".join(out), None


def _closed(text: str) -> bool:
    """Whether the csv module reads ``text`` to its end without an error and without a quoted field left open there (what
    :func:`_uncommented` finds record by record, in one pass where no line starts a comment)."""
    try:
        last = deque(csv.reader(io.StringIO(f"{text}\n{_END}", newline="")), maxlen=1)  # (only the last record kept)
    except csv.Error:  # (a NUL byte, a field too long: the record by record reading says where)
        return False
    return list(last) == [[_END]]


_END = "nasproxy-end-of-text"  # a line put after the last record: read into its last field only where that is still open


def _open_at_end(record: str) -> bool:
    """Whether the last record of a text ends inside a quoted field (the csv module reads it to the end, without a word):
    where it does, the line put after it is read into that field, not as a row of its own. (Before review57 the strict
    reader's first complaint said it, which for a malformed quoted field before the open one, ``"a"b,"1``, was another:
    the open field's text, its newline too, was then read as a value.)"""
    try:
        rows = list(csv.reader(io.StringIO(f"{record}\n{_END}", newline="")))
    except csv.Error:  # (a NUL byte, a field too long: read_rows' reader names them)
        return False
    return bool(rows) and rows[-1] != [_END]


def read_data(path: Path | str, table: str, text: str | None = None) -> TableData | None:
    """The data the table at ``path`` was measured on: its ``dataset`` column, else the provenance.json beside it
    that lists it; None when it names none. ``table``: how messages name it (``--table FILE``); ``text``: its
    contents when the caller has read them already. A table whose rows name two datasets, or two digests, is
    refused: its accuracies were not measured on one data."""
    path = Path(path)
    rows: list[tuple[int, dict[str, str]]] = []
    if path.suffix.lower() == ".csv":
        reader = csv.reader(io.StringIO(_uncommented(checks.read_text(table, path) if text is None else text)[0], newline=""))
        try:
            header = [h.strip().lstrip("\ufeff") for h in next((f for f in reader if f), [])]  # below comments
            if DATASET in header:
                for row in reader:
                    _not_the_header(path, reader.line_num, row, header)
                    rows.append((reader.line_num, dict(zip(header, row, strict=False))))
        except csv.Error:  # not a table: its reader refuses it in its own words
            rows = []
    return rows_data(path, table, rows)


def rows_data(path: Path | str, table: str, rows: Iterable[tuple[int, Mapping[str, str]]]) -> TableData | None:
    """:func:`read_data` of a table its caller parsed already (``rows``: ``(line, row)``)."""
    return _columns(Path(path), table, rows) or _from_sidecar(Path(path), table)


def _columns(path: Path, table: str, rows: Iterable[tuple[int, Mapping[str, str]]]) -> TableData | None:
    """The one dataset (and digest) the ``dataset`` and ``data_sha256`` columns of ``rows`` name; None when no row
    names one."""
    first: dict[str, tuple[str, int]] = {}  # column -> (first non-empty value, its line)
    for line, row in rows:
        for column in COLUMNS:
            value = (row.get(column) or "").strip()
            if not value:
                continue
            if column not in first:
                first[column] = (value, line)
            elif value != first[column][0]:
                what = "datasets" if column == DATASET else "data (content digests)"
                raise InvalidArgumentError(
                    f"{path} mixes {what}: line {first[column][1]} names {first[column][0][:40]}, line {line} "
                    f"{value[:40]} (column {column!r}); a table judges proxies of one data: keep the rows of one"
                )
    if DATASET not in first:
        return None
    sha = first.get(SHA256, (None, 0))[0]
    return TableData(first[DATASET][0], sha, table, f"its column {DATASET!r}")


def _from_sidecar(path: Path, table: str) -> TableData | None:
    """The dataset named by the builder's provenance.json beside ``path``, where it lists ``path`` among its tables;
    None otherwise (no such file, one of another kind, not JSON, or one that does not list this table). A JSON object cut
    short (a lost last write) is refused: it may have named other data."""
    sidecar = path.parent / SIDECAR
    if not sidecar.is_file():  # none there; or a FIFO or a device, whose opening would wait for a writer (probe57)
        return None
    try:
        with open(sidecar, "rb") as f:  # at most the limit of every text file read whole (before fix62a: all of it)
            text = f.read(checks.MAX_TEXT_BYTES + 1)
    except OSError:  # gone meanwhile: the table names no data
        return None
    if len(text) > checks.MAX_TEXT_BYTES:  # not the builder's (a dataset and its tables): it may name other data, so refused
        raise InvalidArgumentError(
            f"{sidecar}, which names the data of the tables beside it, is too large (more than {checks.MAX_TEXT_BYTES >> 20} MiB"
            f" is not read): not the builder's? move it away to take the table as naming no data"
        )
    try:
        prov = json.loads(text)
    except RecursionError:  # before review61: "internal error: RecursionError" of calibrate --truth, correlate's tables
        raise checks.too_deep(f"{sidecar}, which names the data of the tables beside it,") from None
    except ValueError as error:  # not JSON: another tool's file names no data; a JSON object cut short is refused, and
        # so is an empty one (an earlier builder wrote it in place: a kill left 0 bytes), BOM or blanks first or not
        start = text.lstrip().removeprefix(b"\xef\xbb\xbf").lstrip()
        if not start or start.startswith(b"{"):  # (drill58: a torn builder's file had let a table of other data judge a set)
            raise InvalidArgumentError(
                f"{sidecar}, which names the data of the tables beside it, is not whole JSON ({str(error)[:60]}): "
                f"a write cut short? copy it again from where {path.name} came from, or move it away to take the "
                f"table as naming no data"
            ) from None
        return None
    data = prov.get("data") if isinstance(prov, Mapping) else None
    if not isinstance(data, Mapping) or not isinstance(data.get(DATASET), str):
        return None
    listed = data.get("tables")
    if not isinstance(listed, list) or path.name not in listed:
        return None
    sha = data.get("content_sha256")
    return TableData(data[DATASET], sha if isinstance(sha, str) and sha else None, table, f"the {SIDECAR} beside it")


def check_has_rows(where: str, rows: Sized, per: str = "architecture", none: str = "no architecture scored") -> None:
    """Refuse a table or scores file (``where``: how messages name it, ``--scores FILE``) whose header stands alone, in
    the one wording of every reader (calibrate's and ladder.py's --scores and --truth, fidelity.py's, power.py's and
    rank_average.py's scores files, fidelity_table's --table); ``per``: what each row is for; ``none``: what a header
    alone means. Before fix52d the scores readers said it in two ways, the table readers as a lack of the columns the
    header has."""
    if not len(rows):
        raise InvalidArgumentError(f"{where} has a header but no rows ({none}); give one row per {per}")


def check_same_data(data: TableData | None, dataset: str, sha256: str | None, ranked: str, fix: str) -> None:
    """Refuse to judge ``ranked`` (what is about to be ranked: a synthetic set, ``--dataset NAME``) of ``dataset``
    (``sha256``: its content_sha256, None where not at hand) against a table measured on other data; ``fix``: what
    to do, in the consumer's words. A table that names no data (``data`` None) is taken as it is."""
    if data is None or (data.sha256 and data.sha256 == sha256):  # the same pixels and labels, whatever the name says
        return  # (review52: an image folder named relative in the table, absolute here, from another working folder)
    if canonical_dataset(data.dataset) != canonical_dataset(dataset):
        raise InvalidArgumentError(
            f"{data.table} was measured on {data.dataset} ({data.where}) and {ranked} is of {dataset}: its accuracies "
            f"say nothing of a ranking on {dataset}; {fix}"
        )
    if data.sha256 and sha256 and data.sha256 != sha256:
        raise InvalidArgumentError(
            f"{data.table} was measured on other {data.dataset} images or labels than {ranked}'s (content_sha256 "
            f"{data.sha256[:12]}... there, {sha256[:12]}... here); {fix}"
        )


__all__ = [
    "COLUMNS",
    "DATASET",
    "SHA256",
    "SIDECAR",
    "TableData",
    "check_has_rows",
    "check_same_data",
    "plain_floats",
    "read_data",
    "read_rows",
    "row_columns",
    "rows_data",
    "sidecar_data",
]
