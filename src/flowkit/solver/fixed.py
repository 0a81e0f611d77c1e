"""Shared machinery of one-step (Runge-Kutta) methods on a fixed grid."""

from abc import abstractmethod
from collections.abc import Iterator
from typing import ClassVar

from torch import Tensor

from .base import Field
from .grid import Grid, GridSolver


class FixedStepSolver(GridSolver):
    """A one-step method on a uniform grid of ``steps`` steps over ``[t0, t1]``.

    A subclass writes [`step`][flowkit.solver.FixedStepSolver.step] and sets
    ``order`` and ``evals_per_step``.

    Requested output times are inserted into the grid as extra nodes, so each
    is hit exactly (no interpolation) at the price of one extra step each
    when it does not already lie on the grid (see
    [`GridSolver`][flowkit.solver.GridSolver]).

    Attributes:
        evals_per_step: field evaluations per step (class attribute); the
            documented cost is then ``evals_per_step * n_steps``.

    Args:
        steps: number of steps over the whole interval, ``> 0``.
    """

    evals_per_step: ClassVar[int]

    @abstractmethod
    def step(self, field: Field, t: Tensor, h: float, t_mid: Tensor, t_end: Tensor, x: Tensor) -> Tensor:
        """Advance ``x`` from time ``t`` by ``h`` (``t_mid = t + h/2``, ``t_end = t + h``; batch-shaped)."""

    def evaluations(self, n_steps: int) -> int | None:
        """``evals_per_step * n_steps`` when the class declares ``evals_per_step``."""
        per_step = getattr(type(self), "evals_per_step", None)
        return None if per_step is None else per_step * n_steps

    def march(self, field: Field, x0: Tensor, grid: Grid) -> Iterator[Tensor]:
        # All per-step times as batch-shaped views, made before the loop in two kernels.
        nodes = grid.nodes_like(x0)
        starts = grid.batched(nodes, x0.shape[0])
        mids = grid.batched((nodes[:-1] + nodes[1:]) / 2, x0.shape[0])
        x = x0
        for i, h in enumerate(grid.h):
            x = self.step(field, starts[i], h, mids[i], starts[i + 1], x)
            yield x
