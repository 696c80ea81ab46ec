"""fix62b: correlate's report says the batch each synthetic-set proxy trained with, not the batch asked. Before, its
summary line of the synthetic-set proxies gave ``--batch-size`` (the default 256) while a set of 20 images trains with
batch 20 (fix61a's rule: capped to the set, the batch used recorded); each proxy's own description already said 20."""

from __future__ import annotations

from pathlib import Path

from nas_proxy.correlate.result import CorrelateResult
from nas_proxy.protocols import DataRef, ProxyConfig
from nas_proxy.proxies.base import RunSetup
from nas_proxy.proxies.synthetic import SyntheticSetProxy
from nas_proxy.report.render import markdown
from nas_proxy.spaces import get_space
from tests.correlate.test_correlate_report import facts

SET = 20  # tiny_run's images: 2 per class of digits' 10


def _summary(f: dict[str, object], tmp_path: Path) -> str:
    (line,) = [s for s in markdown(CorrelateResult(tmp_path, [], {}, [], f)).splitlines() if s.startswith("Synthetic-set proxies")]
    return line


def test_a_set_proxy_records_the_batch_it_trains_with(tiny_run: Path, tmp_path: Path) -> None:
    setup = RunSetup(space=get_space("convnet-small"), data=DataRef("digits"), out=tmp_path, synthetic=[str(tiny_run)], random_subset=False)
    (proxy,) = SyntheticSetProxy.offer(setup)
    proxy.prepare()
    assert setup.training.batch_size == ProxyConfig.batch_size > SET
    assert proxy.facts()["batch_used"] == SET  # the set read, not trained on: what its trainings step with
    small = SyntheticSetProxy.offer(RunSetup(setup.space, setup.data, tmp_path, ProxyConfig(batch_size=8), synthetic=[str(tiny_run)]))
    small[0].prepare()
    assert small[0].facts()["batch_used"] == 8


def test_the_summary_line_says_the_batch_used(tmp_path: Path) -> None:
    f = facts(3) | {"synthetic_batch": {"datadam-ipc2": SET}}
    line = _summary(f, tmp_path)
    assert f"batch {SET}," in line and "batch 256" not in line, line


def test_sets_of_different_batches_each_say_theirs(tmp_path: Path) -> None:
    f = facts(3) | {"synthetic": {"datadam-ipc2": "runs/tiny", "random-ipc20": "runs/big"}}
    f |= {"synthetic_batch": {"datadam-ipc2": SET, "random-ipc20": 200}}
    line = _summary(f, tmp_path)
    assert "datadam-ipc2 (`runs/tiny`, batch 20)" in line and "random-ipc20 (`runs/big`, batch 200)" in line, line
    assert "batch 256 capped to each set's images" in line, line


def test_a_result_recorded_before_says_the_batch_asked(tmp_path: Path) -> None:
    """results.json of a correlation made before fix62b has no batch used: its line stays as it was."""
    assert "batch 256," in _summary(facts(3), tmp_path)
