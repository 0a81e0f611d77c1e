"""Two-dimensional toy distributions: checkerboard, two moons, 8 gaussians, spirals, circles.

Every generator returns ``(n, 2)`` samples drawn with an optional
``torch.Generator`` (so a seed reproduces the data set exactly), needs nothing
beyond torch, and lives on the scale of the usual flow benchmarks: supports
within about ``[-4, 4]^2`` and standard deviations of 1.5 to 2.5 per axis, a
good match for the ``N(0, I)`` source of the flow-matching paths.
"""

import math

import torch
from torch import Tensor

from .._validate import in_interval, positive_float, positive_int


def _check_n(n: int) -> None:
    positive_int("n", n)


def _rand(n: int, generator: torch.Generator | None, dtype: torch.dtype) -> Tensor:
    return torch.rand(n, generator=generator, dtype=dtype)


def _randn(shape: tuple[int, ...], generator: torch.Generator | None, dtype: torch.dtype) -> Tensor:
    return torch.randn(shape, generator=generator, dtype=dtype)


def checkerboard(
    n: int, *, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32
) -> Tensor:
    """Uniform on the dark squares of a 4x4 checkerboard covering ``[-4, 4]^2``.

    Each square has side 2; a point picks a column ``i`` and a row ``j`` with
    ``i + j`` even (eight squares in all) and is uniform inside it.

    Examples:
        >>> import torch
        >>> x = checkerboard(1000, generator=torch.Generator().manual_seed(0))
        >>> x.shape, bool(x.abs().max() <= 4)
        (torch.Size([1000, 2]), True)
    """
    _check_n(n)
    col = torch.randint(0, 4, (n,), generator=generator)
    half = torch.randint(0, 2, (n,), generator=generator)
    row = 2 * half + (col % 2)  # same parity as col: i + j even
    cell = torch.stack([col, row], dim=1).to(dtype)
    offset = torch.stack([_rand(n, generator, dtype), _rand(n, generator, dtype)], dim=1)
    return (cell + offset) * 2.0 - 4.0


def moons(
    n: int,
    *,
    noise: float = 0.1,
    with_labels: bool = False,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor | tuple[Tensor, Tensor]:
    """Two interleaving half circles of radius 1, centred and scaled by 2 (support about ``[-3, 3]^2``).

    The upper moon is ``(cos a, sin a)``, the lower ``(1 - cos a, 1/2 - sin a)``
    for ``a ~ U[0, pi]``; Gaussian noise of standard deviation ``noise`` (in the
    unscaled units) is added before the shift by ``(-1/2, -1/4)`` and the scaling.
    With ``with_labels`` it also returns each point's moon, ``(n,)`` int64:
    ``0`` upper, ``1`` lower (the points are the same draws either way).
    """
    _check_n(n)
    in_interval("noise", noise, 0.0, math.inf)
    angle = _rand(n, generator, dtype) * math.pi
    which = torch.randint(0, 2, (n,), generator=generator)
    lower = which.to(dtype)
    x = torch.cos(angle) + lower * (1.0 - 2.0 * torch.cos(angle))
    y = torch.sin(angle) + lower * (0.5 - 2.0 * torch.sin(angle))
    pts = torch.stack([x, y], dim=1) + noise * _randn((n, 2), generator, dtype)
    pts = (pts - torch.tensor([0.5, 0.25], dtype=dtype)) * 2.0
    return (pts, which) if with_labels else pts


def eight_gaussians(
    n: int,
    *,
    radius: float = 2.0 * math.sqrt(2.0),
    std: float = 0.35,
    with_labels: bool = False,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor | tuple[Tensor, Tensor]:
    """A mixture of eight equal Gaussians with centres evenly spaced on a circle.

    Centres ``radius (cos(k pi/4), sin(k pi/4))`` for ``k = 0..7``, each with
    isotropic standard deviation ``std``. With ``with_labels`` it also returns
    each point's component ``k``, ``(n,)`` int64 (the points are the same draws).
    """
    _check_n(n)
    k = torch.randint(0, 8, (n,), generator=generator)
    angle = k.to(dtype) * (math.pi / 4.0)
    centres = radius * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
    pts = centres + std * _randn((n, 2), generator, dtype)
    return (pts, k) if with_labels else pts


def spirals(
    n: int,
    *,
    turns: float = 1.5,
    noise: float = 0.1,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Two interleaved Archimedean spiral arms reaching radius 4.

    Along each arm the angle is ``theta = sqrt(u) * 2 pi turns`` (``u ~ U[0, 1]``,
    so points are spread evenly along the arm's length) and the radius is
    proportional to ``theta``; the second arm is the first rotated by ``pi``.
    Gaussian noise of standard deviation ``noise`` is added last.
    """
    _check_n(n)
    positive_float("turns", turns)
    theta_max = 2.0 * math.pi * turns
    theta = torch.sqrt(_rand(n, generator, dtype)) * theta_max
    sign = 1.0 - 2.0 * torch.randint(0, 2, (n,), generator=generator).to(dtype)
    r = 4.0 * theta / theta_max
    pts = sign.unsqueeze(1) * r.unsqueeze(1) * torch.stack([torch.cos(theta), torch.sin(theta)], dim=1)
    return pts + noise * _randn((n, 2), generator, dtype)


def circles(
    n: int,
    *,
    radii: tuple[float, float] = (2.0, 4.0),
    noise: float = 0.08,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Two concentric circles, uniform in angle, half the points on each.

    Gaussian noise of standard deviation ``noise`` is added to each point.
    """
    _check_n(n)
    angle = _rand(n, generator, dtype) * (2.0 * math.pi)
    outer = torch.randint(0, 2, (n,), generator=generator).to(dtype)
    r = radii[0] + outer * (radii[1] - radii[0])
    pts = r.unsqueeze(1) * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
    return pts + noise * _randn((n, 2), generator, dtype)
