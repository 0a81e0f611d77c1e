"""The flowkit plugin: registers the paths and solvers through the ``flowkit`` entry point.

Importing this module registers nothing; flowkit calls ``flowkit_register``
when it loads the entry point named in this package's ``pyproject.toml``.
"""

from flowkit.plugin import Registry, hookimpl

from .adams import AdamsBashforth2, AdamsBashforth3
from .cosine import CosinePath
from .heun import Heun
from .midpoint import Midpoint
from .polynomial import PolynomialPath

FLOWKIT_PLUGIN_API = 1
"""The flowkit plugin-API version this plugin targets."""


@hookimpl
def flowkit_register(registry: Registry) -> None:
    registry.add_path("cosine", CosinePath)
    registry.add_path("polynomial", PolynomialPath)
    registry.add_solver("heun", Heun)
    registry.add_solver("midpoint", Midpoint)
    registry.add_solver("ab2", AdamsBashforth2)
    registry.add_solver("ab3", AdamsBashforth3)
