"""Search spaces: every registered space samples, rebuilds and trains; files and specs are checked.

The parametrised tests run over ``space_names()``, so a newly registered space is tested by being
registered.
"""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path
from typing import Any

import optuna
import pytest
import torch
import torch.nn.functional as F

from nas_proxy.data import Dataset, load_dataset
from nas_proxy.errors import SpaceError, UnknownNameError
from nas_proxy.models.convnet import space_720
from nas_proxy.models.nb201 import EDGES, OPS, arch_string, parse_arch
from nas_proxy.spaces import SearchSpace, arch_id, build_model, get_space, space_from_definition, space_names

optuna.logging.set_verbosity(optuna.logging.WARNING)
NAMES = space_names()
EXAMPLE_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits")


def sampled_specs(space: SearchSpace, n: int, seed: int = 0) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(spec, trial.params) of ``n`` trials of a real in-memory study with a seeded random sampler."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append((space.sample(trial), dict(trial.params)))
        study.tell(trial, 0.0)
    return out


def sgd_step(model: torch.nn.Module, digits: Dataset) -> None:
    """One SGD step on 16 digits: the loss is finite and some parameter moves."""
    x, y = digits.train_x[:16], digits.train_y[:16]  # (16, 1, 16, 16), (16,)
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model.train()
    loss = F.cross_entropy(model(x), y)
    assert torch.isfinite(loss)
    loss.backward()
    opt.step()
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))


def test_shipped_spaces_are_registered() -> None:
    assert {"convnet720", "nb201", "macro", "convnet-small"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_sample_build_and_train_one_step(name: str, digits: Dataset) -> None:
    space = get_space(name)
    (spec, _), *_ = sampled_specs(space, 1)
    assert spec["family"] == space.family
    space.validate(spec)
    torch.manual_seed(0)
    model = space.build(spec, digits.channels, digits.num_classes, digits.image_size)
    sgd_step(model, digits)


@pytest.mark.parametrize("name", NAMES)
def test_params_of_rebuilds_the_spec(name: str) -> None:
    space = get_space(name)
    specs = sampled_specs(space, 20)
    for spec, params in specs:
        assert space.params_of(spec) == params
        assert space.sample(optuna.trial.FixedTrial(space.params_of(spec))) == spec
        assert json.loads(json.dumps(spec)) == spec  # plain JSON
        shuffled = dict(reversed(copy.deepcopy(spec).items()))
        assert arch_id(shuffled) == arch_id(spec) and len(arch_id(spec)) == 12
    distinct = {json.dumps(s, sort_keys=True) for s, _ in specs}
    assert len({arch_id(s) for s, _ in specs}) == len(distinct) > 1


@pytest.mark.parametrize("name", NAMES)
def test_specs_enumerates_a_small_space_whole(name: str) -> None:
    """``specs(limit)``: every architecture once (conditional parameters too), each in the space; None above the limit."""
    space = get_space(name)
    size = space.size()
    assert size is not None
    if size > 1000:
        assert space.specs(1000) is None
        return
    specs = space.specs(1000)
    assert specs is not None and len(specs) == size == len({arch_id(s) for s in specs})
    for spec in specs:
        space.validate(spec)
    assert space.specs(size - 1) is None


def test_specs_walks_conditional_parameters() -> None:
    """macro's per-stage parameters exist only for the stages drawn: 1 or 2 stages of 2 depths -> 2 + 4 specs."""
    space = space_from_definition({"family": "macro", "params": {"num_stages": [1, 2], "depth": [1, 2]}}, "m")
    specs = space.specs(100)
    assert specs is not None and len(specs) == space.size() == 6 == len({arch_id(s) for s in specs})


@pytest.mark.parametrize("name", NAMES)
def test_describe_is_json(name: str) -> None:
    space = get_space(name)
    d = json.loads(json.dumps(space.describe()))
    assert d["name"] == space.name and d["family"] == space.family
    assert d["size"] == space.size() and (d["size"] is None or d["size"] >= 1)


@pytest.mark.parametrize("name", NAMES)
def test_validate_rejects_unknown_keys_and_families(name: str) -> None:
    space = get_space(name)
    (spec, _), *_ = sampled_specs(space, 1)
    with pytest.raises(SpaceError, match=r"unknown .* key\(s\) \['colour'\]"):
        space.validate({**spec, "colour": "red"})
    with pytest.raises(SpaceError, match="'family'"):
        space.validate({**spec, "family": "resnet"})


def test_arch_id_is_stable_across_runs() -> None:
    spec = {"family": "convnet", "depth": 3, "width": 128, "activation": "relu", "normalization": "instancenorm", "pooling": "avgpooling"}
    assert arch_id(spec) == "61175f97ccdc"  # sha256 of the sorted-key compact JSON: fixed forever
    assert arch_id(spec) != arch_id({**spec, "depth": 2})


def test_convnet720_has_exactly_the_720_architectures() -> None:
    space = get_space("convnet720")
    params = space.describe()["params"]
    specs = [
        space.sample(optuna.trial.FixedTrial(dict(zip(params, values, strict=True)))) for values in itertools.product(*params.values())
    ]
    assert space.size() == len({arch_id(s) for s in specs}) == 720
    assert {json.dumps(s, sort_keys=True) for s in specs} == {
        json.dumps({"family": "convnet", **c.to_dict()}, sort_keys=True) for c in space_720()
    }


def test_brute_force_sampler_covers_a_small_space_and_a_conditional_one() -> None:
    tiny_macro = space_from_definition(
        {"family": "macro", "params": {"num_stages": [1, 2], "depth": [1, 2], "width": 16, "kernel": 3}}, "m"
    )
    for space in (get_space("convnet-small"), tiny_macro):
        study = optuna.create_study(sampler=optuna.samplers.BruteForceSampler(seed=0))
        study.optimize(lambda trial, space=space: len(space.sample(trial)))  # type: ignore[misc]
        specs = [space.sample(optuna.trial.FixedTrial(t.params)) for t in study.trials]
        assert len({arch_id(s) for s in specs}) == len(specs) == space.size()
    assert tiny_macro.size() == 2 + 4  # 1 stage: 2 depths; 2 stages: 2 x 2


def test_convnet720_rejects_a_width_outside_it_naming_key_and_choices() -> None:
    space = get_space("convnet720")
    spec = space.parse("depth=2,width=48")
    with pytest.raises(SpaceError, match=r"width=48 .*allowed: 32, 64, 128, 256"):
        space.validate(spec)
    with pytest.raises(SpaceError, match="lacks key 'pooling'"):
        space.validate({k: v for k, v in space.parse("depth=2").items() if k != "pooling"})
    with pytest.raises(SpaceError, match="depth=True"):  # a bool is not the integer 1
        space.validate({**space.parse("depth=1"), "depth": True})


def test_nb201_has_15625_cells_and_arch_strings_round_trip() -> None:
    space = get_space("nb201")
    assert space.size() == 15_625
    cells = list(itertools.product(OPS, repeat=len(EDGES)))
    strings = {arch_string(ops) for ops in cells}
    assert len(strings) == 15_625
    assert all(parse_arch(arch_string(ops)) == ops for ops in cells)
    assert arch_string(parse_arch(EXAMPLE_ARCH)) == EXAMPLE_ARCH
    spec = space.parse(EXAMPLE_ARCH)
    assert spec == {"family": "nb201", "arch": EXAMPLE_ARCH, "cells_per_stage": 5, "widths": [16, 32, 64]}
    params = space.params_of(EXAMPLE_ARCH)
    assert params["edge_2_1"] == "avg_pool_3x3" and params["edge_3_2"] == "skip_connect"
    assert space.sample(optuna.trial.FixedTrial(params)) == spec


@pytest.mark.parametrize(
    ("arch", "message"),
    [
        ("|nor_conv_3x3~0|+|none~0|none~1|", "3 nodes"),
        ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown NB201 operation 'conv'"),
        ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "edge 1<-0"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2"),
    ],
)
def test_nb201_rejects_bad_arch_strings(arch: str, message: str) -> None:
    with pytest.raises(SpaceError, match=message):
        get_space("nb201").params_of(arch)


def test_nb201_cell_of_none_edges_still_builds_and_runs(digits: Dataset) -> None:
    space = get_space("nb201")
    spec = space.parse(arch_string(["none"] * 6))
    model = space.build(spec, 1, 10, (16, 16)).eval()
    with torch.no_grad():
        logits = model(digits.train_x[:4])  # (4, 10)
    # Cells output zeros, so every image gets the same logits (the skeleton still runs).
    assert torch.isfinite(logits).all() and torch.allclose(logits, logits[:1].expand_as(logits))
    sgd_step(model, digits)


def test_nb201_space_restricting_edges() -> None:
    space = space_from_definition(
        {
            "family": "nb201",
            "cells_per_stage": 1,
            "widths": [8, 16],
            "params": {"ops": ["skip_connect", "nor_conv_3x3"], "edge_3_0": "none"},
        },
        "small",
    )
    assert space.size() == 2**5
    spec, params = sampled_specs(space, 1)[0]
    assert "edge_3_0" not in params and parse_arch(spec["arch"])[3] == "none"
    with pytest.raises(SpaceError, match=r"edge_3_0='skip_connect'.*allowed: none"):
        space.validate({**spec, "arch": arch_string(["skip_connect"] * 6)})
    with pytest.raises(SpaceError, match=r"widths=\[16, 32, 64\].*allowed: \[8, 16\]"):
        space.validate({**spec, "widths": [16, 32, 64]})


@pytest.mark.parametrize(
    ("params", "connected"),
    [
        ({"ops": ["none"]}, False),
        ({"ops": ["skip_connect", "none"], "edge_1_0": "none", "edge_2_0": "none", "edge_3_0": "none"}, False),  # node 0 cut off
        ({"ops": ["none"], "edge_2_0": "avg_pool_3x3", "edge_3_2": "skip_connect"}, True),  # one path: 0 -> 2 -> 3
        ({"ops": ["none"], "edge_3_0": ["none", "nor_conv_1x1"]}, True),  # some members connect
    ],
)
def test_an_nb201_space_whose_every_cell_is_cut_is_refused(params: dict[str, Any], connected: bool) -> None:
    definition = {"family": "nb201", "cells_per_stage": 1, "widths": [8, 16], "params": params}
    if connected:
        assert (space_from_definition(definition, "s").size() or 0) >= 1
    else:
        with pytest.raises(SpaceError, match=r"no architecture of this space connects a cell's input to its output"):
            space_from_definition(definition, "s")


def test_macro_specs_are_conditional() -> None:
    space = get_space("macro")
    for spec, params in sampled_specs(space, 10):
        n = len(spec["stages"])
        assert params["num_stages"] == n and f"stage{n - 1}_width" in params and f"stage{n}_width" not in params
    spec = {"family": "macro", "stages": [{"depth": 1, "width": 16, "kernel": 7}], "residual": True, "activation": "relu"}
    with pytest.raises(SpaceError, match=r"stage0_kernel=7 .*allowed: 3, 5"):
        space.validate(spec)
    with pytest.raises(SpaceError, match="'stages' must be a list"):
        space.validate({**spec, "stages": [{"depth": 1}]})


def test_build_model_dispatches_on_family(digits: Dataset) -> None:
    for name in ("convnet720", "nb201", "macro"):
        spec, _ = sampled_specs(get_space(name), 1)[0]
        model = build_model(spec, 1, 10, (16, 16))
        assert model(digits.train_x[:2]).shape == (2, 10)
    with pytest.raises(SpaceError, match="unknown model family 'resnet'; known: convnet, macro, nb201"):
        build_model({"family": "resnet"}, 1, 10, (16, 16))
    with pytest.raises(SpaceError, match="key 'family' must name a model family"):
        build_model({"depth": 3}, 1, 10, (16, 16))


def test_unknown_space_name_lists_the_known_ones() -> None:
    with pytest.raises(
        UnknownNameError,
        match=r"unknown search space 'convnet72'; known: convnet-cpu, convnet-small, convnet720, macro, nb201.*Did you mean 'convnet720'\?",
    ):
        get_space("convnet72")


def test_user_toml_file_end_to_end(tmp_path: Path, digits: Dataset) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text('family = "convnet"\n[params]\ndepth = [1, 2]\nwidth = [16, 32]\nnormalization = ["batchnorm", "none"]\n')
    space = get_space(str(path))
    assert space.name == "tiny" and space.size() == 8
    assert space.describe()["fixed"] == {"activation": "relu", "pooling": "avgpooling"}
    specs = sampled_specs(space, 3, seed=1)
    for spec, params in specs:
        assert (
            space.sample(optuna.trial.FixedTrial(space.params_of(spec))) == spec == get_space(path).sample(optuna.trial.FixedTrial(params))
        )
    sgd_step(space.build(specs[0][0], 1, 10, (16, 16)), digits)


def test_user_json_file(tmp_path: Path) -> None:
    path = tmp_path / "cells.json"
    path.write_text(json.dumps({"name": "two-op cells", "family": "nb201", "widths": [8], "params": {"ops": ["none", "skip_connect"]}}))
    space = get_space(path)
    assert space.name == "two-op cells" and space.size() == 64


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('family = "convnet"\ncolour = "red"\n', "unknown top-level key for family convnet 'colour'"),
        ('family = "convnet"\n[params]\ndepht = [1, 2]\n', "unknown convnet parameter 'depht'.*Did you mean 'depth'"),
        ('family = "convnet"\n[params]\ndepth = ["1", "2"]\n', "parameter 'depth': each choice must be an integer, got '1'"),
        ('family = "convnet"\n[params]\nwidth = []\n', "parameter 'width' has an empty choice list"),
        (
            'family = "convnet"\n[params]\npooling = ["avg"]\n',
            "parameter 'pooling': each choice must be one of none, maxpooling, avgpooling",
        ),
        ('family = "convnet"\n[params]\ndepth = [2, 2]\n', "parameter 'depth' repeats a choice"),
        ('family = "convnet"\nparams = [1]\n', "key 'params' must be a table"),
        ('family = "resnet"\n', "key 'family': unknown model family 'resnet'; known: convnet, macro, nb201"),
        ("[params]\ndepth = [1]\n", "key 'family' is required"),
        ('family = "nb201"\nwidths = []\n', "setting 'widths' must be a non-empty list"),
        ('family = "nb201"\ncells_per_stage = 0\n', "setting 'cells_per_stage' must be >= 1"),
        ('family = "macro"\n[params]\nresidual = ["yes"]\n', "parameter 'residual': each choice must be true or false"),
        ('family = "convnet\n', "not valid TOML"),
    ],
)
def test_malformed_space_files_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SpaceError, match=message) as info:
        get_space(str(path))
    assert str(info.value).startswith(f"search space file {path}: ") and "\n" not in str(info.value)


def test_missing_or_misnamed_space_file(tmp_path: Path) -> None:
    with pytest.raises(SpaceError, match=r"search space file .*absent\.toml does not exist"):
        get_space(str(tmp_path / "absent.toml"))
    with pytest.raises(SpaceError, match=r"must end in \.toml or \.json"):
        get_space(tmp_path / "space.yaml")
