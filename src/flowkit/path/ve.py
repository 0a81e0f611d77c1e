"""The variance-exploding (score-matching) conditional path, Lipman et al. §4.1 (note §3.1), in flow time."""

import math

import torch
from torch import Tensor

from .._validate import positive_float
from .base import PathPrimitives, ProbabilityPath


class VEPath(ProbabilityPath):
    r"""Variance-exploding path written in flow time (``t = 0`` noise, ``t = 1`` data).

    $$
    \mu_t(x_1) = x_1, \qquad
    \sigma_t = \sigma_{\max} \left(\frac{\sigma_{\min}}{\sigma_{\max}}\right)^{t},
    \qquad \sigma'_t = \sigma_t \log\frac{\sigma_{\min}}{\sigma_{\max}},
    $$

    a geometric decrease from ``sigma_max`` at ``t = 0`` to ``sigma_min`` at
    ``t = 1``; the conditional field is ``u_t(x | x1) = log(sigma_min /
    sigma_max) (x - x1)``. The source is ``N(0, sigma_max^2 I)``, which stands
    in for ``p_0(x | x1) = N(x1, sigma_max^2 I)`` when ``sigma_max`` is large
    beside the data (choose it above the largest distance between data
    points, as Song & Ermon advise); ``psi_t(x0) = x1 + sigma_t x0 / sigma_max``.

    Args:
        sigma_min: noise level at the data end, ``> 0``.
        sigma_max: noise level at the noise end, ``> sigma_min``.

    Examples:
        >>> import torch
        >>> from flowkit.path import VEPath
        >>> path = VEPath(sigma_min=0.01, sigma_max=10.0)
        >>> path.sigma(torch.tensor([0.0, 0.5, 1.0]))  # geometric: sqrt(0.01 * 10) at t = 1/2
        tensor([1.0000e+01, 3.1623e-01, 1.0000e-02])
        >>> path.source_std
        10.0
    """

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 10.0) -> None:
        positive_float("sigma_min", sigma_min)
        positive_float("sigma_max", sigma_max)
        if not sigma_min < sigma_max:
            raise ValueError(
                f"need 0 < sigma_min < sigma_max; got sigma_min={sigma_min}, sigma_max={sigma_max}"
            )
        self.sigma_min = float(sigma_min)
        self.sigma_max = float(sigma_max)
        self.source_std = self.sigma_max
        self._log_ratio = math.log(self.sigma_min / self.sigma_max)

    def mu(self, t: Tensor, x1: Tensor) -> Tensor:
        return x1

    def sigma(self, t: Tensor) -> Tensor:
        return self.sigma_max * (self._log_ratio * t).exp()

    def primitives(self, t: Tensor, x1: Tensor) -> PathPrimitives:
        # closed form: mu' = 0, sigma' = log(sigma_min / sigma_max) sigma_t
        sigma = self.sigma(t)
        return PathPrimitives(mu=x1, sigma=sigma, d_mu=torch.zeros_like(x1), d_sigma=self._log_ratio * sigma)
