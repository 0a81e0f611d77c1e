"""The project name, hook markers and plugin-API version every plugin module refers to."""

import pluggy

PROJECT_NAME = "flowkit"
"""The pluggy project name and the entry-point group."""

PLUGIN_API_VERSION = 1
"""The plugin-API version this flowkit implements; plugins declare the one they target."""

SUPPORTED_PLUGIN_APIS = frozenset({1})
"""Plugin-API versions this flowkit accepts."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
"""Marks a hook specification (flowkit's own ``spec`` module)."""

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marks a plugin's hook implementation, e.g. ``@hookimpl def flowkit_register(registry): ...``."""
