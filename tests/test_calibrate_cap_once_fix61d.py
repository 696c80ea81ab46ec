"""fix61d: a calibration scores every protocol it samples with a proxy context of its own; a batch size choice above
the set's images was capped and said at every protocol scored (11 lines in a 2-fold, 2-trial calibration of a set of 20
images with --batch-size-choices 64), where fix61a's rule says it once a command."""

from __future__ import annotations

import warnings
from pathlib import Path

import optuna

from nas_proxy.calibrate.protocol import Protocol, Scorer
from nas_proxy.checks import BatchCappedWarning
from nas_proxy.protocols import ProxyConfig
from nas_proxy.spaces import get_space
from nas_proxy.trainers.synthetic_set import ProxyContext


def test_a_calibration_says_a_capped_batch_choice_once(tiny_run: Path) -> None:
    ctx = ProxyContext.load(str(tiny_run), "cpu", ProxyConfig(), None)
    scorer = Scorer(optuna.create_study(), get_space("convnet-cpu"), {str(tiny_run): ctx}, 0, False)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for lr in (0.01, 0.05, 0.01):  # three protocols of the same capped batch
            scorer.scores(Protocol(str(tiny_run), ProxyConfig(epochs=1, lr=lr, batch_size=64)), [])
        scorer.scores(Protocol(str(tiny_run), ProxyConfig(epochs=1, batch_size=128)), [])  # another value: its own line
    said = [str(w.message) for w in seen if issubclass(w.category, BatchCappedWarning)]
    assert said == [
        f"proxy batch_size 64 is more than the 20 images of {tiny_run}: each step trains on all 20",
        f"proxy batch_size 128 is more than the 20 images of {tiny_run}: each step trains on all 20",
    ], said
