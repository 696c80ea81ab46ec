"""Model families: the ConvNet of dataset distillation (search spaces add more)."""

from typing import TYPE_CHECKING

from nas_proxy import lazy

if TYPE_CHECKING:
    from nas_proxy.models.convnet import ConvNet
    from nas_proxy.models.convnet_spec import SPACE_720, ConvNetSpec, space_720

lazy.exports(
    __name__,
    {
        "nas_proxy.models.convnet": ["ConvNet"],
        "nas_proxy.models.convnet_spec": ["SPACE_720", "ConvNetSpec", "space_720"],
    },
)

__all__ = ["SPACE_720", "ConvNet", "ConvNetSpec", "space_720"]
