"""The flowkit plugin: MeanFlow's samplers and objective, the ``distill`` objective, two commands.

The commands are ``flowkit reflow`` and ``flowkit distill``.

Importing this module registers nothing; flowkit calls the hooks when it
loads the entry point named in this package's ``pyproject.toml``.
"""

from typing import Any

from flowkit.plugin import Registry, hookimpl

from .cli import add_parsers
from .distill import OneStepDistillation
from .meanflow import MeanFlow
from .samplers import MeanFlowSampler, TwoStepMeanFlow

FLOWKIT_PLUGIN_API = 1
"""The flowkit plugin-API version this plugin targets."""


@hookimpl
def flowkit_register(registry: Registry) -> None:
    registry.add_solver("meanflow", MeanFlowSampler)
    registry.add_solver("meanflow2", TwoStepMeanFlow)
    registry.add_objective("meanflow", MeanFlow)
    registry.add_objective("distill", OneStepDistillation)


@hookimpl
def flowkit_add_commands(subparsers: Any) -> None:
    add_parsers(subparsers)
