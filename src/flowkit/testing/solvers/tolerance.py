"""Adaptive step size: the solver meets its tolerance and spends more work for less error."""

import itertools
from collections.abc import Callable

from torch import Tensor

from ...solver.base import Solver
from .._common import Device, describe, generator
from ._spec import SolverSpec, rebuild
from .problems import DampedRotation, initial_state


def _rel_error(got: Tensor, want: Tensor) -> float:
    return float((got - want).abs().max()) / max(1e-300, float(want.abs().max()))


def check_tolerance(
    solver: SolverSpec,
    *,
    tols: tuple[float, ...] = (1e-3, 1e-5, 1e-7),
    factor: float = 20.0,
    make: Callable[..., Solver] | None = None,
    device: Device = None,
    seed: int = 0,
) -> None:
    r"""Check that an adaptive solver meets its tolerance and spends more work for less error.

    For each ``tol`` in ``tols`` the solver is built with ``rtol = atol = tol``;
    the relative error at ``t = 1`` must be below ``factor * tol``, and the
    NFE must not decrease as the tolerance tightens while the error does
    decrease from the loosest to the tightest.

    Raises:
        AssertionError: naming the tolerance that was missed.
    """
    gen = generator(seed)
    x0 = initial_state(4, gen, device)
    exact = DampedRotation.exact(x0, 0.0, 1.0)
    errors, nfes = [], []
    for tol in tols:
        inst = rebuild(solver, make, rtol=tol, atol=tol)
        sol = inst.solve(DampedRotation(), x0, 0.0, 1.0)
        err = _rel_error(sol.x, exact)
        if not err <= factor * tol:
            raise AssertionError(
                f"{describe(inst)}: relative error {err:.3g} at t=1 with rtol=atol={tol:g}; "
                f"expected below {factor:g} x tolerance"
            )
        errors.append(err)
        nfes.append(sol.nfe)
    if any(b < a for a, b in itertools.pairwise(nfes)):
        raise AssertionError(
            f"{describe(solver)}: NFE {nfes} should not fall as the tolerance tightens {tols}"
        )
    if not errors[-1] < errors[0]:
        raise AssertionError(
            f"{describe(solver)}: errors {errors} do not fall as the tolerance tightens {tols}"
        )
