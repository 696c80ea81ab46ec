"""The columns of correlate's results.csv that are its own, beside one column per proxy named as the proxy.

Here, low in the layers, so that correlate writes and checks them, and the proxy registries (which may not import
correlate) keep their names free, from this one list: before stop 54 each kept its own copy, held equal by a test."""

from __future__ import annotations

# column -> what it holds, in results.csv's order (correlate.runner._rows, report.render.write_reports)
RESULT_COLUMNS = {
    "arch_id": "the architecture's id",
    "dataset": "the data a row was measured on",  # groundtruth.tables.DATASET, the ground-truth tables' column
    "spec": "the architecture",
    "truth": "the ground truth's test accuracy",
    "truth_given": "whether the ground truth was given, not trained",
    "params": "the network's parameters",
    "flops": "the network's FLOPs",
    "truth_seconds": "the ground truth's training seconds",
    "truth_seed2": "the ground truth of a second seed",
    "truth_val": "the ground truth's validation accuracy",
}
# those the zero-cost proxy of the same name measures as the column does (the network's size, counted as its training
# counts it): its column is that column, so a proxy may take these names
MEASURED = ("params", "flops")
# the names no proxy may take: its scores would overwrite the column
TAKEN = {name: what for name, what in RESULT_COLUMNS.items() if name not in MEASURED}

__all__ = ["MEASURED", "RESULT_COLUMNS", "TAKEN"]
