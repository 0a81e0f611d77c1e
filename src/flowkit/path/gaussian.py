"""A Gaussian path from any user functions, with derivatives by forward-mode autograd."""

from collections.abc import Callable

import torch
from torch import Tensor
from torch.func import jvp

from .base import ProbabilityPath


class GaussianPath(ProbabilityPath):
    r"""A conditional Gaussian path from two user functions.

    ``mu(t, x1)`` and ``sigma(t)`` are any differentiable torch functions with
    ``mu(0, x1) = 0`` (or the source mean), ``mu(1, x1) ~ x1``, ``sigma(0) = s0``
    and ``sigma(1) = sigma_min``; ``t`` arrives shaped to broadcast against
    ``x1``. The time derivatives ``mu'_t`` and ``sigma'_t`` are computed by
    forward-mode automatic differentiation (one Jacobian-vector product each),
    so a new path is two lines of user code. The source std is ``sigma(0)``.

    Args:
        mu: ``(t, x1) -> mu_t(x1)``.
        sigma: ``t -> sigma_t``.

    Examples:
        >>> import math, torch
        >>> from flowkit.path import GaussianPath
        >>> cosine = GaussianPath(
        ...     mu=lambda t, x1: torch.sin(0.5 * math.pi * t) * x1,
        ...     sigma=lambda t: torch.cos(0.5 * math.pi * t),
        ... )
        >>> cosine.d_mu(torch.zeros(1, 1), torch.ones(1, 2))  # pi/2 * cos(0)
        tensor([[1.5708, 1.5708]])
    """

    def __init__(self, mu: Callable[[Tensor, Tensor], Tensor], sigma: Callable[[Tensor], Tensor]) -> None:
        if not callable(mu) or not callable(sigma):
            raise TypeError(
                f"mu and sigma must be callables; got mu: {type(mu).__name__}, sigma: {type(sigma).__name__}"
            )
        self._mu_fn = mu
        self._sigma_fn = sigma
        s0 = float(sigma(torch.zeros(())))
        if not s0 > 0.0:
            raise ValueError(f"sigma(0) must be positive (it is the source std); got {s0}")
        self.source_std = s0

    def mu(self, t: Tensor, x1: Tensor) -> Tensor:
        return self._mu_fn(t, x1)

    def sigma(self, t: Tensor) -> Tensor:
        return self._sigma_fn(t)

    def d_mu(self, t: Tensor, x1: Tensor) -> Tensor:
        return jvp(lambda s: self._mu_fn(s, x1), (t,), (torch.ones_like(t),))[1]

    def d_sigma(self, t: Tensor) -> Tensor:
        return jvp(self._sigma_fn, (t,), (torch.ones_like(t),))[1]

    def __repr__(self) -> str:
        return f"GaussianPath(mu={self._mu_fn!r}, sigma={self._sigma_fn!r})"
