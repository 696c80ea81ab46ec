"""Ground truth: architectures trained on the real training split, scored on the real test set.

The trainings are the trials of their own Optuna study (a study kind, see
:mod:`nas_proxy.groundtruth.trainings`), one enqueued trial per (architecture, seed), so that any number
of workers on any number of machines share them (``nasproxy worker`` joins a ground-truth study as
it joins a search), finished trainings are cached in the storage and reused by every later report
with the same protocol, and an interrupted run resumes.

The same training records its validation accuracy after a fraction of the first epochs: the
early-stopping proxy, scored like every other proxy on the validation split, at no extra training.

The ground truth of a search's correlation (``correlate --study``, ``nasproxy run``) goes into the
search's own storage (:func:`storage_beside`), beside the search and its promotion, so that one
dashboard shows the whole run; without a search, into a journal of its own under ``studies/``.
"""

from __future__ import annotations

from pathlib import Path

import optuna

from nas_proxy.groundtruth.trainings import TrainingStudy
from nas_proxy.studies.queue import MAX_FAILURES, enqueue, failures, key_of, results
from nas_proxy.studies.repair import fail_dead_trials
from nas_proxy.studies.storage import Storage, default_storage_url, open_storage
from nas_proxy.trainers.fulldata import DataRef, GroundTruthConfig, RealData, train_one

GROUND_TRUTH = TrainingStudy(kind="groundtruth", attr="nasproxy_groundtruth", value="test_accuracy", label="ground truth")
study_name = GROUND_TRUTH.study_name
open_study = GROUND_TRUTH.open
run_worker = GROUND_TRUTH.run_worker
train = GROUND_TRUTH.train


def storage_beside(search: Storage, data: DataRef, config: GroundTruthConfig) -> Storage:
    """Where the ground truth of a search (in storage ``search``) goes when no storage is given:
    the search's own storage, so that one dashboard shows the search, its promotion and its ground
    truth. A ground truth of this data and protocol that an earlier version kept in its own journal
    (``studies/<its name>/journal.log``) stays there, so that its trainings are reused, unless the search's
    storage holds it already: before drill50 a finished ``run`` whose ground truth was in its search's storage,
    run again after any ``correlate`` of the same protocol in its folder (which keeps its ground truth in that
    journal), trained its whole ground truth again there."""
    name = study_name(data, config)
    own = default_storage_url(name)
    if _holds(search, name):
        return search
    if Path(own).is_file():
        storage = open_storage(own, name)
        if name in {s.study_name for s in optuna.get_all_study_summaries(storage.backend, include_best_trial=False)}:
            return storage
    return search


def _holds(storage: Storage, name: str) -> bool:
    """Whether ``storage`` holds study ``name`` with a trial (an empty study, made by a run killed before it queued
    its trainings, holds none to reuse)."""
    summaries = optuna.get_all_study_summaries(storage.backend, include_best_trial=False)
    return any(s.study_name == name and s.n_trials > 0 for s in summaries)


__all__ = [
    "MAX_FAILURES",
    "DataRef",
    "GroundTruthConfig",
    "RealData",
    "enqueue",
    "fail_dead_trials",
    "failures",
    "key_of",
    "open_study",
    "results",
    "run_worker",
    "storage_beside",
    "study_name",
    "train",
    "train_one",
]
