"""The explicit Euler method."""

from torch import Tensor

from .base import Field
from .fixed import FixedStepSolver


class Euler(FixedStepSolver):
    r"""Explicit Euler: ``x_{n+1} = x_n + h v_{t_n}(x_n)``.

    First order; one field evaluation per step (NFE = steps).

    Args:
        steps: number of uniform steps over ``[t0, t1]``.

    Examples:
        >>> import torch
        >>> from flowkit.solver import Euler
        >>> sol = Euler(steps=10).solve(lambda t, x: -x, torch.ones(1, 1))
        >>> round(sol.x.item(), 4), sol.nfe  # (1 - 0.1)^10
        (0.3487, 10)
    """

    order = 1
    evals_per_step = 1

    def step(self, field: Field, t: Tensor, h: float, t_mid: Tensor, t_end: Tensor, x: Tensor) -> Tensor:
        return x.add(field(t, x), alpha=h)
