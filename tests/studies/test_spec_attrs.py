"""A queued training's spec as scalar ``arch.*`` user attributes: every spec of every registered space
round-trips exactly, a spec the paths cannot carry keeps the JSON ``spec``, an edited attribute is
named, and a re-queued training carries its spec in the layout it had."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from nas_proxy.spaces import arch_id, canonical_json, get_space, space_names
from nas_proxy.studies.queue import enqueue, key_of, record_of
from nas_proxy.studies.repair import fail_dead_trials
from nas_proxy.studies.spec_attrs import JSON_ATTR, PREFIX, SpecAttrsError, spec_attrs, spec_from_attrs
from nas_proxy.studies.storage import open_storage
from tests.search.test_spaces import sampled_specs

optuna.logging.set_verbosity(optuna.logging.WARNING)
ENUMERATED = 1000  # spaces of at most this many specs are checked spec by spec, larger ones on samples


def every_spec(name: str) -> list[dict[str, Any]]:
    space = get_space(name)
    return space.specs(ENUMERATED) or [spec for spec, _ in sampled_specs(space, 60)]


@pytest.mark.parametrize("name", space_names())
def test_every_spec_of_every_space_round_trips_as_scalars(name: str) -> None:
    specs = every_spec(name)
    assert specs
    for spec in specs:
        attrs = spec_attrs(spec)
        assert attrs and all(k.startswith(PREFIX) for k in attrs), attrs  # never the JSON fallback for a space's spec
        assert all(v is None or isinstance(v, str | int | float) for v in attrs.values()), attrs
        back = spec_from_attrs({**attrs, "arch_id": arch_id(spec)})
        assert back is not None and canonical_json(back) == canonical_json(spec)  # types too: True is not 1


def test_lists_nested_objects_and_floats_round_trip_exactly() -> None:
    spec = {"family": "f", "rates": [0.1, 1e-300, -0.0], "blocks": [{"k": 3, "on": True}, {"k": 5, "on": False}], "n": 1, "x": 1.0}
    attrs = spec_attrs(spec)
    assert attrs[f"{PREFIX}blocks.1.k"] == 5 and attrs[f"{PREFIX}rates.0"] == 0.1
    assert canonical_json(spec_from_attrs(attrs) or {}) == canonical_json(spec)
    many = {"family": "f", "widths": list(range(12))}  # index 10 after 9, not after 1
    assert spec_from_attrs(spec_attrs(many)) == many


@pytest.mark.parametrize(
    "spec",
    [{"family": "f", "widths": []}, {"family": "f", "stage": {}}, {"family": "f", "a.b": 1}, {"family": "f", "m": {"0": 1}}],
)
def test_a_spec_the_paths_cannot_carry_keeps_the_json_attribute(spec: dict[str, Any]) -> None:
    assert spec_attrs(spec) == {JSON_ATTR: spec}
    assert spec_from_attrs({JSON_ATTR: spec}) == spec


def test_an_edited_attribute_is_named_not_trained() -> None:
    spec = get_space("convnet-small").specs(10)[0]  # type: ignore[index]
    attrs = {**spec_attrs(spec), "arch_id": arch_id(spec), f"{PREFIX}depth": 4}
    with pytest.raises(SpecAttrsError, match=r"trial 7's arch\.\* attributes give architecture .* recorded arch_id"):
        spec_from_attrs(attrs, 7)


def test_queued_trainings_carry_scalars_and_a_dead_workers_is_requeued_with_them(tmp_path: Path) -> None:
    storage, _ = open_storage(str(tmp_path / "journal.log"), "q")
    study = optuna.create_study(study_name="q", storage=storage, direction="maximize")
    new, old = (spec for spec, _ in sampled_specs(get_space("macro"), 2))
    enqueue(study, [(new, 0)], "macro")
    study.enqueue_trial({}, user_attrs={JSON_ATTR: old, "seed": 0, "arch_id": arch_id(old)})  # as a worker before queued it
    assert enqueue(study, [(new, 0), (old, 0)], "macro")["queued"] == 0  # both layouts known: nothing queued twice
    for _ in range(2):  # both taken by this process, whose objectives are not running: dead workers
        trial = study.ask()
        trial.set_user_attr("worker_host", socket.gethostname())
        trial.set_user_attr("worker_pid", os.getpid())
    assert len(fail_dead_trials(study, storage)) == 2
    requeued = study.get_trials(states=(TrialState.WAITING,))
    assert [key_of(t) for t in requeued] == [(arch_id(new), 0), (arch_id(old), 0)]
    assert not any(isinstance(v, dict | list) for v in requeued[0].user_attrs.values())  # still scalars
    assert requeued[1].user_attrs[JSON_ATTR] == old  # the old layout stays as it was
    assert [record_of(t.user_attrs)["spec"] for t in requeued] == [new, old]


def test_a_training_killed_while_recording_its_parameters_is_requeued_with_all_of_them(tmp_path: Path) -> None:
    """A worker killed after it recorded some of a queued spec's parameters (the drill's kill -9 at a journal
    line): the re-queued trial fixed only those, sampled the others anew and recorded parameters of another
    architecture than the spec it trained (drill38)."""
    storage, _ = open_storage(str(tmp_path / "journal.log"), "q")
    study = optuna.create_study(study_name="q", storage=storage, direction="maximize")
    spec = get_space("convnet-small").specs(10)[-1]  # type: ignore[index]
    enqueue(study, [(spec, 0)], "convnet-small")
    trial = study.ask()
    trial.set_user_attr("worker_host", socket.gethostname())
    trial.set_user_attr("worker_pid", os.getpid())
    full = get_space("convnet-small").params_of(spec)
    first = next(iter(full))
    trial.suggest_categorical(first, [full[first]])  # killed here: one parameter recorded of len(full)
    assert fail_dead_trials(study, storage) == [0]
    [requeued] = study.get_trials(states=(TrialState.WAITING,))
    assert requeued.system_attrs["fixed_params"] == full and len(full) > 1


def copy_in_old_layout(study: optuna.Study, storage: Path, untrained: int = 0, died: int = 0) -> optuna.Study:
    """Queued-training ``study`` copied into ``storage`` (its name and study attributes) as workers
    before scalar spec attributes wrote it: each trial's spec the JSON attribute ``spec``, its
    early-stopping scores one nested ``early`` dict. Of its complete trials, the first ``died`` are
    left RUNNING by a worker that died (this process, no longer running an objective), the next
    ``untrained`` queued and never taken (WAITING), the others complete."""
    opened, _ = open_storage(str(storage), study.study_name)
    old = optuna.create_study(study_name=study.study_name, storage=opened, direction="maximize")
    for key, value in study.user_attrs.items():
        old.set_user_attr(key, value)
    for i, t in enumerate(study.get_trials(states=(TrialState.COMPLETE,))):
        record = record_of(t.user_attrs)  # the spec and the nested early scores, as they were stored
        assert JSON_ATTR in record and not any(k.startswith(PREFIX) for k in record)
        queued = {k: record[k] for k in (JSON_ATTR, "seed", "arch_id", "space") if k in record}
        if i < died + untrained:
            old.enqueue_trial(t.params, user_attrs=queued)
            if i < died:
                trial = old.ask()
                trial.set_user_attr("worker_host", socket.gethostname())
                trial.set_user_attr("worker_pid", os.getpid())
        else:
            old.add_trial(optuna.trial.create_trial(params=t.params, distributions=t.distributions, value=t.value, user_attrs=record))
    return old
