"""The studies layer, shared by every kind of Optuna study nasproxy runs (proxy search, ground truth,
promotion): where studies are stored, which worker runs a trial, repairing trials whose worker died,
budgets, worker processes, and the registry of study kinds that ``nasproxy worker`` dispatches on.

It imports neither ``search`` nor ``correlate``: each kind is a module of ``nas_proxy.study_kinds``
that registers it (:func:`~nas_proxy.studies.kinds.register`), imported by name when first needed.
"""

from typing import TYPE_CHECKING

from nas_proxy import lazy

if TYPE_CHECKING:
    from nas_proxy.studies.budget import BUDGET_ATTR, counted, over_budget
    from nas_proxy.studies.guarded import recording_failure
    from nas_proxy.studies.identity import claim, worker_tag
    from nas_proxy.studies.kinds import (
        GRACE_SECONDS,
        HEARTBEAT_SECONDS,
        KIND_ATTR,
        StudyKind,
        StudyNotFoundError,
        WorkerOptions,
        kind_of,
        register,
    )
    from nas_proxy.studies.repair import fail_dead_trials
    from nas_proxy.studies.requeue import MAX_RETRY
    from nas_proxy.studies.storage import Storage, StorageError, open_storage, require_existing, study_dir
    from nas_proxy.studies.workers import join, load_study, worker_processes

lazy.exports(
    __name__,
    {
        "nas_proxy.studies.budget": ["BUDGET_ATTR", "counted", "over_budget"],
        "nas_proxy.studies.guarded": ["recording_failure"],
        "nas_proxy.studies.identity": ["claim", "worker_tag"],
        "nas_proxy.studies.kinds": [
            "GRACE_SECONDS",
            "HEARTBEAT_SECONDS",
            "KIND_ATTR",
            "StudyKind",
            "StudyNotFoundError",
            "WorkerOptions",
            "kind_of",
            "register",
        ],
        "nas_proxy.studies.repair": ["fail_dead_trials"],
        "nas_proxy.studies.requeue": ["MAX_RETRY"],
        "nas_proxy.studies.storage": ["Storage", "StorageError", "open_storage", "require_existing", "study_dir"],
        "nas_proxy.studies.workers": ["join", "load_study", "worker_processes"],
    },
)

__all__ = [
    "BUDGET_ATTR",
    "GRACE_SECONDS",
    "HEARTBEAT_SECONDS",
    "KIND_ATTR",
    "MAX_RETRY",
    "Storage",
    "StorageError",
    "StudyKind",
    "StudyNotFoundError",
    "WorkerOptions",
    "claim",
    "counted",
    "fail_dead_trials",
    "join",
    "kind_of",
    "load_study",
    "open_storage",
    "over_budget",
    "recording_failure",
    "register",
    "require_existing",
    "study_dir",
    "worker_processes",
    "worker_tag",
]
