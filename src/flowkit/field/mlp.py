"""The default network for vector data: an MLP on ``concat(x, t)``."""

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .._validate import positive_int
from .base import VectorField


class MLPField(VectorField):
    """A multilayer perceptron ``v_t(x) = MLP([x, t])`` for vector data ``(batch, dim)``.

    ``depth`` hidden layers of width ``width`` with SiLU activations; time
    enters as one extra input feature.

    Args:
        dim: data dimension ``d``.
        width: hidden width.
        depth: number of hidden layers.

    Examples:
        >>> import torch
        >>> from flowkit import MLPField
        >>> MLPField(dim=2)(torch.rand(5), torch.randn(5, 2)).shape
        torch.Size([5, 2])
    """

    def __init__(self, dim: int, width: int = 256, depth: int = 4) -> None:
        super().__init__()
        self.dim = positive_int("dim", dim)
        width, depth = positive_int("width", width), positive_int("depth", depth)
        layers: list[nn.Module] = []
        fan_in = dim + 1
        for _ in range(depth):
            layers += [nn.Linear(fan_in, width), nn.SiLU()]
            fan_in = width
        layers.append(nn.Linear(fan_in, dim))
        self.net = nn.Sequential(*layers)

    @classmethod
    def from_shape(
        cls,
        shape: Sequence[int],
        *,
        num_classes: int | None = None,
        context_dim: int | None = None,
        **options: Any,
    ) -> "MLPField":
        """The MLP for vectors of ``shape = (dim,)``, as ``flowkit.build(model="mlp", shape=...)`` makes it.

        ``num_classes`` and ``context_dim`` are passed on only when given.
        """
        shape = tuple(shape)
        if len(shape) != 1:
            raise ValueError(
                f"model 'mlp' works on vectors, shape (dim,); got shape {shape}: flatten the data, "
                "or use model='unet' for images (C, H, W)"
            )
        given = (("num_classes", num_classes), ("context_dim", context_dim))
        cond = {k: v for k, v in given if v is not None}
        return cls(math.prod(shape), **cond, **options)

    def forward(self, t: Tensor, x: Tensor, **cond: Any) -> Tensor:
        if cond:
            raise TypeError(f"MLPField takes no conditioning; got {', '.join(cond)}")
        return self.net(torch.cat([x, t.to(x.dtype).unsqueeze(-1)], dim=-1))
