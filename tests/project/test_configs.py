"""Config files (nas_proxy/configs.py): one spelling for every stage, checked, and saved with outputs;
and a library that leaves the interpreter's global settings alone."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from nas_proxy import configs
from nas_proxy.cli import main
from nas_proxy.errors import InvalidArgumentError
from tests import run_code
from tests.blocking import raised_beside_a_fifo


@dataclass
class Inner:
    rate: float = 0.5
    points: tuple[float, ...] = (0.1, 1.0)


@dataclass
class Outer:
    count: int = 3
    name: str = "a"
    flag: bool = False
    limit: int | None = None
    names: list[str] = field(default_factory=list)
    inner: Inner = field(default_factory=Inner)


def test_defaults_then_file_then_flags() -> None:
    table = {"count": 5, "name": "b", "inner": {"rate": 2, "points": [0.5]}}
    built = configs.build(Outer, table, "f.toml [outer]", name="c", limit=None)  # a flag not given is None
    assert built == Outer(count=5, name="c", inner=Inner(rate=2.0, points=(0.5,)))
    assert isinstance(built.inner.rate, float)  # an integer written for a float field is a float


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"cont": 1}, "f.toml [outer]: unknown key 'cont'; allowed: count, flag, inner, limit, name, names"),
        ({"count": "3"}, "f.toml [outer]: count must be an integer, got '3'"),
        ({"count": True}, "count must be an integer, got True"),
        ({"count": 2.0}, "count must be an integer, got 2.0"),
        ({"flag": 1}, "flag must be true or false, got 1"),
        ({"limit": "none"}, "limit must be an integer"),
        ({"names": "x"}, "names must be an array"),
        ({"names": ["x", 1]}, "names[1] must be a string, got 1"),
        ({"inner": 1}, "inner must be a table of Inner keys"),
        ({"inner": {"rate": float("nan")}}, "f.toml [outer.inner]: rate must be a finite number, got nan"),
        ({"inner": {"rate": float("inf")}}, "rate must be a finite number, got inf"),
        ({"inner": {"points": [1.0, float("-inf")]}}, "points[1] must be a finite number"),
        ({"inner": {"rate": 10**400}}, "rate must be a finite number, got 1000"),  # past the largest float (probe53: internal error)
        ({"inner": {"pts": []}}, "f.toml [outer.inner]: unknown key 'pts'"),
    ],
)
def test_bad_values_are_refused_naming_file_table_and_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        configs.build(Outer, table, "f.toml [outer]")


def test_dumps_reads_back_to_the_same_config(tmp_path: Path) -> None:
    original = Outer(count=7, name='quote " and \\ and é', flag=True, names=["x", "y"], inner=Inner(1e-05, (0.2, 1.0)))
    path = configs.write(tmp_path / "c.toml", {"outer": original})
    assert "# limit unset" in path.read_text()  # TOML has no null
    assert configs.build(Outer, configs.read(path)["outer"], "c.toml [outer]") == original


def test_read_refuses_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="does not exist"):
        configs.read(tmp_path / "nope.toml")
    (tmp_path / "bad.toml").write_text("a = [")
    with pytest.raises(InvalidArgumentError, match="is not valid TOML"):
        configs.read(tmp_path / "bad.toml")


def test_the_library_configs_load_with_every_default() -> None:
    from nas_proxy.correlate import GroundTruthConfig
    from nas_proxy.distill import DistillConfig
    from nas_proxy.search import ProxyConfig
    from nas_proxy.training import TrainConfig

    def given(
        table: dict[str, object],
    ) -> dict[str, object]:  # what TOML can hold: no None, at any depth (sub-tables: DistillConfig.soft_labels)
        return {k: given(v) if isinstance(v, dict) else v for k, v in table.items() if v is not None}

    for cls in (DistillConfig, TrainConfig, ProxyConfig, GroundTruthConfig, configs.SearchBudget, configs.CorrelateBudget):
        assert configs.build(cls, given(configs.plain(cls())), "x [t]") == cls()  # every field type is one the loader reads


@dataclass
class Gated:
    on: bool = False
    level: int = 1  # changes nothing unless ``on``

    def idle_options(self) -> dict[str, str]:
        return {} if self.on else {"level": "level changes nothing without on: drop it"}


def test_an_option_that_changes_nothing_is_refused_when_asked_for_and_a_written_default_reads_back() -> None:
    assert configs.build(Gated, {}, "f.toml [g]") == Gated()
    assert configs.build(Gated, {"level": 1}, "f.toml [g]") == Gated()  # a file spelling out the default (configs.write does)
    assert configs.build(Gated, {"on": True, "level": 5}, "f.toml [g]") == Gated(True, 5)
    with pytest.raises(InvalidArgumentError, match=re.escape("f.toml [g]: level changes nothing without on: drop it")):
        configs.build(Gated, {"level": 5}, "f.toml [g]")
    with pytest.raises(InvalidArgumentError, match=r"^level changes nothing without on"):  # a flag, even typed equal to the default
        configs.build(Gated, {}, "f.toml [g]", level=1)


def test_a_written_distill_config_of_every_method_reads_back() -> None:
    """``config.toml`` spells out every field: a random subset's file (iterations = 8000, the default)
    is read back, and only a value the run could not have used is refused."""
    from nas_proxy.distill import DistillConfig
    from nas_proxy.distill.methods import METHODS

    for method in METHODS.names():
        written = {k: v for k, v in configs.plain(DistillConfig(method=method)).items() if v is not None and k != "soft_labels"}
        assert configs.build(DistillConfig, written, "c.toml [distill]") == DistillConfig(method=method)
    with pytest.raises(InvalidArgumentError, match=re.escape("c.toml [distill]: batch_real changes nothing with method random")):
        configs.build(DistillConfig, {"method": "random", "batch_real": 32}, "c.toml [distill]")
    with pytest.raises(InvalidArgumentError, match="attention_power changes nothing with method dm"):
        configs.build(DistillConfig, {"method": "dm"}, "c.toml [distill]", attention_power=1.0)


def test_a_flag_wins_over_the_file_and_the_resolved_config_is_saved(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[distill]\ndataset = "digits"\nipc = 2\niterations = 3\nbatch_real = 8\nseed = 4\n')
    out = tmp_path / "syn"
    args = ["distill", "--config", str(config), "--ipc", "1", "--device", "cpu", "--quiet", "--json", "--out", str(out)]
    assert main(args) == 0
    meta = json.loads(capsys.readouterr().out)  # --json: nothing else on stdout
    assert meta["ipc"] == 1 and meta["iterations_done"] == 3 and meta["config"]["seed"] == 4
    saved = configs.read(out / "config.toml")["distill"]
    assert saved["ipc"] == 1 and saved["seed"] == 4 and saved["device"] == "cpu"


def test_importing_nas_proxy_changes_no_global_state() -> None:
    # the libraries nas_proxy uses come first: their own filters (torch, scipy) are theirs. Not torchvision (a dataset
    # download imports it) nor optuna_dashboard (the dashboard command): no module of nas_proxy imports either as it is
    # imported, and importing them here cost this forked process 1.5 and 0.27 CPU-s of its ~2.1 (perf60c)
    third_party = "torch, scipy.stats, scipy.special, numpy, pandas, sklearn, matplotlib, tqdm, safetensors, PIL"
    code = (
        f"import signal, warnings, optuna, {third_party}\n"
        "before = (list(warnings.filters), optuna.logging.get_verbosity(), signal.getsignal(signal.SIGINT))\n"
        "import importlib, nas_proxy, nas_proxy.search, nas_proxy.correlate, nas_proxy.pipeline\n"
        # the public names are imported on first use (nas_proxy.lazy): use them all
        "for p in ('nas_proxy', 'nas_proxy.search', 'nas_proxy.correlate', 'nas_proxy.calibrate', 'nas_proxy.studies'):\n"
        "    [getattr(importlib.import_module(p), n) for n in importlib.import_module(p).__all__]\n"
        "after = (list(warnings.filters), optuna.logging.get_verbosity(), signal.getsignal(signal.SIGINT))\n"
        "print(before == after)\n"
    )
    done = run_code.run(code, capture_output=True, timeout=300, check=True)  # fresh: no nasproxy imported (forked warm)
    assert done.stdout.strip() == "True", done.stderr


def _tomls(folder: Path, **texts: str) -> list[str]:
    """Each text written as ``folder/NAME.toml``; their paths, in order."""
    for name, text in texts.items():
        (folder / f"{name}.toml").write_text(text)
    return [str(folder / f"{name}.toml") for name in texts]


def test_config_files_given_twice_are_layered_each_key_named_with_its_file(tmp_path: Path) -> None:
    """Before fix48b ``--config A --config B`` read B alone, A dropped without a word. Now a later file's key wins,
    tables (and sub-tables) merged key by key, arrays replaced whole; each file is checked, a bad key or value named
    with the file that holds it, whichever file comes later (and a bad value that a later file overrides too)."""
    from nas_proxy.cli.common import Config
    from nas_proxy.search.config import SearchConfig

    a, b, *_ = _tomls(
        tmp_path,
        a='device = "cpu"\n[search]\nspace = "nb201"\nseed = 1\nobjectives = ["accuracy", "params"]\n[search.proxy]\nepochs = 2\n',
        b='[search]\nseed = 2\nobjectives = ["accuracy"]\n[search.proxy]\nlr = 0.5\n',
        bad_value='[search.proxy]\nlr = "fast"\n',
        bad_key="[search]\nsede = 3\n",
        bad_table="[serch]\nseed = 3\n",
    )
    file = Config([a, b])
    search = configs.values(SearchConfig, file.table("search"), file.where("search"))
    assert (search["space"], search["seed"], search["objectives"], search["device"]) == ("nb201", 2, ["accuracy"], "cpu")
    assert (search["proxy"].epochs, search["proxy"].lr) == (2, 0.5)
    assert configs.values(SearchConfig, Config([b, a]).table("search"), "x")["seed"] == 1  # the order decides
    cases = {
        "bad_value.toml": "bad_value.toml [search.proxy]: lr must be a finite number, got 'fast'",
        "bad_key.toml": "bad_key.toml [search]: unknown key 'sede'",
    }
    for name, message in cases.items():
        for order in ([a, str(tmp_path / name), b], [str(tmp_path / name), a, b], [a, b, str(tmp_path / name)]):
            file = Config(order)
            with pytest.raises(InvalidArgumentError, match=re.escape(f"{tmp_path / message}")):
                configs.check_keys(file.where("search"), file.table("search"), configs.fields(SearchConfig))
                configs.values(SearchConfig, file.table("search"), file.where("search"))
    with pytest.raises(InvalidArgumentError, match=re.escape(f"--config {tmp_path / 'bad_table.toml'}: unknown table 'serch'")):
        Config([a, str(tmp_path / "bad_table.toml"), b])


def test_config_files_before_and_after_the_command_name_are_read_in_the_order_typed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``nasproxy --config A spaces --config B``: argparse keeps the command's --config apart from those before the
    command name, and before fix48b the command's alone was read (``spaces`` listed every space, A's ignored)."""
    a, b, c = _tomls(tmp_path, a='[search]\nspace = "nb201"\n', b="[search]\nseed = 3\n", c='[search]\nspace = "convnet-cpu"\n')
    for argv, space in (([a, b], "nb201"), ([c, a], "nb201"), ([a, c], "convnet-cpu")):
        assert main(["--config", argv[0], "spaces", "--config", argv[1], "--json"]) == 0
        assert [s["name"] for s in json.loads(capsys.readouterr().out)] == [space]


def test_layered_config_files_then_the_last_flag_typed_win_and_the_layered_config_is_saved(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The base's keys stay unless the override sets them, and a flag typed wins over every file whether it stands
    before or after ``--config`` on the line (the last of a flag typed twice)."""
    (tmp_path / "base.toml").write_text('[distill]\ndataset = "digits"\nipc = 2\niterations = 3\nbatch_real = 8\nseed = 4\n')
    (tmp_path / "over.toml").write_text("[distill]\nipc = 4\nseed = 5\n")
    out = tmp_path / "syn"
    args = ["distill", "--ipc", "3", "--config", str(tmp_path / "base.toml"), "--ipc", "1", "--config", str(tmp_path / "over.toml")]
    assert main([*args, "--device", "cpu", "--quiet", "--json", "--out", str(out)]) == 0
    meta = json.loads(capsys.readouterr().out)
    assert meta["ipc"] == 1 and meta["iterations_done"] == 3 and meta["config"]["seed"] == 5
    saved = configs.read(out / "config.toml")["distill"]
    assert (saved["dataset"], saved["ipc"], saved["iterations"], saved["batch_real"], saved["seed"]) == ("digits", 1, 3, 8, 5)


def test_run_refuses_a_second_preset_naming_both(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A preset names its run and study: ``run`` reads one (before fix48b ``--config A --config B`` ran B, A unread)."""
    a, b = str(tmp_path / "a.toml"), str(tmp_path / "b.toml")
    for path in (a, b):
        Path(path).write_text('name = "p"\n')
    assert main(["run", "--config", a, "--config", b]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"nasproxy run: error: give the preset once: --config {a} or --config {b}, not both"], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.toml", "b.toml"]


def test_a_dangling_link_given_as_an_input_path_is_named_with_where_it_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """fix53c: before, ``--config cfg.toml``, a symbolic link to a file that is gone, said only "--config cfg.toml does not
    exist", though ``ls`` lists cfg.toml; one wording (checks.absent) for every input path: the link itself, a folder on
    its way, a chain of links."""
    from nas_proxy import checks

    monkeypatch.chdir(tmp_path)
    Path("cfg.toml").symlink_to("gone.toml")
    Path("conf").symlink_to("gone-folder")
    Path("via.toml").symlink_to("cfg.toml")
    assert main(["search", "--config", "cfg.toml"]) == 2
    assert capsys.readouterr().err.strip().endswith("error: --config cfg.toml is a symbolic link to gone.toml, which does not exist")
    with pytest.raises(InvalidArgumentError) as raised:
        configs.read("conf/x.toml")
    assert str(raised.value) == "--config conf/x.toml does not exist: conf is a symbolic link to gone-folder, which does not exist"
    with pytest.raises(InvalidArgumentError) as raised:
        checks.existing_file("--truth", "via.toml")
    assert str(raised.value) == (
        f"--truth file via.toml is a symbolic link to cfg.toml (which leads to {tmp_path.resolve() / 'gone.toml'}), which does not exist"
    )
    with pytest.raises(InvalidArgumentError, match=r"^--teacher-dir conf is a symbolic link to gone-folder, which does not exist$"):
        checks.existing_dir("--teacher-dir", "conf")
    with pytest.raises(InvalidArgumentError, match=r"^--config nope.toml does not exist$"):  # no link: as before
        configs.read("nope.toml")


def test_a_file_that_shrinks_while_it_is_read_is_refused_not_taken_cut(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fix53c: a --config truncated by another process between nasproxy's look at its size and its read was taken as the part
    read: '[search] n_trials = 5, workers = 2' cut after its n_trials line read as {'search': {'n_trials': 5}}, workers'
    default used without a word. Now refused in one line (checks.read_text, every text file a user names)."""
    import os

    path = tmp_path / "c.toml"
    path.write_text("[search]\nn_trials = 5\nworkers = 2\n")
    real_fstat = os.fstat

    def then_cut(fd: int) -> os.stat_result:  # the size as the file was opened, then another process truncates it
        seen = real_fstat(fd)
        if seen.st_ino == path.stat().st_ino:
            os.truncate(path, len("[search]\nn_trials = 5\n"))
        return seen

    monkeypatch.setattr(os, "fstat", then_cut)
    with pytest.raises(InvalidArgumentError) as raised:
        configs.read(path)
    assert str(raised.value) == (
        f"--config file {path} shrank while it was read (22 of its 34 bytes read): another process was writing it; run again "
        "once it is written whole"
    )
    monkeypatch.undo()
    assert configs.read(path) == {"search": {"n_trials": 5}}  # whole now: read as it is
    path.write_bytes(b"\xef\xbb\xbf[search]\r\nn_trials = 5\r\n")  # a byte-order mark and CRLF lines: as before
    assert configs.read(path) == {"search": {"n_trials": 5}}


@pytest.mark.parametrize("past_the_limit", [False, True])
def test_a_text_file_that_grows_while_it_is_read_is_refused(past_the_limit: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """review54: only a shrink was refused; a file appended to between nasproxy's look at its size and its read was taken
    as read, and one that passed the text limit meanwhile was taken cut at the limit, without a word."""
    import os

    from nas_proxy import checks

    path = tmp_path / "c.toml"
    path.write_text("[search]\nn_trials = 5\n")
    real_fstat, limit = os.fstat, 30 if past_the_limit else checks.MAX_TEXT_BYTES
    grown = [False]

    def then_grows(fd: int) -> os.stat_result:  # the size as the file was opened, then another process appends to it
        seen = real_fstat(fd)
        if seen.st_ino == path.stat().st_ino and not grown[0]:
            grown[0] = True
            with path.open("a") as f:
                f.write("workers = 2\n")
        return seen

    monkeypatch.setattr(os, "fstat", then_grows)
    with pytest.raises(InvalidArgumentError) as raised:
        checks.read_text("--config", path, limit)
    assert str(raised.value) == (
        f"--config file {path} grew while it was read ({min(34, limit + 1)} bytes read, 22 as it was opened): another process "
        "was writing it; run again once it is written whole"
    )
    monkeypatch.undo()
    assert configs.read(path) == {"search": {"n_trials": 5, "workers": 2}}  # whole now: read as it is


def _reported_size(monkeypatch: pytest.MonkeyPatch, path: Path, size: int, then: bytes | None = None) -> None:
    """os.fstat of ``path`` says ``size`` bytes, as sysfs says 4,096 of every file; ``then``: written over the file
    (same length) at the second look, as a writer rewriting it would."""
    import os

    real_fstat, looks = os.fstat, []

    def reported(fd: int) -> os.stat_result:
        seen = real_fstat(fd)
        if seen.st_ino != path.stat().st_ino:
            return seen
        looks.append(fd)
        if then is not None and len(looks) == 2:
            path.write_bytes(then)
        fields = list(seen)
        fields[6] = size  # st_size
        return os.stat_result(fields)

    monkeypatch.setattr(os, "fstat", reported)


def test_a_file_whose_size_is_not_its_length_is_read_whole_and_one_rewritten_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """review of stop 53's shrink check: sysfs says 4,096 bytes of a 23-byte line, and such a file named as a --config
    (or any text file) was refused as "shrank while it was read (23 of its 4,096 bytes read)". Now a file that says
    the same size after the read and gives the same bytes again is read whole; one whose bytes change is still refused."""
    path = tmp_path / "c.toml"
    path.write_text("[search]\nn_trials = 5\n")
    _reported_size(monkeypatch, path, 4096)
    assert configs.read(path) == {"search": {"n_trials": 5}}
    monkeypatch.undo()
    _reported_size(monkeypatch, path, 4096, then=b"[search]\nn_trials = 7\n")
    with pytest.raises(InvalidArgumentError, match=r"shrank while it was read \(22 of its 4,096 bytes read\)"):
        configs.read(path)


KERNEL_FILES = [p for p in ("/sys/devices/system/cpu/online", "/sys/kernel/mm/transparent_hugepage/enabled") if Path(p).is_file()]


@pytest.mark.skipif(not KERNEL_FILES, reason="no sysfs file here")
def test_a_sysfs_file_is_read_whole() -> None:
    from nas_proxy import checks

    for name in KERNEL_FILES:
        assert Path(name).stat().st_size == 4096 or Path(name).stat().st_size == 0
        assert checks.read_text("--config", name) == Path(name).read_text()


def test_a_fifo_a_device_and_a_proc_file_named_as_a_text_file(tmp_path: Path) -> None:
    """A FIFO and a device are refused in one line before they are opened (nothing waits on a FIFO no one writes;
    this test writes into it all the same, so that a reader that opened it would not hang); a /proc file, whose
    st_size is 0, is read whole."""
    import os
    import threading

    from nas_proxy import checks

    fifo = tmp_path / "c.toml"
    os.mkfifo(fifo)
    written = threading.Thread(target=fifo.write_text, args=("[search]\nn_trials = 5\n",))  # waits for a reader
    written.start()
    try:
        with pytest.raises(InvalidArgumentError, match=rf"^--config {re.escape(str(fifo))} is a FIFO, not a regular file; give a file$"):
            configs.read(fifo)
    finally:
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader, open until the writer is done (before or after it
        written.join()  # came to its open): its open returns and its bytes go into the pipe
        os.close(reader)
    with pytest.raises(InvalidArgumentError, match=r"^--config /dev/null is a character device, not a regular file; give a file$"):
        configs.read("/dev/null")
    status = checks.read_text("--config", "/proc/self/status")
    assert Path("/proc/self/status").stat().st_size == 0 and status.startswith("Name:") and status.endswith("\n")


def test_an_output_folder_whose_config_toml_is_a_fifo_is_refused_without_opening_it(tmp_path: Path) -> None:
    """probe54: `mkfifo o/config.toml` then `nasproxy distill ... --out o` (search, correlate too) hung in check_saved's
    open; it is refused in one line, as a device or a socket there is."""
    import os

    from nas_proxy.configs import SAVED, check_saved

    os.mkfifo(tmp_path / SAVED)
    said = raised_beside_a_fifo(lambda: check_saved("--out", tmp_path, "distill"), tmp_path / SAVED)
    assert isinstance(said, InvalidArgumentError), said
    assert f"holds {SAVED}, which is a FIFO, not distill's resolved options" in str(said)
