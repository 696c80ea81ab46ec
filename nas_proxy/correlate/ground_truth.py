"""Ground truth: architectures trained on the real training split, scored on the real test set.

The trainings are the trials of their own Optuna study (a study kind, see
:mod:`nas_proxy.search.trainings`), one enqueued trial per (architecture, seed), so that any number
of workers on any number of machines share them (``nasproxy worker`` joins a ground-truth study as
it joins a search), finished trainings are cached in the storage and reused by every later report
with the same protocol, and an interrupted run resumes.

The same training records its validation accuracy after a fraction of the first epochs: the
early-stopping proxy, scored like every other proxy on the validation split, at no extra training.
"""

from __future__ import annotations

from nas_proxy.search.trainings import TrainingStudy
from nas_proxy.studies.queue import MAX_FAILURES, enqueue, failures, key_of, results
from nas_proxy.studies.trials import fail_dead_trials
from nas_proxy.trainers.fulldata import DataRef, GroundTruthConfig, RealData, train_one

GROUND_TRUTH = TrainingStudy(kind="groundtruth", attr="nasproxy_groundtruth", value="test_accuracy", label="ground truth")
study_name = GROUND_TRUTH.study_name
open_study = GROUND_TRUTH.open
run_worker = GROUND_TRUTH.run_worker
train = GROUND_TRUTH.train


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
    "study_name",
    "train",
    "train_one",
]
