"""The probability-path interface: conditional Gaussian paths ``p_t(x | x1)``."""

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.func import jvp

from .._checks import check_same_shape, check_unit_interval, shape_checked
from .._types import PerSample, State, Times


def broadcast_time(t: Tensor, like: Tensor) -> Tensor:
    """View a batch of times ``(batch,)`` as ``(batch, 1, ..., 1)`` so it broadcasts over ``like``."""
    return t.reshape(t.shape + (1,) * (like.ndim - t.ndim))


@dataclass(frozen=True)
class PathSample:
    """A point on a conditional path and the velocity that moves it.

    Attributes:
        t: times, ``(batch,)``.
        x0: source samples, ``(batch, *dims)``.
        x1: data samples, ``(batch, *dims)``.
        xt: ``psi_t(x0 | x1)``, the source sample carried to time ``t``.
        target: ``u_t(xt | x1) = d/dt psi_t(x0 | x1)``, the regression target of CFM.
    """

    t: Tensor
    x0: Tensor
    x1: Tensor
    xt: Tensor
    target: Tensor


@dataclass(frozen=True)
class PathPrimitives:
    """``mu_t(x1)``, ``sigma_t`` and their time derivatives at one ``t``: everything a path is.

    Shapes follow the call: ``mu`` and ``d_mu`` broadcast like ``x1``,
    ``sigma`` and ``d_sigma`` like ``t`` (``(batch, 1, ..., 1)``).

    Attributes:
        mu: the mean ``mu_t(x1)``.
        sigma: the standard deviation ``sigma_t``.
        d_mu: ``d mu_t(x1) / dt``.
        d_sigma: ``d sigma_t / dt``.
    """

    mu: Tensor
    sigma: Tensor
    d_mu: Tensor
    d_sigma: Tensor


def primitives_by_autodiff(path: "ProbabilityPath", t: Tensor, x1: Tensor) -> PathPrimitives:
    """``path``'s primitives with the derivatives by forward-mode autograd, whatever it overrides.

    One ``torch.func.jvp`` of ``mu`` and one of ``sigma`` along ``dt = 1`` give
    each function and its time derivative in one evaluation; ``t`` is
    elementwise, so the tangent of ones yields ``d/dt`` for every entry at once.
    The default of [`ProbabilityPath.primitives`][flowkit.ProbabilityPath.primitives],
    and the reference [`flowkit.testing`](../api/testing.md) checks closed forms against.
    """
    ones = torch.ones_like(t)
    mu = jvp(lambda s: path.mu(s, x1), (t,), (ones,))  # (mu, d_mu); typed loosely by torch
    sigma = jvp(path.sigma, (t,), (ones,))
    return PathPrimitives(mu=mu[0], sigma=sigma[0], d_mu=mu[1], d_sigma=sigma[1])


class ProbabilityPath(ABC):
    r"""A conditional Gaussian probability path (Lipman et al. 2023, §2.2 and Theorem 10).

    $$
    p_t(x \mid x_1) = \mathcal{N}\big(x;\ \mu_t(x_1),\ \sigma_t^2 I\big),
    \qquad t \in [0, 1],
    $$

    with ``t = 0`` the noise end and ``t = 1`` the data end. The source
    distribution is ``p_0 = N(0, s0^2 I)`` with ``s0 = source_std``. A source
    sample ``x0`` is carried along the path by the conditional flow

    $$
    \psi_t(x_0) = \mu_t(x_1) + \sigma_t\, x_0 / s_0,
    $$

    whose velocity is the conditional vector field (Theorem 10)

    $$
    u_t(x \mid x_1) = \frac{\sigma_t'}{\sigma_t}\,(x - \mu_t(x_1)) + \mu_t'(x_1).
    $$

    A path is two functions: implementers provide ``mu`` and ``sigma``, and
    everything else follows. Their time derivatives come from forward-mode
    autograd by default; [`primitives`][flowkit.ProbabilityPath.primitives]
    returns all four at once and may be overridden with closed forms for speed
    (the built-ins do, and [`flowkit.testing`](../api/testing.md) checks any
    override against the autograd default). ``t`` arrives as a tensor already
    shaped to broadcast against ``x1`` (``(batch, 1, ..., 1)``) and lies in
    ``[0, 1]``; ``sigma`` depends on ``t`` only.

    Attributes:
        source_std: standard deviation ``s0`` of the source ``p_0 = N(0, s0^2 I)``.
        sigma_floor: lower clamp applied to ``sigma_t`` where it is divided by,
            so that ``u_t`` stays finite where a path collapses (``sigma_t = 0``).
    """

    source_std: float = 1.0
    sigma_floor: float = 1e-6

    # -- the two functions an implementer provides -------------------------------------------
    @abstractmethod
    def mu(self, t: Tensor, x1: Tensor) -> Tensor:
        """Mean ``mu_t(x1)``; ``t`` broadcasts against ``x1``."""

    @abstractmethod
    def sigma(self, t: Tensor) -> Tensor:
        """Standard deviation ``sigma_t``, elementwise in ``t``."""

    def primitives(self, t: Tensor, x1: Tensor) -> PathPrimitives:
        """``mu_t(x1)``, ``sigma_t``, ``mu'_t(x1)``, ``sigma'_t`` in one call.

        By default the derivatives are forward-mode autograd of ``mu`` and
        ``sigma`` (see [`primitives_by_autodiff`][flowkit.path.primitives_by_autodiff]);
        override with closed forms that share work between the four.
        """
        return primitives_by_autodiff(self, t, x1)

    # -- derived quantities -------------------------------------------------------------------
    def interpolate(self, t: Tensor, x0: Tensor, x1: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(psi_t(x0), d/dt psi_t(x0))`` without any checks.

        The hot path of training: ``t`` must already broadcast against ``x0``
        (see [`broadcast_time`][flowkit.path.base.broadcast_time]). Paths may
        override it with a cheaper closed form.
        """
        p = self.primitives(t, x1)
        eps = x0 if self.source_std == 1.0 else x0 / self.source_std
        return p.mu + p.sigma * eps, p.d_mu + p.d_sigma * eps

    @shape_checked
    def sample(self, t: Times, x0: State, x1: State) -> PathSample:
        """Carry source samples ``x0`` to time ``t`` on the paths conditioned on ``x1``.

        Args:
            t: times in ``[0, 1]``, ``(batch,)``.
            x0: samples of the source ``p_0``, ``(batch, *dims)``.
            x1: data samples, ``(batch, *dims)``.

        Returns:
            A [`PathSample`][flowkit.PathSample] holding ``xt = psi_t(x0)`` and
            the target ``u_t(xt | x1)``.
        """
        check_same_shape(x0, x1, "x0", "x1")
        check_unit_interval(t)
        xt, target = self.interpolate(broadcast_time(t, x1), x0, x1)
        return PathSample(t=t, x0=x0, x1=x1, xt=xt, target=target)

    @shape_checked
    def velocity(self, t: Times, x: State, x1: State) -> State:
        r"""The conditional vector field ``u_t(x | x1)`` at arbitrary points ``x``.

        ``sigma'_t / sigma_t (x - mu_t(x1)) + mu'_t(x1)``, with ``sigma_t``
        clamped below by ``sigma_floor`` so the result is finite on ``[0, 1]``.
        """
        check_same_shape(x, x1, "x", "x1")
        check_unit_interval(t)
        p = self.primitives(broadcast_time(t, x1), x1)
        rate = p.d_sigma / p.sigma.clamp_min(self.sigma_floor)
        return rate * (x - p.mu) + p.d_mu

    @shape_checked
    def log_prob(self, t: Times, x: State, x1: State) -> PerSample:
        """Log-density ``log p_t(x | x1)`` of the conditional Gaussian, ``(batch,)``."""
        check_same_shape(x, x1, "x", "x1")
        check_unit_interval(t)
        tb = broadcast_time(t, x1)
        sigma = self.sigma(tb).clamp_min(self.sigma_floor)
        z = ((x - self.mu(tb, x1)) / sigma).flatten(1)
        d = z.shape[1]
        log_sigma = torch.log(sigma).flatten()
        return -0.5 * z.square().sum(1) - d * log_sigma - 0.5 * d * math.log(2 * math.pi)

    def sample_source(
        self,
        shape: tuple[int, ...] | torch.Size,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Draw ``x0 ~ p_0 = N(0, source_std^2 I)`` of the full shape ``(batch, *dims)``."""
        x0 = torch.randn(tuple(shape), device=device, dtype=dtype, generator=generator)
        return x0 if self.source_std == 1.0 else x0 * self.source_std

    @shape_checked
    def source_log_prob(self, x0: State) -> PerSample:
        """Log-density of the source ``p_0`` at ``x0``, summed over all non-batch axes."""
        flat = x0.flatten(1)
        d = flat.shape[1]
        s0 = self.source_std
        return -0.5 * flat.square().sum(1) / s0**2 - d * math.log(s0) - 0.5 * d * math.log(2 * math.pi)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"
