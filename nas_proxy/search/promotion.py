"""Promotion: after the proxy trials, the K best distinct candidates trained on real data.

``search --promote K`` trains the K best distinct architectures (by proxy score) on the real
training split for ``--promote-epochs`` epochs with the protocol ``--promote-protocol`` names
(:data:`~nas_proxy.protocols.TRAINING_PROTOCOLS`) and scores them on the validation split, never on
the test set (it chooses). The trainings are the trials of a promotion study (a study kind, see
:mod:`nas_proxy.groundtruth.trainings`) in the search's storage, so workers on any machine share them,
a training is never repeated for the same candidate, seed and protocol, and an interrupted run
resumes. The search's pick is then the promoted candidate with the best real validation accuracy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import optuna

from nas_proxy import checks
from nas_proxy.configs import SearchBudget
from nas_proxy.errors import InvalidArgumentError
from nas_proxy.groundtruth.trainings import TrainingStudy
from nas_proxy.protocols import DEFAULT_PROTOCOL, TRAINING_PROTOCOLS, resolve_root, training_protocol
from nas_proxy.search.config import SearchConfig, promotion_epochs
from nas_proxy.search.study import ATTR, ranked, spec_of, study_space, trial_summary
from nas_proxy.studies.queue import enqueue, failures, results
from nas_proxy.studies.storage import Storage
from nas_proxy.trainers.fulldata import DataRef

PROMOTION = TrainingStudy(kind="promotion", attr="nasproxy_promotion", value="val_accuracy", label="promotion")
DEFAULT_EPOCHS = promotion_epochs(None)  # the ground truth's protocol (benchmarks/RESULTS.md §5)


@dataclass
class Promotion:
    """What a promotion found: ``rows`` best by real validation accuracy first (failed ones last)."""

    study: str  # the promotion study (join it with `nasproxy worker --study STUDY`)
    epochs: int
    images: int | None  # training images of each promoted training (None: the whole training split)
    asked: int  # K of --promote K
    protocol: str  # the training protocol's name (TRAINING_PROTOCOLS)
    rows: list[dict[str, Any]] = field(default_factory=list)  # trial summary + proxy_rank, proxy_score, real_val_accuracy
    notes: list[str] = field(default_factory=list)  # what differs from what was asked
    seconds: float = 0.0  # wall time of the promotion, its trainings and their bookkeeping
    batch_used: int | None = None  # the protocol's batch capped to the training images (fix62b), as its study records

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def check(k: int, epochs: int, images: int | None = None, protocol: str | None = None) -> None:
    """Refuse a negative K (0: no promotion), epochs or images under 1, an unknown protocol (None: the
    default), before anything runs."""
    checks.number("--promote", k, 0, integer=True)
    checks.epochs("--promote-epochs", epochs)
    checks.number("--promote-images", images, 10, integer=True, optional=True)  # as the ground truth's --full-images
    if protocol is not None:
        checks.text("--promote-protocol", protocol, TRAINING_PROTOCOLS.names())


def check_used(k: int, epochs: int | None, images: int | None, ladder: str | None, protocol: str | None = None) -> None:
    """Refuse ``--promote-epochs``/``--promote-images``/``--promote-protocol`` given (not None) where
    nothing is trained on real data: no promotion (K = 0) and no ladder (whose ``full`` rung takes them)."""
    if k == 0 and ladder is None:
        for flag, value in (("--promote-epochs", epochs), ("--promote-images", images), ("--promote-protocol", protocol)):
            if value is not None:
                raise InvalidArgumentError(f"{flag} changes nothing without --promote K or a --ladder (its full rung): drop it")


def candidates(study: optuna.Study, k: int) -> list[optuna.trial.FrozenTrial]:
    """The ``k`` best complete trials by proxy score, one per architecture (a sampler may propose one twice)."""
    seen: set[str] = set()
    out = []
    for t in ranked(study):
        aid = t.user_attrs.get("arch_id")
        if aid is None or aid in seen:
            continue
        seen.add(aid)
        out.append(t)
        if len(out) == k:
            break
    return out


def promote(
    study: optuna.Study,
    storage: Storage,
    data: DataRef,
    seed: int,
    k: int,
    epochs: int = DEFAULT_EPOCHS,
    workers: int = SearchBudget.workers,
    device: str = SearchConfig.device,
    data_root: str | None = None,
    progress: bool = False,  # the library is silent unless asked; the CLI asks
    images: int | None = None,
    protocol: str | None = None,
) -> Promotion:
    """Train the ``k`` best distinct candidates of search ``study`` (in ``storage``, where the promotion study goes too) on the real data
    it searched on (``data``: its proxy's), with ``workers`` processes; what they scored.
    ``images``: train on this many images of the training split (a stated subset, as the ground
    truth's ``images``; None: all of it). ``protocol``: how each is trained, a name of
    :data:`~nas_proxy.protocols.TRAINING_PROTOCOLS` (None: the default, the ground truth's)."""
    check(k, epochs, images, protocol)
    t0 = time.perf_counter()
    picked = candidates(study, k)
    protocol = protocol or DEFAULT_PROTOCOL
    config = training_protocol(protocol, epochs, images)
    data = DataRef(data.dataset, data.split_seed, data.val_fraction, resolve_root(data.dataset, data_root, data.data_root), data.image_size)
    promotion_study = PROMOTION.open(storage, data, config)
    result = Promotion(promotion_study.study_name, epochs, images, k, protocol)
    result.batch_used = promotion_study.user_attrs[PROMOTION.attr].get("batch_used")  # said by the command (protocol_batch)
    if len(picked) < k:
        result.notes.append(
            f"--promote {k} asked for more candidates than the {len(picked)} distinct architectures the search completed: "
            f"all {len(picked)} were promoted (more --n-trials or a larger space give more)"
        )
    space = study_space(study)
    wanted = [(spec, seed) for t in picked if (spec := spec_of(t, space)) is not None]  # every candidate has one (its arch_id)
    enqueue(promotion_study, wanted, study.user_attrs.get(ATTR, {}).get("config", {}).get("space"))
    PROMOTION.train(promotion_study, storage, wanted, workers, device, progress)
    done, failed = results(promotion_study), failures(promotion_study)
    for rank, t in enumerate(picked, start=1):
        key = (str(t.user_attrs["arch_id"]), seed)
        row = {**trial_summary(t, space), "proxy_rank": rank, "proxy_score": (t.values or [None])[0], "real_val_accuracy": None}
        if key in done:
            row |= {"real_val_accuracy": float(done[key]["val_accuracy"]), "promotion_seconds": float(done[key]["train_seconds"])}
        else:
            result.notes.append(f"the promotion of {key[0]} failed ({failed.get(key, 'not trained')}); it is ranked by proxy only")
        result.rows.append(row)
    result.rows.sort(key=lambda r: (r["real_val_accuracy"] is None, -(r["real_val_accuracy"] or 0.0), r["proxy_rank"]))
    result.seconds = time.perf_counter() - t0
    return result


__all__ = ["DEFAULT_EPOCHS", "PROMOTION", "Promotion", "candidates", "check", "promote"]
