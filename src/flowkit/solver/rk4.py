"""The classical fourth-order Runge-Kutta method."""

from torch import Tensor

from .base import Field
from .fixed import FixedStepSolver


class RK4(FixedStepSolver):
    r"""Classical Runge-Kutta of order 4.

    $$
    k_1 = v_t(x),\ k_2 = v_{t+h/2}(x + \tfrac h2 k_1),\
    k_3 = v_{t+h/2}(x + \tfrac h2 k_2),\ k_4 = v_{t+h}(x + h k_3),\qquad
    x_{n+1} = x_n + \tfrac h6 (k_1 + 2k_2 + 2k_3 + k_4).
    $$

    Four field evaluations per step (NFE = 4 x steps).

    Args:
        steps: number of uniform steps over ``[t0, t1]``.

    Examples:
        >>> import torch
        >>> from flowkit.solver import RK4
        >>> sol = RK4(steps=10).solve(lambda t, x: -x, torch.ones(1, 1))
        >>> round(sol.x.item(), 5), sol.nfe  # exp(-1) = 0.367879
        (0.36788, 40)
    """

    order = 4
    evals_per_step = 4

    def step(self, field: Field, t: Tensor, h: float, t_mid: Tensor, t_end: Tensor, x: Tensor) -> Tensor:
        k1 = field(t, x)
        k2 = field(t_mid, x.add(k1, alpha=h / 2))
        k3 = field(t_mid, x.add(k2, alpha=h / 2))
        k4 = field(t_end, x.add(k3, alpha=h))
        return x.add(k1 + 2 * (k2 + k3) + k4, alpha=h / 6)
