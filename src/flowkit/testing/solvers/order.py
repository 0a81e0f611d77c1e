"""Order of convergence: the slope of ``log error`` against ``log h`` for a fixed-step solver."""

import math
from collections.abc import Callable

from ...solver.base import Solver
from .._common import Device, describe, generator
from ._spec import SolverSpec, rebuild, solver_class
from .problems import DampedRotation, initial_state


def empirical_order(
    solver: SolverSpec,
    steps: tuple[int, ...] = (10, 20, 40, 80),
    *,
    make: Callable[..., Solver] | None = None,
    device: Device = None,
    seed: int = 0,
) -> float:
    r"""Estimate a fixed-step solver's order of convergence on the test ODE.

    Integrates over ``[0, 1]`` with each step count ``n`` in ``steps``
    (``h = 1/n``), measures the maximum error at ``t = 1`` against the closed
    form in float64, and returns the least-squares slope of ``log error``
    against ``log h``: the ``p`` of ``error ~ C h^p``.

    Examples:
        >>> from flowkit.solver import Euler
        >>> from flowkit.testing import empirical_order
        >>> round(empirical_order(Euler), 1)
        1.0
    """
    gen = generator(seed)
    x0 = initial_state(4, gen, device)
    exact = DampedRotation.exact(x0, 0.0, 1.0)
    log_h, log_err = [], []
    for n in steps:
        sol = rebuild(solver, make, steps=n).solve(DampedRotation(), x0, 0.0, 1.0)
        err = float((sol.x - exact).abs().max())
        if not (math.isfinite(err) and err > 0.0):
            raise AssertionError(f"{describe(solver)}: error {err} at {n} steps; cannot estimate the order")
        log_h.append(-math.log(n))
        log_err.append(math.log(err))
    mean_h, mean_e = sum(log_h) / len(log_h), sum(log_err) / len(log_err)
    num = sum((a - mean_h) * (b - mean_e) for a, b in zip(log_h, log_err))
    den = sum((a - mean_h) ** 2 for a in log_h)
    return num / den


def check_order(
    solver: SolverSpec,
    expected_order: int | None = None,
    *,
    tol: float = 0.3,
    steps: tuple[int, ...] | None = None,
    make: Callable[..., Solver] | None = None,
    device: Device = None,
    seed: int = 0,
) -> None:
    """Check that a fixed-step solver converges with its stated order (``solver.order`` by default).

    The step counts default to ``(10, 20, 40, 80)``, halved again for
    methods of order above 4 so that the error stays above round-off.

    Raises:
        AssertionError: when the empirical order differs from the expected one by more than ``tol``.
    """
    order = int(getattr(solver_class(solver), "order") if expected_order is None else expected_order)  # noqa: B009
    if steps is None:
        steps = (10, 20, 40, 80) if order <= 4 else (4, 8, 16, 32)
    got = empirical_order(solver, steps, make=make, device=device, seed=seed)
    if abs(got - order) > tol:
        raise AssertionError(
            f"{describe(solver)}: empirical order of convergence {got:.2f} on dx/dt = g(t) M x "
            f"(steps {steps}); expected {order} (tolerance {tol})"
        )
