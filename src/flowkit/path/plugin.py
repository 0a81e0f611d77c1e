"""Registers the built-in paths; loaded through flowkit's own ``flowkit`` entry point."""

from ..plugin import PLUGIN_API_VERSION, Registry, hookimpl
from .gaussian import GaussianPath
from .ot import OTPath
from .ve import VEPath
from .vp import VPPath

FLOWKIT_PLUGIN_API = PLUGIN_API_VERSION


@hookimpl
def flowkit_register(registry: Registry) -> None:
    registry.add_path("ot", OTPath)
    registry.add_path("vp", VPPath)
    registry.add_path("ve", VEPath)
    registry.add_path("gaussian", GaussianPath)
