"""The probability-path interface: conditional Gaussian paths ``p_t(x | x1)``."""

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import Tensor

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

    Implementers provide ``mu``, ``sigma`` and their time derivatives ``d_mu``,
    ``d_sigma``; everything else follows. In those four methods ``t`` is a
    tensor already shaped to broadcast against ``x1`` (``(batch, 1, ..., 1)``)
    and lies in ``[0, 1]``; ``sigma`` depends on ``t`` only.

    Attributes:
        source_std: standard deviation ``s0`` of the source ``p_0 = N(0, s0^2 I)``.
        sigma_floor: lower clamp applied to ``sigma_t`` where it is divided by,
            so that ``u_t`` stays finite where a path collapses (``sigma_t = 0``).
    """

    source_std: float = 1.0
    sigma_floor: float = 1e-6

    # -- the four primitives an implementer provides ------------------------------------------
    @abstractmethod
    def mu(self, t: Tensor, x1: Tensor) -> Tensor:
        """Mean ``mu_t(x1)``; ``t`` broadcasts against ``x1``."""

    @abstractmethod
    def sigma(self, t: Tensor) -> Tensor:
        """Standard deviation ``sigma_t``, elementwise in ``t``."""

    @abstractmethod
    def d_mu(self, t: Tensor, x1: Tensor) -> Tensor:
        """Time derivative ``d mu_t(x1) / dt``."""

    @abstractmethod
    def d_sigma(self, t: Tensor) -> Tensor:
        """Time derivative ``d sigma_t / dt``."""

    # -- derived quantities -------------------------------------------------------------------
    def interpolate(self, t: Tensor, x0: Tensor, x1: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(psi_t(x0), d/dt psi_t(x0))`` without any checks.

        The hot path of training: ``t`` must already broadcast against ``x0``
        (see [`broadcast_time`][flowkit.path.base.broadcast_time]). Paths may
        override it with a cheaper closed form.
        """
        eps = x0 if self.source_std == 1.0 else x0 / self.source_std
        xt = self.mu(t, x1) + self.sigma(t) * eps
        target = self.d_mu(t, x1) + self.d_sigma(t) * eps
        return xt, target

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
        tb = broadcast_time(t, x1)
        mu = self.mu(tb, x1)
        rate = self.d_sigma(tb) / self.sigma(tb).clamp_min(self.sigma_floor)
        return rate * (x - mu) + self.d_mu(tb, x1)

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
