"""Order of convergence: the slope of ``log error`` against ``log h``, and the rate of every halving."""

import math
from collections.abc import Callable

from ...solver.base import Solver
from .._common import Device, describe, generator
from ._spec import SolverSpec, convergence_steps, declared_order, local_orders, rebuild
from .problems import DampedRotation, initial_state


def _errors(
    solver: SolverSpec, steps: tuple[int, ...], make: Callable[..., Solver] | None, device: Device, seed: int
) -> list[float]:
    """The maximum error at ``t = 1`` against the closed form, for each step count."""
    gen = generator(seed)
    x0 = initial_state(4, gen, device)
    exact = DampedRotation.exact(x0, 0.0, 1.0)
    errors = []
    for n in steps:
        sol = rebuild(solver, make, steps=n).solve(DampedRotation(), x0, 0.0, 1.0)
        err = float((sol.x - exact).abs().max())
        if not (math.isfinite(err) and err > 0.0):
            raise AssertionError(f"{describe(solver)}: error {err} at {n} steps; cannot estimate the order")
        errors.append(err)
    return errors


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
    return _slope(steps, _errors(solver, steps, make, device, seed))


def _slope(steps: tuple[int, ...], errors: list[float]) -> float:
    """The least-squares slope of ``log error`` against ``log h = -log n``."""
    log_h = [-math.log(n) for n in steps]
    log_err = [math.log(e) for e in errors]
    mean_h, mean_e = sum(log_h) / len(log_h), sum(log_err) / len(log_err)
    num = sum((a - mean_h) * (b - mean_e) for a, b in zip(log_h, log_err))
    den = sum((a - mean_h) ** 2 for a in log_h)
    return num / den


def check_order(
    solver: SolverSpec,
    expected_order: int | None = None,
    *,
    margin: float = 0.3,
    local_margin: float = 0.6,
    steps: tuple[int, ...] | None = None,
    make: Callable[..., Solver] | None = None,
    device: Device = None,
    seed: int = 0,
) -> None:
    r"""Check that a fixed-step solver converges with the order it declares (``solver.order`` by default).

    Two conditions, on the error at ``t = 1`` of the test ODE for step
    counts ``n_1 < n_2 < ...`` (by default four doublings chosen from the
    order so that the finest error stays above round-off):

    - the least-squares slope of ``log error`` against ``log h`` lies within
      ``margin`` of the declared order;
    - the error falls at that rate at every refinement: each local order
      ``log(e_i / e_{i+1}) / log(n_{i+1} / n_i)`` is at least
      ``order - local_margin``.

    Nothing depends on the method's error constant, so a correct method
    with a large one (Adams-Bashforth against Heun) passes.

    Args:
        solver: a fixed-step solver class or instance (rebuilt with ``steps=``).
        expected_order: the order to expect; the class attribute ``order`` by default.
        margin: the allowed difference between the fitted and declared orders.
        local_margin: how far below the declared order a single refinement may fall.
        steps: the step counts, increasing.
        make: ``(**options) -> Solver`` to build the solver with ``steps=``.
        device: where to run.
        seed: seed of the initial states.

    Raises:
        AssertionError: with the fitted order, the local orders and the errors.
    """
    order = declared_order(solver, expected_order)
    steps = convergence_steps(order) if steps is None else tuple(steps)
    errors = _errors(solver, steps, make, device, seed)
    got = _slope(steps, errors)
    local = local_orders(steps, errors)
    table = ", ".join(f"{n}: {e:.3g}" for n, e in zip(steps, errors))
    if abs(got - order) > margin:
        raise AssertionError(
            f"{describe(solver)}: empirical order of convergence {got:.2f} on dx/dt = g(t) M x; "
            f"declared {order} (margin {margin}); errors at t=1 by steps: {table}"
        )
    if min(local) < order - local_margin:
        raise AssertionError(
            f"{describe(solver)}: the error does not fall at order {order} at every refinement; "
            f"local orders {[round(p, 2) for p in local]} (at least {order - local_margin:g} expected); "
            f"errors at t=1 by steps: {table}"
        )
