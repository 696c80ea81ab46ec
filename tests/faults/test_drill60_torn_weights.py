"""A trained model's weights cut short (a write the disk lost), then the same ``train``: drill60 (benchmarks/RESULTS.md
§17g) cut ``m/model.safetensors`` at random offsets; the command trained it again and wrote it equal, exit 0, without
a word about the file it found torn (its model.pt torn is said: "already holds this training's weights ... writing
the rest"). Now a warning names the files that no longer matches the sha256 spec.json records."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from nas_proxy.configs import EmptyOutputWarning
from nas_proxy.search import winner
from nas_proxy.search.winner import SCRIPT, WEIGHTS, train_best
from tests.search.test_train_best import ONE, best_json, trained

__all__ = ["best_json", "trained"]  # the module's fixtures, shared with tests/search/test_train_best.py's


# drill tier: its module's own search and training (the fixtures are per module); make test drills the retraining itself
# (tests/search/test_train_best.py, tests/faults/test_drills.py), not what is said of it
@pytest.mark.drill
@pytest.mark.parametrize("name", [WEIGHTS, SCRIPT])
def test_a_file_of_a_finished_training_cut_short_is_written_again_and_said(
    name: str, best_json: Path, trained: tuple[winner.TrainedModel, Path], tmp_path: Path
) -> None:
    out = tmp_path / "model"
    shutil.copytree(trained[1], out)
    whole = (out / name).read_bytes()
    (out / name).write_bytes(whole[: len(whole) // 3])
    with pytest.warns(EmptyOutputWarning, match=rf"holds this training, but its {name} no longer matches the sha256 spec\.json records"):
        again = train_best(best_json, out, ONE)
    assert not again.reused and (out / WEIGHTS).read_bytes() == (trained[1] / WEIGHTS).read_bytes()
    assert again.spec["test_accuracy"] == trained[0].spec["test_accuracy"]
