"""Model families: the ConvNet of dataset distillation (search spaces add more)."""

from nas_proxy.models.convnet import SPACE_720, ConvNet, ConvNetSpec, space_720

__all__ = ["SPACE_720", "ConvNet", "ConvNetSpec", "space_720"]
