"""The registry of study kinds: what a study's trials are, and how a worker joins one.

A study records its kind in the user attribute :data:`KIND_ATTR`; ``nasproxy worker`` reads it and
hands the study to that kind's :attr:`StudyKind.work`. A kind is one file: the module
``nas_proxy/study_kinds/<name>.py``, which registers it (:func:`register`) and is imported the first
time a study of that kind is joined, so this layer imports none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from nas_proxy.errors import NasProxyError
from nas_proxy.registry import Registry
from nas_proxy.studies.storage import GRACE_SECONDS, HEARTBEAT_SECONDS, Storage

if TYPE_CHECKING:  # the command line reads the heartbeat defaults without importing Optuna
    import optuna


KIND_ATTR = "nasproxy_kind"  # study user attribute: the name of the study's kind
# studies made before KIND_ATTR existed: the user attribute that held their settings -> their kind
LEGACY = {"nasproxy_groundtruth": "groundtruth", "nasproxy": "search"}


class StudyNotFoundError(NasProxyError):
    """A worker or dashboard named a study the storage does not hold, or one nasproxy did not make."""


@dataclass
class WorkerOptions:
    """What one worker process is told besides the study: where things are on its machine, how long to run."""

    n_trials: int | None = None  # a search: stop when this many trials count (None: the last search's budget)
    timeout: float | None = None  # seconds after which no new trial is started (None: no limit)
    worker_index: int = 0  # offsets the sampler's seed: distinct per worker of one run
    synthetic: str | None = None  # a search's synthetic set at another path on this machine (checked by hash)
    device: str | None = None  # None: the study's device
    progress: bool = False  # progress bar and one line per failed trial on stderr (the CLI asks; library calls are silent)
    data_root: str | None = None  # the real data on this machine, if not where the study's machine had it
    heartbeat: tuple[int, int] = (HEARTBEAT_SECONDS, GRACE_SECONDS)  # heartbeats' interval, grace (s): a database's, a journal's

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WorkerOptions:
        return cls(**{**d, "heartbeat": tuple(d.get("heartbeat", (HEARTBEAT_SECONDS, GRACE_SECONDS)))})


@dataclass(frozen=True)
class StudyKind:
    """One kind of study. ``work(study, storage, options)`` runs this process as one of the
    study's workers until there is nothing left for it to do (other workers may share the study);
    ``storage`` is the one ``study`` was loaded from, opened once in this process."""

    name: str
    work: Callable[[optuna.Study, Storage, WorkerOptions], None]
    description: str = ""


# name -> kind; the kind "x" is registered by the module nas_proxy.study_kinds.x (imported on the first get)
KINDS: Registry[StudyKind] = Registry("study kind", package="nas_proxy.study_kinds", error=StudyNotFoundError)


def register(kind: StudyKind) -> StudyKind:
    """Add ``kind`` to the registry (its module in ``nas_proxy/study_kinds/`` calls this); returns it."""
    return KINDS.add(kind.name, kind)


def get(name: str) -> StudyKind:
    """The kind ``name``, importing its module first; a :class:`StudyNotFoundError` listing the known kinds."""
    return KINDS.get(name)


def kind_of(study: optuna.Study) -> str | None:
    """The kind ``study`` records (or recorded before :data:`KIND_ATTR` existed); None: not made by nasproxy."""
    attrs = study.user_attrs
    if KIND_ATTR in attrs:
        return str(attrs[KIND_ATTR])
    return next((kind for attr, kind in LEGACY.items() if attr in attrs), None)


def mark(study: optuna.Study, name: str) -> None:
    """Record that ``study`` is of kind ``name`` (when it is created)."""
    if study.user_attrs.get(KIND_ATTR) != name:
        study.set_user_attr(KIND_ATTR, name)


__all__ = ["KINDS", "KIND_ATTR", "StudyKind", "StudyNotFoundError", "WorkerOptions", "get", "kind_of", "mark", "register"]
