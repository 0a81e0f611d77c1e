"""Input checks at ``Flow``'s public methods: one call per method, shapes and dtypes only.

[`Flow.loss`][flowkit.Flow.loss], [`sample`][flowkit.Flow.sample],
[`solve`][flowkit.Flow.solve] and [`log_prob`][flowkit.Flow.log_prob] call
[`check_batch`][flowkit._boundary.check_batch] on the data they are given, so
a wrong input fails with one line naming the argument, the shape (or dtype)
expected and the one given, instead of a torch error from deep inside the
field ("mat1 and mat2 shapes cannot be multiplied"). The checks read only
``shape``, ``dtype`` and ``ndim``: no tensor operation runs, so nothing waits
for the device, and a call costs a few microseconds (the field's dtype is read
from a parameter remembered per field; see ``docs/reliability.md``).

Examples:
    >>> import torch, flowkit
    >>> flow = flowkit.build(dim=2)
    >>> flow.loss(torch.randn(8, 3))
    Traceback (most recent call last):
    ...
    ValueError: x1 must have shape (batch, 2) for this flow (event_shape (2,)); got (8, 3)
"""

import weakref
from typing import Any

import torch
from torch import Tensor, nn

_FIRST_PARAMETER: "weakref.WeakKeyDictionary[nn.Module, nn.Parameter | None]" = weakref.WeakKeyDictionary()
"""Each field's first floating-point parameter: ``module.to(...)`` converts parameters in place,
so its dtype stays the field's; walking ``parameters()`` on every call would cost ~20 us."""


def field_dtype(field: nn.Module, fresh: bool = False) -> torch.dtype | None:
    """The dtype of the field's first floating-point parameter (``None`` for a field without one).

    ``fresh`` looks again instead of using the remembered parameter.
    """
    if fresh or field not in _FIRST_PARAMETER:
        _FIRST_PARAMETER[field] = next((p for p in field.parameters() if p.is_floating_point()), None)
    param = _FIRST_PARAMETER[field]
    return None if param is None else param.dtype


def _wanted(event_shape: tuple[int, ...] | None) -> str:
    return "(batch, *dims)" if event_shape is None else str(("batch", *event_shape)).replace("'", "")


def check_batch(flow: Any, x: Any, name: str) -> None:
    """Raise ``ValueError``/``TypeError`` unless ``x`` is a non-empty batch of samples for ``flow``.

    Checked: ``x`` is a tensor; it has a batch dimension followed by
    ``flow.event_shape`` (or at least two dimensions when the flow has no event
    shape); the batch is not empty; its dtype is floating point and equals the
    field's parameters' dtype.
    """
    if not isinstance(x, Tensor):
        wanted = _wanted(flow.event_shape)
        raise TypeError(f"{name} must be a tensor of shape {wanted}; got {type(x).__name__}")
    event_shape = flow.event_shape
    shape = tuple(x.shape)
    if event_shape is None:
        if x.ndim < 2:
            raise ValueError(
                f"{name} must have shape (batch, *dims), at least 2 dimensions; got {shape}: a {x.ndim}-D "
                "tensor (add the batch dimension, e.g. x.unsqueeze(0) for one sample)"
            )
    elif shape[1:] != event_shape or x.ndim != len(event_shape) + 1:
        hint = ""
        if x.ndim == len(event_shape):
            hint = ": a batch dimension is missing (x.unsqueeze(0) for one sample)"
        raise ValueError(
            f"{name} must have shape {_wanted(event_shape)} for this flow (event_shape {event_shape}); "
            f"got {shape}{hint}"
        )
    if shape[0] == 0:
        raise ValueError(f"{name} is an empty batch, shape {shape}; pass at least one sample")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor; got dtype {x.dtype}")
    dtype = field_dtype(flow.field)
    if dtype is not None and x.dtype != dtype:
        dtype = field_dtype(flow.field, fresh=True)  # the field may have been changed since
    if dtype is not None and x.dtype != dtype:
        raise TypeError(
            f"{name} has dtype {x.dtype} but the field's parameters are {dtype}; convert one of them "
            f"({name}.to({dtype}) or flow.to({x.dtype}))"
        )


def check_loss(flow: Any, x1: Any, x0: Any) -> None:
    """Checks of ``flow.loss(x1, x0)``: ``x1`` a batch for ``flow``, ``x0`` (when given) shaped like it."""
    check_batch(flow, x1, "x1")
    if x0 is None:
        return
    if not isinstance(x0, Tensor):
        raise TypeError(f"x0 must be a tensor like x1 {tuple(x1.shape)} or None; got {type(x0).__name__}")
    if x0.shape != x1.shape or x0.dtype != x1.dtype:
        raise ValueError(
            f"x0 must match x1: x1 is {x1.dtype} {tuple(x1.shape)}, x0 is {x0.dtype} {tuple(x0.shape)}"
        )
