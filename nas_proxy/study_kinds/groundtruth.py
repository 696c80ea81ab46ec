"""``groundtruth``: full-data trainings scored on the test set, correlate's ground truth (nas_proxy.groundtruth.study)."""

from nas_proxy.groundtruth.study import GROUND_TRUTH

GROUND_TRUTH.register("full-data trainings scored on the test set (correlate's ground truth)")
