"""Type aliases local to this package."""

from collections.abc import Callable

from torch import Tensor

Field = Callable[[Tensor, Tensor], Tensor]
"""``(t, x) -> dx/dt`` with ``t`` of shape ``(batch,)``, as flowkit's solvers call a field."""
