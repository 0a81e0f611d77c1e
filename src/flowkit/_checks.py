"""Run-time shape checks at public boundaries (jaxtyping + beartype).

Checks are on unless the environment variable ``FLOWKIT_SHAPE_CHECKS`` is
``0``/``false``/``off`` when flowkit is first imported. The decision is made
once, here, so a disabled check costs nothing: the decorator returns the
function unchanged. Checks wrap public entry points only, never a solver's
inner loop, and never a field (jaxtyping's wrapper would break
``torch.compile``'s tracing of it).
"""

import functools
import itertools
import os
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import torch
from beartype import beartype
from jaxtyping import jaxtyped

F = TypeVar("F", bound=Callable[..., object])

SHAPE_CHECKS: bool = os.environ.get("FLOWKIT_SHAPE_CHECKS", "1").strip().lower() not in {
    "0",
    "false",
    "off",
    "no",
}


_MEMO_SIZE = 1024


def _call_signature(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Hashable | None:
    """What a shape/dtype/type check of this call depends on, or ``None`` if that cannot be told cheaply.

    Tensors contribute their type, shape and dtype; other objects their type.
    Containers (whose elements beartype inspects) make the call uncacheable.
    """
    parts: list[Any] = []
    for arg in itertools.chain(args, kwargs.values()):
        if isinstance(arg, torch.Tensor):
            parts.append((type(arg), arg.shape, arg.dtype))
        elif isinstance(arg, (list, tuple, dict, set, frozenset)):
            return None
        else:
            parts.append(type(arg))
    return (tuple(kwargs), tuple(parts))


def shape_checked(fn: F) -> F:
    """Check ``fn``'s annotated tensor shapes and dtypes when checks are on.

    The check (jaxtyping + beartype) is a pure function of the arguments'
    types, shapes and dtypes, so a call whose signature already passed is not
    checked again: a training loop pays the full check once per batch shape,
    then only the cost of reading that signature.
    """
    if not SHAPE_CHECKS:
        return fn
    checked = jaxtyped(typechecker=beartype)(fn)
    passed: set[Hashable] = set()

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        signature = _call_signature(args, kwargs)
        if signature is not None and signature in passed:
            return fn(*args, **kwargs)
        out = checked(*args, **kwargs)
        if signature is not None:
            if len(passed) >= _MEMO_SIZE:
                passed.clear()
            passed.add(signature)
        return out

    return wrapper  # type: ignore[return-value]


def check_unit_interval(t: torch.Tensor, name: str = "t") -> None:
    """Raise ``ValueError`` unless every entry of ``t`` lies in ``[0, 1]``.

    This reads the tensor on the host, so it belongs at user-facing
    boundaries only; training and solver loops never call it.
    """
    if t.numel() == 0:
        return
    lo, hi = float(t.min()), float(t.max())
    if not (lo >= 0.0 and hi <= 1.0):  # also catches NaN
        raise ValueError(f"{name} must lie in [0, 1] (t=0 is noise, t=1 is data); got values in [{lo}, {hi}]")


def check_same_shape(a: torch.Tensor, b: torch.Tensor, a_name: str, b_name: str) -> None:
    """Raise ``ValueError`` naming both arguments when their shapes differ."""
    if a.shape != b.shape:
        raise ValueError(
            f"{a_name} and {b_name} must have the same shape; got {a_name}: {tuple(a.shape)}, "
            f"{b_name}: {tuple(b.shape)}"
        )
