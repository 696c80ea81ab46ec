"""fix59: a command's own ``config.toml`` cut short (a write the disk lost) was judged by where the cut fell: cut at a
line's end it read as TOML and was written anew without a word (a run's own, cut before its [search], was refused);
cut inside a line it was "not valid TOML" and refused as a file of another's ("--out studies/s holds config.toml, not
search's"), though fix57 writes an empty one anew with a warning. Now the start of a file the command writes, cut
anywhere, is its own: written anew, with a warning where it no longer reads whole. A file that is not such a start (a
line of the user's after the command's lines, another command's file cut short, a link) is judged as before."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from nas_proxy import configs, pipeline
from nas_proxy.configs import EmptyOutputWarning
from nas_proxy.errors import InvalidArgumentError, OutputConflictError
from nas_proxy.search.config import SearchConfig

SEARCH = {"search": {**SearchConfig(None, space="convnet-cpu", data_root="/données/é").to_dict(), **vars(configs.SearchBudget())}}
LINES = configs.dumps(SEARCH).encode()[: configs.dumps(SEARCH).encode().index(b"\n", 200) + 1]  # whole lines, [search]'s
RUN = {"name": "demo", "device": "cpu", "runs": "runs", **SEARCH, "correlate": {"n_archs": 10, "ground_truth": {"epochs": 2}}}


def cuts(text: str) -> list[bytes]:
    """``text`` (UTF-8) cut at every 16th byte, inside its first two-byte character, and at its last byte."""
    data = text.encode()
    inside = [data.index("é".encode()) + 1] if "é" in text else []
    return [data[:n] for n in [*range(16, len(data), 16), *inside, len(data) - 1]]


def judged(path: Path, data: bytes, check: object) -> list[str]:
    """The warnings of ``check()`` over ``path`` holding ``data`` (a refusal raises)."""
    path.write_bytes(data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check()  # type: ignore[operator]
    return [str(w.message) for w in caught if issubclass(w.category, EmptyOutputWarning)]


def whole(data: bytes) -> bool:
    try:
        configs.tomllib.loads(data.decode())
    except (configs.tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False
    return True


def test_a_search_config_cut_anywhere_is_written_anew(tmp_path: Path) -> None:
    text = configs.dumps(SEARCH)
    assert len(text.encode()) > 400 and "é" in text
    path = tmp_path / configs.SAVED
    for data in cuts(text):
        said = judged(path, data, lambda: configs.check_saved("--out", tmp_path, "search"))
        if not whole(data):  # cut inside a line: said once (cut at a line's end it is a whole file of the command's)
            assert said == [
                f"{path} was cut short ({len(data)} bytes, as a write the disk lost leaves the resolved options): it is written anew"
            ]
    assert judged(path, text.encode(), lambda: configs.check_saved("--out", tmp_path, "search")) == []


def test_a_run_config_cut_anywhere_is_written_anew(tmp_path: Path) -> None:
    text = configs.dumps(RUN)
    path = tmp_path / configs.SAVED
    for data in cuts(text):
        said = judged(path, data, lambda: pipeline._not_another_config(tmp_path, "demo"))
        assert len(said) == 1 or (whole(data) and b"[search]" in data), data  # cut before [search]: read whole, not the run's
    assert judged(path, text.encode(), lambda: pipeline._not_another_config(tmp_path, "demo")) == []
    with pytest.raises(OutputConflictError, match="is not the resolved preset of run 'other'"):
        judged(path, text.encode()[:100], lambda: pipeline._not_another_config(tmp_path, "other"))


@pytest.mark.parametrize(
    "data",
    [
        *cuts(configs.dumps({"correlate": {"n_archs": 10, "ground_truth": {"epochs": 2}}}))[:-1],  # another command's, cut
        LINES + b"my notes\n",  # the command's lines, then a user's
        LINES + b"my notes",  # a user's last line, cut or not
        LINES + b"seed = 0 and more\n",
        b"notes on the search",
    ],
)
def test_a_file_that_is_not_the_start_of_the_commands_is_refused(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(InvalidArgumentError, match="which search would overwrite"):
        judged(tmp_path / configs.SAVED, data, lambda: configs.check_saved("--out", tmp_path, "search"))


def test_a_link_to_a_cut_config_is_judged_as_before(tmp_path: Path) -> None:
    (tmp_path / "elsewhere.toml").write_bytes(configs.dumps(SEARCH).encode()[:483])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / configs.SAVED).symlink_to(tmp_path / "elsewhere.toml")
    with pytest.raises(InvalidArgumentError, match="which search would overwrite"):
        configs.check_saved("--out", tmp_path / "out", "search")
