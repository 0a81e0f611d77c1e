"""The whole solver suite: [`check_solver`][flowkit.testing.check_solver] runs every check that applies."""

from collections.abc import Callable, Collection, Mapping
from typing import Any

from ...solver.base import Solver
from .._common import Device
from ..two_time import check_two_time_solver, is_two_time
from ._spec import SolverSpec, declared_order, knob_of, solver_class
from .closed_form import check_closed_form
from .nfe import check_nfe
from .order import check_order
from .shapes import check_dtypes_and_shapes
from .tolerance import check_tolerance

SOLVER_CHECKS: dict[str, Callable[..., None]] = {
    "closed_form": check_closed_form,
    "dtypes_and_shapes": check_dtypes_and_shapes,
    "nfe": check_nfe,
    "order": check_order,
    "tolerance": check_tolerance,
}
"""The solver checks by short name, as ``options`` and ``skip`` of
[`check_solver`][flowkit.testing.check_solver] name them."""


def applicable_solver_checks(solver: SolverSpec) -> list[str]:
    """The checks that apply to ``solver``, by what it declares.

    Always ``closed_form``, ``dtypes_and_shapes`` and ``nfe``; ``order`` for
    a fixed-step solver (a ``steps`` attribute); ``tolerance`` for an
    adaptive one (``adaptive = True`` with ``rtol``/``atol`` attributes).
    """
    names = ["closed_form", "dtypes_and_shapes", "nfe"]
    knob = knob_of(solver)
    if knob == "steps":
        names.append("order")
    elif knob == "tol" and getattr(solver_class(solver), "adaptive", False):
        names.append("tolerance")
    return names


def check_solver(
    solver: SolverSpec,
    *,
    expected_order: int | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    skip: Collection[str] = (),
    make: Callable[..., Solver] | None = None,
    device: Device = None,
    seed: int = 0,
) -> None:
    """Run every solver check that applies.

    See [`applicable_solver_checks`][flowkit.testing.applicable_solver_checks].

    What the solver declares switches the checks on: the class attribute
    ``order`` (required, a positive integer) sets the convergence rate
    expected of a fixed-step method; a ``steps`` attribute makes it a
    fixed-step method (order and convergence checks, rebuilt with
    ``steps=``); ``adaptive = True`` with ``rtol``/``atol`` attributes makes
    it adaptive (tolerance check, rebuilt with ``rtol=``/``atol=``);
    ``evaluations(n_steps)`` (or ``evals_per_step`` on a
    [`FixedStepSolver`][flowkit.solver.FixedStepSolver]) is its documented
    cost, compared with the NFE.

    Args:
        solver: a [`Solver`][flowkit.Solver] subclass or instance.
        expected_order: the order to expect; ``solver.order`` by default.
        options: keyword arguments for single checks, by short name, e.g.
            ``{"order": {"margin": 0.4}, "tolerance": {"factor": 50}}``.
        skip: short names of checks not to run, e.g. ``("dtypes_and_shapes",)``.
        make: ``(**options) -> Solver`` to build the solver with ``steps=`` or
            ``rtol=``/``atol=``; by default the class or a modified copy.
        device: where to run.
        seed: seed of the initial states.

    Raises:
        AssertionError: from the first check that fails.
        ValueError: for an unknown check name in ``options`` or ``skip``.

    Examples:
        >>> from flowkit.solver import RK4
        >>> from flowkit.testing import check_solver
        >>> check_solver(RK4)  # silent when the solver conforms
        >>> check_solver(RK4, options={"order": {"margin": 0.1}}, skip=["dtypes_and_shapes"])
    """
    options = dict(options or {})
    for key in [*options, *skip]:
        if key not in SOLVER_CHECKS:
            raise ValueError(f"unknown solver check {key!r}; the checks are {', '.join(SOLVER_CHECKS)}")
    cls = solver_class(solver)
    if not (isinstance(cls, type) and issubclass(cls, Solver)):
        raise AssertionError(f"{solver!r} is not a flowkit.Solver subclass or instance")
    if is_two_time(cls):  # samplers of fields u(x, r, t): their own checks
        check_two_time_solver(solver, device=device, seed=seed)
        return
    declared_order(solver, expected_order)
    common: dict[str, Any] = {"make": make, "device": device, "seed": seed}
    for name in applicable_solver_checks(solver):
        if name in skip:
            continue
        kwargs = {**common, **options.get(name, {})}
        if name in ("closed_form", "order"):
            kwargs.setdefault("expected_order", expected_order)
        SOLVER_CHECKS[name](solver, **kwargs)
