"""Inputs shared by the path checks: data points of unit scale and interior times."""

import torch
from torch import Tensor

from .._common import F64, Device, uniform


def data(n: int, dim: int, gen: torch.Generator, device: Device) -> Tensor:
    """Data points ``x1`` of unit scale, uniform on ``[-1, 1]^dim``."""
    return uniform((n, dim), gen, -1.0, 1.0, device)


def interior(n: int, device: Device) -> Tensor:
    """``n`` float64 times evenly spread on ``[0.02, 0.98]``, where a path is smooth."""
    return torch.linspace(0.02, 0.98, n, dtype=F64, device=device)
