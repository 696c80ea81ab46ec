"""Trainings that score one candidate: on a synthetic set (a search trial, a synthetic-set proxy)
and on the real training split (the ground truth, early stopping, promotion).

Below the proxy registry, which scores with them, and below the search, which calls the registry.
"""
