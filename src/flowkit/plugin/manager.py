"""Discovers plugins through entry points and fills the registry.

Environment variables (read when the registry is first built, or on
[`reload`][flowkit.plugin.reload]):

- ``FLOWKIT_DISABLE_PLUGIN_AUTOLOAD=1``: load only flowkit's own entry points,
  no third-party package.
- ``FLOWKIT_BLOCK_PLUGINS=name,other``: skip the entry points, modules or
  distributions so named.
"""

import importlib.metadata as metadata
import os
import warnings
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pluggy

from ..errors import DuplicateNameError
from . import spec
from .markers import PLUGIN_API_VERSION, PROJECT_NAME, SUPPORTED_PLUGIN_APIS
from .registry import Entry, Registry, Source

_BUILTIN_DISTRIBUTION = "flowkit"


@dataclass(frozen=True)
class LoadFailure:
    """A plugin that was found but not loaded, and why."""

    plugin: str
    distribution: str | None
    reason: str


_manager: pluggy.PluginManager | None = None
_sources: dict[str, Source] = {}
_failures: list[LoadFailure] = []  # found but not loaded (import, API version)
_hook_failures: list[LoadFailure] = []  # loaded, but their hook raised on the last build
_registry: Registry | None = None


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _blocked() -> set[str]:
    return {s.strip() for s in os.environ.get("FLOWKIT_BLOCK_PLUGINS", "").split(",") if s.strip()}


def _fail(plugin: str, distribution: str | None, reason: str, into: list[LoadFailure] = _failures) -> None:
    into.append(LoadFailure(plugin, distribution, reason))
    where = f" (from {distribution})" if distribution else ""
    warnings.warn(f"flowkit plugin {plugin!r}{where} was not loaded: {reason}", stacklevel=3)


def _check_api(module: ModuleType) -> str | None:
    declared = getattr(module, "FLOWKIT_PLUGIN_API", None)
    if declared is None:
        return (
            f"it declares no FLOWKIT_PLUGIN_API; add FLOWKIT_PLUGIN_API = {PLUGIN_API_VERSION} "
            f"to {module.__name__}"
        )
    if declared not in SUPPORTED_PLUGIN_APIS:
        supported = ", ".join(str(v) for v in sorted(SUPPORTED_PLUGIN_APIS))
        return f"it targets plugin API {declared!r}; this flowkit supports {supported}"
    return None


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    autoload = not _truthy("FLOWKIT_DISABLE_PLUGIN_AUTOLOAD")
    blocked = _blocked()
    seen: set[tuple[str, str]] = set()
    for ep in metadata.entry_points(group=PROJECT_NAME):
        dist = ep.dist
        dist_name = dist.metadata["Name"] if dist is not None else None
        version = dist.version if dist is not None else None
        if (ep.name, ep.value) in seen:  # one distribution visible twice on sys.path
            continue
        seen.add((ep.name, ep.value))
        builtin = dist_name == _BUILTIN_DISTRIBUTION
        if not builtin and not autoload:
            continue
        if blocked & {ep.name, ep.value, dist_name or ""}:
            continue
        try:
            module = ep.load()
        except Exception as exc:
            _fail(ep.value, dist_name, f"import failed: {type(exc).__name__}: {exc}")
            continue
        if isinstance(module, ModuleType):
            problem = _check_api(module)
            if problem is not None:
                _fail(ep.value, dist_name, problem)
                continue
        register(module, name=ep.value, distribution=dist_name, version=version, _rebuild=False)


def _get_manager() -> pluggy.PluginManager:
    global _manager
    if _manager is None:
        pm = pluggy.PluginManager(PROJECT_NAME)
        pm.add_hookspecs(spec)
        _manager = pm
        _load_entry_points(pm)
    return _manager


def register(
    plugin: object,
    name: str | None = None,
    *,
    distribution: str | None = None,
    version: str | None = None,
    _rebuild: bool = True,
) -> None:
    """Register a plugin object (usually a module) whose ``@hookimpl`` functions add names.

    Entry-point plugins are registered this way automatically; call it
    directly for a plugin defined in a script or a test. The registry is
    rebuilt on its next use.
    """
    pm = _get_manager()
    name = name or getattr(plugin, "__name__", None) or repr(plugin)
    pm.register(plugin, name=name)
    pm.check_pending()
    _sources[name] = Source(plugin=name, distribution=distribution, version=version)
    if _rebuild:
        _invalidate()


def unregister(name: str) -> None:
    """Remove a plugin registered under ``name``; the registry is rebuilt on its next use."""
    pm = _get_manager()
    pm.unregister(name=name)
    _sources.pop(name, None)
    _invalidate()


def _invalidate() -> None:
    global _registry
    _registry = None


def reload() -> None:
    """Forget every plugin and load the entry points again (re-reading the environment)."""
    global _manager, _registry
    _manager, _registry = None, None
    _sources.clear()
    _failures.clear()
    _hook_failures.clear()


def get_registry() -> Registry:
    """The registry, built on first use by calling every plugin's ``flowkit_register``."""
    global _registry
    if _registry is not None:
        return _registry
    pm = _get_manager()
    registry = Registry()
    _hook_failures.clear()
    # Calling each implementation on its own lets the registry record which
    # plugin gave each name, so errors and `flowkit plugins` can say so.
    for impl in reversed(pm.hook.flowkit_register.get_hookimpls()):
        source = _sources.get(impl.plugin_name, Source(plugin=impl.plugin_name))
        kwargs = {"registry": registry}
        try:
            with registry._registering_as(source):
                impl.function(*(kwargs[arg] for arg in impl.argnames))
        except DuplicateNameError:
            raise
        except Exception as exc:
            reason = f"flowkit_register raised {type(exc).__name__}: {exc}"
            _fail(source.plugin, source.distribution, reason, _hook_failures)
    _registry = registry
    return registry


def add_commands(subparsers: Any) -> None:
    """Let each plugin add its ``flowkit`` subcommands (``flowkit_add_commands``); a failing one warns."""
    for impl in reversed(_get_manager().hook.flowkit_add_commands.get_hookimpls()):
        try:
            impl.function(subparsers)
        except Exception as exc:
            source = _sources.get(impl.plugin_name, Source(plugin=impl.plugin_name))
            reason = f"flowkit_add_commands raised {type(exc).__name__}: {exc}"
            warnings.warn(f"flowkit plugin {source.plugin!r} added no commands: {reason}", stacklevel=2)


def available() -> list[Entry]:
    """Every registered path, solver and objective, with the plugin and distribution it came from.

    Examples:
        >>> import flowkit
        >>> {"dopri5", "euler", "rk4"} <= {e.name for e in flowkit.available() if e.kind == "solver"}
        True
    """
    return get_registry().entries()


def failures() -> list[LoadFailure]:
    """Plugins that were found but not loaded, with the reason."""
    get_registry()
    return [*_failures, *_hook_failures]
