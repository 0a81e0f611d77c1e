"""Registers the built-in objectives; loaded through flowkit's own ``flowkit`` entry point."""

from ..plugin import PLUGIN_API_VERSION, Registry, hookimpl
from .cfm import CFM
from .fm import FM

FLOWKIT_PLUGIN_API = PLUGIN_API_VERSION


@hookimpl
def flowkit_register(registry: Registry) -> None:
    registry.add_objective("cfm", CFM)
    registry.add_objective("fm", FM)
