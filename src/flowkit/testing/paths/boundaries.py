r"""The path's ends: ``p_0(x|x1)`` is the source and ``p_1(x|x1)`` concentrates at ``x1``.

- ``mu_0(x1)`` is the source mean, ``sigma_0 = source_std``;
- ``mu_1(x1) = x1``, ``sigma_1`` small (``= sigma_min`` when the path has one);
- ``sigma_t > 0`` on ``[0, 1)``.
"""

import math
from collections.abc import Callable

import torch
from torch import Tensor

from ...path.base import ProbabilityPath
from .._common import F64, Device, assert_close, describe, generator
from ._common import data


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
    x1 = data(8, dim, gen, device)
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
    t = torch.linspace(0.0, 1.0, 101, dtype=F64, device=device)[:-1].reshape(-1, 1)
    sig = path.sigma(t)
    bad = ~(sig.expand_as(t) > 0)
    if bool(bad.any()):
        i = int(bad.flatten().nonzero()[0])
        raise AssertionError(
            f"{name}: sigma_t must be positive on [0, 1); sigma_t = {float(sig.flatten()[i]):.3g} "
            f"at t = {float(t.flatten()[i]):g}"
        )
