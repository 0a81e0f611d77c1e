r"""The path's distributions: the source, the marginals of ``x_t`` and the conditional density.

Sample statistics are compared with their expected values to within ``z``
standard errors; log-densities are compared with ``torch.distributions.Normal``.
"""

import math

import torch

from ...path.base import ProbabilityPath
from .._common import F64, Device, assert_close, col, describe, generator, randn
from ._common import data, interior


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
    x0 = path.sample_source((n_samples, dim), device=dev, dtype=F64, generator=gen)
    if tuple(x0.shape) != (n_samples, dim) or x0.dtype != F64 or x0.device.type != dev.type:
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
    normal = torch.distributions.Normal(torch.zeros((), dtype=F64), torch.tensor(s0, dtype=F64))
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
    x1 = data(1, dim, gen, device).expand(n_samples, dim)
    x0 = randn((n_samples, dim), gen, device) * float(path.source_std)
    for t in times:
        tt = torch.full((n_samples,), float(t), dtype=F64, device=device)
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


def check_log_prob(
    path: ProbabilityPath,
    *,
    dim: int = 2,
    n: int = 16,
    rtol: float = 1e-9,
    atol: float = 1e-9,
    device: Device = None,
    seed: int = 0,
) -> None:
    """Check ``log_prob(t, x, x1)`` against ``torch.distributions.Normal(mu_t(x1), sigma_t)``.

    Raises:
        AssertionError: when the log-densities differ.
    """
    name = describe(path)
    gen = generator(seed)
    x1 = data(n, dim, gen, device)
    x = randn((n, dim), gen, device)
    t = interior(n, device)
    tb = col(t, x1)
    normal = torch.distributions.Normal(path.mu(tb, x1).expand_as(x1), path.sigma(tb).expand_as(x1))
    assert_close(
        path.log_prob(t, x, x1),
        normal.log_prob(x).sum(1),
        atol=atol,
        rtol=rtol,
        what=f"{name}: log_prob vs torch.distributions.Normal",
    )
