r"""Time derivatives: ``primitives`` and the CFM target are ``d/dt`` of ``mu``, ``sigma``, ``psi_t``.

Each is compared with forward-mode autograd (``torch.func.jvp``, the base
class's default, so a closed-form override is checked against it) and with
central finite differences, in float64 at interior times.
"""

from collections.abc import Callable

import torch
from torch import Tensor
from torch.func import jvp

from ...path.base import ProbabilityPath, primitives_by_autodiff
from .._common import Device, assert_close, col, describe, generator, randn
from ._common import data, interior


def _assert_time_derivative(
    got: Tensor, f: Callable[[Tensor], Tensor], t: Tensor, h: float, *, what: str, of: str
) -> None:
    """``got`` (``what``) against ``of = d/dt f(t)`` by forward-mode autograd and by central differences."""
    by_autograd = jvp(f, (t,), (torch.ones_like(t),))[1]
    by_differences = (f(t + h) - f(t - h)) / (2 * h)
    assert_close(got, by_autograd, atol=1e-10, rtol=1e-8, what=f"{what} vs autograd {of}")
    assert_close(got, by_differences, atol=1e-7, rtol=1e-5, what=f"{what} vs finite-difference {of}")


def check_derivatives(
    path: ProbabilityPath,
    *,
    dim: int = 2,
    n: int = 16,
    h: float = 1e-6,
    device: Device = None,
    seed: int = 0,
) -> None:
    r"""Check ``primitives`` against ``mu``, ``sigma``, autograd and central differences.

    ``path.primitives(t, x1)`` must return ``mu_t(x1)`` and ``sigma_t`` as
    ``mu`` and ``sigma`` do, and derivatives equal to the autograd default
    ([`primitives_by_autodiff`][flowkit.path.primitives_by_autodiff], which a
    closed-form override replaces) and to ``(f(t + h) - f(t - h)) / 2h`` at
    interior times, in float64.

    Raises:
        AssertionError: naming the primitive and the method it disagrees with.
    """
    name = describe(path)
    gen = generator(seed)
    x1 = data(n, dim, gen, device)
    t = col(interior(n, device), x1)
    got = path.primitives(t, x1)
    reference = primitives_by_autodiff(path, t, x1)

    def mu(s: Tensor) -> Tensor:
        return path.mu(s, x1).expand_as(x1)

    def sigma(s: Tensor) -> Tensor:
        return path.sigma(s).expand_as(s)

    assert_close(got.mu.expand_as(x1), mu(t), atol=1e-12, rtol=1e-12, what=f"{name}: primitives().mu vs mu")
    assert_close(
        got.sigma.expand_as(t), sigma(t), atol=1e-12, rtol=1e-12, what=f"{name}: primitives().sigma vs sigma"
    )
    for what, value, ref, f, of in (
        ("d_mu", got.d_mu.expand_as(x1), reference.d_mu.expand_as(x1), mu, "d/dt mu_t(x1)"),
        ("d_sigma", got.d_sigma.expand_as(t), reference.d_sigma.expand_as(t), sigma, "d/dt sigma_t"),
    ):
        assert_close(value, ref, atol=1e-10, rtol=1e-8, what=f"{name}: primitives().{what} vs autograd {of}")
        _assert_time_derivative(value, f, t, h, what=f"{name}: primitives().{what}", of=of)


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

    def xt_at(u: Tensor) -> Tensor:
        return path.sample(u, x0, x1).xt

    _assert_time_derivative(s.target, xt_at, t, h, what=f"{name}: target", of="d/dt psi_t(x0)")
