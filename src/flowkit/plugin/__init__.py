"""The plugin layer: hook markers, the hook specification, the registry and its manager.

A plugin is a module with a ``@hookimpl`` function ``flowkit_register(registry)``
and a ``FLOWKIT_PLUGIN_API`` constant, exposed through the entry-point group
``flowkit``. flowkit's own paths, solvers and objectives are registered that
way too.
"""

import pluggy

PROJECT_NAME = "flowkit"
"""The pluggy project name and the entry-point group."""

PLUGIN_API_VERSION = 1
"""The plugin-API version this flowkit implements; plugins declare the one they target."""

SUPPORTED_PLUGIN_APIS = frozenset({1})
"""Plugin-API versions this flowkit accepts."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

from .registry import Entry as Entry  # noqa: E402
from .registry import Registry as Registry  # noqa: E402
from .registry import Source as Source  # noqa: E402
from .manager import LoadFailure as LoadFailure  # noqa: E402
from .manager import available as available  # noqa: E402
from .manager import failures as failures  # noqa: E402
from .manager import get_registry as get_registry  # noqa: E402
from .manager import register as register  # noqa: E402
from .manager import reload as reload  # noqa: E402
from .manager import unregister as unregister  # noqa: E402

__all__ = [
    "PLUGIN_API_VERSION",
    "PROJECT_NAME",
    "SUPPORTED_PLUGIN_APIS",
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
