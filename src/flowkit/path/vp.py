"""The variance-preserving (diffusion) conditional path, Lipman et al. §4.1 (note §3.1), in flow time."""

import math

import torch
from torch import Tensor

from .._validate import in_interval, positive_float
from .base import PathPrimitives, ProbabilityPath


class VPPath(ProbabilityPath):
    r"""Variance-preserving diffusion path written in flow time (``t = 0`` noise, ``t = 1`` data).

    $$
    \mu_t(x_1) = \alpha_t x_1, \qquad \sigma_t = \sqrt{1 - \alpha_t^2}, \qquad
    \alpha_t = e^{-T(1 - t)/2},\qquad
    T(s) = \int_0^s \beta(r)\,dr = \beta_{\min} s + \tfrac12(\beta_{\max} - \beta_{\min}) s^2,
    $$

    with the linear schedule ``beta(r) = beta_min + r (beta_max - beta_min)`` of
    DDPM/score SDEs. Derivatives: ``alpha'_t = alpha_t beta(1 - t) / 2`` and
    ``sigma'_t = -alpha_t alpha'_t / sigma_t``, all four from one evaluation
    of ``T`` in [`primitives`][flowkit.path.VPPath.primitives].

    The path is singular at ``t = 1`` (``sigma_1 = 0`` while ``sigma'_1 = -inf``).
    To stay finite on the closed interval, time is clamped to ``[0, 1 - eps]``
    inside ``mu`` and ``sigma``, so ``sigma_1 = sqrt(1 - exp(-T(eps)))
    ~ sqrt(beta_min eps)`` (about ``1e-3`` for the defaults) and
    ``mu_1 = alpha_{1-eps} x1`` (``1 - 5e-7`` relative). At ``t = 0`` the path
    starts from ``alpha_0 = e^{-T(1)/2} ~ 6.6e-3``, not exactly zero, as in
    the paper. The source is ``N(0, sigma_0^2 I)`` (``source_std = sigma_0``, just
    below one), so that ``psi_0(x0) = alpha_0 x1 + x0``.

    Args:
        beta_min: ``beta`` at the data end.
        beta_max: ``beta`` at the noise end.
        eps: width of the clamp below ``t = 1``.

    Examples:
        >>> import torch
        >>> from flowkit.path import VPPath
        >>> path, t = VPPath(), torch.tensor([0.0, 0.5, 1.0])
        >>> path.alpha(t), path.sigma(t)  # alpha_0 = e^{-T(1)/2}; sigma_1 is the clamp's
        (tensor([0.0066, 0.2812, 1.0000]), tensor([1.0000, 0.9597, 0.0010]))
    """

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, eps: float = 1e-5) -> None:
        self.beta_min = positive_float("beta_min", beta_min)
        self.beta_max = positive_float("beta_max", beta_max)
        if not beta_min <= beta_max:
            raise ValueError(f"need beta_min <= beta_max; got beta_min={beta_min}, beta_max={beta_max}")
        self.eps = in_interval("eps", eps, 0.0, 1.0, low_open=True, high_open=True)
        # The source must match sigma_0 so that psi_0(x0) = alpha_0 x1 + x0 starts from x0's
        # spread; sigma_0 = sqrt(1 - e^{-T(1)}) is one up to 2e-5 with the default betas.
        self.source_std = self.sigma_max

    def _s(self, t: Tensor) -> Tensor:
        """Diffusion time ``s = 1 - t`` after the clamp."""
        return (1.0 - t).clamp_min(self.eps)

    def _integral(self, s: Tensor) -> Tensor:
        return self.beta_min * s + 0.5 * (self.beta_max - self.beta_min) * s.square()

    def _beta(self, s: Tensor) -> Tensor:
        return self.beta_min + (self.beta_max - self.beta_min) * s

    def alpha(self, t: Tensor) -> Tensor:
        """``alpha_t = exp(-T(1 - t) / 2)``."""
        return torch.exp(-0.5 * self._integral(self._s(t)))

    def mu(self, t: Tensor, x1: Tensor) -> Tensor:
        return self.alpha(t) * x1

    def sigma(self, t: Tensor) -> Tensor:
        # 1 - alpha^2 = -expm1(-T): accurate where alpha is close to one.
        return torch.sqrt(-torch.expm1(-self._integral(self._s(t))))

    def primitives(self, t: Tensor, x1: Tensor) -> PathPrimitives:
        """All four from one evaluation of ``T(1 - t)``.

        ``alpha' = alpha beta(1 - t) / 2`` and ``sigma' = -alpha alpha' / sigma``,
        both zero on the clamped stretch, where ``mu`` and ``sigma`` are constant.
        """
        s = self._s(t)
        integral = self._integral(s)
        alpha = torch.exp(-0.5 * integral)
        sigma = torch.sqrt(-torch.expm1(-integral))
        d_alpha = torch.where((1.0 - t) > self.eps, 0.5 * self._beta(s) * alpha, 0.0)
        return PathPrimitives(mu=alpha * x1, sigma=sigma, d_mu=d_alpha * x1, d_sigma=-alpha * d_alpha / sigma)

    @property
    def sigma_max(self) -> float:
        """``sigma_0``, just below one."""
        return math.sqrt(-math.expm1(-(self.beta_min + 0.5 * (self.beta_max - self.beta_min))))
