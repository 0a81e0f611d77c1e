"""The cosine schedule: a quarter turn from noise to data."""

import math

import torch
from torch import Tensor

from flowkit.path import PathPrimitives, ProbabilityPath

_HALF_PI = 0.5 * math.pi


class CosinePath(ProbabilityPath):
    r"""Cosine conditional path (the "trigonometric" interpolant).

    $$
    \mu_t(x_1) = \sin(\tfrac{\pi}{2} t)\, x_1, \qquad
    \sigma_t = \sigma_{\min} + (1 - \sigma_{\min}) \cos(\tfrac{\pi}{2} t),
    $$

    from the source ``N(0, I)`` at ``t = 0`` to ``N(x1, sigma_min^2 I)`` at
    ``t = 1``. With ``sigma_min = 0``, ``psi_t(x0) = cos(pi t/2) x0 + sin(pi t/2) x1``
    keeps ``alpha_t^2 + sigma_t^2 = 1``: a variance-preserving path whose
    conditional velocity ``(pi/2)(cos(pi t/2) x1 - sin(pi t/2) x0)`` has constant
    norm for orthogonal ``x0, x1``.

    Args:
        sigma_min: standard deviation at the data end, ``0 <= sigma_min < 1``.

    References:
        Nichol & Dhariwal, "Improved Denoising Diffusion Probabilistic Models", ICML 2021
        (the cosine schedule); Albergo & Vanden-Eijnden, "Building Normalizing Flows with
        Stochastic Interpolants", ICLR 2023 (the trigonometric interpolant).

    Examples:
        >>> import torch
        >>> path = CosinePath()
        >>> s = path.sample(torch.tensor([0.5]), torch.zeros(1, 2), torch.ones(1, 2))
        >>> s.xt  # sin(pi/4) x1
        tensor([[0.7071, 0.7071]])
    """

    def __init__(self, sigma_min: float = 0.0) -> None:
        if not 0.0 <= sigma_min < 1.0:
            raise ValueError(
                f"sigma_min must satisfy 0 <= sigma_min < 1 for the cosine path; got {sigma_min}"
            )
        self.sigma_min = float(sigma_min)

    def mu(self, t: Tensor, x1: Tensor) -> Tensor:
        return torch.sin(_HALF_PI * t) * x1

    def sigma(self, t: Tensor) -> Tensor:
        return self.sigma_min + (1.0 - self.sigma_min) * torch.cos(_HALF_PI * t)

    def primitives(self, t: Tensor, x1: Tensor) -> PathPrimitives:
        # closed form: one sine and one cosine serve all four
        sin, cos = torch.sin(_HALF_PI * t), torch.cos(_HALF_PI * t)
        return PathPrimitives(
            mu=sin * x1,
            sigma=self.sigma_min + (1.0 - self.sigma_min) * cos,
            d_mu=_HALF_PI * cos * x1,
            d_sigma=-(1.0 - self.sigma_min) * _HALF_PI * sin,
        )
