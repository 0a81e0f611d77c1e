"""The whole solver suite: [`check_solver`][flowkit.testing.check_solver] runs every check that applies."""

from collections.abc import Callable

from ...solver.base import Solver
from .._common import Device
from ..two_time import check_two_time_solver, is_two_time
from ._spec import SolverSpec, knob_of, solver_class
from .closed_form import check_closed_form
from .nfe import check_nfe
from .order import check_order
from .shapes import check_dtypes_and_shapes
from .tolerance import check_tolerance


def check_solver(
    solver: SolverSpec,
    *,
    expected_order: int | None = None,
    make: Callable[..., Solver] | None = None,
    device: Device = None,
    seed: int = 0,
) -> None:
    """Run every solver check that applies.

    Always: [`check_closed_form`][flowkit.testing.check_closed_form],
    [`check_dtypes_and_shapes`][flowkit.testing.check_dtypes_and_shapes] and
    [`check_nfe`][flowkit.testing.check_nfe]. Fixed-step solvers (with a
    ``steps`` attribute) also get [`check_order`][flowkit.testing.check_order];
    adaptive solvers (``adaptive = True`` with ``rtol``/``atol`` attributes) get
    [`check_tolerance`][flowkit.testing.check_tolerance].

    Args:
        solver: a [`Solver`][flowkit.Solver] subclass or instance.
        expected_order: the order to expect; ``solver.order`` by default.
        make: ``(**options) -> Solver`` to build the solver with ``steps=`` or
            ``rtol=``/``atol=``; by default the class or a modified copy.
        device: where to run.
        seed: seed of the initial states.

    Raises:
        AssertionError: from the first check that fails.

    Examples:
        >>> from flowkit.solver import RK4
        >>> from flowkit.testing import check_solver
        >>> check_solver(RK4)  # silent when the solver conforms
    """
    cls = solver_class(solver)
    if not (isinstance(cls, type) and issubclass(cls, Solver)):
        raise AssertionError(f"{solver!r} is not a flowkit.Solver subclass or instance")
    if is_two_time(cls):  # samplers of fields u(x, r, t): their own checks
        check_two_time_solver(solver, device=device, seed=seed)
        return
    check_closed_form(solver, make=make, device=device, seed=seed)
    check_dtypes_and_shapes(solver, make=make, device=device, seed=seed)
    check_nfe(solver, make=make, device=device, seed=seed)
    knob = knob_of(solver)
    if knob == "steps":
        check_order(solver, expected_order, make=make, device=device, seed=seed)
    elif knob == "tol" and getattr(cls, "adaptive", False):
        check_tolerance(solver, make=make, device=device, seed=seed)
