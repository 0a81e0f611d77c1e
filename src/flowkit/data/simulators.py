r"""Simulators with known posteriors, for simulation-based inference (posterior estimation).

A simulator draws parameters from a prior, ``theta ~ p(theta)``, and data from the
likelihood, ``x ~ p(x | theta)``. A conditional flow trained on the pairs, with ``x`` as
``context=`` and ``theta`` as the sample, estimates the posterior ``p(theta | x)``
(flow-matching posterior estimation, FMPE). Both simulators here know the true posterior,
so the estimate can be checked against it:

* [`GaussianLinear`][flowkit.data.simulators.GaussianLinear]: the posterior is Gaussian in
  closed form (exact density and exact samples).
* [`TwoMoons`][flowkit.data.simulators.TwoMoons]: the SBI benchmark's crescent-shaped
  posterior. Its density is known in closed form *up to normalisation*; exact posterior
  samples come from a two-branch inversion of the simulator with rejection at the prior's
  box, and the normaliser from a Monte Carlo estimate of the same construction (relative
  error about ``1 / sqrt(n_mc)``; 1e-3 at the default ``n_mc = 10^6``).

References:
    Lueckmann et al., "Benchmarking simulation-based inference", AISTATS 2021 (two moons).
    Wildberger et al., "Flow matching for scalable simulation-based inference", NeurIPS 2023.
"""

import math
from abc import ABC, abstractmethod

import torch
from torch import Tensor

from .._validate import positive_float, positive_int


class Simulator(ABC):
    """A prior and a simulator of data given parameters, with the posterior where it is known.

    Attributes:
        theta_dim: number of parameters.
        x_dim: number of data features (the ``context_dim`` of a posterior estimator).
    """

    theta_dim: int
    x_dim: int

    @abstractmethod
    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` parameter draws ``(n, theta_dim)``."""

    @abstractmethod
    def simulate_given(self, theta: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One data draw ``(n, x_dim)`` per parameter row of ``theta``."""

    def simulate(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``n`` pairs ``(theta, x)``: ``theta ~ p(theta)``, ``x ~ p(x | theta)``."""
        positive_int("n", n)
        theta = self.sample_prior(n, generator)
        return theta, self.simulate_given(theta, generator)

    @abstractmethod
    def log_posterior(self, theta: Tensor, x: Tensor) -> Tensor:
        """``log p(theta | x)`` for matched rows ``(n, theta_dim)``, ``(n, x_dim)`` (or one ``x`` row)."""

    @abstractmethod
    def sample_posterior(self, x: Tensor, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` exact draws ``(n, theta_dim)`` from ``p(theta | x)`` for one observation ``x (1, x_dim)``."""


class GaussianLinear(Simulator):
    r"""``theta ~ N(0, I_d)``, ``x = A theta + b + sigma eps`` with ``eps ~ N(0, I_m)``.

    The posterior is Gaussian:

    $$
    p(\theta \mid x) = \mathcal N\big(\Sigma A^\top (x - b) / \sigma^2,\ \Sigma\big),
    \qquad \Sigma = \big(I + A^\top A / \sigma^2\big)^{-1}.
    $$

    Args:
        theta_dim: ``d``.
        x_dim: ``m`` (default ``d``).
        noise: ``sigma``.
        seed: seed of the fixed ``A`` (entries ``N(0, 1/d)``) and ``b`` (entries ``N(0, 1/4)``).

    Examples:
        >>> import torch
        >>> sim = GaussianLinear(theta_dim=2, noise=0.5)
        >>> theta, x = sim.simulate(3, generator=torch.Generator().manual_seed(0))
        >>> theta.shape, x.shape, sim.log_posterior(theta, x).shape
        (torch.Size([3, 2]), torch.Size([3, 2]), torch.Size([3]))
    """

    def __init__(
        self, theta_dim: int = 2, x_dim: int | None = None, noise: float = 0.5, seed: int = 0
    ) -> None:
        self.theta_dim = positive_int("theta_dim", theta_dim)
        self.x_dim = positive_int("x_dim", x_dim) if x_dim is not None else theta_dim
        self.noise = positive_float("noise", noise)
        g = torch.Generator().manual_seed(seed)
        self.A = torch.randn(self.x_dim, self.theta_dim, generator=g, dtype=torch.float64) / math.sqrt(
            theta_dim
        )
        self.b = 0.5 * torch.randn(self.x_dim, generator=g, dtype=torch.float64)
        precision = torch.eye(self.theta_dim, dtype=torch.float64) + self.A.T @ self.A / self.noise**2
        self.posterior_cov = torch.linalg.inv(precision)
        self._chol = torch.linalg.cholesky(self.posterior_cov)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return torch.randn(n, self.theta_dim, generator=generator)

    def simulate_given(self, theta: Tensor, generator: torch.Generator | None = None) -> Tensor:
        mean = theta.double() @ self.A.T + self.b
        eps = torch.randn(mean.shape, generator=generator, dtype=torch.float64)
        return (mean + self.noise * eps).to(theta.dtype)

    def posterior_mean(self, x: Tensor) -> Tensor:
        """The posterior mean ``(n, theta_dim)`` for observations ``x (n, x_dim)``."""
        return ((x.double() - self.b) @ self.A / self.noise**2) @ self.posterior_cov.T

    def log_posterior(self, theta: Tensor, x: Tensor) -> Tensor:
        dist = torch.distributions.MultivariateNormal(self.posterior_mean(x), scale_tril=self._chol)
        return dist.log_prob(theta.double()).to(theta.dtype)

    def sample_posterior(self, x: Tensor, n: int, generator: torch.Generator | None = None) -> Tensor:
        z = torch.randn(n, self.theta_dim, generator=generator, dtype=torch.float64)
        return (self.posterior_mean(x.reshape(1, -1)) + z @ self._chol.T).to(x.dtype)


class TwoMoons(Simulator):
    r"""The SBI benchmark's "two moons": ``theta ~ U([-1, 1]^2)``, a noise crescent shifted by ``f(theta)``.

    $$
    a \sim U(-\tfrac\pi2, \tfrac\pi2),\ r \sim \mathcal N(0.1, 0.01^2),\
    p = (r\cos a + 0.25,\ r \sin a),\quad
    x = p + f(\theta),\
    f(\theta) = \Big(-\tfrac{|\theta_1 + \theta_2|}{\sqrt2},\ \tfrac{\theta_2 - \theta_1}{\sqrt2}\Big).
    $$

    **Posterior.** ``f`` is a rotation (with a fold), so it has unit Jacobian on each of the
    two half-planes ``theta_1 + theta_2 >= 0`` and ``< 0``; with the uniform prior,
    ``p(theta | x) = p_noise(x - f(theta)) 1[theta in box] / Z(x)``, where the crescent's
    density in polar coordinates ``(r, a)`` around ``(0.25, 0)`` is
    ``N(r; 0.1, 0.01^2) / (pi r)`` for ``|a| < pi/2``. That density is closed-form; ``Z(x)``
    is not, and is estimated by Monte Carlo (see the module docstring). Exact samples: draw
    ``p``, invert ``f`` on a random branch, reject points outside the box.

    Examples:
        >>> import torch
        >>> sim = TwoMoons()
        >>> theta, x = sim.simulate(4, generator=torch.Generator().manual_seed(0))
        >>> bool(torch.isfinite(sim.log_posterior(theta, x)).all())  # the truth has positive density
        True
    """

    theta_dim = 2
    x_dim = 2
    R_MEAN, R_STD, SHIFT = 0.1, 0.01, 0.25

    def __init__(self, n_mc: int = 1_000_000) -> None:
        self.n_mc = positive_int("n_mc", n_mc)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return 2.0 * torch.rand(n, 2, generator=generator) - 1.0

    def _crescent(self, n: int, generator: torch.Generator | None, dtype: torch.dtype) -> Tensor:
        a = (torch.rand(n, generator=generator, dtype=dtype) - 0.5) * math.pi
        r = self.R_MEAN + self.R_STD * torch.randn(n, generator=generator, dtype=dtype)
        return torch.stack([r * torch.cos(a) + self.SHIFT, r * torch.sin(a)], dim=1)

    @staticmethod
    def shift(theta: Tensor) -> Tensor:
        """``f(theta)``, ``(n, 2)``."""
        s = math.sqrt(0.5)
        return torch.stack([-(theta[:, 0] + theta[:, 1]).abs() * s, (theta[:, 1] - theta[:, 0]) * s], dim=1)

    def simulate_given(self, theta: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return self._crescent(theta.shape[0], generator, theta.dtype) + self.shift(theta)

    def log_likelihood(self, theta: Tensor, x: Tensor) -> Tensor:
        """``log p(x | theta)`` in closed form, ``(n,)`` (``-inf`` off the crescent's half-plane)."""
        u = x.double() - self.shift(theta.double()) - torch.tensor([self.SHIFT, 0.0], dtype=torch.float64)
        r = u.norm(dim=1)
        log_n = -0.5 * ((r - self.R_MEAN) / self.R_STD) ** 2 - math.log(self.R_STD * math.sqrt(2 * math.pi))
        out = log_n - math.log(math.pi) - torch.log(r)
        return torch.where(u[:, 0] > 0, out, -torch.inf)

    def log_posterior_unnormalized(self, theta: Tensor, x: Tensor) -> Tensor:
        """``log p(x | theta) + log p(theta)``, ``(n,)``: the posterior up to ``log Z(x)``."""
        inside = (theta.abs() <= 1).all(dim=1)
        return torch.where(inside, self.log_likelihood(theta, x) - math.log(4.0), -torch.inf)

    def _invert(self, x: Tensor, p: Tensor, branch: Tensor) -> Tensor:
        z = x.double().reshape(1, 2) - p  # = f(theta): z1 = -|s|/sqrt2, z2 = d/sqrt2
        s = -math.sqrt(2.0) * z[:, 0] * torch.where(branch, 1.0, -1.0)
        d = math.sqrt(2.0) * z[:, 1]
        theta = torch.stack([(s - d) / 2, (s + d) / 2], dim=1)
        ok = (z[:, 0] <= 0) & (theta.abs() <= 1).all(dim=1)
        return torch.where(ok.unsqueeze(1), theta, torch.nan)

    def log_normalizer(self, x: Tensor, generator: torch.Generator | None = None) -> float:
        r"""``log Z(x)`` for one observation, by Monte Carlo over ``n_mc`` crescent draws ``p``.

        ``Z = (1/4) sum_branch P_p(theta_branch(x - p) in box)``: the prior density ``1/4``
        times the mass the two inverse branches of ``f`` carry into the box.
        """
        g = generator if generator is not None else torch.Generator().manual_seed(0)
        p = self._crescent(self.n_mc, g, torch.float64)
        hits = sum(
            float(torch.isfinite(self._invert(x, p, torch.full((self.n_mc,), b)))[:, 0].double().mean())
            for b in (True, False)
        )
        return math.log(hits / 4.0)

    def log_posterior(self, theta: Tensor, x: Tensor) -> Tensor:
        """``log p(theta | x)`` for matched rows; a Monte Carlo ``log Z`` per distinct ``x``."""
        x = x.reshape(-1, 2).expand(theta.shape[0], 2) if x.numel() == 2 else x
        out = self.log_posterior_unnormalized(theta, x)
        rows, index = torch.unique(x, dim=0, return_inverse=True)
        log_z = torch.tensor([self.log_normalizer(row.unsqueeze(0)) for row in rows], dtype=out.dtype)
        return (out - log_z[index]).to(theta.dtype)

    def sample_posterior(self, x: Tensor, n: int, generator: torch.Generator | None = None) -> Tensor:
        positive_int("n", n)
        out: list[Tensor] = []
        have = 0
        while have < n:
            m = 4 * (n - have) + 64
            p = self._crescent(m, generator, torch.float64)
            branch = torch.rand(m, generator=generator) < 0.5
            theta = self._invert(x, p, branch)
            theta = theta[torch.isfinite(theta[:, 0])]
            if theta.shape[0] == 0 and have == 0 and len(out) > 50:
                raise ValueError("x lies where the posterior has (almost) no mass; no sample was accepted")
            out.append(theta)
            have += theta.shape[0]
        return torch.cat(out)[:n].to(x.dtype)
