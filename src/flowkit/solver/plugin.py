"""Registers the built-in solvers; loaded through flowkit's own ``flowkit`` entry point."""

from ..plugin import PLUGIN_API_VERSION, Registry, hookimpl
from .dopri5 import Dopri5
from .euler import Euler
from .rk4 import RK4

FLOWKIT_PLUGIN_API = PLUGIN_API_VERSION


@hookimpl
def flowkit_register(registry: Registry) -> None:
    registry.add_solver("euler", Euler)
    registry.add_solver("rk4", RK4)
    registry.add_solver("dopri5", Dopri5)
