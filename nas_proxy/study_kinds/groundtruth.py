"""``groundtruth``: full-data trainings scored on the test set, correlate's ground truth (nas_proxy.correlate.ground_truth)."""

from nas_proxy.correlate.ground_truth import GROUND_TRUTH

GROUND_TRUTH.register("full-data trainings scored on the test set (correlate's ground truth)")
