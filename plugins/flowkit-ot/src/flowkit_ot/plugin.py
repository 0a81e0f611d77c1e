"""The flowkit plugin: registers ``ot-cfm`` through the ``flowkit`` entry point.

Importing this module registers nothing; flowkit calls ``flowkit_register``
when it loads the entry point named in this package's ``pyproject.toml``.
"""

from flowkit.plugin import Registry, hookimpl

from .objective import OTCFM

FLOWKIT_PLUGIN_API = 1
"""The flowkit plugin-API version this plugin targets."""


@hookimpl
def flowkit_register(registry: Registry) -> None:
    registry.add_objective("ot-cfm", OTCFM)
