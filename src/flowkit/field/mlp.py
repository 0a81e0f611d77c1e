"""The default network for vector data: an MLP on ``concat(x, t)``, optionally conditional."""

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .._validate import positive_int
from .base import VectorField
from .conditioning import NULL_LABEL, ConditionEmbedding


class MLPField(VectorField):
    r"""A multilayer perceptron ``v_t(x) = MLP([x, t])`` for vector data ``(batch, dim)``.

    ``depth`` hidden layers of width ``width`` with SiLU activations; time
    enters as one extra input feature. With ``num_classes`` and/or
    ``context_dim`` the field is conditional: a
    [`ConditionEmbedding`][flowkit.field.conditioning.ConditionEmbedding] of
    ``label=``/``context=`` (width ``width``, learned null values) is added to the
    first hidden layer's pre-activation,

    $$
    h_1 = \operatorname{SiLU}\big(W_1 [x, t] + b_1 + e(y, c)\big),
    $$

    which equals feeding a one-hot label and the raw context into the first layer.

    Args:
        dim: data dimension ``d``; may be omitted when ``shape`` is given.
        width: hidden width.
        depth: number of hidden layers.
        num_classes: number of classes ``K`` for ``label=`` (``None``: no label).
        context_dim: width ``C`` of ``context=`` rows (``None``: no context).
        shape: the shape of one sample (the builder's convention); samples are
            flattened to ``prod(shape)`` entries and reshaped back.

    Examples:
        >>> import torch
        >>> from flowkit import MLPField
        >>> MLPField(dim=2)(torch.rand(5), torch.randn(5, 2)).shape
        torch.Size([5, 2])
        >>> field = MLPField(2, num_classes=3, context_dim=4)
        >>> field(torch.rand(5), torch.randn(5, 2), label=torch.tensor([0, 1, 2, -1, 0]),
        ...       context=torch.randn(5, 4)).shape
        torch.Size([5, 2])
    """

    def __init__(
        self,
        dim: int | None = None,
        width: int = 256,
        depth: int = 4,
        num_classes: int | None = None,
        context_dim: int | None = None,
        *,
        shape: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        if dim is None:
            if shape is None:
                raise TypeError("MLPField needs dim= (or shape=)")
            dim = math.prod(shape)
        elif shape is not None and math.prod(shape) != dim:
            raise ValueError(f"dim and shape disagree: dim={dim!r} but shape={tuple(shape)}")
        positive_int("dim", dim)
        positive_int("width", width)
        positive_int("depth", depth)
        if num_classes is not None:
            positive_int("num_classes", num_classes)
        if context_dim is not None:
            positive_int("context_dim", context_dim)
        self.dim = dim
        self.event_shape = (dim,) if shape is None else tuple(shape)
        self.num_classes = num_classes
        self.context_dim = context_dim
        self.context_shape = None if context_dim is None else (context_dim,)
        layers: list[nn.Module] = []
        fan_in = dim + 1
        for _ in range(depth):
            layers += [nn.Linear(fan_in, width), nn.SiLU()]
            fan_in = width
        layers.append(nn.Linear(fan_in, dim))
        self.net = nn.Sequential(*layers)
        conditional = num_classes is not None or context_dim is not None
        self.condition = ConditionEmbedding(width, num_classes, context_dim) if conditional else None

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

        ``num_classes`` and ``context_dim`` make it conditional (see the class docstring).
        """
        shape = tuple(shape)
        if len(shape) != 1:
            raise ValueError(
                f"model 'mlp' works on vectors, shape (dim,); got shape {shape}: flatten the data, "
                "or use model='unet' for images (C, H, W)"
            )
        return cls(math.prod(shape), num_classes=num_classes, context_dim=context_dim, **options)

    def forward(self, t: Tensor, x: Tensor, **cond: Any) -> Tensor:
        label, context = cond.pop("label", None), cond.pop("context", None)
        if cond:
            raise TypeError(f"MLPField takes only label= and context=; got {', '.join(cond)}")
        shape = x.shape
        h = torch.cat([x.reshape(shape[0], -1), t.to(x.dtype).unsqueeze(-1)], dim=-1)
        if self.condition is None:
            if label is None and context is None:
                return self.net(h).reshape(shape)
            given = "label=" if label is not None else "context="
            raise TypeError(f"{given} was given to an MLPField built without num_classes/context_dim")
        # A keyword this field knows but was not given means "no conditioning": its null value.
        if self.num_classes is not None and label is None:
            label = torch.full((shape[0],), NULL_LABEL, dtype=torch.long, device=x.device)
        if self.context_dim is not None and context is None:
            context = x.new_full((shape[0], self.context_dim), math.nan)
        emb = self.condition(label, context)
        assert emb is not None
        first, rest = self.net[0], self.net[1:]
        return rest(first(h) + emb.to(h.dtype)).reshape(shape)
