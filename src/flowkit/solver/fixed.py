"""Shared machinery of fixed-step Runge-Kutta solvers."""

import itertools
from abc import abstractmethod

import torch
from torch import Tensor

from .._validate import positive_int
from .base import Field, Solver, adjoint_flag


class FixedStepSolver(Solver):
    """A one-step method on a uniform grid of ``steps`` steps over ``[t0, t1]``.

    Requested output times are inserted into the grid as extra nodes, so each
    is hit exactly (no interpolation) at the price of one extra step each
    when it does not already lie on the grid. The grid is planned on the host
    and step sizes are Python floats, so the loop never waits on the device.

    Args:
        steps: number of steps over the whole interval, ``> 0``.
        adjoint: backpropagate through a solve by the adjoint method: the
            adjoint system is solved backwards by this same method on the same
            grid, so memory does not grow with ``steps`` and the gradient
            differs from direct backpropagation by ``O(h^order)``; see
            [`flowkit.solver.adjoint`][flowkit.solver.adjoint] for why this
            rather than per-step checkpointing.
    """

    evals_per_step: int

    def __init__(self, steps: int = 100, adjoint: bool = False) -> None:
        self.steps = positive_int("steps", steps)
        self.adjoint = adjoint_flag(adjoint)

    @abstractmethod
    def step(self, field: Field, t: Tensor, h: float, t_mid: Tensor, t_end: Tensor, x: Tensor) -> Tensor:
        """Advance ``x`` from time ``t`` by ``h`` (``t_mid = t + h/2``, ``t_end = t + h``; batch-shaped)."""

    def integrate(self, field: Field, x0: Tensor, times: Tensor) -> tuple[list[Tensor], int, int]:
        t0, t1 = float(times[0]), float(times[-1])
        nodes = torch.linspace(t0, t1, self.steps + 1, dtype=torch.float64)
        # Merge the uniform grid with the requested times; drop near-duplicates.
        merged = torch.cat([nodes, times]).unique(sorted=True)
        if t1 < t0:
            merged = merged.flip(0)
        keep = torch.cat([torch.ones(1, dtype=torch.bool), (merged[1:] - merged[:-1]).abs() > 1e-12])
        merged = merged[keep]
        report = [float(t) for t in times[1:]]
        grid = merged.tolist()
        keep_state = [any(abs(t - r) <= 1e-12 for r in report) for t in grid[1:]]
        hs = [b - a for a, b in itertools.pairwise(grid)]
        # All per-step times as batch-shaped views, made before the loop in two kernels.
        batch = x0.shape[0]
        dev = merged.to(device=x0.device, dtype=x0.dtype)
        starts = dev.unsqueeze(1).expand(-1, batch).unbind(0)
        mids = ((dev[:-1] + dev[1:]) / 2).unsqueeze(1).expand(-1, batch).unbind(0)
        x, out = x0, []
        for i, h in enumerate(hs):
            x = self.step(field, starts[i], h, mids[i], starts[i + 1], x)
            if keep_state[i]:
                out.append(x)
        return out, len(hs), 0
