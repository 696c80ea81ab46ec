"""fix62c: a ladder's ``full`` rung records the batch its trainings step with where a search's trials record theirs (the
trial's ``batch_size`` attribute, as rung 0's of a set records the batch capped to the set). fix62b made the command say
the full rung's protocol batch capped to ``--promote-images``; before fix62c its trials recorded nothing of it (the
ladder's study attribute records the protocol asked: ``fast``'s 512)."""

from __future__ import annotations

from pathlib import Path

import pytest
from optuna.trial import TrialState

from nas_proxy.checks import BatchCappedWarning
from nas_proxy.search import ProxyConfig, SearchConfig, search
from nas_proxy.search.ladder import LADDER_ATTR, rung_of
from tests.search.test_search import SMALL_SPACE, load


def test_an_upper_rungs_trials_record_the_batch_used(tmp_path: Path) -> None:
    training = ProxyConfig(epochs=1, report_images=120)  # rung 1 trains on 2 images a class: the default batch capped to 20
    ladder = "synflow:1.0,random-ipc2:1,full:1"
    config = SearchConfig(synthetic=None, space=SMALL_SPACE, device="cpu", proxy=training, pruner="none", dataset="digits", ladder=ladder)
    storage = tmp_path / "journal.log"
    with pytest.warns(BatchCappedWarning, match="512 is more than the 100 training images"):  # said once (fix62b)
        search(config, "b", 2, str(storage), promote_epochs=1, promote_images=100, promote_protocol="fast")
    study = load(storage, "b")
    done = [[t.user_attrs for t in study.trials if rung_of(t) == k and t.state == TrialState.COMPLETE] for k in (1, 2)]
    assert [(a.get("batch_size"), a.get("report_images")) for a in done[0]] == [(20, 120)]  # as rung 0's of a set would
    assert [a.get("batch_size") for a in done[1]] == [100]  # fast's 512 capped to the 100 images
    assert study.user_attrs[LADDER_ATTR]["full"]["batch_size"] == 512  # the protocol asked: the key a resumed run finds
