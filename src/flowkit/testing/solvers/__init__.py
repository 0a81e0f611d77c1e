r"""Conformance checks for [`Solver`][flowkit.Solver] implementations.

Every check integrates a linear, time-dependent ODE whose solution is known
in closed form: [`DampedRotation`][flowkit.testing.DampedRotation], a damped
rotation ``dx/dt = g(t) M x`` with a time-varying rate (the ``problems``
module states it and its solution), on which a method that evaluates the
field at the wrong stage times loses its order. The checks compare a solver
with this solution forward and backward in time, at requested output times,
estimate its order of convergence from the error at several step counts,
check adaptive solvers against their tolerance, and count the field
evaluations independently of the solver.

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
from .suite import check_solver as check_solver
from .tolerance import check_tolerance as check_tolerance

__all__ = [
    "DampedRotation",
    "SolverSpec",
    "check_closed_form",
    "check_dtypes_and_shapes",
    "check_nfe",
    "check_order",
    "check_solver",
    "check_tolerance",
    "empirical_order",
]
