r"""Conformance checks for [`ProbabilityPath`][flowkit.ProbabilityPath] implementations.

Each check compares what the path computes with an independent computation
(automatic differentiation, finite differences, a Monte-Carlo estimate, or
``torch.distributions``) and raises ``AssertionError`` naming the quantity,
the worst entry and the tolerance when they disagree. The contract checked:

- boundaries: ``mu_0(x1)`` is the source mean, ``sigma_0 = source_std``,
  ``mu_1(x1) = x1``, ``sigma_1`` small (``= sigma_min`` when the path has one);
- ``x_t = psi_t(x0) = mu_t(x1) + sigma_t x0 / source_std`` has mean ``mu_t``
  and standard deviation ``sigma_t``;
- ``d_mu``, ``d_sigma`` and the CFM target are the time derivatives of
  ``mu``, ``sigma`` and ``psi_t(x0)``;
- the conditional field solves the continuity equation
  ``d/dt p_t(x|x1) + div(p_t(x|x1) u_t(x|x1)) = 0``;
- everything is finite on the closed interval ``[0, 1]``.

Derivative checks run in float64 on interior times ``[0.02, 0.98]``, where a
path is smooth; finiteness is checked on the closed interval, in float32 and
float64.
"""

import math
from collections.abc import Callable

import torch
from torch import Tensor
from torch.func import jvp

from ..path.base import ProbabilityPath
from ._common import Device, assert_close, assert_finite, describe, generator, randn, uniform

_F64 = torch.float64


def _data(n: int, dim: int, gen: torch.Generator, device: Device) -> Tensor:
    """Data points ``x1`` of unit scale, uniform on ``[-1, 1]^dim``."""
    return uniform((n, dim), gen, -1.0, 1.0, device)


def _interior(n: int, device: Device) -> Tensor:
    return torch.linspace(0.02, 0.98, n, dtype=_F64, device=device)


def _col(t: Tensor, like: Tensor) -> Tensor:
    return t.reshape(-1, *([1] * (like.ndim - 1)))


def check_boundary_conditions(
    path: ProbabilityPath,
    *,
    dim: int = 2,
    source_mean: Callable[[Tensor], Tensor] | None = None,
    mean_tol: float = 0.2,
    sigma1_max: float | None = None,
    rtol: float = 1e-3,
    device: Device = None,
    seed: int = 0,
) -> None:
    r"""Check the path's ends: ``p_0(x|x1) ~ p_0`` and ``p_1(x|x1) ~ delta(x - x1)``.

    - ``sigma_0 = source_std`` (relative tolerance ``rtol``);
    - ``mu_0(x1) = source_mean(x1)`` when ``source_mean`` is given; otherwise
      ``mu_0`` must be near the source mean 0: ``|mu_0(x1)| <= mean_tol *
      source_std`` for data in ``[-1, 1]^dim`` (so that ``p_0(x|x1)`` is close to
      ``p_0``; VP meets this with ``alpha_0 ~ 6.6e-3``, VE with ``1 / sigma_max``);
    - ``mu_1(x1) = x1`` (relative tolerance ``rtol``);
    - ``sigma_1 = sigma_min`` when the path has a float attribute ``sigma_min``;
      otherwise ``sigma_1 <= sigma1_max`` (default ``0.05 source_std``);
    - ``sigma_t > 0`` on ``[0, 1)``.

    Args:
        path: the path to check.
        dim: data dimension used for the check.
        source_mean: the exact ``mu_0(x1)``, e.g. ``lambda x1: x1`` for VE.
        mean_tol: tolerance on ``|mu_0|`` in source standard deviations when
            ``source_mean`` is not given.
        sigma1_max: upper bound on ``sigma_1``.
        rtol: relative tolerance of the boundary values.
        device: where to run.
        seed: seed of the data drawn.

    Raises:
        AssertionError: naming the boundary value that is wrong.
    """
    name = describe(path)
    gen = generator(seed)
    x1 = _data(8, dim, gen, device)
    s0 = float(path.source_std)
    if not (math.isfinite(s0) and s0 > 0.0):
        raise AssertionError(f"{name}: source_std must be a positive number; got {s0}")
    zero, one = x1.new_zeros(8, 1), x1.new_ones(8, 1)

    assert_close(
        path.sigma(zero),
        torch.tensor(s0),
        atol=0.0,
        rtol=rtol,
        what=f"{name}: sigma_0 (must equal source_std = {s0:g})",
    )
    mu0 = path.mu(zero, x1).expand_as(x1)
    if source_mean is not None:
        assert_close(mu0, source_mean(x1), atol=1e-9, rtol=rtol, what=f"{name}: mu_0(x1)")
    else:
        offset = float(mu0.abs().max()) / s0
        if not offset <= mean_tol:
            raise AssertionError(
                f"{name}: mu_0(x1) must be the source mean 0 so that p_0(x|x1) is close to p_0; "
                f"|mu_0(x1)| reaches {offset:.3g} source stds for data in [-1, 1] (mean_tol={mean_tol:g}). "
                "Pass source_mean= if the path starts elsewhere on purpose."
            )
    assert_close(
        path.mu(one, x1).expand_as(x1), x1, atol=1e-9, rtol=rtol, what=f"{name}: mu_1(x1) (must equal x1)"
    )

    sigma1 = path.sigma(one)
    sigma_min = getattr(path, "sigma_min", None)
    if isinstance(sigma_min, (int, float)) and not isinstance(sigma_min, bool):
        assert_close(
            sigma1,
            torch.tensor(float(sigma_min)),
            atol=1e-12,
            rtol=rtol,
            what=f"{name}: sigma_1 (must equal sigma_min = {sigma_min:g})",
        )
        limit = sigma1_max
    else:
        limit = 0.05 * s0 if sigma1_max is None else sigma1_max
    if limit is not None and not float(sigma1.max()) <= limit:
        raise AssertionError(
            f"{name}: sigma_1 = {float(sigma1.max()):.3g} is not small: p_1(x|x1) must concentrate "
            f"at x1 (limit {limit:.3g})"
        )
    t = torch.linspace(0.0, 1.0, 101, dtype=_F64, device=device)[:-1].reshape(-1, 1)
    sig = path.sigma(t)
    bad = ~(sig.expand_as(t) > 0)
    if bool(bad.any()):
        i = int(bad.flatten().nonzero()[0])
        raise AssertionError(
            f"{name}: sigma_t must be positive on [0, 1); sigma_t = {float(sig.flatten()[i]):.3g} "
            f"at t = {float(t.flatten()[i]):g}"
        )


def check_source(
    path: ProbabilityPath,
    *,
    dim: int = 2,
    n_samples: int = 10_000,
    z: float = 5.0,
    device: Device = None,
    seed: int = 0,
) -> None:
    r"""Check ``sample_source`` and ``source_log_prob`` against ``N(0, source_std^2 I)``.

    The sample mean must lie within ``z`` standard errors (``s0 / sqrt(n)``) of
    0 and the sample standard deviation within ``z`` standard errors
    (``s0 / sqrt(2n)``) of ``s0``; shape, dtype and device must be the ones
    asked for; ``source_log_prob`` must equal ``torch.distributions.Normal``'s
    log-density summed over the non-batch axes.

    Raises:
        AssertionError: naming the statistic that is off.
    """
    name = describe(path)
    s0 = float(path.source_std)
    dev = torch.device("cpu") if device is None else torch.device(device)
    gen = torch.Generator(device=dev).manual_seed(seed)
    x0 = path.sample_source((n_samples, dim), device=dev, dtype=_F64, generator=gen)
    if tuple(x0.shape) != (n_samples, dim) or x0.dtype != _F64 or x0.device.type != dev.type:
        raise AssertionError(
            f"{name}: sample_source((n, {dim}), dtype=float64, device={dev}) returned "
            f"{x0.dtype} {tuple(x0.shape)} on {x0.device}"
        )
    small = path.sample_source((3, 1, 2, 2), device=dev, dtype=torch.float32)
    if tuple(small.shape) != (3, 1, 2, 2) or small.dtype != torch.float32:
        raise AssertionError(
            f"{name}: sample_source((3, 1, 2, 2), dtype=float32) returned {small.dtype} {tuple(small.shape)}"
        )
    assert_close(
        x0.mean(0),
        torch.zeros(dim),
        atol=z * s0 / math.sqrt(n_samples),
        rtol=0.0,
        what=f"{name}: mean of the source samples",
    )
    assert_close(
        x0.std(0),
        torch.full((dim,), s0),
        atol=z * s0 / math.sqrt(2 * n_samples),
        rtol=0.0,
        what=f"{name}: std of the source samples (source_std = {s0:g})",
    )
    probe = x0[:16]
    normal = torch.distributions.Normal(torch.zeros((), dtype=_F64), torch.tensor(s0, dtype=_F64))
    expected = normal.log_prob(probe.cpu()).sum(1)
    assert_close(path.source_log_prob(probe), expected, atol=1e-9, rtol=1e-9, what=f"{name}: source_log_prob")


def check_marginal_statistics(
    path: ProbabilityPath,
    *,
    dim: int = 2,
    n_samples: int = 10_000,
    times: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0),
    z: float = 5.0,
    device: Device = None,
    seed: int = 0,
) -> None:
    r"""Check that ``x_t`` from ``sample`` has mean ``mu_t(x1)`` and std ``sigma_t``.

    Draws ``n_samples`` source points ``x0 ~ N(0, s0^2 I)`` (independently of
    ``sample_source``), carries them to each time with ``path.sample`` for one
    fixed ``x1``, and compares the sample mean and standard deviation with
    ``mu_t(x1)`` and ``sigma_t`` to within ``z`` standard errors
    (``sigma_t / sqrt(n)`` and ``sigma_t / sqrt(2n)``).

    Raises:
        AssertionError: naming the time and statistic that is off.
    """
    name = describe(path)
    gen = generator(seed)
    x1 = _data(1, dim, gen, device).expand(n_samples, dim)
    x0 = randn((n_samples, dim), gen, device) * float(path.source_std)
    for t in times:
        tt = torch.full((n_samples,), float(t), dtype=_F64, device=device)
        xt = path.sample(tt, x0, x1).xt
        mu = path.mu(tt[:1].reshape(1, 1), x1[:1]).expand(1, dim)[0]
        sigma = float(path.sigma(tt[:1].reshape(1, 1)).reshape(()))
        se = sigma / math.sqrt(n_samples)
        assert_close(xt.mean(0), mu, atol=z * se + 1e-9, rtol=0.0, what=f"{name}: mean of x_t at t={t:g}")
        assert_close(
            xt.std(0),
            torch.full((dim,), sigma),
            atol=z * se / math.sqrt(2) + 1e-9,
            rtol=0.0,
            what=f"{name}: std of x_t at t={t:g} (sigma_t = {sigma:.6g})",
        )


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
    x1 = _data(n, dim, gen, device)
    t = _col(_interior(n, device), x1)
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
    x1 = _data(n, dim, gen, device)
    x0 = randn((n, dim), gen, device) * float(path.source_std)
    t = _interior(n, device)
    tb = _col(t, x1)
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


def check_velocity_matches_target(
    path: ProbabilityPath, *, dim: int = 2, n: int = 16, device: Device = None, seed: int = 0
) -> None:
    r"""Check ``velocity(t, psi_t(x0), x1) == sample(t, x0, x1).target`` (Theorem 10 vs the flow).

    Compared at ``t = 0`` and interior times; at ``t = 1`` a path may collapse
    (``sigma_1 = 0``) and the field is defined only through a clamp.

    Raises:
        AssertionError: when the conditional field does not move ``x_t`` with the target velocity.
    """
    name = describe(path)
    gen = generator(seed)
    x1 = _data(n, dim, gen, device)
    x0 = randn((n, dim), gen, device) * float(path.source_std)
    t = torch.cat([torch.zeros(1, dtype=_F64, device=device), _interior(n - 1, device)])
    s = path.sample(t, x0, x1)
    assert_close(
        path.velocity(t, s.xt, x1),
        s.target,
        atol=1e-9,
        rtol=1e-8,
        what=f"{name}: velocity(t, x_t, x1) vs sample target",
    )


def _gaussian_log_density(path: ProbabilityPath, t: Tensor, x: Tensor, x1: Tensor) -> Tensor:
    """``log N(x; mu_t(x1), sigma_t^2 I)`` from ``mu`` and ``sigma`` only (not ``path.log_prob``)."""
    tb = _col(t, x1)
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
    x1 = _data(n, dim, gen, device)
    t = _interior(n, device).requires_grad_(True)
    with torch.no_grad():
        tb = _col(t, x1)
        eps = randn((n, dim), gen, device).clamp(-2.0, 2.0)
        x_pts = path.mu(tb, x1) + path.sigma(tb) * eps
    x = x_pts.clone().requires_grad_(True)
    logp = _gaussian_log_density(path, t, x, x1)
    dlogp_dt, grad_x = torch.autograd.grad(logp.sum(), (t, x))
    u = path.velocity(t.detach(), x, x1)
    div = torch.zeros(n, dtype=_F64, device=device)
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


def check_log_prob(
    path: ProbabilityPath, *, dim: int = 2, n: int = 16, device: Device = None, seed: int = 0
) -> None:
    """Check ``log_prob(t, x, x1)`` against ``torch.distributions.Normal(mu_t(x1), sigma_t)``.

    Raises:
        AssertionError: when the log-densities differ.
    """
    name = describe(path)
    gen = generator(seed)
    x1 = _data(n, dim, gen, device)
    x = randn((n, dim), gen, device)
    t = _interior(n, device)
    tb = _col(t, x1)
    normal = torch.distributions.Normal(path.mu(tb, x1).expand_as(x1), path.sigma(tb).expand_as(x1))
    assert_close(
        path.log_prob(t, x, x1),
        normal.log_prob(x).sum(1),
        atol=1e-9,
        rtol=1e-9,
        what=f"{name}: log_prob vs torch.distributions.Normal",
    )


def check_finite(
    path: ProbabilityPath, *, dim: int = 2, n: int = 101, device: Device = None, seed: int = 0
) -> None:
    """Check that every output is finite on the closed interval ``[0, 1]``, in float32 and float64.

    ``mu``, ``sigma``, ``d_mu``, ``d_sigma``, ``sample`` (``x_t`` and target),
    ``velocity`` at arbitrary points and ``log_prob`` are evaluated on ``n``
    equally spaced times including ``t = 0`` and ``t = 1`` exactly; outputs
    must also keep the input dtype.

    Raises:
        AssertionError: naming the output, dtype and first non-finite entry.
    """
    name = describe(path)
    gen = generator(seed)
    for dtype in (torch.float32, torch.float64):
        x1 = _data(n, dim, gen, device).to(dtype)
        x0 = (randn((n, dim), gen, device) * float(path.source_std)).to(dtype)
        x = randn((n, dim), gen, device).to(dtype)
        t = torch.linspace(0.0, 1.0, n, dtype=dtype, device=device)
        tb = _col(t, x1)
        s = path.sample(t, x0, x1)
        outputs = {
            "mu": path.mu(tb, x1),
            "sigma": path.sigma(tb),
            "d_mu": path.d_mu(tb, x1),
            "d_sigma": path.d_sigma(tb),
            "sample().xt": s.xt,
            "sample().target": s.target,
            "velocity": path.velocity(t, x, x1),
            "log_prob": path.log_prob(t, x, x1),
        }
        for what, value in outputs.items():
            assert_finite(value, f"{name}: {what} on t in [0, 1] ({dtype})")
            if what in ("sample().xt", "sample().target", "velocity", "log_prob") and value.dtype != dtype:
                raise AssertionError(f"{name}: {what} returned {value.dtype} for {dtype} inputs")


def check_image_shapes(path: ProbabilityPath, *, n: int = 4, device: Device = None, seed: int = 0) -> None:
    """Check that states shaped like images ``(batch, C, H, W)`` give the same numbers as flat vectors.

    ``sample``, ``velocity`` and ``log_prob`` on ``(n, 2, 3, 2)`` tensors must
    equal the same calls on the ``(n, 12)`` flattened tensors, reshaped.

    Raises:
        AssertionError: naming the method whose result depends on the layout.
    """
    name = describe(path)
    gen = generator(seed)
    shape = (n, 2, 3, 2)
    x1 = _data(n, 12, gen, device)
    x0 = randn((n, 12), gen, device) * float(path.source_std)
    t = _interior(n, device)
    flat, image = path.sample(t, x0, x1), path.sample(t, x0.reshape(shape), x1.reshape(shape))
    for field in ("xt", "target"):
        got = getattr(image, field)
        if tuple(got.shape) != shape:
            raise AssertionError(f"{name}: sample().{field} has shape {tuple(got.shape)} for inputs {shape}")
        assert_close(
            got.reshape(n, 12),
            getattr(flat, field),
            atol=1e-12,
            rtol=1e-12,
            what=f"{name}: sample().{field} on images vs vectors",
        )
    assert_close(
        path.velocity(t, x0.reshape(shape), x1.reshape(shape)).reshape(n, 12),
        path.velocity(t, x0, x1),
        atol=1e-12,
        rtol=1e-12,
        what=f"{name}: velocity on images vs vectors",
    )
    assert_close(
        path.log_prob(t, x0.reshape(shape), x1.reshape(shape)),
        path.log_prob(t, x0, x1),
        atol=1e-9,
        rtol=1e-12,
        what=f"{name}: log_prob on images vs vectors",
    )


PATH_CHECKS: tuple[Callable[..., None], ...] = (
    check_boundary_conditions,
    check_source,
    check_marginal_statistics,
    check_derivatives,
    check_target_is_time_derivative,
    check_velocity_matches_target,
    check_continuity_equation,
    check_log_prob,
    check_finite,
    check_image_shapes,
)
"""Every path check, in the order [`check_path`][flowkit.testing.check_path] runs them."""


def check_path(
    path: ProbabilityPath | type[ProbabilityPath],
    *,
    source_mean: Callable[[Tensor], Tensor] | None = None,
    mean_tol: float = 0.2,
    sigma1_max: float | None = None,
    device: Device = None,
    seed: int = 0,
) -> None:
    r"""Run every path check on ``path`` (an instance, or a class built with its defaults).

    See the module docstring for the contract; the boundary options are those
    of [`check_boundary_conditions`][flowkit.testing.check_boundary_conditions].

    Args:
        path: the path, or a class whose constructor needs no arguments.
        source_mean: the exact ``mu_0(x1)`` when it is not 0 (``lambda x1: x1`` for VE).
        mean_tol: tolerance on ``|mu_0|`` in source stds when ``source_mean`` is not given.
        sigma1_max: upper bound on ``sigma_1`` (default ``0.05 source_std``).
        device: where to run.
        seed: seed of every random draw.

    Raises:
        AssertionError: from the first check that fails.

    Examples:
        >>> from flowkit.path import OTPath
        >>> from flowkit.testing import check_path
        >>> check_path(OTPath(sigma_min=1e-3))  # silent when the path conforms
    """
    if isinstance(path, type):
        path = path()
    for check in PATH_CHECKS:
        if check is check_boundary_conditions:
            check_boundary_conditions(
                path,
                source_mean=source_mean,
                mean_tol=mean_tol,
                sigma1_max=sigma1_max,
                device=device,
                seed=seed,
            )
        else:
            check(path, device=device, seed=seed)
