"""Hook specifications: what a flowkit plugin may implement."""

from typing import TYPE_CHECKING

from .markers import hookspec

if TYPE_CHECKING:
    from .registry import Registry


@hookspec
def flowkit_register(registry: "Registry") -> None:
    """Register paths, solvers, objectives and models by name.

    Called once per plugin when the registry is first needed. Use
    ``registry.add_path(name, cls)``, ``registry.add_solver(name, cls)``,
    ``registry.add_objective(name, cls)`` and ``registry.add_model(name, cls)``
    (a ``VectorField``); each class must subclass the
    matching interface. Names are global: two plugins claiming one name is an
    error that names both.

    Examples:
        ```python
        from flowkit.plugin import hookimpl

        FLOWKIT_PLUGIN_API = 1

        @hookimpl
        def flowkit_register(registry):
            registry.add_path("cosine", CosinePath)
        ```
    """
