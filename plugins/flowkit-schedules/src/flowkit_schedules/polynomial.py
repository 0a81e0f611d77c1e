"""The polynomial schedule: the straight-line path on the clock ``s = t^p``."""

from torch import Tensor

from flowkit.path import PathPrimitives, ProbabilityPath


class PolynomialPath(ProbabilityPath):
    r"""Polynomial conditional path.

    $$
    \mu_t(x_1) = t^p\, x_1, \qquad \sigma_t = 1 - (1 - \sigma_{\min})\, t^p,
    \qquad p \ge 1,
    $$

    i.e. the optimal-transport path ``psi = (1 - (1 - sigma_min) s) x0 + s x1``
    run on the clock ``s = t^p``. The trajectories are the same straight lines;
    only the speed changes, ``d psi/dt = p t^(p-1) (x1 - (1 - sigma_min) x0)``:
    with ``p > 1`` the path lingers near the noise and hurries near the data,
    which moves training weight (``t ~ U[0, 1]``) towards the noisy end.
    ``p = 1`` is the ``ot`` path. ``p < 1`` is refused: its velocity is
    infinite at ``t = 0``.

    Args:
        power: the exponent ``p >= 1``.
        sigma_min: standard deviation at the data end, ``0 <= sigma_min < 1``.

    Examples:
        >>> import torch
        >>> path = PolynomialPath(power=2)
        >>> s = path.sample(torch.tensor([0.5]), torch.zeros(1, 1), torch.ones(1, 1))
        >>> s.xt, s.target  # t^2 = 0.25, 2 t = 1
        (tensor([[0.2500]]), tensor([[1.]]))
    """

    def __init__(self, power: float = 2.0, sigma_min: float = 0.0) -> None:
        if isinstance(power, bool) or not isinstance(power, (int, float)) or not power >= 1.0:
            raise ValueError(
                f"power must be a number >= 1 (the velocity is infinite at t = 0 below 1); got {power!r}"
            )
        if not 0.0 <= sigma_min < 1.0:
            raise ValueError(
                f"sigma_min must satisfy 0 <= sigma_min < 1 for the polynomial path; got {sigma_min}"
            )
        self.power = float(power)
        self.sigma_min = float(sigma_min)

    def _clock(self, t: Tensor) -> Tensor:
        return t.pow(self.power)

    def _rate(self, t: Tensor) -> Tensor:
        return self.power * t.pow(self.power - 1.0)

    def mu(self, t: Tensor, x1: Tensor) -> Tensor:
        return self._clock(t) * x1

    def sigma(self, t: Tensor) -> Tensor:
        return 1.0 - (1.0 - self.sigma_min) * self._clock(t)

    def primitives(self, t: Tensor, x1: Tensor) -> PathPrimitives:
        # closed form, the clock and its rate computed once (autograd would give the same)
        clock, rate = self._clock(t), self._rate(t)
        return PathPrimitives(
            mu=clock * x1,
            sigma=1.0 - (1.0 - self.sigma_min) * clock,
            d_mu=rate * x1,
            d_sigma=-(1.0 - self.sigma_min) * rate,
        )
