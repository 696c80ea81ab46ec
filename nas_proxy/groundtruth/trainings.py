"""Studies of full-data trainings: a kind of queued-training study (:mod:`nas_proxy.studies.queue`)
whose trials train architectures on the real training split with one protocol.

Two kinds are made of it: ``correlate``'s ground truth (scored on the test set) and ``search
--promote`` (scored on the validation split). A study's name carries its data and protocol, so the
same (architecture, seed) is never trained twice with the same protocol, by any run on any machine
sharing the storage.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import TrialState

from nas_proxy.data import load_dataset
from nas_proxy.data.base import data_changed
from nas_proxy.errors import NasProxyError
from nas_proxy.protocols import resolve_root
from nas_proxy.spaces import Spec
from nas_proxy.studies import kinds, queue
from nas_proxy.studies.kinds import WorkerOptions
from nas_proxy.studies.repair import fail_dead_trials
from nas_proxy.studies.spec_attrs import spec_from_attrs
from nas_proxy.studies.storage import Storage, maximizing_study
from nas_proxy.trainers.fulldata import DataRef, GroundTruthConfig, RealData, cache_name, images_trained, ready_to_count, train_one
from nas_proxy.utils import resolve_device


@dataclass(frozen=True)
class TrainingStudy:
    """One kind of full-data training study."""

    kind: str  # its name in the study-kind registry, and the prefix of its studies' names
    attr: str  # the study user attribute holding the data and the protocol
    value: str  # the trial's value: "test_accuracy" or "val_accuracy" (then the test split is never loaded)
    label: str  # how progress and failures name a training

    def study_name(self, data: DataRef, config: GroundTruthConfig) -> str:
        """One study per dataset, split and protocol: the cache key of every training in it."""
        return cache_name(self.kind, data, config)

    def open(self, storage: Storage, data: DataRef, config: GroundTruthConfig) -> optuna.Study:
        """The study of this data and protocol in ``storage`` (created when missing)."""
        name = self.study_name(data, config)
        # read before the study is made: data that cannot be read leave no empty study behind (review51)
        dataset = load_dataset(data.dataset, data.data_root, image_size=data.image_size)
        study = maximizing_study(storage.backend, name)
        if self.attr not in study.user_attrs:  # its name holds no pixel: the data's content is recorded, and checked
            data_attrs = {
                **data.key(),
                "data_root": data.data_root,
                "image_size": data.image_size,
                "content_sha256": dataset.content_sha256(),
            }
            study.set_user_attr(self.attr, {"data": data_attrs, "protocol": config.to_dict()})
        self.check_content(study, storage, dataset.describe())
        if "batch_used" not in (stored := study.user_attrs[self.attr]):  # what its trainings step with (fix62b; said by the
            # command, checks.batch): the protocol's batch capped to their training images; a study made before gets it now
            study.set_user_attr(self.attr, {**stored, "batch_used": min(config.batch_size, images_trained(dataset, data, config))})
        kinds.mark(study, self.kind)
        name_objective(study, self.value)
        fail_dead_trials(study, storage.backend)  # trainings whose process died here: failed and re-queued before counting
        return study

    def run_worker(
        self,
        study: optuna.Study,
        storage: Storage,
        device: str = "auto",
        progress: bool = False,  # the library is silent unless asked; the CLI asks
        data_root: str | None = None,
    ) -> None:
        """Train queued architectures of ``study`` (in ``storage``) until the queue is empty (several
        workers may share it); the trainings of workers found dead (after the heartbeat grace period
        ``storage`` was opened with, for database storages) are re-queued and trained too."""
        stored = study.user_attrs[self.attr]
        config = GroundTruthConfig.from_dict(stored["protocol"])
        fail_dead_trials(study, storage.backend)
        if not queue.waiting(study):
            return
        data = RealData(_stored_data(stored["data"], data_root), config, resolve_device(device), test=self.value == "test_accuracy")
        self.check_content(study, storage, data.described)  # a worker elsewhere may read another copy of the data
        ready_to_count(_queued_specs(study))  # every training counts FLOPs: a user's family's first count here, not in it
        objective = queue.objective(lambda spec, seed: train_one(spec, seed, data, config), self.value, {"device": str(data.device)})
        queue.work(study, storage.backend, objective, self.label, progress)

    def check_content(self, study: optuna.Study, storage: Storage, described: dict[str, Any]) -> None:
        """Refuse the data ``described`` (``Dataset.describe()``) for ``study`` when the study recorded another
        content_sha256: its trainings were made from other images (changed in place since, or another copy under
        --data-root) and must not be mixed with new ones. Before branch fix50e they were, without a word; hours
        of trainings are not thrown away either: the user says which. A study made before records none: as before.
        A :class:`~nas_proxy.errors.DataChangedError` (an ArtifactError, exit 2 as before stop 51)."""
        changed = data_changed(
            f"the {self.label} study {study.study_name} in {storage.url} was trained on",
            study.user_attrs[self.attr]["data"].get("content_sha256"),
            described["content_sha256"],
            described["name"],
            described["source"],
            otherwise="another storage to train it again (correlate: --gt-storage)",
        )
        if changed is not None:
            raise changed

    def train(self, study: optuna.Study, storage: Storage, wanted: queue.Wanted, workers: int, device: str, progress: bool) -> None:
        """Train what ``wanted`` lacks in ``study`` (in ``storage``) with ``workers`` processes on this
        machine, and wait for what other workers are training."""
        options = WorkerOptions(device=device, progress=False)
        queue.train_all(
            study, storage, wanted, workers, options, lambda: self.run_worker(study, storage, device, progress), self.label, progress
        )

    def work(self, study: optuna.Study, storage: Storage, options: WorkerOptions) -> None:
        """``nasproxy worker`` on a study of this kind (``storage`` opened with the worker's heartbeat)."""
        self.run_worker(study, storage, options.device or "auto", options.progress, options.data_root)

    def register(self, description: str) -> None:
        """Register this kind (its module in ``nas_proxy/study_kinds/`` calls this once)."""
        kinds.register(kinds.StudyKind(self.kind, self.work, description))


def name_objective(study: optuna.Study, name: str) -> None:
    """Name the study's objective (the dashboard shows "Objective 0" otherwise)."""
    if study.metric_names != [name]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([name])


def _queued_specs(study: optuna.Study) -> list[Spec]:
    """The specs of ``study``'s queued trainings (one whose attributes give none, or were edited, fails as it runs)."""
    specs = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        try:
            spec = spec_from_attrs(t.user_attrs, t.number)
        except NasProxyError:
            continue
        if isinstance(spec, dict):
            specs.append(spec)
    return specs


def _stored_data(d: dict[str, Any], data_root: str | None) -> DataRef:
    """The :class:`DataRef` a study stored (``data_root``: where the data is on this machine)."""
    return DataRef(
        d["dataset"],
        int(d["split_seed"]),
        float(d["val_fraction"]),
        resolve_root(d["dataset"], data_root, d.get("data_root")),
        int(d.get("image_size", 32)),
    )


__all__ = ["TrainingStudy"]
