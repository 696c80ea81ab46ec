"""distill's defaults since RESULTS.md §19 (the official DataDAM code's recipe), resolved in one place.

``net_norm`` None is the method's own network's norm, ``batchnorm_stats`` None is "own" with one
ConvNet and "real" with ``nets``; what a resume must match (``identity``) and ``meta.json`` hold the
resolved values, so a flag equal to the default is the same run, and a checkpoint written before
(every field stored, the old defaults as values) resumes with the flags that ran it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from nas_proxy import configs
from nas_proxy.distill import METHODS, DistillConfig, distill
from nas_proxy.distill.checkpoint import State, check_output, write_checkpoint
from nas_proxy.errors import InvalidArgumentError, OutputConflictError
from tests.conftest import tiny_config

FLAGS_OF = "c.toml [distill]"


@pytest.mark.parametrize(
    ("method", "nets", "norm", "stats", "recorded"),
    [
        ("datadam", None, "batchnorm", "own", ("batchnorm", "own")),
        ("dm", None, "instancenorm", "own", ("instancenorm", None)),  # no batch norm: no rule recorded
        ("datadam", "convnet720", "batchnorm", "real", (None, "real")),  # each drawn network's own norm
    ],
)
def test_the_defaults_resolve_per_method_and_per_network(
    method: str, nets: str | None, norm: str, stats: str, recorded: tuple[str | None, str | None]
) -> None:
    config = DistillConfig(method=method, nets=nets)
    assert (config.net_norm, config.batchnorm_stats) == (None, None)  # "not given": resolved where used
    assert (config.distill_norm(), config.batchnorm_rule()) == (norm, stats)
    assert (config.resolved().net_norm, config.resolved().batchnorm_stats) == recorded  # what meta.json records


@pytest.mark.parametrize("name", METHODS.names())
def test_every_method_names_its_own_network_norm(name: str) -> None:
    assert DistillConfig(method=name).distill_norm() == METHODS.get(name).net_norm


def test_the_official_recipe_is_the_default() -> None:
    d = DistillConfig()
    assert (d.method, d.iterations, d.attention_power, d.distill_norm(), d.batchnorm_rule()) == ("datadam", 20000, 1.0, "batchnorm", "own")


def test_explicit_values_win() -> None:
    config = DistillConfig(method="datadam", net_norm="instancenorm", batchnorm_stats="real")
    assert (config.distill_norm(), config.batchnorm_rule()) == ("instancenorm", "real")
    assert DistillConfig(method="dm", net_norm="batchnorm").distill_norm() == "batchnorm"
    assert DistillConfig(nets="convnet720", batchnorm_stats="own").batchnorm_rule() == "own"


@pytest.mark.parametrize(
    ("default", "explicit"),
    [
        ({}, {"net_norm": "batchnorm", "batchnorm_stats": "own", "attention_power": 1.0}),
        ({"method": "dm"}, {"method": "dm", "net_norm": "instancenorm"}),
        ({"nets": "convnet720"}, {"nets": "convnet720", "batchnorm_stats": "real"}),
    ],
)
def test_a_flag_equal_to_the_default_is_the_same_run(default: dict[str, Any], explicit: dict[str, Any]) -> None:
    assert DistillConfig(**default).identity() == DistillConfig(**explicit).identity()


def test_the_paper_recipe_is_another_run() -> None:
    paper = DistillConfig(net_norm="instancenorm", attention_power=4.0)
    assert paper.identity() != DistillConfig().identity()
    assert "batchnorm_stats" not in paper.identity()  # idle with instance norm: it changes nothing


def test_batchnorm_stats_without_a_batch_norm_network_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="batchnorm_stats changes nothing without a batch-norm network"):
        configs.build(DistillConfig, {}, FLAGS_OF, method="dm", batchnorm_stats="own")
    with pytest.raises(InvalidArgumentError, match="batchnorm_stats changes nothing"):
        configs.build(DistillConfig, {}, FLAGS_OF, net_norm="instancenorm", batchnorm_stats="real")
    assert configs.build(DistillConfig, {}, FLAGS_OF, batchnorm_stats="real").batchnorm_rule() == "real"  # datadam: batch norm
    with pytest.raises(InvalidArgumentError, match="net_norm changes nothing with nets"):
        configs.build(DistillConfig, {}, FLAGS_OF, nets="convnet720", net_norm="batchnorm")


def test_meta_records_the_resolved_values_and_config_toml_reads_back(tmp_path: Path) -> None:
    dm = distill(tiny_config(method="dm", iterations=1), tmp_path / "dm", progress=False).meta["config"]
    assert dm["net_norm"] == "instancenorm" and "normalization=instancenorm" in dm["resolved"]["distillation_net"]
    assert dm["batchnorm_stats"] is None  # no batch norm in its network: no rule recorded (it said "own")
    config = tiny_config(iterations=1)
    path = configs.write(tmp_path / "config.toml", {"distill": config})
    assert "# net_norm unset" in path.read_text() and "# batchnorm_stats unset" in path.read_text()  # None: the default
    assert configs.build(DistillConfig, configs.read(path)["distill"], FLAGS_OF).identity() == config.identity()


def _old_checkpoint(out: Path, **fields: Any) -> None:
    """A checkpoint of the version before §19: every field stored, the defaults of then as values."""
    old = replace(tiny_config(), **fields).to_dict() | {"net_norm": "instancenorm", "batchnorm_stats": "real", "attention_power": 4.0}
    old |= fields
    for k in ("iterations", "device", "checkpoint_every", "log_every", "data_root", "soft_labels"):
        old.pop(k)
    terms = len(METHODS.get(old["method"]).terms)
    state = State(torch.zeros(20, 1, 16, 16), torch.zeros(20, 1, 16, 16), torch.zeros(terms), 0, [], 1.0, 2)
    out.mkdir()
    write_checkpoint(out, SimpleNamespace(identity=lambda: old), state)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("stored", "flags"),
    [
        ({}, {"net_norm": "instancenorm", "attention_power": 4.0}),  # the old default, named
        ({"method": "dm"}, {"method": "dm", "net_norm": "instancenorm"}),
        ({"method": "dm"}, {"method": "dm"}),  # dm's own norm is the one it ran
        ({"nets": "convnet720"}, {"nets": "convnet720", "attention_power": 4.0, "batchnorm_stats": "real"}),
        ({"net_norm": "batchnorm", "batchnorm_stats": "own", "attention_power": 1.0}, {}),  # the official recipe: today's default
    ],
)
def test_a_checkpoint_of_the_previous_version_resumes_with_the_flags_that_ran_it(
    stored: dict[str, Any], flags: dict[str, Any], tmp_path: Path
) -> None:
    _old_checkpoint(tmp_path / "run", **stored)
    assert check_output(tmp_path / "run", tiny_config(**flags), resume=False, force=False) is not None


def test_an_old_checkpoint_of_the_paper_recipe_is_not_taken_for_todays_default(tmp_path: Path) -> None:
    _old_checkpoint(tmp_path / "run")
    with pytest.raises(OutputConflictError, match=r"net_norm: 'instancenorm' there, 'batchnorm' now"):
        check_output(tmp_path / "run", tiny_config(), resume=False, force=False)


def _checkpoint(out: Path, config: DistillConfig) -> None:
    state = State(torch.zeros(20, 1, 16, 16), torch.zeros(20, 1, 16, 16), torch.zeros(len(METHODS.get(config.method).terms)), 0, [], 1.0, 2)
    out.mkdir()
    write_checkpoint(out, config, state)


@pytest.mark.parametrize(
    ("there", "now", "listed"),
    [
        ({}, {"nets": "convnet-small"}, "nets: None there, 'convnet-small' now"),
        ({"nets": "convnet-small"}, {}, "nets: 'convnet-small' there, None now"),
        ({}, {"method": "dm"}, "method: 'datadam' there, 'dm' now"),
        # a default the user names now is the user's change
        (
            {},
            {"nets": "convnet-small", "batchnorm_stats": "real"},
            "batchnorm_stats: 'own' there, 'real' now; nets: None there, 'convnet-small' now",
        ),
        ({}, {"nets": "convnet-small", "batchnorm_stats": "own"}, "nets: None there, 'convnet-small' now"),
    ],
)
def test_a_refused_resume_names_what_the_user_changed_not_the_defaults_that_follow(
    there: dict[str, Any], now: dict[str, Any], listed: str, tmp_path: Path
) -> None:
    """fix52e: --nets given to resume a run of the one ConvNet was refused naming 'batchnorm_stats: 'own' there, 'real'
    now' beside nets, an option the user never typed (its default follows nets); --method dm named net_norm likewise."""
    _checkpoint(tmp_path / "run", tiny_config(**there))
    with pytest.raises(OutputConflictError) as e:
        check_output(tmp_path / "run", tiny_config(**now), resume=False, force=False)
    assert f"holds a different run ({listed});" in str(e.value)


def test_a_shard_killed_inside_its_first_staged_checkpoint_write_is_started_again(tmp_path: Path) -> None:
    """review54: a coupled rank killed -9 while it wrote its first staged checkpoint leaves only atomic_path's temporary
    of the staged file (two leading dots); the same command refused the shard as "not empty and holds no nasproxy run"."""
    shard = tmp_path / "shards" / "1-of-2"
    shard.mkdir(parents=True)
    (shard / "..checkpoint.safetensors.staged.tmp.123-abcd.tmp").write_bytes(b"cut")
    assert check_output(shard, tiny_config(), resume=False, force=False) is None
    (shard / "notes.txt").write_text("mine")  # a user's file is still not ours
    with pytest.raises(OutputConflictError, match="holds no nasproxy run"):
        check_output(shard, tiny_config(), resume=False, force=False)
