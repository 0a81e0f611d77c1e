"""Registers the built-in models; loaded through flowkit's own ``flowkit`` entry point."""

from ..plugin import PLUGIN_API_VERSION, Registry, hookimpl
from .mlp import MLPField
from .unet import UNetField

FLOWKIT_PLUGIN_API = PLUGIN_API_VERSION


@hookimpl
def flowkit_register(registry: Registry) -> None:
    registry.add_model("mlp", MLPField)
    registry.add_model("unet", UNetField)
