"""Datasets: loading by name, normalisation and the seeded validation split."""

from nas_proxy.data.base import Dataset, Splits, stratified_split
from nas_proxy.data.registry import DATASETS, DataOptions, dataset_kind, dataset_names, load_dataset, output_outside

__all__ = [
    "DATASETS",
    "DataOptions",
    "Dataset",
    "Splits",
    "dataset_kind",
    "dataset_names",
    "load_dataset",
    "output_outside",
    "stratified_split",
]
