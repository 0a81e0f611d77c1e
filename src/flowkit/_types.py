"""Shape vocabulary shared by every interface.

A *state* is a batch of points: vectors ``(batch, d)`` or images
``(batch, C, H, W)``; ``*dims`` stands for whatever follows the batch axis.
A batch of times is one time per sample. Time runs from ``t = 0`` (noise)
to ``t = 1`` (data).
"""

from collections.abc import Callable

from jaxtyping import Float
from torch import Tensor

State = Float[Tensor, "batch *dims"]
"""A batch of points, ``(batch, *dims)``."""

Times = Float[Tensor, " batch"]
"""One time in ``[0, 1]`` per sample, ``(batch,)``."""

Scalar = Float[Tensor, ""]
"""A 0-d tensor (a loss, a single time)."""

PerSample = Float[Tensor, " batch"]
"""One number per sample, such as a log-density, ``(batch,)``."""

Field = Callable[[Tensor, Tensor], Tensor]
"""A vector field as solvers call it: ``(t, x) -> dx/dt`` with ``t`` of shape ``(batch,)`` and ``x``
a state ``(batch, *dims)``; the result has ``x``'s shape."""

__all__ = ["Field", "PerSample", "Scalar", "State", "Times"]
