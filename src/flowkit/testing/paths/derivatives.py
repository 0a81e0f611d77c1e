r"""Time derivatives: ``d_mu``, ``d_sigma`` and the CFM target are ``d/dt`` of ``mu``, ``sigma``, ``psi_t``.

Each is compared with forward-mode autograd (``torch.func.jvp``) and with
central finite differences, in float64 at interior times.
"""

import torch
from torch.func import jvp

from ...path.base import ProbabilityPath
from .._common import Device, assert_close, col, describe, generator, randn
from ._common import data, interior


def check_derivatives(
    path: ProbabilityPath,
    *,
    dim: int = 2,
    n: int = 16,
    h: float = 1e-6,
    device: Device = None,
    seed: int = 0,
) -> None:
    r"""Check ``d_mu`` and ``d_sigma`` against forward-mode autograd and central differences.

    ``mu'_t(x1)`` and ``sigma'_t`` are compared with ``torch.func.jvp`` of
    ``mu`` and ``sigma`` in ``t`` and with ``(f(t + h) - f(t - h)) / 2h`` at
    interior times, in float64.

    Raises:
        AssertionError: naming the derivative and the method it disagrees with.
    """
    name = describe(path)
    gen = generator(seed)
    x1 = data(n, dim, gen, device)
    t = col(interior(n, device), x1)
    ones = torch.ones_like(t)
    d_mu = path.d_mu(t, x1).expand_as(x1)
    d_sigma = path.d_sigma(t).expand_as(t)
    mu_ad = jvp(lambda s: path.mu(s, x1).expand_as(x1), (t,), (ones,))[1]
    sigma_ad = jvp(lambda s: path.sigma(s).expand_as(s), (t,), (ones,))[1]
    mu_fd = (path.mu(t + h, x1) - path.mu(t - h, x1)).expand_as(x1) / (2 * h)
    sigma_fd = (path.sigma(t + h) - path.sigma(t - h)).expand_as(t) / (2 * h)
    assert_close(d_mu, mu_ad, atol=1e-10, rtol=1e-8, what=f"{name}: d_mu vs autograd d/dt mu_t(x1)")
    assert_close(d_sigma, sigma_ad, atol=1e-10, rtol=1e-8, what=f"{name}: d_sigma vs autograd d/dt sigma_t")
    assert_close(d_mu, mu_fd, atol=1e-7, rtol=1e-5, what=f"{name}: d_mu vs finite differences")
    assert_close(d_sigma, sigma_fd, atol=1e-7, rtol=1e-5, what=f"{name}: d_sigma vs finite differences")


def check_target_is_time_derivative(
    path: ProbabilityPath,
    *,
    dim: int = 2,
    n: int = 16,
    h: float = 1e-6,
    device: Device = None,
    seed: int = 0,
) -> None:
    r"""Check ``sample``: ``x_t = psi_t(x0)`` and ``target = d/dt psi_t(x0)``.

    ``x_t`` must equal ``mu_t(x1) + sigma_t x0 / source_std``; the target must
    equal the time derivative of ``t -> sample(t, x0, x1).xt``, computed both
    by ``torch.func.jvp`` and by central differences, at interior times. The
    returned ``t``, ``x0`` and ``x1`` must be the inputs.

    Raises:
        AssertionError: naming the field of the sample that is wrong.
    """
    name = describe(path)
    gen = generator(seed)
    x1 = data(n, dim, gen, device)
    x0 = randn((n, dim), gen, device) * float(path.source_std)
    t = interior(n, device)
    tb = col(t, x1)
    s = path.sample(t, x0, x1)
    for field, given in (("t", t), ("x0", x0), ("x1", x1)):
        if not torch.equal(getattr(s, field), given):
            raise AssertionError(f"{name}: sample(t, x0, x1).{field} is not the {field} passed in")
    psi = path.mu(tb, x1) + path.sigma(tb) * x0 / float(path.source_std)
    assert_close(
        s.xt,
        psi,
        atol=1e-10,
        rtol=1e-10,
        what=f"{name}: x_t (must be psi_t(x0) = mu_t(x1) + sigma_t x0 / source_std)",
    )
    d_ad = jvp(lambda u: path.sample(u, x0, x1).xt, (t,), (torch.ones_like(t),))[1]
    d_fd = (path.sample(t + h, x0, x1).xt - path.sample(t - h, x0, x1).xt) / (2 * h)
    assert_close(s.target, d_ad, atol=1e-10, rtol=1e-8, what=f"{name}: target vs autograd d/dt psi_t(x0)")
    assert_close(
        s.target, d_fd, atol=1e-7, rtol=1e-5, what=f"{name}: target vs finite-difference d/dt psi_t(x0)"
    )
