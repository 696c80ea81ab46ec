"""Datasets: the registry, image folders, augmentation, synthetic-set files."""
