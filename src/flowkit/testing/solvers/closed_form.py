"""Accuracy: final states and trajectories against the closed-form solution, forward and backward."""

from collections.abc import Callable

import torch
from torch import Tensor

from ...solver.base import Solver
from .._common import F64, Device, assert_close, describe, generator
from ._spec import SolverSpec, accurate
from .problems import DampedRotation, initial_state


def _assert_exact(state: Tensor, start: Tensor, t0: float, t: float, atol: float, what: str) -> None:
    """``state`` against the closed-form solution at ``t`` of the solve from ``start`` at ``t0``."""
    assert_close(state, DampedRotation.exact(start, t0, t), atol=atol, rtol=0.0, what=what)


def check_closed_form(
    solver: SolverSpec, *, make: Callable[..., Solver] | None = None, device: Device = None, seed: int = 0
) -> None:
    """Check final states and trajectories against the closed-form solution, in both directions.

    At an accurate setting (100 steps with a relative tolerance of
    ``5 h^order``, or ``rtol = atol = 1e-8`` with ``1e-5``), integrates
    forward over ``[0, 1]`` with ``t_eval`` including both ends, forward over a
    sub-interval ``[0.2, 0.7]`` with interior ``t_eval`` only, and backward
    from ``t = 1`` to ``t = 0`` starting on the exact solution. Reported times
    must be the requested ones, ``xs`` must have shape ``(time, batch, *dims)``,
    and ``x`` must be the state at ``t1``.

    Raises:
        AssertionError: naming the solve and the time where the state is wrong.
    """
    inst, rtol = accurate(solver, make)
    name = describe(inst)
    gen = generator(seed)
    x0 = initial_state(5, gen, device)
    x1 = DampedRotation.exact(x0, 0.0, 1.0)
    cases = (
        ("forward", x0, 0.0, 1.0, [0.0, 0.25, 0.5, 0.8, 1.0]),
        ("forward on [0.2, 0.7]", x0, 0.2, 0.7, [0.3, 0.45, 0.6]),
        ("backward", x1, 1.0, 0.0, [1.0, 0.7, 0.35, 0.0]),
    )
    for label, start, t0, t1, t_eval in cases:
        sol = inst.solve(DampedRotation(), start, t0, t1, t_eval=t_eval)
        if sol.ts is None or sol.xs is None:
            raise AssertionError(f"{name}: {label} solve with t_eval returned no trajectory")
        if tuple(sol.xs.shape) != (len(t_eval), *start.shape):
            raise AssertionError(
                f"{name}: {label} trajectory has shape {tuple(sol.xs.shape)}; "
                f"expected (time, batch, *dims) = {(len(t_eval), *start.shape)}"
            )
        assert_close(
            sol.ts.double().cpu(),
            torch.tensor(t_eval, dtype=F64),
            atol=1e-12,
            rtol=0.0,
            what=f"{name}: {label} reported times",
        )
        atol = rtol * float(start.abs().max())
        for i, t in enumerate(t_eval):
            _assert_exact(sol.xs[i], start, t0, t, atol, f"{name}: {label} state at t={t:g}")
        _assert_exact(sol.x, start, t0, t1, atol, f"{name}: {label} final state x at t1={t1:g}")
        plain = inst.solve(DampedRotation(), start, t0, t1)
        if plain.xs is not None or plain.ts is not None:
            raise AssertionError(f"{name}: a solve without t_eval must report no trajectory (xs = ts = None)")
        _assert_exact(plain.x, start, t0, t1, atol, f"{name}: {label} final state without t_eval")
