"""The optimal-transport (straight-line) conditional path, Lipman et al. §4.1 (note §3.2)."""

import torch
from torch import Tensor

from .._validate import in_interval
from .base import PathPrimitives, ProbabilityPath


class OTPath(ProbabilityPath):
    r"""Optimal-transport conditional path.

    $$
    \mu_t(x_1) = t\,x_1, \qquad \sigma_t = 1 - (1 - \sigma_{\min})\,t,
    $$

    so ``psi_t(x0) = (1 - (1 - sigma_min) t) x0 + t x1`` moves every source
    point on a straight line at constant speed, and the CFM target is
    ``x1 - (1 - sigma_min) x0`` whatever ``t`` is. With ``sigma_min = 0`` this is
    the plain interpolation ``(1 - t) x0 + t x1`` with target ``x1 - x0``.

    Args:
        sigma_min: standard deviation of ``p_1(x | x1)``; ``0 <= sigma_min < 1``.

    Examples:
        >>> import torch
        >>> from flowkit.path import OTPath
        >>> path = OTPath()
        >>> x0, x1 = torch.zeros(1, 2), torch.ones(1, 2)
        >>> path.sample(torch.tensor([0.25]), x0, x1).xt
        tensor([[0.2500, 0.2500]])
    """

    def __init__(self, sigma_min: float = 0.0) -> None:
        self.sigma_min = in_interval("sigma_min", sigma_min, 0.0, 1.0, high_open=True)

    def mu(self, t: Tensor, x1: Tensor) -> Tensor:
        return t * x1

    def sigma(self, t: Tensor) -> Tensor:
        return 1.0 - (1.0 - self.sigma_min) * t

    def primitives(self, t: Tensor, x1: Tensor) -> PathPrimitives:
        # closed form: mu' = x1, sigma' = sigma_min - 1
        return PathPrimitives(
            mu=t * x1, sigma=self.sigma(t), d_mu=x1, d_sigma=torch.full_like(t, self.sigma_min - 1.0)
        )

    def interpolate(self, t: Tensor, x0: Tensor, x1: Tensor) -> tuple[Tensor, Tensor]:
        # Closed form in two kernels: the target does not depend on t.
        target = x1 - (1.0 - self.sigma_min) * x0 if self.sigma_min else x1 - x0
        return x0.addcmul(t, target), target
