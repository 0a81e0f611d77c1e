"""Adaptive step size: the solver meets its own rtol/atol and spends more work for less error."""

import itertools
from collections.abc import Callable

from ...solver.base import Solver
from .._common import Device, describe, generator
from ._spec import SolverSpec, rebuild
from .problems import DampedRotation, initial_state


def check_tolerance(
    solver: SolverSpec,
    *,
    tols: tuple[tuple[float, float], ...] = ((1e-3, 1e-3), (1e-5, 1e-7), (1e-7, 1e-9)),
    factor: float = 20.0,
    make: Callable[..., Solver] | None = None,
    device: Device = None,
    seed: int = 0,
) -> None:
    r"""Check that an adaptive solver meets its own tolerances and spends more work for less error.

    For each ``(rtol, atol)`` in ``tols`` the solver is built with those
    tolerances; the largest error at ``t = 1`` must satisfy
    ``max |x - x_exact| <= factor (atol + rtol max |x_exact|)`` (a local
    tolerance bounds the global error only up to such a factor), the NFE must not
    decrease as the tolerances tighten, and the error must fall from the
    loosest to the tightest.

    Args:
        solver: an adaptive solver class or instance (rebuilt with ``rtol=``, ``atol=``).
        tols: ``(rtol, atol)`` pairs, loosest first.
        factor: how far the global error may exceed the local tolerance.
        make: ``(**options) -> Solver`` to build the solver with ``rtol=``/``atol=``.
        device: where to run.
        seed: seed of the initial states.

    Raises:
        AssertionError: naming the tolerance that was missed.
    """
    gen = generator(seed)
    x0 = initial_state(4, gen, device)
    exact = DampedRotation.exact(x0, 0.0, 1.0)
    errors, nfes = [], []
    for rtol, atol in tols:
        inst = rebuild(solver, make, rtol=rtol, atol=atol)
        sol = inst.solve(DampedRotation(), x0, 0.0, 1.0)
        err = (sol.x - exact).abs()
        excess = float(err.max()) / (atol + rtol * float(exact.abs().max()))
        if not excess <= factor:
            raise AssertionError(
                f"{describe(inst)}: the error at t=1 is {excess:.3g} x (atol + rtol max|x|) with "
                f"rtol={rtol:g}, atol={atol:g}; expected at most {factor:g} x its tolerance"
            )
        errors.append(float(err.max()))
        nfes.append(sol.nfe)
    if any(b < a for a, b in itertools.pairwise(nfes)):
        raise AssertionError(f"{describe(solver)}: NFE {nfes} should not fall as tolerances tighten {tols}")
    if not errors[-1] < errors[0]:
        raise AssertionError(f"{describe(solver)}: errors {errors} do not fall as tolerances tighten {tols}")
