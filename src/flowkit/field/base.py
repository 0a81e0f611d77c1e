"""The vector-field interface: a network ``v_t(x; theta)`` called as ``field(t, x)``."""

import functools
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


AverageVelocity = Callable[[Tensor, Tensor, Tensor], Tensor]
"""``(r, t, x) -> u``: the average velocity over ``[r, t]`` of the trajectory through ``x`` at time ``r``."""


class TwoTimeField(VectorField):
    r"""A field of two times: the average velocity ``u(x, r, t)`` of the flow over ``[r, t]``.

    $$
    u(x_r, r, t) = \frac{1}{t - r}\int_r^t v_\tau(x_\tau)\,d\tau, \qquad
    x_t = x_r + (t - r)\, u(x_r, r, t),
    $$

    where ``x_tau`` is the trajectory of the instantaneous field ``v`` through
    ``x_r`` at time ``r``. The state ``x`` lives at the **first** time ``r``;
    flowkit's time runs from noise (0) to data (1), so sampling jumps forward,
    ``r < t``. At ``r = t`` the average velocity is the instantaneous one,
    ``u(x, t, t) = v_t(x)``, and that is what ``forward(t, x)`` returns: a
    two-time field is a [`VectorField`][flowkit.VectorField] too, and every
    ordinary solver, likelihood and objective can use it.

    Implementers provide [`average`][flowkit.field.TwoTimeField.average].
    Two-time samplers (subclasses of
    [`TwoTimeSolver`][flowkit.solver.TwoTimeSolver]) find it through
    [`average_velocity`][flowkit.field.average_velocity].
    """

    @abstractmethod
    def average(self, r: Tensor, t: Tensor, x: Tensor, **cond: Any) -> Tensor:
        """Average velocity over ``[r, t]`` from ``x (batch, *dims)`` at time ``r``; ``r, t (batch,)``."""

    def forward(self, t: Tensor, x: Tensor, **cond: Any) -> Tensor:
        """The instantaneous velocity ``v_t(x) = u(x, t, t)``."""
        return self.average(t, t, x, **cond)


def average_velocity(fn: Any) -> AverageVelocity:
    """The two-time form ``(r, t, x) -> u`` of a field as a solver receives it.

    Accepts a [`TwoTimeField`][flowkit.field.TwoTimeField], or a
    ``functools.partial`` of one with its conditioning keywords bound (as
    [`Flow.sample`][flowkit.Flow.sample] passes a conditioned field).

    Raises:
        TypeError: ``fn`` has no two-time form; the message names its type.

    Examples:
        >>> import torch
        >>> class Shift(TwoTimeField):
        ...     def average(self, r, t, x):
        ...         return torch.ones_like(x) * (t - r)[:, None]
        >>> average_velocity(Shift())(torch.zeros(2), torch.ones(2), torch.zeros(2, 3)).sum().item()
        6.0
    """
    if isinstance(fn, TwoTimeField):
        return fn.average
    if isinstance(fn, functools.partial) and isinstance(fn.func, TwoTimeField):
        return functools.partial(fn.func.average, *fn.args, **fn.keywords)
    what = type(fn.func if isinstance(fn, functools.partial) else fn).__name__
    raise TypeError(
        f"the field must take two times (a flowkit.field.TwoTimeField with average(r, t, x)); got {what}. "
        "Wrap a conditional field with flowkit.field.TwoTimeAdapter, or use an ordinary solver"
    )
