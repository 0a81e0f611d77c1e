r"""Bits per dimension and uniform dequantization of discrete data.

Discrete data ``k in {0, ..., L - 1}^D`` (pixels, the 0-16 grey levels of the
8x8 digits) have no density. As is standard for likelihood models and as
Lipman et al. report on images, the data are *dequantized* by adding uniform
noise, ``y = k + u`` with ``u ~ U[0, 1)^D``, then mapped affinely into the
model's space, ``z = low + w * y`` with the bin width ``w = (high - low) / L``. For the
discrete probability ``P(k)`` Jensen's inequality gives

$$
\log P(k) = \log \int_{[0,1)^D} p_y(k + u)\,du \;\ge\; \mathbb E_u\big[\log p_y(k + u)\big],
\qquad \log p_y(y) = \log p_z(z) + D \log w,
$$

so the reported bits per dimension, an upper bound on the discrete code length, is

$$
\mathrm{bpd} = -\frac{\log p_z(z) + D \log w}{D \ln 2}
             = -\frac{\log p_z(z)}{D \ln 2} - \log_2 w.
$$

With ``w = 1`` (continuous data, no quantization) it is the plain
``-log p(x) / (D ln 2)``.
"""

import math

import torch
from torch import Tensor

from .._validate import positive_float, positive_int


def dequantize(
    k: Tensor,
    levels: int,
    *,
    low: float = 0.0,
    high: float = 1.0,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, float]:
    r"""Uniformly dequantize integer data and map it to ``[low, high)``.

    ``z = low + (high - low) * (k + u) / levels`` with ``u ~ U[0, 1)`` drawn
    elementwise.

    Args:
        k: integer-valued data in ``{0, ..., levels - 1}`` (any dtype), ``(batch, *dims)``.
        levels: the number of discrete values ``L`` (256 for 8-bit pixels, 17 for
            scikit-learn's digits).
        low: the lower end of the model's data range.
        high: the upper end of the model's data range.
        generator: random generator for ``u``.

    Returns:
        ``(z, scale)``: the dequantized data (floating point) and
        ``bin_width = (high - low) / levels``, to pass to
        [`bits_per_dim`][flowkit.likelihood.bits_per_dim].

    Examples:
        >>> z, scale = dequantize(torch.tensor([[0, 255]]), 256, low=-1.0, high=1.0)
        >>> bool((z >= -1).all() and (z < 1).all()), scale
        (True, 0.0078125)
    """
    if positive_int("levels", levels) < 2:
        raise ValueError(f"levels must be an integer >= 2; got {levels!r}")
    if not high > low:
        raise ValueError(f"need high > low; got low={low}, high={high}")
    kf = k if k.is_floating_point() else k.to(torch.get_default_dtype())
    if kf.numel():
        lo, hi = float(kf.min()), float(kf.max())
        if lo < 0 or hi > levels - 1:
            raise ValueError(f"data must lie in [0, {levels - 1}]; got values in [{lo}, {hi}]")
    u = torch.rand(kf.shape, generator=generator, device=kf.device, dtype=kf.dtype)
    bin_width = (high - low) / levels
    return low + bin_width * (kf + u), bin_width


def bits_per_dim(log_prob: Tensor, dim: int, bin_width: float = 1.0) -> Tensor:
    r"""Bits per dimension from a log-density in nats.

    $$
    \mathrm{bpd} = -\frac{\log p_z(z) + D \log w}{D \ln 2},
    $$

    where ``w`` is the width of one quantization bin in the model's units
    (see [`dequantize`][flowkit.likelihood.dequantize]; ``1`` for continuous data).

    Args:
        log_prob: ``log p(z)`` in nats, any shape (e.g. ``(batch,)``).
        dim: the number of dimensions ``D`` of one sample.
        bin_width: ``w``, the bin width in model units, ``> 0`` (e.g. ``2 / 17`` for
            the digits in ``[-1, 1]``).

    Returns:
        Bits per dimension, shaped like ``log_prob``.

    Examples:
        >>> # the uniform density on [-1, 1]^D codes 8-bit data in exactly 8 bits
        >>> D = 3
        >>> bits_per_dim(torch.tensor(-D * math.log(2.0)), D, bin_width=2 / 256)
        tensor(8.)
    """
    positive_int("dim", dim)
    positive_float("bin_width", bin_width)
    return -(log_prob + dim * math.log(bin_width)) / (dim * math.log(2.0))
