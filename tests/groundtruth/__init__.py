"""Ground truth: full-data trainings, promotion, evaluation on the test set."""
