"""The module the entry point names: flowkit calls ``flowkit_register`` when it loads it.

Register each class under the name users will pass to ``flowkit.build``
(part of EDIT 3). Names are global: pick ones no other plugin uses.
"""

from flowkit.plugin import Registry, hookimpl

from .path import TemplatePath

FLOWKIT_PLUGIN_API = 1
"""The flowkit plugin-API version this plugin targets."""


@hookimpl
def flowkit_register(registry: Registry) -> None:
    registry.add_path("template-linear", TemplatePath)
    # registry.add_solver("my-solver", MySolver)
    # registry.add_objective("my-objective", MyObjective)
