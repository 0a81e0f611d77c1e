"""How the checks take a solver: as a class or an instance, rebuilt with ``steps=`` or ``rtol=``/``atol=``."""

import copy
from collections.abc import Callable
from typing import Any

from ...solver.base import Solver
from .._common import describe

SolverSpec = Solver | type[Solver]
"""A solver instance, or a class that can be built with keyword options."""


def solver_class(solver: SolverSpec) -> type:
    """The solver's class, whether a class or an instance is given."""
    return solver if isinstance(solver, type) else type(solver)


def knob_of(solver: SolverSpec) -> str | None:
    """``"steps"`` for fixed-step solvers, ``"tol"`` for ``rtol``/``atol`` ones, else ``None``."""
    inst = instance(solver)
    if hasattr(inst, "steps"):
        return "steps"
    if hasattr(inst, "rtol") and hasattr(inst, "atol"):
        return "tol"
    return None


def rebuild(solver: SolverSpec, make: Callable[..., Solver] | None, **options: Any) -> Solver:
    """The solver with ``options`` set: by ``make``, by the class, or on a copy of the instance."""
    if make is not None:
        return make(**options)
    if isinstance(solver, type):
        return solver(**options)
    if not options:
        return solver
    new = copy.copy(solver)
    for key, value in options.items():
        if not hasattr(new, key):
            raise AssertionError(
                f"cannot set {key}={value!r} on {describe(solver)}; pass the class, or make=..."
            )
        setattr(new, key, value)
    return new


def instance(solver: SolverSpec) -> Solver:
    """An instance: the given one, or the class built with its defaults."""
    return solver() if isinstance(solver, type) else solver


def accurate(solver: SolverSpec, make: Callable[..., Solver] | None) -> tuple[Solver, float]:
    """The solver at a setting where it should be accurate, and the relative tolerance to expect."""
    knob = knob_of(solver)
    if knob == "steps":  # the global error is about 1.6 h^order on the test ODE
        order = int(getattr(solver_class(solver), "order", 1))
        return rebuild(solver, make, steps=100), max(1e-9, 5.0 * 100.0**-order)
    if knob == "tol":
        return rebuild(solver, make, rtol=1e-8, atol=1e-8), 1e-5
    return instance(solver), 5e-2
