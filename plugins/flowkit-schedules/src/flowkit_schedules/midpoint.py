"""The explicit midpoint method."""

from torch import Tensor

from flowkit.solver import Field, FixedStepSolver


class Midpoint(FixedStepSolver):
    r"""The explicit midpoint method (second-order Runge-Kutta).

    $$
    x_{n+1} = x_n + h\, v_{t + h/2}\big(x_n + \tfrac{h}{2} v_t(x_n)\big).
    $$

    Order 2, two field evaluations per step (NFE = 2 x steps).

    Args:
        steps: number of uniform steps over ``[t0, t1]``.

    Examples:
        >>> import torch
        >>> sol = Midpoint(steps=10).solve(lambda t, x: -x, torch.ones(1, 1))
        >>> round(sol.x.item(), 4), sol.nfe
        (0.3685, 20)
    """

    order = 2
    evals_per_step = 2

    def step(self, field: Field, t: Tensor, h: float, t_mid: Tensor, t_end: Tensor, x: Tensor) -> Tensor:
        return x.add(field(t_mid, x.add(field(t, x), alpha=h / 2)), alpha=h)
