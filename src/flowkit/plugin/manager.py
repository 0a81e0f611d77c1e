"""Discovers plugins through entry points and fills the registry; no broken plugin can stop it.

Environment variables (read when the registry is first built, or on
[`reload`][flowkit.plugin.reload]):

- ``FLOWKIT_DISABLE_PLUGIN_AUTOLOAD=1``: load only flowkit's own entry points,
  no third-party package.
- ``FLOWKIT_BLOCK_PLUGINS=name,other``: skip the entry points, modules or
  distributions so named. Distribution names match as packaging normalises
  them (``Flowkit_Extra`` = ``flowkit-extra``). flowkit's own built-ins cannot
  be blocked: naming them gives a warning and they load anyway.

A plugin that cannot be loaded (its import fails or exits, it declares no or
an unsupported ``FLOWKIT_PLUGIN_API``, its hook has a misspelled name or is
not marked, its hook raises or registers a class that does not implement its
interface) is skipped with a warning and listed by
[`failures`][flowkit.plugin.failures] with its distribution and the reason;
everything else loads. When flowkit's own package metadata is not visible (a
source tree on ``sys.path``, a vendored copy), its built-in plugin modules are
registered directly, through the same hook.
"""

import difflib
import importlib
import importlib.metadata as metadata
import os
import re
import warnings
from dataclasses import dataclass
from typing import Any

import pluggy

from .._version import __version__
from ..errors import PluginError
from . import spec
from .markers import PLUGIN_API_VERSION, PROJECT_NAME, SUPPORTED_PLUGIN_APIS
from .registry import BUILTIN_DISTRIBUTION, Entry, Registry, Source

BUILTIN_MODULES = ("flowkit.path.plugin", "flowkit.solver.plugin", "flowkit.objective.plugin")
"""flowkit's own plugin modules, named by its entry points."""

_HOOK = "flowkit_register"
_OPTIONAL_HOOKS = ("flowkit_add_commands",)
"""Hooks a plugin may implement besides ``flowkit_register`` (see ``spec``)."""


@dataclass(frozen=True)
class LoadFailure:
    """A plugin that was found but not loaded, and why."""

    plugin: str
    distribution: str | None
    reason: str


_manager: pluggy.PluginManager | None = None
_sources: dict[str, Source] = {}
_failures: list[LoadFailure] = []  # found but not loaded (import, API version, hook names)
_hook_failures: list[LoadFailure] = []  # loaded, but their hook raised on the last build
_registry: Registry | None = None


def normalize(name: str) -> str:
    """A distribution name as packaging normalises it: lower case, runs of ``-``, ``_``, ``.`` as one ``-``.

    Examples:
        >>> normalize("Flowkit_Extra"), normalize("flowkit.extra"), normalize("flowkit-extra")
        ('flowkit-extra', 'flowkit-extra', 'flowkit-extra')
    """
    return re.sub(r"[-_.]+", "-", name).lower()


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _blocked() -> set[str]:
    return {s.strip() for s in os.environ.get("FLOWKIT_BLOCK_PLUGINS", "").split(",") if s.strip()}


def _fail(plugin: str, distribution: str | None, reason: str, into: list[LoadFailure] = _failures) -> None:
    into.append(LoadFailure(plugin, distribution, reason))
    where = f" (from {distribution})" if distribution else ""
    warnings.warn(f"flowkit plugin {plugin!r}{where} was not loaded: {reason}", stacklevel=3)


def _check_api(module: object) -> str | None:
    declared = getattr(module, "FLOWKIT_PLUGIN_API", None)
    name = getattr(module, "__name__", repr(module))
    if declared is None:
        return f"it declares no FLOWKIT_PLUGIN_API; add FLOWKIT_PLUGIN_API = {PLUGIN_API_VERSION} to {name}"
    if isinstance(declared, bool) or declared not in SUPPORTED_PLUGIN_APIS:
        supported = ", ".join(str(v) for v in sorted(SUPPORTED_PLUGIN_APIS))
        return f"it targets plugin API {declared!r}; this flowkit supports {supported}"
    return None


def _check_hooks(pm: pluggy.PluginManager, plugin: object, name: str) -> str | None:
    """Why ``plugin`` (registered as ``name``) contributes no working ``flowkit_register``, or ``None``."""
    callers = pm.get_hookcallers(pm.get_plugin(name)) or []
    unknown = sorted(c.name for c in callers if c.name not in (_HOOK, *_OPTIONAL_HOOKS))
    if unknown:
        return f"it implements {', '.join(unknown)}, which is not a flowkit hook; the hook is named {_HOOK}"
    if any(c.name in (_HOOK, *_OPTIONAL_HOOKS) for c in callers):
        return None
    attrs = [a for a in dir(plugin) if not a.startswith("_")]
    if callable(getattr(plugin, _HOOK, None)):
        return f"its {_HOOK} is not marked with @hookimpl (from flowkit.plugin import hookimpl)"
    close = difflib.get_close_matches(_HOOK, attrs, n=1, cutoff=0.7)
    hint = f"; did you mean {_HOOK} instead of {close[0]}?" if close else ""
    return f"it has no @hookimpl function named {_HOOK}{hint}"


def _add(pm: pluggy.PluginManager, plugin: object, source: Source) -> str | None:
    """Register ``plugin`` with the manager, or return why not (leaving nothing registered)."""
    problem = _check_api(plugin)
    if problem is not None:
        return problem
    try:
        pm.register(plugin, name=source.plugin)
    except Exception as exc:  # pluggy's validation of hook signatures, a name already registered
        return f"{type(exc).__name__}: {exc}"
    problem = _check_hooks(pm, plugin, source.plugin)
    if problem is not None:
        pm.unregister(name=source.plugin)
        return problem
    _sources[source.plugin] = source
    return None


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    autoload = not _truthy("FLOWKIT_DISABLE_PLUGIN_AUTOLOAD")
    blocked = _blocked()
    blocked_dists = {normalize(b) for b in blocked}
    builtin_tokens = {BUILTIN_DISTRIBUTION, *BUILTIN_MODULES, "paths", "solvers", "objectives"}
    for token in sorted(b for b in blocked if b in builtin_tokens or normalize(b) == BUILTIN_DISTRIBUTION):
        warnings.warn(
            f"FLOWKIT_BLOCK_PLUGINS names {token!r}, part of flowkit's own built-ins, which cannot be "
            "blocked; they load anyway (name a third-party distribution, entry point or module)",
            stacklevel=3,
        )
    seen: set[tuple[str, str]] = set()
    loaded_builtins: set[str] = set()
    for ep in metadata.entry_points(group=PROJECT_NAME):
        dist = ep.dist
        dist_name = dist.metadata["Name"] if dist is not None else None
        version = dist.version if dist is not None else None
        if (ep.name, ep.value) in seen:  # one distribution visible twice on sys.path
            continue
        seen.add((ep.name, ep.value))
        builtin = dist_name is not None and normalize(dist_name) == BUILTIN_DISTRIBUTION
        if builtin and ep.value in loaded_builtins:
            continue
        if not builtin:
            if not autoload:
                continue
            if blocked & {ep.name, ep.value} or normalize(dist_name or "") in blocked_dists:
                continue
        try:
            module = ep.load()
        except (Exception, SystemExit) as exc:  # a plugin that exits at import is a broken plugin
            _fail(ep.value, dist_name, f"import failed: {type(exc).__name__}: {exc}")
            continue
        problem = _add(pm, module, Source(plugin=ep.value, distribution=dist_name, version=version))
        if problem is not None:
            _fail(ep.value, dist_name, problem)
        elif builtin:
            loaded_builtins.add(ep.value)
    _register_builtins_without_metadata(pm, loaded_builtins)


def _register_builtins_without_metadata(pm: pluggy.PluginManager, loaded: set[str]) -> None:
    """flowkit's own plugin modules that no entry point brought in (package metadata not visible)."""
    for name in BUILTIN_MODULES:
        if name in loaded or pm.get_plugin(name) is not None:
            continue
        module = importlib.import_module(name)
        source = Source(plugin=name, distribution=BUILTIN_DISTRIBUTION, version=__version__)
        problem = _add(pm, module, source)
        if problem is not None:  # flowkit's own modules: a bug in flowkit, not a broken plugin
            raise PluginError(f"flowkit's built-in plugin {name} cannot be registered: {problem}")


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
) -> None:
    """Register a plugin object (usually a module) whose ``@hookimpl`` functions add names.

    Entry-point plugins are registered this way automatically; call it
    directly for a plugin defined in a script or a test. The same checks
    apply as to an entry point: the object must declare a supported
    ``FLOWKIT_PLUGIN_API`` and a ``@hookimpl`` function named
    ``flowkit_register``. The registry is rebuilt on its next use.

    Raises:
        PluginError: naming the plugin and what is wrong with it.
    """
    pm = _get_manager()
    name = name or getattr(plugin, "__name__", None) or repr(plugin)
    problem = _add(pm, plugin, Source(plugin=name, distribution=distribution, version=version))
    if problem is not None:
        raise PluginError(f"flowkit plugin {name!r} cannot be registered: {problem}")
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
    """The registry, built on first use by calling every plugin's ``flowkit_register``.

    A hook that raises (or exits) is reported in [`failures`][flowkit.plugin.failures]
    and contributes nothing; a name claimed by two plugins is listed in
    ``get_registry().clashes()``. Neither stops the others from loading.
    """
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
        except (Exception, SystemExit) as exc:
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

    Names claimed by two plugins are left out (see ``get_registry().clashes()``).

    Examples:
        >>> import flowkit
        >>> {"dopri5", "euler", "rk4"} <= {e.name for e in flowkit.available() if e.kind == "solver"}
        True
    """
    return get_registry().entries()


def failures() -> list[LoadFailure]:
    """Plugins that were found but not loaded, with their distribution and the reason."""
    get_registry()
    return [*_failures, *_hook_failures]
