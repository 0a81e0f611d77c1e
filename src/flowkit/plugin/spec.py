"""Hook specifications: what a flowkit plugin may implement."""

import argparse
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


@hookspec
def flowkit_add_commands(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add subcommands to the ``flowkit`` command line.

    Called once when the ``flowkit`` parser is built, after the built-in
    commands. Add a parser with ``subparsers.add_parser(name, help=...)`` and
    give it ``set_defaults(run=fn)``, where ``fn(args) -> int`` returns the
    exit status. ``flowkit`` runs it like its own commands: a
    ``FlowkitError`` or ``ValueError`` becomes one line on stderr and exit
    status 2. A plugin whose hook raises is skipped with a warning.

    Examples:
        ```python
        @hookimpl
        def flowkit_add_commands(subparsers):
            p = subparsers.add_parser("reflow", help="straighten a trained flow")
            p.add_argument("--from", dest="source", required=True)
            p.set_defaults(run=run_reflow)
        ```
    """
