"""perf62c: calibrate --ladders reads a ground-truth table and a scores file a column at a time (and read_rows skips the
per-row checks that cannot refuse a row); the results must be those of the row-by-row reading, and every refusal its.

The row-by-row reading is the same code run with the fast paths turned off (``_plain`` answering None, ``_index``
False, ``_closed`` False), so each comparison fails if a fast path reads one value otherwise."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from nas_proxy.calibrate import ladder_sim as sim
from nas_proxy.errors import InvalidArgumentError
from nas_proxy.groundtruth import tables

N = 600  # architectures (x2 seeds)


def _write(folder: Path, odd: bool = True) -> tuple[Path, Path]:
    rng = np.random.default_rng(62)
    q = rng.uniform(60, 95, N)
    lines = ["arch_id,seed,epochs,test_accuracy,val_accuracy,val_accuracy_1ep,seconds\n"]
    for s in (0, 1):
        for i in range(N):
            t, v, e, c = q[i] + rng.normal(0, 1), q[i] + rng.normal(0, 1), q[i] - 10 + rng.normal(0, 3), rng.uniform(1, 60)
            lines.append(f"a{i},{s},3,{t:.2f},{v:.4f},{e:.3f},{c:.3f}\n")
    if odd:  # spellings the plain-decimal fast path does not take: the row-by-row reading does
        lines[5] = lines[5].replace(",3,", ", 3 ,", 1)
        lines[N + 7] = "a6, 1 ,3,70.5,+71.25,6.5e1,1e1\n"
    scores = ["proxy,arch_id,score,seconds\n"]
    for i in range(N):
        scores.append(f"zc,a{i},{q[i] + rng.normal(0, 5):.5f},0.01\n")
        scores.append(f"datadam,a{i},{'' if i == 3 else 'NaN' if i == 4 else f'{q[i]:.3f}'},{'-0' if i == 5 else '16.3'}\n")
        scores.append(f"early@1ep,a{i},1,1\n")
    if odd:
        scores[9] = scores[9].replace(",0.01", ",1.5e-2")
    (folder / "t.csv").write_text("".join(lines))
    (folder / "s.csv").write_text("".join(scores))
    return folder / "t.csv", folder / "s.csv"


def _slow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sim, "_plain", lambda values: None)
    monkeypatch.setattr(sim._Table, "_index", lambda self: False)
    monkeypatch.setattr(tables, "_closed", lambda text: False)


def _same(a: sim.Candidates, b: sim.Candidates) -> None:
    assert a.ids == b.ids and a.data == b.data
    np.testing.assert_array_equal(a.test, b.test)
    assert list(a.fidelities) == list(b.fidelities)
    for k, f in a.fidelities.items():
        g = b.fidelities[k]
        np.testing.assert_array_equal(f.scores, g.scores)
        np.testing.assert_array_equal(f.seconds, g.seconds)
        assert (f.one_off, f.run, f.at) == (g.one_off, g.run, g.at)


@pytest.mark.parametrize("odd", [False, True])
def test_read_at_once_is_read_row_by_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, odd: bool) -> None:
    table, scores = _write(tmp_path, odd)
    ids = [f"a{i}" for i in range(0, N, 3)]
    fast = [sim.load_candidates(table, [scores]), sim.load_candidates(table, [scores], 1, {"zc": 2.0}, ids)]
    assert np.isnan(fast[0].get("datadam-ipc10").scores[[3, 4]]).all() and fast[0].get("datadam-ipc10").seconds[5] == 0.0
    _slow(monkeypatch)
    slow = [sim.load_candidates(table, [scores]), sim.load_candidates(table, [scores], 1, {"zc": 2.0}, ids)]
    for a, b in zip(fast, slow, strict=True):
        _same(a, b)


@pytest.mark.parametrize(
    ("where", "old", "new"),
    [
        ("t", "a9,1,3,", "a9,x,3,"),  # a seed that is not an integer
        ("t", "a9,1,3,", "a8,1,3,"),  # an architecture twice at a seed
        ("t", "a9,1,3,", "a9,1,0,"),  # epochs 0
        ("t", "a9,0,3,", "a9,0,3,101,"),  # a field too many
        ("s", "zc,a9,", "full,a9,"),  # the real training as a proxy
        ("s", "zc,a9,", "z c,a9,"),  # not a token
        ("s", "zc,a9,", "zc,a8,"),  # an architecture scored twice
        ("s", ",0.01\ndatadam,a9,", ",-1\ndatadam,a9,"),  # negative seconds
        ("s", "zc,a9,", "zc,a9,inf"),  # a score that is not finite
    ],
)
def test_refusals_are_those_row_by_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, old: str, new: str) -> None:
    table, scores = _write(tmp_path, odd=False)
    path = table if where == "t" else scores
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(InvalidArgumentError) as fast:
        sim.load_candidates(table, [scores])
    _slow(monkeypatch)
    with pytest.raises(InvalidArgumentError) as slow:
        sim.load_candidates(table, [scores])
    assert str(fast.value) == str(slow.value)


def test_read_rows_at_once_is_line_by_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """read_rows' checks skipped where they cannot refuse: the same rows and lines as with every check on every row."""
    text = 'a,b,c\n1,2,3\n\n"x\ny",2,3\n a ,b,c\n'
    path = tmp_path / "r.csv"
    path.write_bytes(text.encode())
    with pytest.raises(InvalidArgumentError, match="line 6 repeats the header"):
        tables.read_rows("--t", path)
    path.write_bytes(text.replace(" a ,b,c\n", "4,5,6\n").encode())
    fast = tables.read_rows("--t", path)
    monkeypatch.setattr(tables, "_closed", lambda text: False)
    assert tables.read_rows("--t", path) == fast
    assert [n for n, _ in fast[1]] == [2, 5, 6]


def test_table_in_space_reads_once_as_from_file(tmp_path: Path) -> None:
    """check_table_in_space judges the rows it read for the header (before perf62c: read again by from_file), in from_file's words."""
    from nas_proxy.calibrate import truth
    from nas_proxy.spaces import get_space

    space = get_space("convnet720")
    committed = Path(__file__).parents[2] / "benchmarks" / "groundtruth" / "fashion-mnist-convnet720.csv"
    rows = committed.read_text().splitlines(keepends=True)[:9]  # the header and 8 rows of the space's architectures
    path = tmp_path / "t.csv"
    path.write_text("".join(rows))
    truth.check_table_in_space(path, space, "convnet720")
    outside = "mine," + re.sub(r'""width"": [0-9]+', '""width"": 7', rows[6]).partition(",")[2]  # named as a user's own
    assert outside != rows[6]
    path.write_text("".join([*rows[:6], outside, *rows[7:]]))
    with pytest.raises(InvalidArgumentError) as once:
        truth.check_table_in_space(path, space, "convnet720")
    with pytest.raises(InvalidArgumentError) as before:
        truth.check_in_space(truth.from_file(path), space, "convnet720")
    assert str(once.value) == str(before.value) and "outside space 'convnet720'" in str(once.value)
