"""A scores file with a header and no row, as each reader of scores files meets it: benchmarks/fidelity.py,
rank_average.py and power.py (one reader, fidelity_table.scores_csv), ladder.py and ``calibrate --ladders``
(ladder_sim's). Before fix50d fidelity.py and rank_average.py said the file lacked the columns its header names,
power.py that it had no variant 'random-ipc10' ('it has ' and nothing), ladder.py and calibrate that it needed
comma-separated columns proxy, arch_id, score and seconds, which it has. One line now, the same words, exit 2,
nothing written."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))  # the scripts import their neighbours by name

import fidelity
import ladder
import power
import rank_average

from nas_proxy.cli import main as nasproxy

ROOT = Path(__file__).resolve().parents[2]
TABLE = str(ROOT / "benchmarks" / "groundtruth" / "fashion-mnist-convnet720.csv")
NO_ROWS = "has a header but no rows (no architecture scored); give one row per "
CASES = [  # (script, its header-only file, argv ({f}: the file, {t}: tmp_path), the start of the one line)
    (fidelity, "arch_id,score,seconds", ["--table", TABLE, "--proxy", "scores:{f}", "--out", "{t}/out"], "fidelity.py: error: scores file"),
    (fidelity, "proxy,arch_id,score", ["--table", TABLE, "--proxy", "x=scores:{f}", "--out", "{t}/out"], "fidelity.py: error: scores file"),
    (rank_average, "variant,arch_id,score", ["{f}", "--out", "{t}/out.csv"], "rank_average.py: error: scores file"),
    (power, "variant,arch_id,score", ["{f}", "--json", "{t}/out.json"], "power.py: error: scores file"),
    (power, "proxy,arch_id,score", ["{f}"], "power.py: error: scores file"),
    (
        ladder,
        "proxy,arch_id,score,seconds",
        ["--table", TABLE, "--scores", "{f}", "--ladder", "x:1.0,full:1"],
        "ladder.py: error: --scores",
    ),
]


@pytest.mark.parametrize(("script", "header", "argv", "start"), CASES, ids=[f"{c[0].__name__}:{c[1]}" for c in CASES])
def test_a_header_without_rows_is_said_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], script: object, header: str, argv: list[str], start: str
) -> None:
    scores = tmp_path / "scores.csv"
    scores.write_text(header + "\n")
    assert script.main([a.format(f=scores, t=tmp_path) for a in argv]) == 2  # type: ignore[attr-defined]
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"{start} {scores} {NO_ROWS}"), err
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"]


def test_calibrate_ladders_says_so_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scores = tmp_path / "scores.csv"
    scores.write_text("proxy,arch_id,score,seconds\n")
    out = tmp_path / "p.toml"
    assert nasproxy(["calibrate", "--ladders", "auto", "--truth", TABLE, "--scores", str(scores), "--out", str(out), "--quiet"]) == 2
    assert capsys.readouterr().err.splitlines() == [f"nasproxy calibrate: error: --scores {scores} {NO_ROWS}proxy and architecture"]
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"]
