"""``nasproxy train``: a search's winner trained on all the training data, tested once, exported as
safetensors + spec.json (+ TorchScript), and loaded back for inference."""

from __future__ import annotations

import json
import re
import shutil
import warnings
from pathlib import Path

import optuna
import pytest
import torch

import nas_proxy as nx
from nas_proxy.cli import main
from nas_proxy.configs import EmptyOutputWarning
from nas_proxy.errors import NasProxyError, OutputConflictError
from nas_proxy.files import DiskFullError
from nas_proxy.search import ProxyConfig, SearchConfig, search, winner
from nas_proxy.search.winner import SCRIPT, SPEC, WEIGHTS, TrainBestConfig, _torchscript, read_best, train_best
from nas_proxy.spaces import SPACES, build_model, get_space
from nas_proxy.training import accuracy

ONE = TrainBestConfig(epochs=1, device="cpu")  # one epoch on the CPU: the protocol's code, a second's training


@pytest.fixture(scope="module")
def best_json(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-trial search on the tiny digits set; its best.json."""
    out = tmp_path_factory.mktemp("study")
    config = SearchConfig(
        synthetic=str(tiny_run),
        space="convnet-small",
        device="cpu",
        pruner="none",
        sampler="bruteforce",  # 2 distinct architectures, which --rank 2 needs: another sampler may propose one twice
        proxy=ProxyConfig(epochs=2, report_every=1, report_images=100),
    )
    search(config, "s", 2, str(out / "journal.log"), out=out, progress=False)
    return out / "best.json"


@pytest.fixture(scope="module")
def trained(best_json: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[winner.TrainedModel, Path]:
    """best.json's winner trained for ONE (its result and its folder): read-only, a test that changes a finished model
    changes a copy of it (:func:`finished`) instead of training one of its own."""
    out = tmp_path_factory.mktemp("trained") / "model"
    return train_best(best_json, out, ONE, command="test"), out


def finished(trained: tuple[winner.TrainedModel, Path], out: Path) -> winner.TrainedModel:
    """``out``: a copy of the model :func:`trained` trained, as if this training had run there; its result."""
    shutil.copytree(trained[1], out)
    return trained[0]


def jit_load(path: Path) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # TorchScript is deprecated in torch 2.9+, and still loads
        return torch.jit.load(str(path), map_location="cpu")


def test_the_winner_is_trained_on_all_training_data_exported_and_loads(best_json: Path, trained: tuple[winner.TrainedModel, Path]) -> None:
    result, out = trained
    spec = json.loads((out / SPEC).read_text())
    assert not result.reused and spec == result.spec
    best = json.loads(best_json.read_text())
    assert spec["spec"] == best["top"][0]["spec"] and spec["family"] == "convnet" and spec["from"]["rank"] == 1
    data = nx.load_dataset("digits")  # what it was trained and tested on
    assert spec["train_images"] == data.train_y.numel()  # the training and validation splits together
    assert spec["test_images"] == data.test_y.numel() and spec["class_names"] == data.class_names
    assert spec["input_shape"] == [1, 16, 16] and spec["normalisation"] == {"mean": list(data.mean), "std": list(data.std)}
    assert spec["protocol"]["epochs"] == 1 and spec["torchscript"] in ("scripted", "traced")
    assert {p.name for p in out.iterdir()} == {SPEC, WEIGHTS, SCRIPT}  # no temporary file left

    model = nx.load_trained(out)
    assert not model.training
    # the weights that were tested are the weights that load: the same test accuracy, recomputed
    assert 100.0 * accuracy(model, data.test_x, data.test_y, amp=False) == pytest.approx(spec["test_accuracy"], abs=1e-9)
    batch = data.test_x[:16]
    scripted = jit_load(out / SCRIPT)
    with torch.no_grad():
        eager, jit = model(batch), scripted(batch)
    assert jit.shape == (16, 10) and torch.allclose(jit, eager, rtol=1e-5, atol=1e-5)


def test_the_same_training_again_is_found_finished_and_another_is_refused(
    best_json: Path, trained: tuple[winner.TrainedModel, Path], tmp_path: Path
) -> None:
    out = tmp_path / "model"
    first = finished(trained, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    again = train_best(best_json, out, ONE)
    assert again.reused and again.spec == first.spec
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing trained or written again
    with pytest.raises(
        OutputConflictError, match=r"holds another trained model \(.*, 1 epochs, seed 0; its request differs in seed; nasproxy "
    ):
        train_best(best_json, out, TrainBestConfig(epochs=1, seed=1, device="cpu"))
    fast = TrainBestConfig(epochs=1, protocol="fast", device="cpu")  # the registered fast protocol: another training
    with pytest.raises(OutputConflictError, match="holds another trained model"):
        train_best(best_json, out, fast)
    other = train_best(best_json, tmp_path / "fast", fast)
    assert not other.reused and other.spec["protocol"]["fast"]["schedule"] == "onecycle" and other.spec["protocol"]["lr"] == 0.05
    assert "fast" not in first.spec["protocol"] and other.spec["test_accuracy"] != first.spec["test_accuracy"]


def test_a_folder_without_spec_json_is_not_a_model(best_json: Path, trained: tuple[winner.TrainedModel, Path], tmp_path: Path) -> None:
    """A run cut short before spec.json (written last) left no model: loading says so; the same
    command then trains and completes it."""
    out = tmp_path / "model"
    finished(trained, out)
    (out / SPEC).unlink()
    with pytest.raises(NasProxyError, match="holds no finished model"):
        nx.load_trained(out)
    assert not train_best(best_json, out, ONE).reused
    assert isinstance(nx.load_trained(out), torch.nn.Module)


def test_a_spec_json_of_ours_cut_short_is_said_to_be_damaged_not_a_file_of_the_users(
    best_json: Path, trained: tuple[winner.TrainedModel, Path], tmp_path: Path
) -> None:
    """drill48: a finished model's spec.json cut short (or a bad block in it) was refused as 'a spec.json that is not
    a trained model's (a file of yours?) ...; give another --out', though removing it trains the model again."""
    out = tmp_path / "model"
    finished(trained, out)
    whole = (out / SPEC).read_bytes()
    for damaged in (whole[:284], whole[:455] + b"\x00" * 16 + whole[471:]):
        (out / SPEC).write_bytes(damaged)
        with pytest.raises(
            OutputConflictError,
            match=rf"--out {re.escape(str(out))} holds a trained model whose spec\.json no longer reads \(cut short or damaged\); "
            rf"remove {re.escape(str(out / SPEC))} and the same command trains it again, or give another --out",
        ):
            train_best(best_json, out, ONE)
    (out / SPEC).unlink()  # as the line says: the folder a run cut short before spec.json leaves, which the same command
    # trains and completes (test_a_folder_without_spec_json_is_not_a_model trains it from there; perf56c: not twice)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == {n: (trained[1] / n).read_bytes() for n in (WEIGHTS, SCRIPT)}


def test_whole_weights_of_this_training_are_not_trained_again_and_torn_ones_are(
    best_json: Path, trained: tuple[winner.TrainedModel, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk at model.pt left model.safetensors whole and no spec.json: the same command trained
    again (hours on real data). It now takes the weights and writes the rest; weights cut short are
    trained again."""
    out = tmp_path / "model"
    reference = finished(trained, tmp_path / "reference")
    real_write, real_training = winner.write_bytes, winner.train_network

    def full_at_script(path: Path, data: bytes) -> None:
        if path.name == SCRIPT:
            raise DiskFullError(path, len(data), 0)
        real_write(path, data)

    monkeypatch.setattr(winner, "write_bytes", full_at_script)
    with pytest.raises(DiskFullError):
        train_best(best_json, out, ONE)
    assert not (out / SPEC).exists() and (out / WEIGHTS).read_bytes() == (tmp_path / "reference" / WEIGHTS).read_bytes()
    monkeypatch.setattr(winner, "write_bytes", real_write)

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("trained again")

    monkeypatch.setattr(winner, "train_network", refused)
    again = train_best(best_json, out, ONE)
    assert again.kept_weights and not again.reused and again.spec["test_accuracy"] == reference.spec["test_accuracy"]
    assert {p.name for p in out.iterdir()} == {SPEC, WEIGHTS, SCRIPT} and again.spec["sha256"]["weights"] == reference.spec["sha256"][
        "weights"
    ]
    (out / winner.TRAINING).write_text("{}")  # what a kill between spec.json and the record's removal leaves
    assert train_best(best_json, out, ONE).reused and not (out / winner.TRAINING).exists()
    (out / SCRIPT).write_bytes(b"cut")  # spec.json's other file torn: the weights it records are still kept
    with pytest.warns(EmptyOutputWarning, match=f"but its {SCRIPT} no longer matches the sha256 {SPEC} records"):  # (drill60)
        assert train_best(best_json, out, ONE).kept_weights and (out / SCRIPT).read_bytes() != b"cut"
    (out / SPEC).unlink()  # a run stopped with its record and its weights torn (a damaged disk)
    (out / winner.TRAINING).write_text(json.dumps({"request": again.spec["request"], "sha256": again.spec["sha256"]}))
    (out / WEIGHTS).write_bytes(b"torn")
    monkeypatch.setattr(winner, "train_network", real_training)
    assert not train_best(best_json, out, ONE).kept_weights
    assert (out / WEIGHTS).read_bytes() == (tmp_path / "reference" / WEIGHTS).read_bytes()


def test_files_that_are_not_this_trainings_are_refused_not_replaced(
    best_json: Path, trained: tuple[winner.TrainedModel, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before fix45b, train --out replaced a model.safetensors or model.pt that no record there made this
    training's (another project's model, weights of another network, another training stopped before its
    spec.json), exit 0; a spec.json of another nasproxy format, or an earlier version's record of the same
    training, was "not a trained model's" and "another trained model". Each is now refused, naming it."""
    from safetensors.torch import save

    reference = finished(trained, tmp_path / "reference")

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("trained")

    monkeypatch.setattr(winner, "train_network", refused)
    out = tmp_path / "out"
    out.mkdir()
    cases = {
        WEIGHTS: (save({"w": torch.zeros(2)}), "holds a model.safetensors that is not this training's"),  # another project's
        SCRIPT: (b"PK\x03\x04", "holds a model.pt that is not this training's (no spec.json of it, and no model.safetensors of it beside"),
    }
    for name, (data, message) in cases.items():
        (out / name).write_bytes(data)
        with pytest.raises(OutputConflictError, match=re.escape(message)):
            train_best(best_json, out, ONE)
        assert (out / name).read_bytes() == data
        (out / name).unlink()
    (out / WEIGHTS).write_bytes(save({"w": torch.zeros(2)}, metadata={"format": winner.FORMAT}))  # ours, of another network
    with pytest.raises(OutputConflictError, match="not weights nasproxy train wrote for this network"):
        train_best(best_json, out, ONE)
    (out / WEIGHTS).write_bytes((tmp_path / "reference" / WEIGHTS).read_bytes())
    record = {"request": {**reference.spec["request"], "seed": 1}, "sha256": reference.spec["sha256"]}
    (out / winner.TRAINING).write_text(json.dumps(record))  # another training (seed 1) stopped before its spec.json
    with pytest.raises(OutputConflictError, match=r"holds model.safetensors of another training stopped before its spec.json \(.*seed 1"):
        train_best(best_json, out, ONE)
    (out / winner.TRAINING).unlink()
    (out / SPEC).write_text(json.dumps({"format": "nasproxy-scores", "package_version": "0.0.9"}))
    with pytest.raises(OutputConflictError, match=re.escape("a nasproxy file of format 'nasproxy-scores', written by nasproxy 0.0.9, not")):
        train_best(best_json, out, ONE)
    older = json.loads((tmp_path / "reference" / SPEC).read_text())  # this training, its protocol recorded by an earlier version
    del older["request"]["protocol"]["early"]
    (out / SPEC).write_text(json.dumps(older))
    with pytest.raises(
        OutputConflictError,
        match=r"holds this architecture .* trained by an earlier nasproxy .* has other fields than this version's \(early\)",
    ):
        train_best(best_json, out, ONE)
    (out / SPEC).unlink()  # the weights alone, this network's as nasproxy train wrote them (spec.json removed): trained again
    monkeypatch.undo()
    assert not train_best(best_json, out, ONE).reused
    # this training stopped by an earlier nasproxy before its spec.json (its protocol recorded with other fields): before,
    # "run that training's command to finish it", which is this very command, refused so for good (review45); now trained
    (out / SPEC).unlink()
    (out / winner.TRAINING).write_text(json.dumps({"request": older["request"], "sha256": reference.spec["sha256"]}))
    again = train_best(best_json, out, ONE)
    assert not again.reused and json.loads((out / SPEC).read_text())["request"] == reference.spec["request"]


def test_rank_and_a_study_folder(best_json: Path) -> None:
    best = json.loads(best_json.read_text())
    second = read_best(best_json.parent, rank=2)
    assert second.spec == best["top"][1]["spec"] and second.synthetic == best["synthetic"]


def test_the_cli_prints_the_test_accuracy_and_where_the_model_is_its_options_from_the_train_table_of_a_config_file(
    best_json: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One training through the CLI (perf58c: the printed lines and the config file's [train] table had a training each)."""
    config = tmp_path / "c.toml"
    config.write_text('device = "cpu"\n[train]\nepochs = 1\nrank = 2\nseed = 3\n')
    out = tmp_path / "m"
    assert main(["train", str(best_json), "--out", str(out), "--config", str(config), "--seed", "4"]) == 0
    printed = capsys.readouterr().out
    spec = json.loads((out / SPEC).read_text())
    assert f"test accuracy {spec['test_accuracy']:.2f} %" in printed and "load_trained" in printed
    assert spec["command"].startswith("nasproxy ")
    assert spec["from"]["rank"] == 2 and spec["seed"] == 4 and spec["protocol"]["epochs"] == 1
    assert main(["train", str(best_json), "--out", str(out), "--config", str(config), "--seed", "4", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["reused"] is True
    assert shown["config"]["train"] == {
        "epochs": 1,
        "protocol": "standard",
        "rank": 2,
        "seed": 4,
        "device": "cpu",
        "data_root": None,
    }  # the flag wins over the file
    assert (
        main(["train", str(best_json), "--out", str(out), "--epochs", "1", "--device", "cpu", "--rank", "2", "--seed", "4", "--json"]) == 0
    )
    assert json.loads(capsys.readouterr().out)["reused"] is True  # the same training given by flags alone


@pytest.mark.parametrize("space", SPACES.names())
def test_every_family_exports_torchscript_equal_to_the_eager_network(space: str) -> None:
    """A network of every registered space scripts or traces, and its TorchScript gives the eager
    outputs on two batch sizes (a new family is checked by being registered)."""
    spec = get_space(space).sample(optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask())
    torch.manual_seed(0)
    model = build_model(spec, 3, 10, (16, 16)).eval()
    blob, how = _torchscript(model, torch.randn(8, 3, 16, 16))
    assert blob is not None, how
