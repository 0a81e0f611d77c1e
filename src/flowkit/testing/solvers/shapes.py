"""Dtypes and shapes only: the state keeps its dtype and shape, and trailing axes ride along."""

from collections.abc import Callable

import torch

from ...solver.base import Solver
from .._common import Device, assert_finite, describe, generator
from ._spec import SolverSpec, instance
from .problems import DampedRotation, initial_state


def check_dtypes_and_shapes(
    solver: SolverSpec, *, make: Callable[..., Solver] | None = None, device: Device = None, seed: int = 0
) -> None:
    """Check dtypes and shapes, and nothing about accuracy.

    For float32 and float64 states: ``solution.x``, ``xs`` and ``ts`` have the
    state's dtype and device, ``x`` has the state's shape and ``xs`` the shape
    ``(time, batch, *dims)``. (The test field itself asserts that the solver
    calls it with ``t`` of shape ``(batch,)`` and the state's dtype.) An
    image-shaped state ``(batch, 2, 3, 2)`` must give the same answer, entry
    for entry, as the same values arranged as ``(batch, 2, 6)``: how trailing
    axes are laid out must not matter. The solver is used as given (a class
    is built with its defaults), so the answer's accuracy plays no part.

    Raises:
        AssertionError: naming the dtype or shape that changed.
    """
    inst = instance(solver) if make is None else make()
    name = describe(inst)
    gen = generator(seed)
    for dtype in (torch.float32, torch.float64):
        x0 = initial_state(3, gen, device).to(dtype)
        sol = inst.solve(DampedRotation(), x0, 0.0, 1.0, t_eval=[0.5, 1.0])
        for what, value in (("x", sol.x), ("xs", sol.xs), ("ts", sol.ts)):
            if value is None or value.dtype != dtype:
                got = None if value is None else value.dtype
                raise AssertionError(f"{name}: solution.{what} is {got} for a {dtype} state")
            if value.device != x0.device:
                raise AssertionError(f"{name}: solution.{what} on {value.device}, the state on {x0.device}")
        assert sol.xs is not None
        if tuple(sol.x.shape) != tuple(x0.shape) or tuple(sol.xs.shape) != (2, *x0.shape):
            raise AssertionError(
                f"{name}: x has shape {tuple(sol.x.shape)} and xs {tuple(sol.xs.shape)} for a state "
                f"{tuple(x0.shape)} with 2 output times; expected {tuple(x0.shape)} and {(2, *x0.shape)}"
            )
    image = initial_state(3, gen, device, shape=(2, 3, 2))
    sol = inst.solve(DampedRotation(), image, 0.0, 1.0)
    if tuple(sol.x.shape) != tuple(image.shape):
        raise AssertionError(f"{name}: state of shape {tuple(image.shape)} came back as {tuple(sol.x.shape)}")
    assert_finite(sol.x, f"{name}: image-shaped state at t=1")
    flat = inst.solve(DampedRotation(), image.reshape(3, 2, 6), 0.0, 1.0).x.reshape(image.shape)
    diff = float((sol.x - flat).abs().max())
    if diff > 1e-10 * max(1.0, float(flat.abs().max())):
        raise AssertionError(
            f"{name}: a (3, 2, 3, 2) state and the same values as (3, 2, 6) give answers that differ by "
            f"{diff:.3g}; the solver mixes trailing axes"
        )
