"""Which solver one call uses: a default, a registered name, an instance, or the default re-optioned."""

import inspect
from collections.abc import Mapping
from typing import Any

from ..plugin import get_registry
from ..plugin.registry import check_options
from .base import Solver


def with_options(solver: Solver, options: Mapping[str, Any]) -> Solver:
    """A new solver of ``solver``'s class with its settings, ``options`` replacing some of them.

    The settings are read back from the instance's attributes named like the
    constructor's parameters (``Dopri5(rtol=1e-5)`` has ``.rtol``), so the copy
    goes through the constructor and its checks again.

    Examples:
        >>> from flowkit.solver import Dopri5
        >>> with_options(Dopri5(rtol=1e-3, atol=1e-6), {"rtol": 1e-7})
        Dopri5(rtol=1e-07, atol=1e-06, max_steps=100000, adjoint=False)
    """
    cls = type(solver)
    check_options(cls, options, f"solver {cls.__name__}")
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    current = {
        name: getattr(solver, name)
        for name, p in inspect.signature(cls).parameters.items()
        if p.kind in named and name not in options and hasattr(solver, name)
    }
    return cls(**current, **options)


def choose_solver(
    default: Solver, solver: str | Solver | None = None, options: Mapping[str, Any] | None = None
) -> Solver:
    """The solver of one call.

    ``solver=None`` means ``default``, re-made with ``options`` when there are
    any (``flow.sample(n, solver_options={"rtol": 1e-7})``); a registered name
    is built with ``options``; an instance is used as it is (options with an
    instance are refused, as in [`flowkit.build`][flowkit.build]).

    Examples:
        >>> from flowkit.solver import Euler
        >>> choose_solver(Euler(steps=10), None, {"steps": 3})
        Euler(steps=3, adjoint=False)
        >>> choose_solver(Euler(steps=10), "rk4", {"steps": 3})
        RK4(steps=3, adjoint=False)
    """
    if solver is None:
        if not isinstance(default, Solver):
            raise TypeError(f"the default solver must be a flowkit.Solver; got {type(default).__name__}")
        return with_options(default, options) if options else default
    return get_registry().create("solver", solver, options)
