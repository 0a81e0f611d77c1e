r"""The conditional field ``u_t(x|x1)``: it moves ``x_t`` with the target and generates ``p_t(x|x1)``.

``velocity`` must agree with the target of ``sample`` along the flow, and
solve the continuity equation
``d/dt p_t(x|x1) + div(p_t(x|x1) u_t(x|x1)) = 0``, checked by autograd.
"""

import math

import torch
from torch import Tensor

from ...path.base import ProbabilityPath
from .._common import F64, Device, assert_close, assert_finite, col, describe, generator, randn
from ._common import data, interior


def check_velocity_matches_target(
    path: ProbabilityPath,
    *,
    dim: int = 2,
    n: int = 16,
    rtol: float = 1e-8,
    atol: float = 1e-9,
    device: Device = None,
    seed: int = 0,
) -> None:
    r"""Check ``velocity(t, psi_t(x0), x1) == sample(t, x0, x1).target`` (Theorem 10 vs the flow).

    Compared at ``t = 0`` and interior times; at ``t = 1`` a path may collapse
    (``sigma_1 = 0``) and the field is defined only through a clamp.

    Raises:
        AssertionError: when the conditional field does not move ``x_t`` with the target velocity.
    """
    name = describe(path)
    gen = generator(seed)
    x1 = data(n, dim, gen, device)
    x0 = randn((n, dim), gen, device) * float(path.source_std)
    t = torch.cat([torch.zeros(1, dtype=F64, device=device), interior(n - 1, device)])
    s = path.sample(t, x0, x1)
    assert_close(
        path.velocity(t, s.xt, x1),
        s.target,
        atol=atol,
        rtol=rtol,
        what=f"{name}: velocity(t, x_t, x1) vs sample target",
    )


def _gaussian_log_density(path: ProbabilityPath, t: Tensor, x: Tensor, x1: Tensor) -> Tensor:
    """``log N(x; mu_t(x1), sigma_t^2 I)`` from ``mu`` and ``sigma`` only (not ``path.log_prob``)."""
    tb = col(t, x1)
    mu, sigma = path.mu(tb, x1), path.sigma(tb)
    d = x[0].numel()
    quad = ((x - mu) / sigma).square().flatten(1).sum(1)
    return -0.5 * quad - d * torch.log(sigma).flatten() - 0.5 * d * math.log(2 * math.pi)


def check_continuity_equation(
    path: ProbabilityPath,
    *,
    dim: int = 2,
    n: int = 16,
    rtol: float = 1e-7,
    device: Device = None,
    seed: int = 0,
) -> None:
    r"""Check that ``u_t(x|x1)`` generates ``p_t(x|x1)`` (continuity equation, note Theorem 16).

    Divided by ``p_t``, the continuity equation reads

    $$
    \partial_t \log p_t(x|x_1) + \nabla\cdot u_t(x|x_1)
    + u_t(x|x_1)\cdot\nabla_x \log p_t(x|x_1) = 0.
    $$

    ``log p_t`` is built here from ``mu`` and ``sigma`` alone, ``u_t`` is
    ``path.velocity``, and every derivative is taken by autograd at points
    drawn from ``p_t(x|x1)`` at interior times. The residual must be below
    ``rtol`` times the sum of the three terms' magnitudes.

    Raises:
        AssertionError: with the largest residual.
    """
    name = describe(path)
    gen = generator(seed)
    x1 = data(n, dim, gen, device)
    t = interior(n, device).requires_grad_(True)
    with torch.no_grad():
        tb = col(t, x1)
        eps = randn((n, dim), gen, device).clamp(-2.0, 2.0)
        x_pts = path.mu(tb, x1) + path.sigma(tb) * eps
    x = x_pts.clone().requires_grad_(True)
    logp = _gaussian_log_density(path, t, x, x1)
    dlogp_dt, grad_x = torch.autograd.grad(logp.sum(), (t, x))
    u = path.velocity(t.detach(), x, x1)
    div = torch.zeros(n, dtype=F64, device=device)
    for i in range(dim):
        (g,) = torch.autograd.grad(u[:, i].sum(), x, retain_graph=True)
        div = div + g[:, i]
    transport = (u * grad_x).sum(1)
    residual = (dlogp_dt + div + transport).detach()
    scale = (dlogp_dt.abs() + div.abs() + transport.abs()).detach()
    assert_finite(residual, f"{name}: continuity-equation residual")
    assert_close(
        residual,
        torch.zeros_like(residual),
        atol=1e-9 + rtol * float(scale.max()),
        rtol=0.0,
        what=f"{name}: continuity equation d/dt log p + div u + u . grad log p "
        f"(terms up to {float(scale.max()):.3g})",
    )
