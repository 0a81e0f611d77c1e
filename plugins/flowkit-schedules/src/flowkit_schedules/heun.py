"""Heun's method (the explicit trapezoidal rule)."""

from torch import Tensor

from flowkit.solver import Field, FixedStepSolver


class Heun(FixedStepSolver):
    r"""Heun's second-order Runge-Kutta method.

    $$
    k_1 = v_t(x_n),\qquad k_2 = v_{t+h}(x_n + h k_1),\qquad
    x_{n+1} = x_n + \tfrac{h}{2}(k_1 + k_2).
    $$

    An Euler predictor corrected by the trapezoidal rule: order 2, two field
    evaluations per step (NFE = 2 x steps). The sampler of Karras et al.
    (EDM, 2022) for diffusion models is this method.

    Args:
        steps: number of uniform steps over ``[t0, t1]``.

    Examples:
        >>> import torch
        >>> sol = Heun(steps=10).solve(lambda t, x: -x, torch.ones(1, 1))
        >>> round(sol.x.item(), 4), sol.nfe  # exp(-1) = 0.3679
        (0.3685, 20)
    """

    order = 2
    evals_per_step = 2

    def step(self, field: Field, t: Tensor, h: float, t_mid: Tensor, t_end: Tensor, x: Tensor) -> Tensor:
        k1 = field(t, x)
        k2 = field(t_end, x.add(k1, alpha=h))
        return x.add(k1 + k2, alpha=h / 2)
