"""Finiteness: every output of the path is finite on the closed interval ``[0, 1]``, in both float dtypes."""

import torch

from ...path.base import ProbabilityPath
from .._common import Device, assert_finite, col, describe, generator, randn
from ._common import data


def check_finite(
    path: ProbabilityPath, *, dim: int = 2, n: int = 101, device: Device = None, seed: int = 0
) -> None:
    """Check that every output is finite on the closed interval ``[0, 1]``, in float32 and float64.

    ``mu``, ``sigma``, the derivatives from ``primitives``, ``sample`` (``x_t`` and target),
    ``velocity`` at arbitrary points and ``log_prob`` are evaluated on ``n``
    equally spaced times including ``t = 0`` and ``t = 1`` exactly; outputs
    must also keep the input dtype.

    Raises:
        AssertionError: naming the output, dtype and first non-finite entry.
    """
    name = describe(path)
    gen = generator(seed)
    for dtype in (torch.float32, torch.float64):
        x1 = data(n, dim, gen, device).to(dtype)
        x0 = (randn((n, dim), gen, device) * float(path.source_std)).to(dtype)
        x = randn((n, dim), gen, device).to(dtype)
        t = torch.linspace(0.0, 1.0, n, dtype=dtype, device=device)
        tb = col(t, x1)
        s = path.sample(t, x0, x1)
        p = path.primitives(tb, x1)
        outputs = {
            "mu": path.mu(tb, x1),
            "sigma": path.sigma(tb),
            "primitives().d_mu": p.d_mu,
            "primitives().d_sigma": p.d_sigma,
            "sample().xt": s.xt,
            "sample().target": s.target,
            "velocity": path.velocity(t, x, x1),
            "log_prob": path.log_prob(t, x, x1),
        }
        for what, value in outputs.items():
            assert_finite(value, f"{name}: {what} on t in [0, 1] ({dtype})")
            if what in ("sample().xt", "sample().target", "velocity", "log_prob") and value.dtype != dtype:
                raise AssertionError(f"{name}: {what} returned {value.dtype} for {dtype} inputs")
