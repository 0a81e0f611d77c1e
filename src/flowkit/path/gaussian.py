"""A Gaussian path from two user functions, without writing a class."""

from collections.abc import Callable

import torch
from torch import Tensor

from .base import ProbabilityPath


class GaussianPath(ProbabilityPath):
    r"""A conditional Gaussian path from two user functions, ``mu(t, x1)`` and ``sigma(t)``.

    Subclassing [`ProbabilityPath`][flowkit.ProbabilityPath] with ``mu`` and
    ``sigma`` is the usual way to write a path; this class is the same for
    two functions given as values, so a path can be named in
    ``flowkit.build(path="gaussian", path_options={"mu": ..., "sigma": ...})``
    or tried in a notebook without a class. Both are differentiable torch
    functions with ``mu(0, x1) = 0`` (or the source mean), ``mu(1, x1) ~ x1``,
    ``sigma(0) = s0`` and ``sigma(1) = sigma_min``; ``t`` arrives shaped to
    broadcast against ``x1``. Their time derivatives are the base class's
    default, forward-mode autograd. The source std is ``sigma(0)``.

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
        >>> cosine.primitives(torch.zeros(1, 1), torch.ones(1, 2)).d_mu  # pi/2 * cos(0)
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

    def __repr__(self) -> str:
        return f"GaussianPath(mu={self._mu_fn!r}, sigma={self._sigma_fn!r})"
