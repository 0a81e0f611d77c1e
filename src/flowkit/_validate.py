"""Argument validators: one rule and one message shape for every public argument.

Each returns the value (converted where the rule allows) or raises ``ValueError``/``TypeError``
naming the argument, what was expected and what was given. ``bool`` is never accepted as a number.
"""

import math
from typing import Any


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def positive_int(name: str, value: Any) -> int:
    """``value`` as an ``int > 0``.

    Examples:
        >>> positive_int("steps", 10)
        10
        >>> positive_int("steps", True)
        Traceback (most recent call last):
        ...
        TypeError: steps must be a positive integer; got True (bool)
    """
    if not _is_int(value):
        raise TypeError(f"{name} must be a positive integer; got {value!r} ({type(value).__name__})")
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def nonnegative_int(name: str, value: Any) -> int:
    """``value`` as an ``int >= 0``."""
    if not _is_int(value):
        raise TypeError(f"{name} must be a non-negative integer; got {value!r} ({type(value).__name__})")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer; got {value!r}")
    return int(value)


def positive_float(name: str, value: Any) -> float:
    """``value`` as a finite ``float > 0``."""
    if not _is_real(value):
        raise TypeError(f"{name} must be a positive number; got {value!r} ({type(value).__name__})")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number; got {value!r}")
    return float(value)


def in_interval(
    name: str, value: Any, low: float, high: float, *, low_open: bool = False, high_open: bool = False
) -> float:
    """``value`` as a ``float`` in the interval from ``low`` to ``high`` (closed unless ``*_open``).

    Examples:
        >>> in_interval("p", 0.5, 0.0, 1.0, high_open=True)
        0.5
        >>> in_interval("p", 1.0, 0.0, 1.0, high_open=True)
        Traceback (most recent call last):
        ...
        ValueError: p must lie in [0.0, 1.0); got 1.0
    """
    left, right = "(" if low_open else "[", ")" if high_open else "]"
    interval = f"{left}{low}, {high}{right}"
    if not _is_real(value):
        raise TypeError(f"{name} must be a number in {interval}; got {value!r} ({type(value).__name__})")
    below = value <= low if low_open else value < low
    above = value >= high if high_open else value > high
    if math.isnan(value) or below or above:
        raise ValueError(f"{name} must lie in {interval}; got {value!r}")
    return float(value)


def probability(name: str, value: Any) -> float:
    """``value`` as a ``float`` in ``[0, 1]``."""
    return in_interval(name, value, 0.0, 1.0)
