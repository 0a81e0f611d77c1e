"""The flowkit plugin: registers MeanFlow's samplers and objective and the ``reflow``/``distill`` commands.

Importing this module registers nothing; flowkit calls the hooks when it
loads the entry point named in this package's ``pyproject.toml``.
"""

from typing import Any

from flowkit.plugin import Registry, hookimpl

from .cli import add_parsers
from .meanflow import MeanFlow
from .samplers import MeanFlowSampler, TwoStepMeanFlow

FLOWKIT_PLUGIN_API = 1
"""The flowkit plugin-API version this plugin targets."""


@hookimpl
def flowkit_register(registry: Registry) -> None:
    registry.add_solver("meanflow", MeanFlowSampler)
    registry.add_solver("meanflow2", TwoStepMeanFlow)
    registry.add_objective("meanflow", MeanFlow)


@hookimpl
def flowkit_add_commands(subparsers: Any) -> None:
    add_parsers(subparsers)
