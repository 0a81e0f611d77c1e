r"""Conformance checks for [`Solver`][flowkit.Solver] implementations.

Every check integrates a linear, time-dependent ODE whose solution is known
in closed form: [`DampedRotation`][flowkit.testing.DampedRotation], a damped
rotation ``dx/dt = g(t) M x`` with a time-varying rate (the ``problems``
module states it and its solution), on which a method that evaluates the
field at the wrong stage times loses its order. The checks hold a solver to
what it declares, never to an error constant: a fixed-step method must
converge at its declared ``order`` (fitted slope within a margin, and the
error falling at that rate at every refinement, at every reported time,
forward and backward); an adaptive method must meet its own ``rtol``/``atol``;
the NFE is counted independently of the solver, repeated evaluations at one
``(t, x)`` are reported as waste, and a documented cost formula
(``evaluations(n_steps)``) must match the count. Each check takes its own
tolerances.

A solver is given as a class or an instance. To vary its accuracy the checks
rebuild it with ``steps=`` (fixed-step solvers) or ``rtol=``/``atol=``
(adaptive ones): from the class when a class is given, otherwise by copying
the instance and setting those attributes; pass ``make`` to control this.
"""

from ._spec import SolverSpec as SolverSpec
from .closed_form import check_closed_form as check_closed_form
from .nfe import check_nfe as check_nfe
from .order import check_order as check_order
from .order import empirical_order as empirical_order
from .problems import DampedRotation as DampedRotation
from .shapes import check_dtypes_and_shapes as check_dtypes_and_shapes
from .suite import SOLVER_CHECKS as SOLVER_CHECKS
from .suite import applicable_solver_checks as applicable_solver_checks
from .suite import check_solver as check_solver
from .tolerance import check_tolerance as check_tolerance

__all__ = [
    "SOLVER_CHECKS",
    "DampedRotation",
    "SolverSpec",
    "applicable_solver_checks",
    "check_closed_form",
    "check_dtypes_and_shapes",
    "check_nfe",
    "check_order",
    "check_solver",
    "check_tolerance",
    "empirical_order",
]
