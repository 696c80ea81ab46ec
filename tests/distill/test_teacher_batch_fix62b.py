"""fix62b: the soft-label teachers' record says the batch they trained with. Their protocol's batch is TrainConfig's 256
(not a setting: capped quietly, as every default), and ``--teacher-images 200`` trains them with batch 199 (its images: a stated subset rounds per class); before,
meta.json's ``soft_labels.protocol`` said 256 and nothing said 199."""

from __future__ import annotations

from pathlib import Path

from nas_proxy.distill.soft_labels import SoftLabelConfig, add_soft_labels
from nas_proxy.synthetic import load_synthetic


def test_the_teachers_record_says_the_batch_used(tiny_run: Path, tmp_path: Path) -> None:
    config = SoftLabelConfig(teachers=2, space="convnet-small", epochs=4, images=200)
    add_soft_labels(tiny_run, config, out=tmp_path / "soft", device="cpu")
    record = load_synthetic(tmp_path / "soft").meta["soft_labels"]
    assert record["train_images"] < 256 == record["protocol"]["batch_size"]  # 199: a stated subset rounds per class
    assert record["protocol"]["batch_used"] == record["train_images"]
