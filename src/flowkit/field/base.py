"""The vector-field interface: a network ``v_t(x; theta)`` called as ``field(t, x)``."""

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Literal

from torch import Tensor, nn


class VectorField(nn.Module, ABC):
    r"""A time-dependent vector field ``v : [0, 1] x R^d -> R^d`` as a ``torch.nn.Module``.

    Called as ``field(t, x, **cond)`` with ``t`` a batch of times ``(batch,)``
    (``t = 0`` noise, ``t = 1`` data) and ``x`` a state ``(batch, *dims)``;
    returns a tensor of ``x``'s shape. Keyword arguments (class labels,
    context tensors) are passed through from ``Flow.loss`` and ``Flow.sample``
    unchanged, so conditional models need no other interface.

    Any ``nn.Module`` or function with another convention can be adapted with
    [`as_field`][flowkit.as_field].
    """

    @abstractmethod
    def forward(self, t: Tensor, x: Tensor, **cond: Any) -> Tensor:
        """Velocity at ``(t, x)``, shaped like ``x``."""


class CallableField(VectorField):
    """Adapts a function or module whose call convention differs from ``(t, x)``.

    Args:
        fn: the function or module to wrap. If it is an ``nn.Module`` its
            parameters become this field's parameters.
        order: ``"tx"`` when ``fn`` takes ``(t, x)``, ``"xt"`` when it takes ``(x, t)``.
    """

    def __init__(self, fn: Callable[..., Tensor], order: Literal["tx", "xt"] = "tx") -> None:
        super().__init__()
        if order not in ("tx", "xt"):
            raise ValueError(f"order must be 'tx' or 'xt'; got {order!r}")
        if not callable(fn):
            raise TypeError(f"fn must be callable; got {type(fn).__name__}")
        self.fn = fn  # an nn.Module assigned here is registered as a submodule
        self.order = order

    def forward(self, t: Tensor, x: Tensor, **cond: Any) -> Tensor:
        return self.fn(t, x, **cond) if self.order == "tx" else self.fn(x, t, **cond)


def as_field(fn: Callable[..., Tensor] | VectorField, order: Literal["tx", "xt"] = "tx") -> VectorField:
    """Return ``fn`` as a [`VectorField`][flowkit.VectorField], wrapping it if it is not one.

    Examples:
        >>> import torch
        >>> from flowkit import as_field
        >>> field = as_field(lambda x, t: -x, order="xt")
        >>> field(torch.zeros(2), torch.ones(2, 3)).shape
        torch.Size([2, 3])
    """
    if isinstance(fn, VectorField):
        return fn
    return CallableField(fn, order)
