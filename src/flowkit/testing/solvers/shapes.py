"""Dtypes and shapes: the state keeps its dtype (float32, float64) and its shape, images included."""

from collections.abc import Callable

import torch

from ...solver.base import Solver
from .._common import Device, assert_close, describe, generator
from ._spec import SolverSpec, accurate
from .problems import DampedRotation, initial_state


def check_dtypes_and_shapes(
    solver: SolverSpec, *, make: Callable[..., Solver] | None = None, device: Device = None, seed: int = 0
) -> None:
    """Check that the state keeps its dtype (float32, float64) and its shape, images included.

    A state shaped ``(batch, 2, 3, 2)`` (the ODE acts on axis 1) must give
    the same result as each of its ``(batch, 2)`` slices would.

    Raises:
        AssertionError: naming the dtype or shape that changed.
    """
    inst, rtol = accurate(solver, make)
    name = describe(inst)
    gen = generator(seed)
    for dtype in (torch.float32, torch.float64):
        x0 = initial_state(3, gen, device).to(dtype)
        sol = inst.solve(DampedRotation(), x0, 0.0, 1.0, t_eval=[0.5, 1.0])
        for what, value in (("x", sol.x), ("xs", sol.xs), ("ts", sol.ts)):
            if value is None or value.dtype != dtype:
                got = None if value is None else value.dtype
                raise AssertionError(f"{name}: solution.{what} is {got} for a {dtype} state")
    image = initial_state(3, gen, device, shape=(2, 3, 2))
    sol = inst.solve(DampedRotation(), image, 0.0, 1.0)
    if tuple(sol.x.shape) != tuple(image.shape):
        raise AssertionError(f"{name}: state of shape {tuple(image.shape)} came back as {tuple(sol.x.shape)}")
    assert_close(
        sol.x,
        DampedRotation.exact(image, 0.0, 1.0),
        atol=rtol * float(image.abs().max()),
        rtol=0.0,
        what=f"{name}: image-shaped state at t=1",
    )
