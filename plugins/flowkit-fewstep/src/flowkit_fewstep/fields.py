"""``MeanFlowMLP``: a small two-time MLP for vector data."""

from typing import Any

import torch
from torch import Tensor, nn

from flowkit._validate import positive_int
from flowkit.field import TwoTimeField


class MeanFlowMLP(TwoTimeField):
    """An MLP ``u(x, r, t) = MLP([x, r, t - r])`` for vectors ``(batch, dim)``: SiLU, ``depth`` x ``width``.

    A self-contained two-time field for 2-D experiments. A conditional field
    (the MLP or the U-Net built with ``context_dim=1``) becomes a two-time
    field through [`TwoTimeAdapter`][flowkit.field.TwoTimeAdapter] instead.

    Args:
        dim: data dimension.
        width: hidden width.
        depth: number of hidden layers.

    Examples:
        >>> import torch
        >>> MeanFlowMLP(2, width=8, depth=1).average(torch.zeros(4), torch.ones(4), torch.randn(4, 2)).shape
        torch.Size([4, 2])
    """

    def __init__(self, dim: int, width: int = 256, depth: int = 4) -> None:
        super().__init__()
        self.dim = positive_int("dim", dim)
        positive_int("width", width)
        positive_int("depth", depth)
        layers: list[nn.Module] = []
        fan_in = dim + 2
        for _ in range(depth):
            layers += [nn.Linear(fan_in, width), nn.SiLU()]
            fan_in = width
        layers.append(nn.Linear(fan_in, dim))
        self.net = nn.Sequential(*layers)

    def average(self, r: Tensor, t: Tensor, x: Tensor, **cond: Any) -> Tensor:
        if cond:
            raise TypeError(f"MeanFlowMLP takes no conditioning; got {', '.join(cond)}")
        times = torch.stack([r, t - r], dim=-1).to(x.dtype)
        return self.net(torch.cat([x, times], dim=-1))
