"""``nasproxy run PRESET`` end to end on digits, the shipped presets, preset errors, SIGTERM during
its distillation, and a worker joining a ground-truth study."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
import tomllib
from optuna.trial import TrialState

from nas_proxy import configs, pipeline
from nas_proxy.cli import main
from nas_proxy.errors import InterruptedRunError, InvalidArgumentError, NasProxyError, NasProxyWarning
from nas_proxy.groundtruth.study import DataRef, GroundTruthConfig, enqueue, open_study
from nas_proxy.pipeline import clock, load_preset, plan, run
from nas_proxy.search import join
from nas_proxy.spaces import get_space
from nas_proxy.studies.storage import open_storage
from tests import uncapable, warm
from tests.gate import CHECKPOINT, Gate

ROOT = Path(__file__).resolve().parents[2]

TINY = """
name = "tiny"
device = "cpu"
runs = "{runs}"

[distill]
dataset = "digits"
ipc = 2
iterations = 4
batch_real = 8
net_width = 32

[search]
space = "convnet-small"
n_trials = 4
pruner = "none"
sampler = "bruteforce"  # 4 distinct architectures of the 6, which correlate needs: another sampler may propose one twice

[search.proxy]
epochs = 6
report_every = 3

[correlate]
n_archs = 4
ceiling = 2
n_boot = 100
proxies = ["params", "synflow", "early@0.5ep"]

[correlate.ground_truth]
epochs = 1
early = [0.5]
images = 200
"""


@pytest.mark.parametrize("preset", sorted((ROOT / "presets").glob("*.toml")), ids=lambda p: p.name)
def test_shipped_presets_are_valid(preset: Path) -> None:
    loaded = load_preset(preset)
    assert loaded["name"] == preset.stem
    get_space(loaded["search"]["space"])


def test_presets_live_in_presets_and_studies_holds_none() -> None:
    assert {p.name for p in (ROOT / "presets").glob("*.toml")} >= {"demo.toml", "fashion-mnist-convnet720.toml", "imagefolder.toml"}
    assert not list((ROOT / "studies").glob("*.toml"))  # studies/ is the default home of the studies' storages only


def test_the_demo_preset_on_digits_uses_every_image_it_has() -> None:
    """``make demo`` without Fashion-MNIST runs ``nasproxy run presets/demo.toml --dataset digits`` (scripts/demo.sh; commands.md's
    "same preset, other data"): its promote_images and ground-truth images, 6,000, are more than digits' 1,078 training images,
    and the run was refused ('--promote-images 6000 is more than the 1078 training images of the digits split', exit 2). Now the
    preset's counts give way to the data given, with a warning; typed on search, --promote-images is still refused."""
    with pytest.warns(UserWarning, match=r"promote_images = 6000 and \[correlate.ground_truth\] images = 6000 is more than the 1078"):
        p = plan(ROOT / "presets" / "demo.toml", dataset="digits")
    assert p.budget.promote_images is None and p.correlate.ground_truth.images is None  # None: the whole training split
    assert plan(ROOT / "presets" / "demo.toml").budget.promote_images == 6000  # its own data: as written


def test_a_preset_is_found_by_its_name_and_its_old_path_names_the_new_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "presets").mkdir()
    shutil.copy(ROOT / "presets" / "demo.toml", tmp_path / "presets" / "demo.toml")
    assert pipeline.find_preset("demo") == Path("presets/demo.toml")
    assert pipeline.find_preset("presets/demo.toml") == Path("presets/demo.toml")
    assert load_preset("demo")["name"] == "demo"
    with pytest.raises(
        InvalidArgumentError, match=r"^preset studies/demo.toml moved to presets/demo.toml .*run: nasproxy run presets/demo.toml$"
    ):
        load_preset("studies/demo.toml")
    with pytest.raises(InvalidArgumentError, match="preset nope does not exist; give a preset file, or the name of one in presets/"):
        load_preset("nope")


def test_run_a_preset_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # studies/ is created relative to the working directory
    preset = tmp_path / "tiny.toml"
    preset.write_text(TINY.format(runs=tmp_path / "runs"))
    from nas_proxy.data import registry

    reads: list[str] = []
    read = registry._load

    def counted(name: str, *args: Any) -> Any:
        reads.append(name)
        return read(name, *args)

    monkeypatch.setattr(registry, "_load", counted)
    assert main(["run", str(preset), "--quiet"]) == 0
    assert reads == ["digits"]  # fix42b: the plan and every stage read it again (fashion-mnist: 9 reads, ~1 s and 220 MB each)
    out = capsys.readouterr().out
    assert "report:" in out and "nasproxy dashboard --study tiny" in out
    runs = tmp_path / "runs" / "tiny"
    assert plan(runs / "config.toml").tables() == plan(preset).tables()  # the resolved preset, saved with the run
    assert (runs / "synthetic-datadam-ipc2" / "meta.json").is_file()
    assert json.loads((runs / "search" / "best.json").read_text())["best"]["spec"]["family"] == "convnet"
    results = json.loads((runs / "correlate" / "results.json").read_text())
    assert set(results["proxies"]) >= {"params", "synflow", "early@0.5ep", "ground truth, 2nd seed"}
    assert results["facts"]["archs"] == 4
    # correlate's own config.toml, as `correlate --out` writes it (stop 49: none, so a correlate --out runs/tiny/correlate
    # after the run took the folder as a new one, and the run's next report sat beside that correlate's config.toml)
    saved = tomllib.loads((runs / "correlate" / "config.toml").read_text())
    assert list(saved) == ["correlate"] and saved["correlate"]["n_archs"] == 4, saved
    assert saved["correlate"]["proxies"] == ["params", "synflow", "early@0.5ep"] and "promote" not in saved["correlate"]
    configs.check_saved("--out", runs / "correlate", "correlate")  # correlate --out there: its own folder
    study = optuna.load_study(
        study_name="tiny",
        storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(tmp_path / "studies" / "tiny" / "journal.log"))
        ),
    )
    held = {s.study_name for s in optuna.get_all_study_summaries(study._storage, include_best_trial=False)}
    assert any(n.startswith("groundtruth-") for n in held), held  # the ground truth beside its search: one dashboard
    assert not list((tmp_path / "studies").glob("groundtruth-*"))  # and no journal of its own
    # here, not at the top: optuna_dashboard imports optuna.importance, so scikit-learn's ensembles (~0.35 CPU-s after
    # the warm server's imports), in every pytest-xdist worker as it collects this module, where one test reads it
    from optuna_dashboard import get_note

    note = get_note(study)  # what the dashboard shows on the study page
    assert "Candidates from space `convnet-small`" in note and "Correlation report (4 architectures)" in note
    # everything cached: a second run finishes with the same numbers. One run checks both what the library says and
    # the JSON (perf56c: a library run(preset) here as well redrew the report's figures again, ~2 CPU-s): stdout is the
    # JSON alone, so the library printed nothing there (its progress bars and stage lines go to stderr)
    assert main(["run", str(preset), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["result"]["proxies"]["params"]["kendall"] == results["proxies"]["params"]["kendall"]  # stdout: the JSON
    assert "[1/3] distill digits" in err and "[3/3] correlate 4 architectures" in err
    assert "[1/3] distill done in " in err and "[3/3] correlate done in " in err  # each stage's time as it ends
    timed = json.loads(out)
    assert list(timed["seconds"]) == ["distill", "search", "ground truth", "correlate"]  # no promotion in this preset
    assert sum(timed["seconds"].values()) <= timed["seconds_total"]


@pytest.mark.parametrize(("seconds", "shown"), [(0.4, "0:00"), (83.4, "1:23"), (599.6, "10:00"), (3723, "1:02:03")])
def test_stage_times_read_as_a_clock(seconds: float, shown: str) -> None:
    assert clock(seconds) == shown


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[distill]\ndataset = "digits"\nipcs = 3\n', r"\[distill\]: unknown key 'ipcs'"),
        ('[search]\nspace = "convnet720"\nepoch = 3\n', r"\[search\]: unknown key 'epoch'"),
        ('[search]\nspace = "convnet720"\n[search.proxy]\nepoch = 3\n', r"\[search.proxy\]: unknown key 'epoch'"),
        ("[correlate]\nfull_images = 3\n", r"\[correlate\]: unknown key 'full_images'"),
        ("[correlate]\nzero_cost_batch = 8\n", r"\[correlate\]: unknown key 'zero_cost_batch'"),  # as correlate --config: review50
        ("[extra]\n", "unknown table 'extra'"),
        ("name = [", "is not valid TOML"),
        ('name = "a/b"\n', "'name' must be a plain name"),
        ('[search]\nspace = "convnet720"\n[correlate.ground_truth]\nepochs = 1\nearly = [1.0]\n', "strictly between 0 and 1 epochs"),
    ],
)
def test_preset_errors_name_the_key(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(InvalidArgumentError, match=message):
        load_preset(path)


@pytest.mark.parametrize("absolute", [False, True])
def test_a_missing_space_file_is_told_a_presets_paths_are_the_working_folders_only_where_it_is_relative(
    absolute: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A preset in presets/ naming a space file that does not exist: by a relative path, the hint that it is read from
    the working folder, not the preset's (probe49); by an absolute path, which no folder changes, none (before stop 51,
    the hint was added to it too: review50)."""
    monkeypatch.chdir(tmp_path)
    space = tmp_path / "nowhere" / "one.toml" if absolute else Path("one.toml")
    preset = tmp_path / "presets" / "p.toml"
    preset.parent.mkdir()
    preset.write_text(f'name = "p"\n[distill]\ndataset = "digits"\nipc = 1\n[search]\nspace = "{space}"\n')
    with pytest.raises(NasProxyError) as error:
        load_preset(preset)
    hint = f" (a preset's paths are relative to the working folder, as on the command line, not to the preset's {preset.parent})"
    assert str(error.value) == f"{preset} [search]: search space file {space} does not exist{'' if absolute else hint}"


def test_a_missing_select_by_file_is_told_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another key, another check (checks.existing_file through DistillConfig.validate): the same hint."""
    monkeypatch.chdir(tmp_path)
    preset = tmp_path / "presets" / "p.toml"
    preset.parent.mkdir()
    preset.write_text('name = "p"\n[distill]\ndataset = "digits"\nipc = 1\nselect_by = "./gt.csv"\n[search]\nspace = "convnet-cpu"\n')
    with pytest.raises(NasProxyError) as error:
        load_preset(preset)
    assert str(error.value) == (
        f"{preset} [distill]: select_by file ./gt.csv does not exist (a preset's paths are relative to the working folder, as on"
        f" the command line, not to the preset's {preset.parent})"
    )


@pytest.mark.parametrize(
    ("error", "hinted"),
    [
        (InvalidArgumentError("cannot find one.toml here", missing="one.toml"), True),  # worded otherwise: the path is the error's
        (InvalidArgumentError("cannot find ./one.toml", missing=Path("one.toml")), True),
        (InvalidArgumentError("one.toml does not exist", missing="other.toml"), False),  # a path the preset does not write
        (InvalidArgumentError("study 'one.toml' does not exist in its storage"), False),  # the text names it, no path missing
    ],
)
def test_the_hint_follows_the_path_the_error_says_is_missing_not_its_wording(
    error: NasProxyError, hinted: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fix52e: before, the hint was decided by finding the preset's strings before 'does not exist' in the error's text
    (a regex): a cause worded otherwise had none, a cause that quoted a preset string before those words had it."""
    monkeypatch.chdir(tmp_path)
    preset = tmp_path / "presets" / "p.toml"
    with pytest.raises(NasProxyError) as raised, pipeline._section(preset, "search", {"search": {"space": "./one.toml"}}):
        raise error
    assert str(raised.value).startswith(f"{preset} [search]: {error.cause}")
    assert str(raised.value).endswith(f"not to the preset's {preset.parent})") is hinted
    assert raised.value.missing == error.missing


def test_hard_labels_on_the_set_to_distill_are_judged_before_distilling(tmp_path: Path) -> None:
    """A preset's hard_labels is refused at plan time when its [distill] makes no soft labels (before:
    after the distillation ran), taken when it makes them; a ladder's rungs count as a search's."""
    base = '[distill]\ndataset = "digits"\nipc = 1\n{teachers}[search]\nspace = "convnet-cpu"\nn_trials = 1\n{ladder}[search.proxy]\n'
    path = tmp_path / "p.toml"
    path.write_text(base.format(teachers="", ladder="") + "hard_labels = true\n")
    with pytest.raises(InvalidArgumentError, match=r"\[search\]: --hard-labels changes nothing with datadam-ipc1: no set it trains on"):
        load_preset(path)
    path.write_text(base.format(teachers="[distill.soft_labels]\nteachers = 1\n", ladder="") + "hard_labels = true\n")
    assert load_preset(path)["search"]["proxy"] == {"hard_labels": True}
    path.write_text(base.format(teachers="", ladder='ladder = "datadam-ipc1:1.0,synflow:0.5,full:1"\n') + "epochs = 2\n")
    load_preset(path)  # the set's own rung trains on it: epochs is used


def test_missing_preset_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(tmp_path / "nope.toml")]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "does not exist" in err


def test_a_missing_preset_carries_its_path_and_says_a_dangling_link(tmp_path: Path) -> None:
    """Before stop 53 find_preset's refusal carried no .missing (checks.not_found's rule), and a preset that is a link to
    nothing was said only not to exist."""
    with pytest.raises(InvalidArgumentError) as gone:
        load_preset(tmp_path / "gone.toml")
    assert gone.value.missing == str(tmp_path / "gone.toml")
    (tmp_path / "link.toml").symlink_to("nowhere.toml")
    with pytest.raises(InvalidArgumentError, match=r"link\.toml is a symbolic link to nowhere\.toml, which does not exist; give a preset"):
        load_preset(tmp_path / "link.toml")


@pytest.mark.parametrize(
    ("tables", "section"),
    [
        ('[distill]\ndataset = "imagefolder:pics"\nipc = 1\n[search]\nspace = "convnet-cpu"\nn_trials = 1\n', "distill"),
        ('[search]\nspace = "convnet-cpu"\nproxy_name = "random-ipc10"\ndataset = "imagefolder:pics"\nn_trials = 1\n', "search"),
    ],
)
def test_a_missing_image_folder_is_said_of_the_preset_that_names_it(
    tables: str, section: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The image folder is read by the stage (distill's, or the search's on real data), after the plan: before stop 53
    its refusal said only "image folder pics does not exist", neither the preset, its table nor that a relative path is
    read from the working folder, which the plan's refusals of the preset's paths say. The path is kept as .missing."""
    monkeypatch.chdir(tmp_path)
    preset = Path("sub") / "p.toml"
    preset.parent.mkdir()
    preset.write_text(f'name = "p"\ndevice = "cpu"\n{tables}')
    with pytest.raises(NasProxyError) as error:
        run(preset)
    assert str(error.value) == (
        f"{preset} [{section}]: image folder pics does not exist (a preset's paths are relative to the working folder, as on"
        " the command line, not to the preset's sub)"
    )
    assert error.value.missing == "pics"
    with pytest.raises(NasProxyError) as given:  # a folder run --dataset gives is not the preset's: said as it is
        run(preset, dataset="imagefolder:other")
    assert str(given.value) == "image folder other does not exist"
    with pytest.raises(NasProxyError) as same:  # review54: the command line's, though the preset names the same folder
        run(preset, dataset="imagefolder:pics")
    assert str(same.value) == "image folder pics does not exist"
    preset.write_text(f'name = "other"\ndevice = "cpu"\n{tables}'.replace("pics", "other").replace('name = "other"', 'name = "pics"'))
    with pytest.raises(NasProxyError) as named:  # review54: a preset named as the folder: its name is no path
        run(preset, dataset="imagefolder:pics")
    assert str(named.value) == "image folder pics does not exist"


def test_interrupted_distill_stage_says_rerun_the_preset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise InterruptedRunError("interrupted at iteration 2/4; continue with the same command and --resume")

    monkeypatch.setattr("nas_proxy.pipeline.distill", interrupted)
    preset = tmp_path / "tiny.toml"
    preset.write_text(TINY.format(runs=tmp_path / "runs"))
    assert main(["run", str(preset), "--quiet"]) == 130
    err = capsys.readouterr().err.strip()
    assert err == "nasproxy run: interrupted; run the same command again to resume"  # `run` has no --resume


def _tiny_distilled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runs: Path) -> tuple[Path, Any]:
    """TINY written as tmp_path/tiny.toml (runs under ``runs``), the working folder tmp_path, and its set distilled
    as its run would: (the preset, its plan)."""
    from nas_proxy.distill import distill

    monkeypatch.chdir(tmp_path)
    preset = tmp_path / "tiny.toml"
    preset.write_text(TINY.format(runs=runs))
    p = plan(preset)
    assert p.distill is not None and p.synthetic is not None
    distill(p.distill, p.synthetic, progress=False)
    return preset, p


def test_a_corrupt_checkpoint_of_the_runs_set_names_the_runs_remedy_not_distills_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """fix49d: a run whose set was cut before it finished (meta.json not written yet) and whose checkpoint then changed
    on disk said distill's 'start again with --force', which no run command takes. Now the run's own remedy, in one
    line; nothing of the set is touched."""
    preset, p = _tiny_distilled(tmp_path, monkeypatch, tmp_path / "runs")
    for name in ("meta.json", "synthetic.safetensors", "grid.png"):  # as a kill before the set's last files leaves it
        (p.synthetic / name).unlink()
    checkpoint = p.synthetic / "checkpoint.safetensors"
    raw = bytearray(checkpoint.read_bytes())
    raw[-16:] = bytes(16)  # bit rot at its end: still the same size
    checkpoint.write_bytes(bytes(raw))
    assert main(["run", str(preset), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--force" not in err, err
    assert f"is corrupt (its contents no longer match the sha256 written with them); it is this run's set: remove {p.synthetic} " in err
    assert checkpoint.read_bytes() == bytes(raw) and not (tmp_path / "runs" / "tiny" / "search").exists()


def test_the_runs_remedy_keeps_a_cause_whose_path_holds_a_semicolon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """fix50a: run's folder under 'a; b' (a legal name), its set holding a sharded run's shards/ (a `distill --distributed`
    into it) and no checkpoint. Before, run cut distill's line at its text's last '; ', which was inside the path:
    'nasproxy run: error: TMP/a; it is this run's set: remove ...' (the set's name and what it holds lost). Now the cause
    whole, distill's remedy (which names --distributed and --force) replaced by the run's."""
    preset, p = _tiny_distilled(tmp_path, monkeypatch, tmp_path / "a; b" / "runs")
    (p.synthetic / "checkpoint.safetensors").unlink()
    (p.synthetic / "shards").mkdir()
    assert main(["run", str(preset), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"nasproxy run: error: {p.synthetic} holds a sharded run (its checkpoints in shards/); it is this run's set: "
        f"remove {p.synthetic} and run the same preset again, which distils it anew"
    ), err


def test_a_preset_whose_distill_options_changed_or_diverge_is_told_the_runs_own_remedy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """review50: the preset's batch_real changed after its set was distilled; run said only 'remove the set and run
    again', though putting the option back continues (here: takes) the finished set. fix50a: a preset whose image lr
    diverges said distill's 'start again with --force', which run lacks. Now each says the run's way, one line, the set
    untouched."""
    preset, p = _tiny_distilled(tmp_path, monkeypatch, tmp_path / "runs")
    before = {f.name: f.read_bytes() for f in p.synthetic.iterdir() if f.is_file()}
    preset.write_text(TINY.format(runs=tmp_path / "runs").replace("batch_real = 8", "batch_real = 16"))
    assert main(["run", str(preset), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"nasproxy run: error: {p.synthetic} holds a different run (batch_real: 8 there, 16 now); it is this run's set, "
        "begun with other [distill] options: put the preset's back as they were there to continue it, or remove "
        f"{p.synthetic} and run the same preset again, which distils it anew"
    ), err
    assert {f.name: f.read_bytes() for f in p.synthetic.iterdir() if f.is_file()} == before
    preset.write_text(TINY.format(runs=tmp_path / "other").replace("batch_real = 8", "batch_real = 8\nimage_lr = 1e30"))
    assert main(["run", str(preset), "--quiet"]) == 3
    err = capsys.readouterr().err.strip()
    syn = tmp_path / "other" / "tiny" / p.synthetic.name
    assert len(err.splitlines()) == 1 and "--force" not in err, err
    assert err.endswith(f"; lower the image lr (now 1e+30) in the preset's [distill], remove {syn} and run the same preset again"), err


def test_a_worker_joins_a_ground_truth_study(tmp_path: Path) -> None:
    storage = tmp_path / "gt.log"
    config = GroundTruthConfig(epochs=1, early=(0.5,))
    url = str(storage)
    study = open_study(open_storage(url, "gt"), DataRef("digits"), config)
    specs = [
        {"family": "convnet", "depth": d, "width": 8, "activation": "relu", "normalization": "none", "pooling": "avgpooling"}
        for d in (1, 2)
    ]
    assert enqueue(study, [(s, 0) for s in specs]) == {"cached": 0, "queued": 2, "given_up": 0}
    join(study.study_name, url, device="cpu", progress=False)  # `nasproxy worker` on another machine
    done = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(done) == 2 and all(t.value is not None and 0 <= t.value <= 100 for t in done)
    assert enqueue(study, [(s, 0) for s in specs]) == {"cached": 2, "queued": 0, "given_up": 0}


QUICK = """
name = "quick"
device = "cpu"
runs = "{runs}"

[distill]
dataset = "digits"
ipc = 1
iterations = 6
batch_real = 8
net_width = 32
checkpoint_every = 1

[search]
space = "convnet-small"
n_trials = 1
pruner = "none"

[search.proxy]
epochs = 1
report_every = 1

[correlate]
n_archs = 2
n_boot = 100
proxies = ["params"]

[correlate.ground_truth]
epochs = 1
images = 200
early = [0.5]
"""


def test_sigterm_during_runs_distillation_checkpoints_exits_143_and_the_same_command_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGTERM (kill, a scheduler's pre-emption) is Ctrl-C's twin: the distillation finishes its
    iteration, checkpoints and stops; one line, exit 143 (128 + SIGTERM); the same command resumes."""
    monkeypatch.chdir(tmp_path)  # studies/ is created relative to the working directory
    preset = tmp_path / "quick.toml"
    preset.write_text(QUICK.format(runs=tmp_path / "runs"))
    syn = tmp_path / "runs" / "quick" / "synthetic-datadam-ipc1"
    gate = Gate(tmp_path / "gate", at=CHECKPOINT, let_through=1)  # one checkpoint written, the next held: the loop is running
    first = warm.Popen(
        [sys.executable, "-m", "nas_proxy", "run", str(preset), "--quiet"],
        cwd=tmp_path,
        env=gate.env(),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    gate.wait([first], [first.pid])
    first.terminate()  # SIGTERM: only a flag, read at the end of the iteration ...
    gate.open()  # ... so the held checkpoint is written, and the loop stops after it
    out, err = first.communicate(timeout=300)
    assert first.returncode == 143, err
    assert err == "nasproxy run: interrupted by SIGTERM; run the same command again to resume\n" and out == ""
    assert (syn / "checkpoint.safetensors").is_file() and not (syn / "meta.json").exists()

    calls: list[bool] = []
    distill = pipeline.distill

    def resumed(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["resume"])
        return distill(*args, **kwargs)

    monkeypatch.setattr(pipeline, "distill", resumed)
    assert main(["run", str(preset), "--quiet"]) == 0, capsys.readouterr().err  # the same command
    assert calls == [True]  # from the checkpoint
    assert json.loads((syn / "meta.json").read_text())["iterations_done"] == 6


def test_a_promote_not_fewer_than_the_architectures_is_refused_before_distilling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``[correlate] promote = 4`` with ``n_archs = 4`` would train every architecture whatever the
    proxy ranks: ``correlate --promote`` refuses it, ``run`` used to distil and search first, then
    report it. Refused at plan time now, in the line ``correlate`` says; K below the count is taken."""

    def distilled(*args: object, **kwargs: object) -> None:
        raise AssertionError("distilled before the refusal")

    monkeypatch.setattr("nas_proxy.pipeline.distill", distilled)
    monkeypatch.chdir(tmp_path)  # studies/ is relative to the working directory
    preset = tmp_path / "tiny.toml"
    preset.write_text(TINY.format(runs=tmp_path / "runs").replace("[correlate]\n", "[correlate]\npromote = 4\n"))
    with pytest.raises(InvalidArgumentError, match=r"\[correlate\]: promote 4 is not fewer than the 4 architectures: 'proxy \+ promote 4'"):
        plan(preset)
    assert main(["run", str(preset), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "give K below 4, or more architectures" in err, err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "studies").exists()
    preset.write_text(TINY.format(runs=tmp_path / "runs").replace("[correlate]\n", "[correlate]\npromote = 3\n"))
    assert plan(preset).correlate.promote == 3


def test_a_one_epoch_ground_truth_leaves_out_the_default_early_stopping_as_correlate_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs49: ``[correlate.ground_truth] epochs = 1`` without ``early`` was refused ("early-stopping points must lie
    strictly between 0 and 1 epochs, got (0.1, 1.0)") where ``correlate --full-epochs 1`` leaves out the default 1.0
    with a warning. Now the same: the default's 0.1 kept, one warning naming the key; an ``early`` given is checked."""
    monkeypatch.chdir(tmp_path)
    preset = tmp_path / "tiny.toml"
    preset.write_text(TINY.format(runs=tmp_path / "runs").replace("early = [0.5]\n", ""))
    with pytest.warns(NasProxyWarning, match=r"\[correlate\.ground_truth\]: early stopping at 1 epochs \(the default early\) is left out"):
        assert plan(preset).correlate.ground_truth.early == (0.1,)
    preset.write_text(TINY.format(runs=tmp_path / "runs").replace("early = [0.5]", "early = [0.1, 1.0]"))
    with pytest.raises(InvalidArgumentError, match="strictly between 0 and 1 epochs"):
        plan(preset)


@pytest.mark.parametrize("proxy", ["params", "random-ipc2"])
def test_a_search_stage_refusal_leaves_no_study_behind(
    proxy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A refusal only the search stage can make (a space file whose networks pool too often for the
    16x16 digits, known once the data is read): ``run`` used to open the study's storage first and
    leave an empty studies/NAME/journal.log (and, with random-ipc2, the random subset made beside it).
    The search's checks come first now: nothing is made."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "deep.toml").write_text(
        'family = "convnet"\n[params]\ndepth = [6]\nwidth = [32]\nactivation = "relu"\n'
        'normalization = "instancenorm"\npooling = "avgpooling"\n'
    )
    preset = tmp_path / "deep-run.toml"
    preset.write_text(
        f'name = "deep"\ndevice = "cpu"\n[search]\nspace = "deep.toml"\nproxy_name = "{proxy}"\ndataset = "digits"\nn_trials = 2\n'
        "[correlate]\nn_archs = 2\n"
    )
    assert main(["run", str(preset), "--quiet"]) == 2
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == ["deep-run.toml", "deep.toml"]  # no studies/, runs/
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "cannot build networks for digits's 1x16x16 images" in err, err


@pytest.mark.parametrize("folder", ["correlate", "correlate/cache"])
def test_a_run_whose_stage_folder_may_not_be_written_is_refused_before_any_stage(tmp_path: Path, folder: str) -> None:
    """runs/NAME/correlate this user may not write (root without capabilities, the folder 555): ``run`` refuses
    in one line naming it before it distils or searches anything. Before perm48 it distilled and searched (the
    study's journal and runs/NAME/search written), then refused at the correlate stage; and before review48 so
    still for runs/NAME/correlate/cache, where correlate keeps its scores (checked by correlate alone, at its start)."""
    preset = tmp_path / "tiny.toml"
    preset.write_text(TINY.format(runs=tmp_path / "runs"))
    stage = tmp_path / "runs" / "tiny" / folder
    stage.mkdir(parents=True)
    stage.chmod(0o555)
    done = uncapable.run(["run", str(preset), "--quiet"], cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"nasproxy run: error: cannot write {stage}: permission denied;")
    made = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    folders = [str(Path("runs/tiny") / folder), *map(str, Path("runs/tiny", folder).parents)][:-1]
    assert made == sorted([*folders, "tiny.toml"])  # no set, no search export, no studies/


def _refused_synflow_run(tmp_path: Path, name: str, space: str, capsys: pytest.CaptureFixture[str]) -> str:
    """`run` of a preset NAME.toml searching ``space`` on digits with the training-free synflow (no distillation), which
    is refused: its one line."""
    preset = tmp_path / f"{name}.toml"
    preset.write_text(
        f'name = "{name}"\ndevice = "cpu"\n[search]\nspace = "{space}"\nproxy_name = "synflow"\ndataset = "digits"\n'
        "n_trials = 1\n[correlate]\nn_archs = 2\n"
    )
    assert main(["run", str(preset), "--quiet"]) == 2
    return capsys.readouterr().err.strip()


def test_a_preset_edited_since_its_study_was_begun_is_told_the_runs_own_remedy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """probe51: `run` with its preset's [search] space edited after its study was begun stopped on the search's remedy,
    'use the same settings to resume it, or another --study name', an option run does not take (its study is named
    after the preset). Now the run's way: put the options back, or give the preset another name; the study untouched."""
    monkeypatch.chdir(tmp_path)
    searched = "search --proxy synflow --dataset digits --space convnet-cpu --study edited --n-trials 1 --device cpu --quiet"
    assert main(searched.split()) == 0
    journal = tmp_path / "studies" / "edited" / "journal.log"
    before = journal.read_bytes()
    capsys.readouterr()
    err = _refused_synflow_run(tmp_path, "edited", "convnet-small", capsys)
    assert err == (
        "nasproxy run: error: study 'edited' already exists with other settings (space 'convnet-cpu' there, 'convnet-small' "
        "now); it is this run's study, begun with other preset options: put the preset's back as they were there to continue "
        "it, or give the preset another name (name = ...), which starts a run of its own"
    ), err
    assert journal.read_bytes() == before


def test_a_preset_whose_distill_was_edited_since_its_study_was_begun_is_refused_before_distilling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """probe51: a run's [distill] edited after its study was begun (here ipc 2 -> 1) names another set folder: the run
    distilled that new set (hours on a real preset), then its search refused the study. Now refused before the
    distillation, in the run's words, with no new set folder made; the study untouched."""
    preset, p = _tiny_distilled(tmp_path, monkeypatch, tmp_path / "runs")
    begun = ["search", "--synthetic", str(p.synthetic), "--space", "convnet-small", "--study", "tiny", "--n-trials", "1"]
    assert main([*begun, "--epochs", "1", "--device", "cpu", "--quiet"]) == 0  # the study, as the run's search begins it
    journal = tmp_path / "studies" / "tiny" / "journal.log"
    before = journal.read_bytes()
    preset.write_text(preset.read_text().replace("ipc = 2", "ipc = 1"))
    edited = plan(preset).synthetic
    assert edited is not None and edited != p.synthetic
    capsys.readouterr()
    assert main(["run", str(preset), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"nasproxy run: error: study 'tiny' already exists with other settings (synthetic set {p.synthetic} there, {edited} now); "
        "it is this run's study, begun with other preset options: put the preset's back as they were there to continue it, "
        "or give the preset another name (name = ...), which starts a run of its own"
    ), err
    assert not edited.exists() and journal.read_bytes() == before


def test_a_run_folder_holding_a_config_toml_not_the_runs_is_refused_before_any_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """probe51: runs/NAME made by hand, holding a config.toml of the user's: `run` ran every stage and overwrote it with
    the resolved preset, exit 0. Now refused before any stage, the file as it was."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "hand").mkdir(parents=True)
    mine = tmp_path / "runs" / "hand" / "config.toml"
    mine.write_text("[mine]\nx = 1\n")
    err = _refused_synflow_run(tmp_path, "hand", "convnet-cpu", capsys)
    assert err == (
        "nasproxy run: error: runs/hand/config.toml is not the resolved preset of run 'hand', which the run would overwrite "
        "(a file of yours, or of another command's); move it out of the folder, or give the preset another name (name = ...)"
    ), err
    assert mine.read_text() == "[mine]\nx = 1\n"
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == ["hand.toml", "runs", "runs/hand", "runs/hand/config.toml"]


def test_a_run_whose_images_changed_since_its_study_was_searched_is_told_the_runs_own_remedy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """review52: `run` of an image-folder preset, a photo turned in place, the same run: refused for its data (as
    fix50e made it), but with the search's remedy, 'give the data it was made from, or another --study name', an
    option `run` does not take. Now the run's way: the data back, or the preset another name; the study untouched."""
    from tests.data.test_data_changed import noisy_folder, turn

    monkeypatch.chdir(tmp_path)
    noisy_folder(tmp_path / "photos")
    preset = tmp_path / "ch.toml"
    preset.write_text(
        'name = "ch"\ndevice = "cpu"\n[search]\nspace = "convnet-cpu"\nproxy_name = "synflow"\ndataset = "imagefolder:photos"\n'
        "n_trials = 1\n[correlate]\nn_archs = 2\n"
    )
    assert main(["run", str(preset), "--quiet"]) == 0
    journal = tmp_path / "studies" / "ch" / "journal.log"
    kept = journal.read_bytes()
    turn(tmp_path / "photos" / "dog" / "1.png")
    capsys.readouterr()
    assert main(["run", str(preset), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "error: study 'ch' was searched on imagefolder:photos images that differ" in err, err
    remedy = "give the data it was made from, or give the preset another name (name = ...), which starts a run of its own"
    assert err.endswith(f"; {remedy}") and "--study" not in err, err
    assert journal.read_bytes() == kept


def test_a_run_whose_search_counted_no_trial_stops_there_saying_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Stop 52: a run whose search failed every trial (there: data too small to split, now refused before the search)
    went on to correlate and ended on 'no architectures to correlate', exit 2, the trials' failures unsaid. Now it stops
    after the search, exit 1 as `search` does, naming the failures and where their reasons are; no correlation made."""
    from nas_proxy.proxies.training_free import ZeroCostProxy

    def fails(self: ZeroCostProxy, spec: dict[str, Any], arch_id: str) -> Any:
        raise RuntimeError("a candidate that cannot be scored")

    monkeypatch.setattr(ZeroCostProxy, "score", fails)
    monkeypatch.chdir(tmp_path)
    preset = tmp_path / "nothing.toml"
    preset.write_text(
        'name = "nothing"\ndevice = "cpu"\n[search]\nspace = "convnet-cpu"\nproxy_name = "synflow"\ndataset = "digits"\n'
        "n_trials = 2\n[correlate]\nn_archs = 2\n"
    )
    assert main(["run", str(preset), "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "nasproxy run: error: search nothing counted no trial: the budget of 2 trials was not met: 0 count (2 trials failed "
        "(each worker starts at most --n-trials trials)); each trial's reason is in runs/nothing/search/trials.csv; once "
        "their cause is fixed, run the same preset again, which continues the study"
    ), err
    assert not (tmp_path / "runs" / "nothing" / "correlate").exists()


@pytest.mark.parametrize(
    ("distill", "missing"),
    [
        ('dataset = "imagefolder:images"', "images"),
        ('dataset = "imagefolder: images"', " images"),  # the blank said, the path as given
        ('dataset = "fashion-mnist"\ndata_root = "nodata"', "nodata"),
    ],
)
def test_a_missing_folder_a_preset_names_is_the_errors_missing_path(
    distill: str, missing: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fix53c: before, a missing image folder or data root that ``run``'s preset named said "does not exist" with no
    NasProxyError.missing, by which run tells that a path of its preset is the one missing (fix52e); a missing
    --config (configs.read) had none either."""
    monkeypatch.chdir(tmp_path)
    preset = tmp_path / "presets" / "p.toml"
    preset.parent.mkdir()
    preset.write_text(f'name = "p"\ndevice = "cpu"\n[distill]\n{distill}\nipc = 1\n[search]\nspace = "convnet-cpu"\nn_trials = 1\n')
    with pytest.raises(NasProxyError, match="does not exist") as raised:
        run(preset)
    assert raised.value.missing == missing
    with pytest.raises(NasProxyError, match="does not exist") as raised:
        configs.read("cfg.toml")  # as run --config cfg.toml reads it
    assert raised.value.missing == "cfg.toml"


def test_a_run_made_under_a_decomposed_name_goes_on_and_no_new_one_is_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fix53c opened a study made under a decomposed (NFD) name before stop 52 again; a preset of that name was still
    refused ("'name' 'café' is 'cafe\\u0301', not in Unicode's composed form..."), so its run could not go on. Now a
    run there is taken; a name that would make a new run is refused as before."""
    from nas_proxy.pipeline import _read_preset

    monkeypatch.chdir(tmp_path)
    nfd = "cafe\u0301"
    (tmp_path / "p.toml").write_text(f'name = "{nfd}"\n', encoding="utf-8")
    with pytest.raises(InvalidArgumentError, match="not in Unicode's composed form"):
        _read_preset(tmp_path / "p.toml")
    (tmp_path / "runs" / nfd).mkdir(parents=True)  # as run made it before stop 52
    assert _read_preset(tmp_path / "p.toml")["name"] == nfd


@pytest.mark.parametrize("root", ["nodata", "afile"], ids=["missing", "a-file"])
def test_a_data_root_that_is_no_folder_is_said_with_the_presets_key(
    root: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """fix54b: the data root's refusal wrote its remedy into its text, so ``run`` (which takes no --data-root: its
    preset's [distill] data_root gives it) said "give the folder that holds the fashion-mnist files with --data-root",
    an option run refuses. Run's line names the preset's key now; distill's says --data-root as before."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").touch()
    preset = tmp_path / "p.toml"
    preset.write_text(
        f'name = "p"\ndevice = "cpu"\n[distill]\ndataset = "fashion-mnist"\ndata_root = "{root}"\nipc = 1\n'
        '[search]\nspace = "convnet-cpu"\nn_trials = 1\n'
    )
    assert main(["run", str(preset), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith(
        f"data root {root} {'does not exist' if root == 'nodata' else 'is an empty file, not a directory'}; "
        "give the folder that holds the dataset's files as the preset's [distill] data_root\n"
    ), err
    assert main(["distill", "--dataset", "fashion-mnist", "--ipc", "1", "--data-root", root, "--out", "set", "--quiet"]) == 2
    assert capsys.readouterr().err.endswith("; give the folder that holds the fashion-mnist files with --data-root\n")
