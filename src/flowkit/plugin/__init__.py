"""The plugin layer: hook markers, the hook specification, the registry and its manager.

A plugin is a module with a ``@hookimpl`` function ``flowkit_register(registry)``
and a ``FLOWKIT_PLUGIN_API`` constant, exposed through the entry-point group
``flowkit``. flowkit's own paths, solvers and objectives are registered that
way too.
"""

from .manager import LoadFailure as LoadFailure
from .manager import available as available
from .manager import failures as failures
from .manager import get_registry as get_registry
from .manager import register as register
from .manager import reload as reload
from .manager import unregister as unregister
from .markers import PLUGIN_API_VERSION as PLUGIN_API_VERSION
from .markers import PROJECT_NAME as PROJECT_NAME
from .markers import SUPPORTED_PLUGIN_APIS as SUPPORTED_PLUGIN_APIS
from .markers import hookimpl as hookimpl
from .markers import hookspec as hookspec
from .registry import BUILTIN_DISTRIBUTION as BUILTIN_DISTRIBUTION
from .registry import Clash as Clash
from .registry import Entry as Entry
from .registry import Registry as Registry
from .registry import Source as Source

__all__ = [
    "BUILTIN_DISTRIBUTION",
    "PLUGIN_API_VERSION",
    "PROJECT_NAME",
    "SUPPORTED_PLUGIN_APIS",
    "Clash",
    "Entry",
    "LoadFailure",
    "Registry",
    "Source",
    "available",
    "failures",
    "get_registry",
    "hookimpl",
    "hookspec",
    "register",
    "reload",
    "unregister",
]
