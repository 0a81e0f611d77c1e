"""``TwoTimeAdapter``: any field that takes a ``context=`` keyword becomes a two-time field."""

from typing import Any

from torch import Tensor

from .base import TwoTimeField, VectorField


class TwoTimeAdapter(TwoTimeField):
    r"""Makes a conditional field ``f(t, x, context=c)`` a [`TwoTimeField`][flowkit.field.TwoTimeField].

    $$
    u(x, r, t) = f\big(r,\ x,\ \mathrm{context} = (t - r)\big),
    $$

    the state's own time ``r`` in the time slot and the interval length
    ``t - r`` as a one-feature context ``(batch, 1)``. Any field built for a
    context of shape ``(1,)`` works: the MLP and the U-Net with
    ``context_dim=1``, or a plugin's field that follows the conditioning
    conventions of ``flowkit.field.conditioning``.
    Other conditioning keywords (``label=``) pass through; ``context=`` is
    taken by the interval and refused.

    Args:
        field: the wrapped field; its parameters become this module's.

    Examples:
        >>> import torch
        >>> from torch import nn
        >>> from flowkit.field import TwoTimeAdapter, VectorField
        >>> class Tiny(VectorField):  # v = x * (1 + context)
        ...     def forward(self, t, x, context):
        ...         return x * (1 + context)
        >>> u = TwoTimeAdapter(Tiny())
        >>> u.average(torch.zeros(1), torch.ones(1), torch.ones(1, 2))
        tensor([[2., 2.]])
    """

    def __init__(self, field: VectorField) -> None:
        super().__init__()
        if not isinstance(field, VectorField):
            raise TypeError(f"field must be a flowkit.VectorField; got {type(field).__name__}")
        self.field = field

    def average(self, r: Tensor, t: Tensor, x: Tensor, **cond: Any) -> Tensor:
        if "context" in cond:
            raise TypeError(
                "TwoTimeAdapter passes the interval t - r as context=; the field cannot take another context"
            )
        return self.field(r, x, context=(t - r).to(x.dtype).unsqueeze(-1), **cond)
