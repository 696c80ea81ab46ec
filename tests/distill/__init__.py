"""Distillation: DataDAM and the other methods, selection, spaces of networks, sharded runs, soft labels."""
