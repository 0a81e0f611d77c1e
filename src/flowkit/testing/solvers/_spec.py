"""How the checks take a solver: as a class or an instance, rebuilt with ``steps=`` or ``rtol=``/``atol=``."""

import copy
import math
from collections.abc import Callable
from typing import Any

from ...solver.base import Solver
from .._common import describe

SolverSpec = Solver | type[Solver]
"""A solver instance, or a class that can be built with keyword options."""


def solver_class(solver: SolverSpec) -> type:
    """The solver's class, whether a class or an instance is given."""
    return solver if isinstance(solver, type) else type(solver)


def declared_order(solver: SolverSpec, expected_order: int | None = None) -> int:
    """``expected_order``, else the class attribute ``order`` (which must be a positive integer)."""
    order = getattr(solver_class(solver), "order", None) if expected_order is None else expected_order
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise AssertionError(
            f"{describe(solver)}: the class attribute `order` must be a positive integer; got {order!r}"
        )
    return order


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


def convergence_steps(order: int) -> tuple[int, ...]:
    """Step counts for a convergence study of a method of ``order``: errors well above round-off.

    The errors must stay above float64 round-off at the finest count: with an
    error constant near 1, ``h^order`` should stay above ``~1e-11``.
    """
    finest = max(8, min(160, int(10 ** (11 / order))))
    return tuple(finest // 2**k for k in (3, 2, 1, 0))


def local_orders(steps: tuple[int, ...], errors: list[float]) -> list[float]:
    """The order measured between consecutive step counts, ``log(e_a / e_b) / log(n_b / n_a)``."""
    return [
        math.log(errors[i] / errors[i + 1]) / math.log(steps[i + 1] / steps[i]) for i in range(len(steps) - 1)
    ]
